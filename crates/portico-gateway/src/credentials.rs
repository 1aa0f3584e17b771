//! Credential validation with a validated-token cache, as WSO2's gateway token cache: bearer
//! JWT access tokens and API keys (JWTs with `token_type: apiKey`, sent in the `apikey` header).
//!
//! An ES256 check costs about 37 µs, three times nginx's whole request, so a token that passed
//! once is remembered until it expires (bounded, sharded, keyed by the token's SHA-256 so a lookup
//! can never confuse two tokens). What can change while a token lives — revocation, the user
//! being deleted, the subscription — is still checked on every request against the snapshot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::identity::{AppInfo, Identity, KeyType};

/// Accepted clock skew for `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 30;
const SHARDS: usize = 16;
/// Tokens remembered per shard; a full shard forgets its expired entries, then half of the rest.
const PER_SHARD: usize = 4096;

/// Which kind of credential a token is; one kind is never accepted in place of the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An OAuth2 access token, sent as `Authorization: Bearer`.
    AccessToken,
    /// An API key (`token_type: apiKey`), sent in the `apikey` header or query parameter.
    ApiKey,
}

/// An API key that never expires is treated as expiring this far in the future (seconds).
const NO_EXPIRY: u64 = u64::MAX / 4;

/// What a validated token says.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenClaims {
    pub kind: CredentialKind,
    /// The application an API key was issued to (API keys carry it; access tokens name a client).
    pub application: Option<Arc<AppInfo>>,
    pub jti: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    pub key_type: KeyType,
    pub issued_at: u64,
    pub expires_at: u64,
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    keytype: Option<String>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    application: Option<RawApplication>,
}

/// An API key's `application` claim.
#[derive(Deserialize)]
struct RawApplication {
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    tier: Option<String>,
}

/// Why a token was refused (900901 in every case; the reason goes to the description).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature or claims are invalid: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    #[error("an API key is not an access token")]
    ApiKeyAsBearer,
    #[error("the API key is not a well-formed API key")]
    NotAnApiKey,
}

pub(crate) fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A token's cache key: its SHA-256, so entries are small (a JWT is hundreds of bytes) and two
/// tokens can never share an entry.
type TokenKey = [u8; 32];

/// The validated-token cache.
pub struct TokenCache {
    shards: Vec<Mutex<HashMap<TokenKey, Arc<TokenClaims>>>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl TokenCache {
    fn shard(&self, key: &TokenKey) -> &Mutex<HashMap<TokenKey, Arc<TokenClaims>>> {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    /// Validates `token` as a credential of `kind` against `identity`: from the cache when it
    /// passed before, otherwise by signature and claims. Revocation is checked every time.
    pub fn validate(
        &self,
        token: &str,
        kind: CredentialKind,
        identity: &Identity,
    ) -> Result<Arc<TokenClaims>, TokenError> {
        let now = now_seconds();
        let key: TokenKey = Sha256::digest(token.as_bytes()).into();
        let cached = self.shard(&key).lock().ok().and_then(|map| map.get(&key).cloned());
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(verify(token, identity)?);
                if let Ok(mut map) = self.shard(&key).lock() {
                    if map.len() >= PER_SHARD {
                        map.retain(|_, c| c.expires_at.saturating_add(LEEWAY_SECONDS) > now);
                        if map.len() >= PER_SHARD {
                            // Forget every other entry: O(n), and arbitrary is fine for a cache
                            // whose misses only cost a signature check.
                            let mut index = 0usize;
                            map.retain(|_, _| {
                                index += 1;
                                index.is_multiple_of(2)
                            });
                        }
                    }
                    map.insert(key, claims.clone());
                }
                claims
            }
        };
        match (kind, claims.kind) {
            (CredentialKind::AccessToken, CredentialKind::ApiKey) => return Err(TokenError::ApiKeyAsBearer),
            (CredentialKind::ApiKey, CredentialKind::AccessToken) => return Err(TokenError::NotAnApiKey),
            _ => {}
        }
        if claims.expires_at.saturating_add(LEEWAY_SECONDS) <= now {
            return Err(TokenError::Expired);
        }
        if identity.is_revoked(
            claims.jti.as_deref(),
            claims.subject.as_deref(),
            claims.client_id.as_deref(),
            claims.issued_at,
        ) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// Forgets every token (after the verification keys change).
    pub fn clear(&self) {
        for shard in &self.shards {
            if let Ok(mut map) = shard.lock() {
                map.clear();
            }
        }
    }
}

/// The uncached check: signature against the identity's keys, `exp`/`nbf` with leeway, issuer.
/// Access tokens must carry `exp`; API keys (`token_type: apiKey`) may live forever and must name
/// their application.
fn verify(token: &str, identity: &Identity) -> Result<TokenClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    let candidates: Vec<_> = match &header.kid {
        Some(kid) => identity.keys.iter().filter(|k| &k.kid == kid).collect(),
        None => identity.keys.iter().collect(),
    };
    if candidates.is_empty() {
        return Err(TokenError::UnknownKey);
    }
    let mut last = TokenError::UnknownKey;
    for key in candidates {
        if key.algorithm != header.alg {
            continue;
        }
        let mut validation = jsonwebtoken::Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        // `exp` is checked here for access tokens; API keys may omit it (checked in `validate`).
        validation.set_required_spec_claims::<&str>(&[]);
        validation.validate_exp = true;
        if !identity.issuers.is_empty() {
            validation.set_issuer(&identity.issuers);
        }
        match jsonwebtoken::decode::<RawClaims>(token, &key.key, &validation) {
            Ok(data) => {
                let c = data.claims;
                let kind = if c.token_type.as_deref() == Some("apiKey") {
                    CredentialKind::ApiKey
                } else {
                    CredentialKind::AccessToken
                };
                let expires_at = match (kind, c.exp) {
                    (_, Some(exp)) => exp,
                    (CredentialKind::ApiKey, None) => NO_EXPIRY,
                    (CredentialKind::AccessToken, None) => {
                        return Err(TokenError::Invalid("the token has no `exp` claim".into()));
                    }
                };
                let application = match kind {
                    CredentialKind::AccessToken => None,
                    CredentialKind::ApiKey => Some(Arc::new(api_key_application(c.application)?)),
                };
                return Ok(TokenClaims {
                    kind,
                    application,
                    jti: c.jti,
                    subject: c.sub,
                    client_id: c.client_id.or(c.azp),
                    scopes: c
                        .scope
                        .map(|s| s.split_whitespace().map(str::to_owned).collect())
                        .unwrap_or_default(),
                    key_type: c
                        .keytype
                        .as_deref()
                        .and_then(KeyType::from_wire)
                        .unwrap_or(KeyType::Production),
                    issued_at: c.iat.unwrap_or(0),
                    expires_at,
                });
            }
            Err(e) => {
                last = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid(e.to_string()),
                }
            }
        }
    }
    Err(last)
}

/// The application an API key names; its UUID is what subscriptions are keyed by.
fn api_key_application(raw: Option<RawApplication>) -> Result<AppInfo, TokenError> {
    let raw = raw.ok_or(TokenError::NotAnApiKey)?;
    let id = raw
        .uuid
        .or_else(|| raw.id.and_then(|v| v.as_str().map(str::to_owned)))
        .filter(|id| !id.is_empty())
        .ok_or(TokenError::NotAnApiKey)?;
    Ok(AppInfo {
        id,
        name: raw.name.unwrap_or_default(),
        owner: raw.owner.unwrap_or_default(),
        tier: raw.tier.unwrap_or_else(|| "Unlimited".into()),
    })
}
