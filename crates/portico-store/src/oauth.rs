//! The Key Manager's durable state: OAuth2 clients, rotating refresh tokens, revoked access-token
//! ids and per-subject token cut-offs. Every revocation commits together with its change-feed
//! event, so that other nodes learn of it.

use serde_json::json;

use crate::error::require_found;
use crate::feed::AppendInTx;
use crate::{Store, StoreError, now_millis, with_pool, write_tx};

/// Feed kind for one revoked access token (entity: jti; payload `{"jti","expiresAt"}`).
pub const EVENT_TOKEN_REVOKED: &str = "token.revoked";
/// Feed kind for "every token of this user issued up to `notAfter` is invalid".
pub const EVENT_USER_TOKENS_REVOKED: &str = "user.tokens_revoked";
/// Feed kind for "every token of this OAuth client issued up to `notAfter` is invalid".
pub const EVENT_CLIENT_TOKENS_REVOKED: &str = "client.tokens_revoked";
/// Feed kind for a changed or deleted OAuth client (caches drop it).
pub const EVENT_CLIENT_CHANGED: &str = "oauth_client.changed";

/// An OAuth2 client (a DCR registration or an application's key pair).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OAuthClient {
    pub client_id: String,
    /// Keyed hash of the secret; the secret itself is never stored.
    pub secret_hash: String,
    pub client_name: String,
    pub owner_id: String,
    /// Space-separated grant types.
    pub grant_types: String,
    pub callback_url: String,
    pub key_type: String,
    pub saas_app: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl OAuthClient {
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.split_whitespace().any(|g| g == grant)
    }
}

#[derive(Debug, Clone)]
pub struct NewOAuthClient {
    pub client_id: String,
    pub secret_hash: String,
    pub client_name: String,
    pub owner_id: String,
    pub grant_types: String,
    pub callback_url: String,
    pub key_type: String,
    pub saas_app: bool,
}

/// A stored refresh token (by hash).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshToken {
    pub token_hash: String,
    pub chain_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub state: String,
    pub access_jti: String,
    pub access_expires_at: i64,
    pub expires_at: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub chain_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub access_jti: String,
    /// Epoch millis.
    pub access_expires_at: i64,
    /// Epoch millis.
    pub expires_at: i64,
}

/// What presenting a refresh token for rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// It was active and is now rotated; the successor is stored.
    Rotated(RefreshToken),
    /// It had already been rotated: a replay. The whole chain is now revoked; the access tokens
    /// of the chain are listed as revoked.
    Reused {
        chain_id: String,
        revoked: Vec<RevokedToken>,
    },
    /// Revoked, expired, or unknown.
    Invalid,
}

/// A revoked access token id and when the token would have expired (epoch millis).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct RevokedToken {
    pub jti: String,
    pub expires_at: i64,
}

/// Whose tokens a cut-off applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CutoffKind {
    /// Keyed by username (the token's `sub`).
    User,
    /// Keyed by client id (the token's `client_id`).
    Client,
}

impl CutoffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CutoffKind::User => "user",
            CutoffKind::Client => "client",
        }
    }

    pub(crate) fn event_kind(self) -> &'static str {
        match self {
            CutoffKind::User => EVENT_USER_TOKENS_REVOKED,
            CutoffKind::Client => EVENT_CLIENT_TOKENS_REVOKED,
        }
    }
}

/// Tokens of `subject_id` issued at or before `not_after` (epoch millis) are invalid.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenCutoff {
    pub kind: CutoffKind,
    pub subject_id: String,
    pub not_after: i64,
}

#[derive(sqlx::FromRow)]
struct CutoffRow {
    subject_kind: String,
    subject_id: String,
    not_after: i64,
}

/// Inserts a refresh token row through executor `$exec` (a pool or a transaction).
macro_rules! insert_refresh {
    ($exec:expr, $new:expr, $now:expr) => {{
        let new: &NewRefreshToken = $new;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, chain_id, client_id, user_id, scope, state, access_jti, access_expires_at, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9)",
        )
        .bind(&new.token_hash)
        .bind(&new.chain_id)
        .bind(&new.client_id)
        .bind(&new.user_id)
        .bind(&new.scope)
        .bind(&new.access_jti)
        .bind(new.access_expires_at)
        .bind(new.expires_at)
        .bind($now)
        .execute($exec)
        .await?;
    }};
}

/// Records one revoked jti and its feed event inside transaction `$tx` (a `&mut WriteTx`).
macro_rules! revoke_jti_in_tx {
    ($tx:ident, $store:expr, $token:expr, $now:expr) => {{
        let token: &RevokedToken = $token;
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(&token.jti)
        .bind(token.expires_at)
        .bind($now)
        .execute(&mut **$tx)
        .await?;
        let payload = json!({ "jti": token.jti, "expiresAt": token.expires_at }).to_string();
        $tx.append_event_in_tx(&$store.node_id, EVENT_TOKEN_REVOKED, &token.jti, &payload)
            .await?;
    }};
}

