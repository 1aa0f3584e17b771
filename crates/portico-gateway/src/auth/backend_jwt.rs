//! The backend JWT (WSO2's `X-JWT-Assertion`): who is calling, signed by the node's primary key,
//! so backends can trust the gateway's authentication without seeing the consumer's token.
//! Signing costs tens of microseconds, so each (token, API) pair's assertion is remembered until
//! it expires, as WSO2's gateway does.

use std::collections::HashMap;
use std::sync::Mutex;

use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::credentials::TokenClaims;
use super::identity::ClientInfo;
use crate::clock::now_seconds;
use crate::model::ApiDef;

/// How assertions are made.
#[derive(Clone)]
pub struct BackendJwtSettings {
    /// Header name (WSO2: `X-JWT-Assertion`).
    pub header: http::HeaderName,
    pub key: EncodingKey,
    pub algorithm: Algorithm,
    pub kid: String,
    /// Longest lifetime of an assertion, in seconds (never past the consumer token's expiry).
    pub max_ttl_seconds: u64,
}

impl std::fmt::Debug for BackendJwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendJwtSettings")
            .field("header", &self.header)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

const CACHE_MAX: usize = 16_384;

/// Assertions already signed, by (token id, API id).
#[derive(Default)]
pub(crate) struct AssertionCache {
    entries: Mutex<HashMap<(String, String), (HeaderValue, u64)>>,
}

impl AssertionCache {
    /// The assertion for this caller and API, signed now or taken from the cache.
    pub(crate) fn assertion(
        &self,
        settings: &BackendJwtSettings,
        api: &ApiDef,
        claims: &TokenClaims,
        client: &ClientInfo,
        subscription_tier: &str,
    ) -> Option<HeaderValue> {
        let now = now_seconds();
        // Token ids are unique per issuer only: an external issuer's `jti` is qualified by it.
        let key = match (&claims.jti, &claims.external_issuer) {
            (Some(jti), Some(issuer)) => (format!("{issuer}\u{0}{jti}"), api.id.clone()),
            (jti, _) => (jti.clone().unwrap_or_default(), api.id.clone()),
        };
        if !key.0.is_empty()
            && let Some((value, exp)) = self.entries.lock().ok().and_then(|m| m.get(&key).cloned())
            && exp > now + 5
        {
            return Some(value);
        }
        let exp = claims.expires_at.min(now + settings.max_ttl_seconds);
        let app = &client.app;
        let mut body = json!({
            "iss": "wso2.org/products/am",
            "iat": now,
            "exp": exp,
            "http://wso2.org/claims/subscriber": app.owner,
            "http://wso2.org/claims/applicationid": app.id,
            "http://wso2.org/claims/applicationUUId": app.id,
            "http://wso2.org/claims/applicationname": app.name,
            "http://wso2.org/claims/applicationtier": app.tier,
            "http://wso2.org/claims/apiname": api.name,
            "http://wso2.org/claims/apicontext": api.context,
            "http://wso2.org/claims/version": api.version,
            "http://wso2.org/claims/tier": subscription_tier,
            "http://wso2.org/claims/keytype": client.key_type.as_str(),
            "http://wso2.org/claims/usertype": if claims.subject.as_deref() == Some(app.owner.as_str()) { "APPLICATION" } else { "APPLICATION_USER" },
            "http://wso2.org/claims/enduser": claims.subject.clone().unwrap_or_default(),
            "http://wso2.org/claims/enduserTenantId": "-1234",
        });
        // The external key manager's mapped claims; never in place of the gateway's own.
        if let Some(fields) = body.as_object_mut() {
            for (local, value) in &claims.mapped_claims {
                fields.entry(local.clone()).or_insert_with(|| value.clone());
            }
        }
        let mut header = Header::new(settings.algorithm);
        header.kid = Some(settings.kid.clone());
        let token = match jsonwebtoken::encode(&header, &body, &settings.key) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign the backend JWT");
                return None;
            }
        };
        let value = HeaderValue::from_str(&token).ok()?;
        if !key.0.is_empty()
            && let Ok(mut map) = self.entries.lock()
        {
            if map.len() >= CACHE_MAX {
                map.retain(|_, (_, e)| *e > now);
                if map.len() >= CACHE_MAX {
                    map.clear();
                }
            }
            map.insert(key, (value.clone(), exp));
        }
        Some(value)
    }
}
