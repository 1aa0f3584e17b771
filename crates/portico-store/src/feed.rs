//! The change feed: an outbox of cluster events with a gap-free, commit-ordered sequence.
//!
//! On PostgreSQL, appends serialise on a transaction-scoped advisory lock, so a reader that has
//! seen sequence N never later finds a committed event below N (an identity column alone allows
//! that when two transactions commit out of order). Each append also sends a NOTIFY on
//! [`FEED_CHANNEL`] carrying the sequence number, delivered when the transaction commits.

use std::sync::Arc;
use std::time::Duration;

use crate::{Store, StoreError, WriteTx, now_millis, with_pool, write_tx};

/// PostgreSQL LISTEN/NOTIFY channel that wakes followers of the feed.
pub const FEED_CHANNEL: &str = "portico_change_feed";

/// Advisory lock key for appends ("portico" in ASCII, so it is recognisable in pg_locks).
const FEED_LOCK: i64 = 0x0070_6f72_7469_636f;

/// One event of the feed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChangeEvent {
    pub seq: i64,
    /// What happened, e.g. `api.deployed`, `token.revoked`.
    pub kind: String,
    /// The thing it happened to (API id, token jti, ...).
    pub entity_id: String,
    /// JSON text with the details a follower needs.
    pub payload: String,
    /// The node that wrote it.
    pub origin_node: String,
    pub created_at: i64,
}

impl Store {
    /// Appends one event and returns its sequence number.
    pub async fn append_event(
        &self,
        kind: &str,
        entity_id: &str,
        payload: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let payload = payload.to_string();
        write_tx!(self, async |tx| {
            tx.append_event_in_tx(&self.node_id, kind, entity_id, &payload).await
        })
    }

    /// A wake-up source for followers of the feed: PostgreSQL NOTIFY (which every node's
    /// appends send), or on SQLite this process's own appends as they commit.
    pub async fn feed_listener(&self) -> Result<FeedListener, StoreError> {
        match &self.pool {
            crate::Pool::Sqlite(_) => Ok(FeedListener {
                wake: Wake::Local(self.appends.0.subscribe()),
            }),
            crate::Pool::Postgres(pool) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen(FEED_CHANNEL).await?;
                Ok(FeedListener {
                    wake: Wake::Notify(listener),
                })
            }
        }
    }

    /// How long a follower of the feed waits at most between two reads when nothing wakes it.
    /// SQLite: 1 s (this process's writes wake followers at once; the poll picks up writes of
    /// other processes on the same file, such as `portico` commands run beside the server).
    /// PostgreSQL: 200 ms, a safety net for a notification lost with its connection.
    pub fn feed_poll_interval(&self) -> Duration {
        match self.pool {
            crate::Pool::Sqlite(_) => Duration::from_secs(1),
            crate::Pool::Postgres(_) => Duration::from_millis(200),
        }
    }

    /// The newest events of one kind, newest first (tests and diagnostics).
    pub async fn events_of_kind(&self, kind: &str, limit: i64) -> Result<Vec<ChangeEvent>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT seq, kind, entity_id, payload, origin_node, created_at FROM change_feed WHERE kind = $1 ORDER BY seq DESC LIMIT $2",
            )
            .bind(kind)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Events with a sequence number above `after`, oldest first, at most `limit`.
    pub async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<ChangeEvent>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT seq, kind, entity_id, payload, origin_node, created_at FROM change_feed WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The highest sequence number written so far (0 for a feed never written; for a feed
    /// pruned empty, the highest pruned: sequence numbers are never reused).
    pub async fn latest_seq(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT MAX(seq) FROM change_feed")
                .fetch_one(pool)
                .await?
        });
        match seq {
            Some(seq) => Ok(seq),
            None => self.feed_pruned_through().await,
        }
    }
}

/// Appending to the feed inside a caller's transaction, so that a change and its event commit
/// together. On PostgreSQL appends serialise on an advisory lock held until commit.
pub(crate) trait AppendInTx {
    async fn append_event_in_tx(
        &mut self,
        node_id: &str,
        kind: &str,
        entity_id: &str,
        payload: &str,
    ) -> Result<i64, StoreError>;
}

const INSERT_EVENT: &str = "INSERT INTO change_feed (kind, entity_id, payload, origin_node, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING seq";

impl AppendInTx for WriteTx<sqlx::Sqlite> {
    async fn append_event_in_tx(
        &mut self,
        node_id: &str,
        kind: &str,
        entity_id: &str,
        payload: &str,
    ) -> Result<i64, StoreError> {
        // SQLite has one writer at a time, so AUTOINCREMENT order is commit order.
        let seq: i64 = sqlx::query_scalar(INSERT_EVENT)
            .bind(kind)
            .bind(entity_id)
            .bind(payload)
            .bind(node_id)
            .bind(now_millis())
            .fetch_one(&mut **self)
            .await?;
        self.appended = Some(seq);
        Ok(seq)
    }
}

impl AppendInTx for WriteTx<sqlx::Postgres> {
    async fn append_event_in_tx(
        &mut self,
        node_id: &str,
        kind: &str,
        entity_id: &str,
        payload: &str,
    ) -> Result<i64, StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FEED_LOCK)
            .execute(&mut **self)
            .await?;
        let seq: i64 = sqlx::query_scalar(INSERT_EVENT)
            .bind(kind)
            .bind(entity_id)
            .bind(payload)
            .bind(node_id)
            .bind(now_millis())
            .fetch_one(&mut **self)
            .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(FEED_CHANNEL)
            .bind(seq.to_string())
            .execute(&mut **self)
            .await?;
        self.appended = Some(seq);
        Ok(seq)
    }
}

/// Appends this process committed, by sequence number: what wakes its followers on SQLite,
/// which has no notifications. Cheap to clone (one shared channel).
#[derive(Debug, Clone)]
pub(crate) struct LocalAppends(Arc<tokio::sync::watch::Sender<i64>>);

impl Default for LocalAppends {
    fn default() -> LocalAppends {
        LocalAppends(Arc::new(tokio::sync::watch::Sender::new(0)))
    }
}

impl LocalAppends {
    /// Tells every follower that events up to `seq` have committed.
    pub(crate) fn announce(&self, seq: i64) {
        self.0.send_modify(|latest| *latest = (*latest).max(seq));
    }
}

enum Wake {
    Notify(sqlx::postgres::PgListener),
    Local(tokio::sync::watch::Receiver<i64>),
}

/// Wakes a follower of the feed when another node (or this one) appends, or after a timeout.
pub struct FeedListener {
    wake: Wake,
}

impl FeedListener {
    /// Returns when a notification arrives or `max` has passed, whichever is first. Polling the
    /// feed after either is always correct; the notification only makes it prompt.
    pub async fn wait(&mut self, max: Duration) {
        match &mut self.wake {
            Wake::Notify(listener) => {
                if let Ok(Err(e)) = tokio::time::timeout(max, listener.recv()).await {
                    tracing::debug!(error = %e, "feed listener lost its connection; it reconnects on next wait");
                    tokio::time::sleep(max).await;
                }
            }
            Wake::Local(appends) => {
                // Err: the store is gone (it owns the sender); wait out `max` instead of spinning.
                if let Ok(Err(_)) = tokio::time::timeout(max, appends.changed()).await {
                    tokio::time::sleep(max).await;
                }
            }
        }
    }
}