/// Sets a cut-off and its feed event inside transaction `$tx` (a `&mut WriteTx`): every token of
/// `$subject` issued until `$now` is invalid.
macro_rules! cutoff_in_tx {
    ($tx:ident, $store:expr, $kind:expr, $subject:expr, $now:expr) => {{
        let kind: CutoffKind = $kind;
        sqlx::query(
            "INSERT INTO token_cutoffs (subject_kind, subject_id, not_after) VALUES ($1, $2, $3) \
             ON CONFLICT (subject_kind, subject_id) DO UPDATE SET not_after = excluded.not_after",
        )
        .bind(kind.as_str())
        .bind($subject)
        .bind($now)
        .execute(&mut **$tx)
        .await?;
        let payload = json!({ "subject": $subject, "notAfter": $now }).to_string();
        $tx.append_event_in_tx(&$store.node_id, kind.event_kind(), $subject, &payload)
            .await?;
    }};
}
pub(crate) use cutoff_in_tx;

const CLIENT_COLUMNS: &str = "client_id, secret_hash, client_name, owner_id, grant_types, callback_url, key_type, saas_app, created_at, updated_at";
const REFRESH_COLUMNS: &str =
    "token_hash, chain_id, client_id, user_id, scope, state, access_jti, access_expires_at, expires_at, created_at";

impl Store {
    /// Stores a new client; a taken client id or (owner, name) pair is [`StoreError::Conflict`].
    pub async fn create_oauth_client(&self, new: &NewOAuthClient) -> Result<OAuthClient, StoreError> {
        let now = now_millis();
        let inserted = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO oauth_clients (client_id, secret_hash, client_name, owner_id, grant_types, callback_url, key_type, saas_app, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT DO NOTHING",
            )
            .bind(&new.client_id)
            .bind(&new.secret_hash)
            .bind(&new.client_name)
            .bind(&new.owner_id)
            .bind(&new.grant_types)
            .bind(&new.callback_url)
            .bind(&new.key_type)
            .bind(new.saas_app)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if inserted == 0 {
            return Err(StoreError::Conflict(format!("OAuth application `{}`", new.client_name)));
        }
        Ok(OAuthClient {
            client_id: new.client_id.clone(),
            secret_hash: new.secret_hash.clone(),
            client_name: new.client_name.clone(),
            owner_id: new.owner_id.clone(),
            grant_types: new.grant_types.clone(),
            callback_url: new.callback_url.clone(),
            key_type: new.key_type.clone(),
            saas_app: new.saas_app,
            created_at: now,
            updated_at: now,
        })
    }

    pub async fn find_oauth_client(&self, client_id: &str) -> Result<Option<OAuthClient>, StoreError> {
        self.find_one(
            &format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1"),
            &[client_id],
        )
        .await
    }

    pub async fn find_oauth_client_by_name(
        &self,
        owner_id: &str,
        name: &str,
    ) -> Result<Option<OAuthClient>, StoreError> {
        self.find_one(
            &format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE owner_id = $1 AND client_name = $2"),
            &[owner_id, name],
        )
        .await
    }

