//! Settings every node of a cluster must agree on, recorded once by the first node that starts
//! and read by the others (and by `portico init --join`, which checks a new node against them).

use crate::{Store, StoreError, now_millis, with_pool};

/// The `iss` of the tokens the cluster's key managers issue.
pub const SETTING_TOKEN_ISSUER: &str = "oauth.issuer";
/// The key id (`kid`: base64url SHA-256 of the public key) of the primary key that signs the
/// cluster's tokens.
pub const SETTING_PRIMARY_KEY_ID: &str = "keystore.primary.kid";

impl Store {
    /// The cluster's value of `name`, if a node has recorded one.
    pub async fn cluster_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT value FROM cluster_settings WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Records `proposed` as the cluster's value of `name` unless a value is recorded already;
    /// returns the recorded value (the first node's, when several start at once).
    pub async fn settle_cluster_setting(&self, name: &str, proposed: &str) -> Result<String, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO cluster_settings (name, value, origin_node, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(proposed)
            .bind(&self.node_id)
            .bind(now_millis())
            .execute(pool)
            .await?;
        });
        self.cluster_setting(name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("cluster setting `{name}`")))
    }
}
