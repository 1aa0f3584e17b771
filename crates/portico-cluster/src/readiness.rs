//! Whether this node is in step with the cluster, as `/health/ready` reports it: the database
//! answers, the start-up steps that need it have run, and every follower of the change feed (the
//! gateway's, the key manager's) has applied everything up to the feed's head, from the tables or
//! the feed (not only from a last-known-good snapshot). A node that loses its database is not
//! ready until it has it back and has caught up again; once caught up it stays ready while the
//! database answers (followers lagging by a few milliseconds behind fresh writes do not make it
//! flap). While the database is away, management calls are refused at once
//! ([`Readiness::database_unavailable`]) instead of each waiting for a connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portico_store::Store;
use serde_json::{Value, json};

use crate::follow::FollowerProgress;

/// Longest one check waits for the database.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What one readiness check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadinessReport {
    /// In step: every change up to `feed_position` (at least the head when it caught up) applied.
    Ready { feed_position: i64 },
    /// The database cannot be reached; the gateway serves what it holds.
    DatabaseUnavailable {
        reason: String,
        /// When the last-known-good snapshot the gateway serves from was written, if the node
        /// started from it.
        snapshot_written_at: Option<i64>,
    },
    /// The database answers; the start-up steps that need it have not finished.
    Starting,
    /// Applying the changes it missed.
    CatchingUp { feed_position: i64, feed_head: i64 },
}

impl ReadinessReport {
    pub fn is_ready(&self) -> bool {
        matches!(self, ReadinessReport::Ready { .. })
    }

    /// The body of `/health/ready` (besides what the REST layer adds).
    pub fn to_json(&self) -> Value {
        match self {
            ReadinessReport::Ready { feed_position } => json!({
                "status": "ready",
                "feedPosition": feed_position,
            }),
            ReadinessReport::DatabaseUnavailable {
                reason,
                snapshot_written_at,
            } => json!({
                "status": "unavailable",
                "waitingFor": "database",
                "reason": format!("store: {reason}"),
                "gateway": match snapshot_written_at {
                    Some(_) => "serving from its last-known-good snapshot",
                    None => "serving what it loaded before the database went away",
                },
                "snapshotWrittenAt": snapshot_written_at,
            }),
            ReadinessReport::Starting => json!({
                "status": "starting",
                "waitingFor": "start-up steps that need the database",
            }),
            ReadinessReport::CatchingUp {
                feed_position,
                feed_head,
            } => json!({
                "status": "catching-up",
                "waitingFor": "change feed",
                "feedPosition": feed_position,
                "feedHead": feed_head,
                "behind": feed_head - feed_position,
            }),
        }
    }
}

/// This node's readiness; shared by the health handler, the management layer and a watcher.
pub struct Readiness {
    store: Store,
    followers: Vec<Arc<FollowerProgress>>,
    /// The start-up steps that need the database have run.
    started: AtomicBool,
    /// Set when the node started from its last-known-good snapshot (its write time).
    snapshot_written_at: Option<i64>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Why the database is away, while it is.
    database_down: Option<String>,
    /// Every follower was in step at a check since the database last came back.
    caught_up: bool,
}

impl Readiness {
    /// A node started with its database (`snapshot_written_at` `None`) or from its snapshot.
    /// Not ready before [`Readiness::started`].
    pub fn new(
        store: Store,
        followers: Vec<Arc<FollowerProgress>>,
        snapshot_written_at: Option<i64>,
    ) -> Arc<Readiness> {
        Arc::new(Readiness {
            store,
            followers,
            started: AtomicBool::new(false),
            snapshot_written_at,
            state: Mutex::new(State {
                database_down: snapshot_written_at.map(|_| "not reached since this node started".to_owned()),
                caught_up: false,
            }),
        })
    }

    /// The start-up steps that need the database are done.
    pub fn started(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// Why the database is away, when the last check found it away.
    pub fn database_unavailable(&self) -> Option<String> {
        self.state.lock().ok().and_then(|s| s.database_down.clone())
    }

    /// Checks the database and the followers now.
    pub async fn check(&self) -> ReadinessReport {
        if let Err(reason) = self.reach_database().await {
            self.set_down(reason.clone());
            return ReadinessReport::DatabaseUnavailable {
                reason,
                snapshot_written_at: self
                    .snapshot_written_at
                    .filter(|_| self.followers.iter().any(|f| f.is_stale())),
            };
        }
        self.set_up();
        let position = self.followers.iter().map(|f| f.applied()).min().unwrap_or(0);
        if !self.started.load(Ordering::Acquire) {
            return ReadinessReport::Starting;
        }
        if self.state.lock().is_ok_and(|s| s.caught_up) {
            return ReadinessReport::Ready {
                feed_position: position,
            };
        }
        let head = match tokio::time::timeout(CHECK_TIMEOUT, self.store.latest_seq()).await {
            Ok(Ok(head)) => head,
            Ok(Err(e)) => return self.unavailable(e.to_string()),
            Err(_) => return self.unavailable(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        };
        if self.followers.iter().all(|f| f.in_step_with(head)) {
            if let Ok(mut state) = self.state.lock() {
                state.caught_up = true;
            }
            tracing::info!(position, head, "in step with the cluster's change feed: ready");
            return ReadinessReport::Ready {
                feed_position: position,
            };
        }
        for follower in &self.followers {
            follower.wake();
        }
        ReadinessReport::CatchingUp {
            feed_position: position,
            feed_head: head,
        }
    }

    /// Checks every `interval` until the task is aborted, so that a lost database is noticed
    /// (and management refused at once) without anyone asking for readiness.
    pub fn spawn_watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let readiness = self.clone();
        tokio::spawn(async move {
            loop {
                readiness.check().await;
                tokio::time::sleep(interval).await;
            }
        })
    }

    async fn reach_database(&self) -> Result<(), String> {
        match tokio::time::timeout(CHECK_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "the database did not answer within {} s",
                CHECK_TIMEOUT.as_secs()
            )),
        }
    }

    fn unavailable(&self, reason: String) -> ReadinessReport {
        self.set_down(reason.clone());
        ReadinessReport::DatabaseUnavailable {
            reason,
            snapshot_written_at: None,
        }
    }

    fn set_down(&self, reason: String) {
        let Ok(mut state) = self.state.lock() else { return };
        if state.database_down.is_none() {
            tracing::warn!(reason = %reason, "the database cannot be reached: management answers 503 and the gateway serves what it holds until it is back");
        }
        state.database_down = Some(reason);
        state.caught_up = false;
    }

    fn set_up(&self) {
        let Ok(mut state) = self.state.lock() else { return };
        if state.database_down.take().is_some() {
            tracing::info!("the database answers again: catching up with the change feed");
        }
    }
}
