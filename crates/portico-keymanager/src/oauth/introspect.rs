//! RFC 7662 introspection of access and refresh tokens.

use serde_json::{Value, json};

use super::error::OAuthError;
use super::service::TokenService;
use crate::jwt::looks_like_jwt;
use crate::secrets::SecretKind;

impl TokenService {
    /// RFC 7662: what a token is, or `{"active": false}`.
    pub async fn introspect(&self, token: &str) -> Result<Value, OAuthError> {
        if looks_like_jwt(token) {
            return Ok(match self.validator.validate(token) {
                Ok(c) => json!({
                    "active": true,
                    "token_type": "Bearer",
                    "scope": c.scope,
                    "client_id": c.client_id,
                    "username": c.sub,
                    "sub": c.sub,
                    "aud": c.aud,
                    "iss": c.iss,
                    "exp": c.exp,
                    "iat": c.iat,
                    "nbf": c.nbf,
                    "jti": c.jti,
                    "aut": c.aut,
                    "keytype": c.keytype,
                }),
                Err(_) => json!({ "active": false }),
            });
        }
        let hash = self.hasher.hash(SecretKind::RefreshToken, token);
        let now = portico_store::now_millis();
        Ok(match self.store.find_refresh_token(&hash).await? {
            Some(r) if r.state == "active" && r.expires_at > now => {
                let username = self.username_of(&r.user_id).await?;
                json!({
                    "active": true,
                    "token_type": "Refresh",
                    "scope": r.scope,
                    "client_id": r.client_id,
                    "username": username,
                    "exp": r.expires_at / 1000,
                    "iat": r.created_at / 1000,
                })
            }
            _ => json!({ "active": false }),
        })
    }
}
