//! Authorization codes of the OAuth2 authorization_code grant: stored by keyed hash with the
//! PKCE challenge, redeemed once (the row is deleted by the redemption that wins).

use crate::{Store, StoreError, now_millis, with_pool};

/// A stored authorization code (by hash).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub expires_at: i64,
    pub created_at: i64,
}

impl Store {
    /// Stores a new code; expired codes are swept on the way.
    pub async fn insert_authorization_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM oauth_authorization_codes WHERE expires_at < $1")
                .bind(now_millis())
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO oauth_authorization_codes (code_hash, client_id, user_id, redirect_uri, code_challenge, scope, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&code.code_hash)
            .bind(&code.client_id)
            .bind(&code.user_id)
            .bind(&code.redirect_uri)
            .bind(&code.code_challenge)
            .bind(&code.scope)
            .bind(code.expires_at)
            .bind(code.created_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Redeems a code: deletes and returns it. Of two concurrent redemptions only one gets it;
    /// an unknown, used or expired code is `None`.
    pub async fn take_authorization_code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>, StoreError> {
        let taken: Option<AuthorizationCode> = with_pool!(self, |pool| {
            sqlx::query_as(
                "DELETE FROM oauth_authorization_codes WHERE code_hash = $1 \
                 RETURNING code_hash, client_id, user_id, redirect_uri, code_challenge, scope, expires_at, created_at",
            )
            .bind(code_hash)
            .fetch_optional(pool)
            .await?
        });
        Ok(taken.filter(|c| c.expires_at > now_millis()))
    }
}
