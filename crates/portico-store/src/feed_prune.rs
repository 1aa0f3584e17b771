//! Pruning the change feed: events that every live node has applied and that are older than the
//! retention are deleted, by one node at a time (on PostgreSQL a transaction-scoped advisory
//! lock that a second pruner does not wait for; SQLite has one writer anyway). The highest
//! sequence number ever pruned is recorded as the cluster setting
//! [`SETTING_FEED_PRUNED_THROUGH`]: a follower whose position is below it has missed events
//! that are gone, and rebuilds from the tables instead of replaying.

use std::time::Duration;

use crate::{Store, StoreError, now_millis, write_tx};

/// The cluster setting holding the highest pruned sequence number (absent: nothing pruned).
pub const SETTING_FEED_PRUNED_THROUGH: &str = "change_feed.pruned_through";

/// Advisory lock key of the pruner ("pruning" in ASCII), distinct from the appenders' lock.
const PRUNE_LOCK: i64 = 0x0070_7275_6e69_6e67;

/// What one pruning round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPruned {
    /// Events deleted.
    pub events: u64,
    /// The highest sequence number pruned so far (this round or before).
    pub through: i64,
}

impl Store {
    /// The highest sequence number pruned from the feed (0 when nothing was).
    pub async fn feed_pruned_through(&self) -> Result<i64, StoreError> {
        Ok(self
            .cluster_setting(SETTING_FEED_PRUNED_THROUGH)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Deletes the events older than `retention` that every live node (registered, not stopped,
    /// heard from within `node_timeout` by the database's clock) has applied, and this node too
    /// (`own_position`: its heartbeat may not have reported it yet). `Ok(None)`: another node is
    /// pruning right now.
    pub async fn prune_feed(
        &self,
        retention: Duration,
        node_timeout: Duration,
        own_position: i64,
    ) -> Result<Option<FeedPruned>, StoreError> {
        let postgres = self.backend() == crate::Backend::Postgres;
        let db_now = self.database_now().await?;
        let live_since = db_now - i64::try_from(node_timeout.as_millis()).unwrap_or(i64::MAX);
        let older_than = now_millis() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        write_tx!(self, async |tx| {
            if postgres {
                let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(PRUNE_LOCK)
                    .fetch_one(&mut **tx)
                    .await?;
                if !locked {
                    return Ok(None);
                }
            }
            let live_min: Option<i64> = sqlx::query_scalar(
                "SELECT MIN(feed_position) FROM cluster_nodes WHERE stopped_at IS NULL AND last_heartbeat >= $1",
            )
            .bind(live_since)
            .fetch_one(&mut **tx)
            .await?;
            let applied_by_all = live_min.map_or(own_position, |m| m.min(own_position));
            let before: Option<String> = sqlx::query_scalar("SELECT value FROM cluster_settings WHERE name = $1")
                .bind(SETTING_FEED_PRUNED_THROUGH)
                .fetch_optional(&mut **tx)
                .await?;
            let before = before.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
            let upto: Option<i64> =
                sqlx::query_scalar("SELECT MAX(seq) FROM change_feed WHERE seq <= $1 AND created_at < $2")
                    .bind(applied_by_all)
                    .bind(older_than)
                    .fetch_one(&mut **tx)
                    .await?;
            let Some(upto) = upto else {
                return Ok(Some(FeedPruned {
                    events: 0,
                    through: before,
                }));
            };
            let events = sqlx::query("DELETE FROM change_feed WHERE seq <= $1 AND created_at < $2")
                .bind(upto)
                .bind(older_than)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            let through = before.max(upto);
            sqlx::query(
                "INSERT INTO cluster_settings (name, value, origin_node, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, origin_node = excluded.origin_node, \
                 created_at = excluded.created_at",
            )
            .bind(SETTING_FEED_PRUNED_THROUGH)
            .bind(through.to_string())
            .bind(&self.node_id)
            .bind(now_millis())
            .execute(&mut **tx)
            .await?;
            Ok(Some(FeedPruned { events, through }))
        })
    }
}
