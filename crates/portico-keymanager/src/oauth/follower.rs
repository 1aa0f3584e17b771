//! The change feed follower: applies revocations made on other nodes and evicts the clients they
//! (or client changes) concern.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the revocation list drops entries of expired tokens, at most.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

use portico_cluster::{FeedHandler, FollowerProgress, Retry};
use portico_store::ChangeEvent;

use super::service::TokenService;

/// The key manager's follower of the feed.
struct Follower {
    service: Arc<TokenService>,
    /// Revocations only grow when events arrive, so pruning on arrival (at most once a minute)
    /// keeps the list bounded.
    last_prune: Instant,
}

impl FeedHandler for Follower {
    async fn apply(&mut self, events: Vec<ChangeEvent>) -> Result<(), Retry> {
        for event in &events {
            self.service.apply_event(event);
        }
        if self.last_prune.elapsed() >= PRUNE_INTERVAL {
            self.service.validator.revocations.prune(portico_store::now_millis());
            self.last_prune = Instant::now();
        }
        Ok(())
    }

    async fn rebuild(&mut self) -> Result<(), Retry> {
        self.service.load_revocations().await?;
        Ok(())
    }
}

impl TokenService {
    /// Follows the change feed from `progress`'s position: applies revocations and evicts
    /// changed clients; reloads the revocations from the store when the events it missed were
    /// pruned (or it started from a snapshot).
    pub fn spawn_follower(self: &Arc<Self>, progress: Arc<FollowerProgress>) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let poll = store.feed_poll_interval();
        tokio::spawn(portico_cluster::follow_feed(
            store,
            progress,
            poll,
            Follower {
                service: Arc::clone(self),
                last_prune: Instant::now(),
            },
        ))
    }

    fn apply_event(&self, event: &ChangeEvent) {
        if self.validator.revocations.apply(event) || event.kind == portico_store::EVENT_CLIENT_CHANGED {
            // A revocation may concern a client's owner or the client itself: cached owners and
            // clients are re-read on next use.
            self.evict_clients(event);
        }
    }

    fn evict_clients(&self, event: &ChangeEvent) {
        match event.kind.as_str() {
            portico_store::EVENT_TOKEN_REVOKED => {}
            portico_store::EVENT_USER_TOKENS_REVOKED => self.clients.remove_owner(&event.entity_id),
            _ => self.clients.remove(&event.entity_id),
        }
    }
}
