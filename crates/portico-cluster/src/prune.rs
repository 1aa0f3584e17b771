//! The change feed's retention: every so often one node deletes the events that every live node
//! has applied and that are older than `[cluster] feed_retention_days`
//! ([`portico_store::Store::prune_feed`]). A node that comes back after the prune point rebuilds
//! from the tables (see [`crate::follow`]).

use std::sync::Arc;
use std::time::Duration;

use portico_store::Store;

use crate::follow::FollowerProgress;

/// Longest pause between two pruning rounds.
const MAX_INTERVAL: Duration = Duration::from_secs(600);

/// What the pruner of one node needs.
pub struct FeedPruner {
    pub store: Store,
    /// Events younger than this are kept.
    pub retention: Duration,
    /// Nodes silent for longer are not waited for (they rebuild when they come back).
    pub node_timeout: Duration,
    /// Shortest pause between two rounds (the heartbeat).
    pub min_interval: Duration,
    /// This node's gateway follower (its position may be newer than its last heartbeat).
    pub progress: Arc<FollowerProgress>,
}

impl FeedPruner {
    /// Rounds a tenth of the retention apart (between the heartbeat and ten minutes); errors
    /// (the database away) are logged and the next round tries again. Runs until aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let interval = (self.retention / 10).clamp(self.min_interval, MAX_INTERVAL.max(self.min_interval));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                match self
                    .store
                    .prune_feed(self.retention, self.node_timeout, self.progress.applied())
                    .await
                {
                    Ok(Some(pruned)) if pruned.events > 0 => {
                        tracing::info!(events = pruned.events, through = pruned.through, "change feed pruned")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "change feed not pruned this round"),
                }
            }
        })
    }
}
