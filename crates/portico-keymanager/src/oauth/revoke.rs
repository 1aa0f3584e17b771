//! Revocation: RFC 7009 for one token, and cut-offs that invalidate every token of a user or a
//! client issued until now.

use portico_store::{CutoffKind, OAuthClient, RevokedToken, StoreError, TokenCutoff};

use super::error::OAuthError;
use super::service::TokenService;
use crate::jwt::looks_like_jwt;
use crate::secrets::SecretKind;

impl TokenService {
    /// RFC 7009: revokes an access token or a refresh token (with its chain) issued to `client`.
    /// Tokens that are unknown, expired or another client's are ignored, as the RFC allows.
    pub async fn revoke(&self, client: &OAuthClient, token: &str) -> Result<(), OAuthError> {
        if looks_like_jwt(token) {
            if let Ok(claims) = self.validator.signer.verify(token)
                && claims.client_id == client.client_id
            {
                let revoked = [RevokedToken {
                    jti: claims.jti,
                    expires_at: claims.exp.saturating_mul(1000),
                }];
                self.store.revoke_access_tokens(&revoked).await?;
                self.validator.revocations.revoke(&revoked);
            }
            return Ok(());
        }
        let hash = self.hasher.hash(SecretKind::RefreshToken, token);
        if let Some(refresh) = self.store.find_refresh_token(&hash).await?
            && refresh.client_id == client.client_id
        {
            let revoked = self.store.revoke_refresh_chain(&refresh.chain_id).await?;
            self.validator.revocations.revoke(&revoked);
        }
        Ok(())
    }

    /// Invalidates every token of a user issued until now (user deleted, role removed, password
    /// changed).
    pub async fn revoke_user_tokens(&self, username: &str) -> Result<(), StoreError> {
        let not_after = self.store.cut_off_tokens(CutoffKind::User, username).await?;
        self.validator.revocations.cut_off(&TokenCutoff {
            kind: CutoffKind::User,
            subject_id: username.to_owned(),
            not_after,
        });
        self.clients.remove_owner(username);
        Ok(())
    }

    /// Invalidates every token of a client issued until now (keys regenerated, application deleted).
    pub async fn revoke_client_tokens(&self, client_id: &str) -> Result<(), StoreError> {
        let not_after = self.store.cut_off_tokens(CutoffKind::Client, client_id).await?;
        self.note_client_cutoff(client_id, not_after);
        Ok(())
    }

    pub(super) fn note_client_cutoff(&self, client_id: &str, not_after: i64) {
        self.validator.revocations.cut_off(&TokenCutoff {
            kind: CutoffKind::Client,
            subject_id: client_id.to_owned(),
            not_after,
        });
        self.clients.remove(client_id);
    }
}
