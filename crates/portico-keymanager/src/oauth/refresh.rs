//! The refresh_token grant: rotating refresh tokens. Each use issues a new refresh token of the
//! same chain; presenting a used one again revokes the whole chain (reuse detection).

use portico_store::{NewRefreshToken, OAuthClient, RefreshUse, RevokedToken, User};

use super::error::OAuthError;
use super::grants::{TokenRequest, TokenResponse, grant_scopes, required};
use super::service::TokenService;
use crate::secrets::{SecretKind, random_token};

enum Rotation {
    Issued(TokenResponse),
    Reused(Vec<RevokedToken>),
    Invalid,
}

impl TokenService {
    pub(super) async fn refresh(
        &self,
        client: &OAuthClient,
        request: &TokenRequest,
        lifetime: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let presented = required(&request.refresh_token, "refresh_token")?;
        let hash = self.hasher.hash(SecretKind::RefreshToken, presented);
        let invalid = || OAuthError::InvalidGrant("Invalid refresh token: unknown, expired or revoked".into());
        let current = self.store.find_refresh_token(&hash).await?.ok_or_else(invalid)?;
        if current.client_id != client.client_id {
            return Err(OAuthError::InvalidGrant(
                "The refresh token was issued to another client".into(),
            ));
        }
        let Some(user) = self.store.find_user_by_id(&current.user_id).await? else {
            return Err(invalid());
        };
        let original: Vec<&str> = current.scope.split_whitespace().collect();
        let requested = match request.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => current.scope.clone(),
            Some(scope) => {
                if let Some(extra) = scope.split_whitespace().find(|s| !original.contains(s)) {
                    return Err(OAuthError::InvalidScope(format!(
                        "The scope `{extra}` was not granted with the original token (granted: {})",
                        current.scope
                    )));
                }
                scope.to_owned()
            }
        };
        // Roles may have shrunk since the original grant.
        let scope = grant_scopes(Some(&requested), &user.roles);
        let outcome = self
            .issue_refresh_rotation(client, &user, &scope, lifetime, &hash)
            .await?;
        match outcome {
            Rotation::Issued(response) => Ok(response),
            Rotation::Reused(revoked) => {
                self.validator.revocations.revoke(&revoked);
                Err(OAuthError::InvalidGrant(
                    "The refresh token was already used; every token of its chain is now revoked".into(),
                ))
            }
            Rotation::Invalid => Err(invalid()),
        }
    }

    async fn issue_refresh_rotation(
        &self,
        client: &OAuthClient,
        user: &User,
        scope: &str,
        lifetime: i64,
        presented_hash: &str,
    ) -> Result<Rotation, OAuthError> {
        self.wait_past_cutoff(&user.username, &client.client_id).await;
        let (access_token, claims) = self.sign(client, &user.username, "APPLICATION_USER", scope, lifetime)?;
        let refresh_token = random_token(32);
        let refresh_hash = self.hasher.hash(SecretKind::RefreshToken, &refresh_token);
        let now_ms = portico_store::now_millis();
        let refresh_seconds = self.settings.refresh_token_seconds;
        let outcome = self
            .store
            .use_refresh_token(presented_hash, |current| NewRefreshToken {
                token_hash: refresh_hash.clone(),
                chain_id: current.chain_id.clone(),
                client_id: current.client_id.clone(),
                user_id: current.user_id.clone(),
                scope: scope.to_owned(),
                access_jti: claims.jti.clone(),
                access_expires_at: claims.exp * 1000,
                expires_at: now_ms + refresh_seconds * 1000,
            })
            .await?;
        Ok(match outcome {
            RefreshUse::Rotated(_) => Rotation::Issued(TokenResponse {
                access_token,
                refresh_token: Some(refresh_token),
                scope: scope.to_owned(),
                token_type: "Bearer",
                expires_in: lifetime,
            }),
            RefreshUse::Reused { revoked, .. } => Rotation::Reused(revoked),
            RefreshUse::Invalid => Rotation::Invalid,
        })
    }
}
