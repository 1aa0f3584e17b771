//! The public halves of the cluster's token signing keys. A rotation records the new key and
//! sets the retirement time of the ones it supersedes in one transaction with its
//! `signing_key.changed` feed event, so every node validates the new key (and publishes it in
//! its JWKS) as soon as it follows the feed.

use serde_json::json;

use crate::feed::AppendInTx;
use crate::{Store, StoreError, now_millis, with_pool, write_tx};

/// Feed kind for a signing key added (entity: its `kid`; payload: `retiresOthersAt`).
pub const EVENT_SIGNING_KEY_CHANGED: &str = "signing_key.changed";

/// A signing key's public half as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    /// `ES256` or `RS256`.
    pub algorithm: String,
    pub public_key_pem: String,
    /// The JWK (JSON text) the JWKS publishes.
    pub jwk: String,
    pub origin_node: String,
    pub created_at: i64,
    /// Milliseconds since the epoch after which the key no longer validates; `None` while it is
    /// the newest.
    pub retires_at: Option<i64>,
}

/// What a new key is recorded with.
#[derive(Debug, Clone)]
pub struct NewSigningKey {
    pub kid: String,
    pub algorithm: String,
    pub public_key_pem: String,
    pub jwk: String,
}

const SELECT: &str =
    "SELECT kid, algorithm, public_key_pem, jwk, origin_node, created_at, retires_at FROM signing_keys";

impl Store {
    /// Records a key a node holds, if the store does not know it yet (the first node's primary
    /// key, or a key copied to a node before any rotation recorded it). Supersedes nothing.
    pub async fn register_signing_key(&self, key: &NewSigningKey) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO signing_keys (kid, algorithm, public_key_pem, jwk, origin_node, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kid) DO NOTHING",
            )
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.public_key_pem)
            .bind(&key.jwk)
            .bind(&self.node_id)
            .bind(now_millis())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records `key` as the newest signing key: every other key not yet retiring retires at
    /// `retire_others_at` (milliseconds since the epoch). Announced with
    /// [`EVENT_SIGNING_KEY_CHANGED`]. A key recorded already is [`StoreError::Conflict`].
    pub async fn rotate_signing_key(&self, key: &NewSigningKey, retire_others_at: i64) -> Result<(), StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            sqlx::query("UPDATE signing_keys SET retires_at = $1 WHERE retires_at IS NULL")
                .bind(retire_others_at)
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, algorithm, public_key_pem, jwk, origin_node, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.public_key_pem)
            .bind(&key.jwk)
            .bind(&self.node_id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let payload = json!({ "retiresOthersAt": retire_others_at }).to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_SIGNING_KEY_CHANGED, &key.kid, &payload)
                .await?;
            Ok(())
        })
        .map_err(|e| e.unique_as(|_| format!("signing key {}", key.kid)))
    }

    /// The keys that still validate at `now_ms` (not retired), oldest first.
    pub async fn live_signing_keys(&self, now_ms: i64) -> Result<Vec<SigningKeyRow>, StoreError> {
        let sql = format!("{SELECT} WHERE retires_at IS NULL OR retires_at > $1 ORDER BY created_at, kid");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(now_ms)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Every recorded key, retired ones included, oldest first.
    pub async fn all_signing_keys(&self) -> Result<Vec<SigningKeyRow>, StoreError> {
        let sql = format!("{SELECT} ORDER BY created_at, kid");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .fetch_all(pool)
                .await?
        }))
    }
}