    /// Updates a client's name, callback and grant types; announces the change.
    pub async fn update_oauth_client(
        &self,
        client_id: &str,
        client_name: &str,
        callback_url: &str,
        grant_types: &str,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            let updated = sqlx::query(
                "UPDATE oauth_clients SET client_name = $2, callback_url = $3, grant_types = $4, updated_at = $5 WHERE client_id = $1",
            )
            .bind(client_id)
            .bind(client_name)
            .bind(callback_url)
            .bind(grant_types)
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            require_found(updated, || format!("OAuth application {client_id}"))?;
            tx.append_event_in_tx(&self.node_id, EVENT_CLIENT_CHANGED, client_id, "{}")
                .await?;
            Ok(())
        })
    }

    /// Replaces a client's secret and invalidates every token issued to it so far.
    pub async fn set_oauth_client_secret(&self, client_id: &str, secret_hash: &str) -> Result<i64, StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            let updated =
                sqlx::query("UPDATE oauth_clients SET secret_hash = $2, updated_at = $3 WHERE client_id = $1")
                    .bind(client_id)
                    .bind(secret_hash)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            require_found(updated, || format!("OAuth application {client_id}"))?;
            tx.append_event_in_tx(&self.node_id, EVENT_CLIENT_CHANGED, client_id, "{}")
                .await?;
            cutoff_in_tx!(tx, self, CutoffKind::Client, client_id, now);
            Ok(now)
        })
    }

    /// Deletes a client (its refresh tokens go with it) and invalidates its tokens.
    pub async fn delete_oauth_client(&self, client_id: &str) -> Result<i64, StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            let deleted = sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
                .bind(client_id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            require_found(deleted, || format!("OAuth application {client_id}"))?;
            tx.append_event_in_tx(&self.node_id, EVENT_CLIENT_CHANGED, client_id, "{}")
                .await?;
            cutoff_in_tx!(tx, self, CutoffKind::Client, client_id, now);
            Ok(now)
        })
    }

    pub async fn insert_refresh_token(&self, new: &NewRefreshToken) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            insert_refresh!(pool, new, now_millis());
        });
        Ok(())
    }

    pub async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        self.find_one(
            &format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1"),
            &[token_hash],
        )
        .await
    }

    /// Presents a refresh token for rotation. An active, unexpired token is marked rotated and
    /// `successor` (in the same chain) stored in the same transaction. A token that was already
    /// rotated is a replay: the chain is revoked, with its access tokens.
    pub async fn use_refresh_token(
        &self,
        token_hash: &str,
        successor: impl FnOnce(&RefreshToken) -> NewRefreshToken,
    ) -> Result<RefreshUse, StoreError> {
        let now = now_millis();
        let Some(current) = self.find_refresh_token(token_hash).await? else {
            return Ok(RefreshUse::Invalid);
        };
        match current.state.as_str() {
            "rotated" => {
                let revoked = self.revoke_refresh_chain(&current.chain_id).await?;
                return Ok(RefreshUse::Reused {
                    chain_id: current.chain_id,
                    revoked,
                });
            }
            "active" if current.expires_at > now => {}
            _ => return Ok(RefreshUse::Invalid),
        }
        let next = successor(&current);
        let won = write_tx!(self, async |tx| {
            // Only one of two concurrent uses can flip the state; the loser is a replay.
            let flipped =
                sqlx::query("UPDATE refresh_tokens SET state = 'rotated' WHERE token_hash = $1 AND state = 'active'")
                    .bind(token_hash)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            if flipped == 1 {
                insert_refresh!(&mut **tx, &next, now);
            }
            Ok(flipped == 1)
        })?;
        if won {
            Ok(RefreshUse::Rotated(current))
        } else {
            let revoked = self.revoke_refresh_chain(&current.chain_id).await?;
            Ok(RefreshUse::Reused {
                chain_id: current.chain_id,
                revoked,
            })
        }
    }

    /// Revokes every refresh token of a chain and the unexpired access tokens issued with them.
    pub async fn revoke_refresh_chain(&self, chain_id: &str) -> Result<Vec<RevokedToken>, StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            sqlx::query("UPDATE refresh_tokens SET state = 'revoked' WHERE chain_id = $1")
                .bind(chain_id)
                .execute(&mut **tx)
                .await?;
            let access: Vec<RevokedToken> = sqlx::query_as(
                "SELECT access_jti AS jti, access_expires_at AS expires_at FROM refresh_tokens WHERE chain_id = $1 AND access_expires_at > $2",
            )
            .bind(chain_id)
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
            for token in &access {
                revoke_jti_in_tx!(tx, self, token, now);
            }
            Ok(access)
        })
    }

    /// Records revoked access tokens and announces each on the feed.
    pub async fn revoke_access_tokens(&self, tokens: &[RevokedToken]) -> Result<(), StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            for token in tokens {
                revoke_jti_in_tx!(tx, self, token, now);
            }
            Ok(())
        })
    }

    /// Revoked tokens that have not expired yet (a starting node loads these).
    pub async fn revoked_access_tokens(&self) -> Result<Vec<RevokedToken>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1")
                .bind(now_millis())
                .fetch_all(pool)
                .await?
        }))
    }

    /// Forgets revocations of tokens that have expired anyway.
    pub async fn prune_revoked_tokens(&self) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
                .bind(now_millis())
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// Invalidates every token of a user or client issued until now; returns the cut-off.
    pub async fn cut_off_tokens(&self, kind: CutoffKind, subject_id: &str) -> Result<i64, StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            cutoff_in_tx!(tx, self, kind, subject_id, now);
            Ok(now)
        })
    }

    /// Every cut-off (a starting node loads these).
    pub async fn token_cutoffs(&self) -> Result<Vec<TokenCutoff>, StoreError> {
        let rows: Vec<CutoffRow> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT subject_kind, subject_id, not_after FROM token_cutoffs")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let kind = match r.subject_kind.as_str() {
                    "user" => CutoffKind::User,
                    "client" => CutoffKind::Client,
                    _ => return None,
                };
                Some(TokenCutoff {
                    kind,
                    subject_id: r.subject_id,
                    not_after: r.not_after,
                })
            })
            .collect())
    }
}
