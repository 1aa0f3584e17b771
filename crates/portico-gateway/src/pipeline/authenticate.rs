//! Phase 2, `authenticate`: runs once the request is routed. Turns the credential into a caller
//! (900902 when missing, 900901 when invalid). Secured resources take a bearer JWT access token
//! (when the API's security scheme has `oauth2`) or an API key in the `apikey` header or query
//! parameter (when it has `api_key`), both validated through the token cache; prototyped APIs
//! and resources marked `None` take none.
//!
//! Reads the route, the request head and the snapshot's identity; sets the session's caller
//! and the context's key type, application and credential.

use super::session::{Caller, Session};
use crate::Gateway;
use crate::auth::credentials::{CredentialKind, TokenClaims};
use crate::auth::identity::{ClientInfo, Identity, KeyType};
use crate::error::GatewayError;
use crate::model::ApiStatus;

/// The request header (and query parameter) that carries an API key.
pub(super) const API_KEY_HEADER: &str = "apikey";

impl Gateway {
    pub(super) async fn authenticate(&self, session: &mut Session<'_>) -> Result<(), GatewayError> {
        session.ctx.key_type = Some(KeyType::Production);
        let route = session.routed()?;
        let def = &route.api.def;
        let needs_credentials = route.resource.secured && def.status != ApiStatus::Prototyped;
        if !needs_credentials {
            return Ok(());
        }
        let identity = &session.snapshot.identity;
        let head = session.head;
        // The token stays bytes: the cache compares it with the ones it holds, and only a token
        // it has not seen is checked as text.
        let bearer = head
            .headers
            .get("authorization")
            .and_then(|v| v.split_at_checked(7))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
            .map(|(_, token)| token.trim_ascii())
            .filter(|t| !t.is_empty());
        let caller = match bearer {
            Some(token) if def.security.oauth2 => {
                let claims = self
                    .tokens
                    .validate_bearer(token, identity)
                    .await
                    .map_err(|e| GatewayError::invalid_credentials(format!("Invalid Credentials: {e}")))?;
                // An API with audiences takes only tokens meant for one of them (WSO2's
                // audience validation); without, any audience.
                if !def.audiences.is_empty() && !claims.audiences.iter().any(|a| def.audiences.contains(a)) {
                    return Err(GatewayError::invalid_credentials(
                        "Invalid Credentials: the token's audience (aud) is none of this API's audiences",
                    ));
                }
                let client = client_of(identity, &claims)?;
                Caller { claims, client }
            }
            _ => {
                let api_key = def
                    .security
                    .api_key
                    .then(|| api_key_of(head))
                    .flatten()
                    .ok_or_else(GatewayError::missing_credentials)?;
                let claims = self
                    .tokens
                    .validate(api_key.as_bytes(), CredentialKind::ApiKey, identity)
                    .map_err(|e| GatewayError::invalid_api_key(format!("Invalid Credentials: {e}")))?;
                let app = claims
                    .application
                    .clone()
                    .ok_or_else(|| GatewayError::invalid_api_key("The API key names no application"))?;
                Caller {
                    client: ClientInfo {
                        app,
                        key_type: claims.key_type,
                    },
                    claims,
                }
            }
        };
        session.ctx.key_type = Some(caller.client.key_type);
        session.ctx.application = Some(caller.client.app.clone());
        session.ctx.credential = Some(caller.claims.clone());
        session.caller = Some(caller);
        Ok(())
    }
}

/// The API key of a request: the `apikey` header, else the `apikey` query parameter.
fn api_key_of(request: &super::RequestHead) -> Option<String> {
    if let Some(value) = request.headers.get(API_KEY_HEADER) {
        return std::str::from_utf8(value)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
    }
    request
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("apikey="))
        .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
        .filter(|v| !v.is_empty())
}

/// The application key a validated access token belongs to: by its client id among this node's
/// OAuth clients, or among the client ids mapped to its external key manager. An unknown client
/// of this node is 900901; an external client id no application mapped is 900908, as WSO2's
/// subscription validation answers when it finds no key mapping.
fn client_of(identity: &Identity, claims: &TokenClaims) -> Result<ClientInfo, GatewayError> {
    let client_id = claims.client_id.as_deref();
    match &claims.external_issuer {
        None => client_id
            .and_then(|id| identity.clients.get(id))
            .cloned()
            .ok_or_else(|| {
                GatewayError::invalid_credentials("The token was not issued to an application of this gateway")
            }),
        Some(issuer) => client_id
            .and_then(|id| identity.external_issuers.get(issuer)?.clients.get(id))
            .cloned()
            .ok_or_else(GatewayError::not_subscribed),
    }
}
