//! The change feed follower: applies revocations made on other nodes and evicts the clients they
//! (or client changes) concern; reloads the cluster's signing keys after a rotation.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the revocation list drops entries of expired tokens, at most.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

use portico_store::ChangeEvent;

use super::service::TokenService;

impl TokenService {
    /// Follows the change feed from `position`: applies revocations and evicts changed clients.
    pub fn spawn_follower(self: &Arc<Self>, position: i64) -> tokio::task::JoinHandle<()> {
        let service = Arc::clone(self);
        let store = self.store.clone();
        let poll = store.feed_poll_interval();
        // Revocations only grow when events arrive, so pruning on arrival (at most once a
        // minute) keeps the list bounded.
        let mut last_prune = Instant::now();
        tokio::spawn(portico_cluster::follow(store, position, poll, move |events| {
            for event in &events {
                service.apply_event(event);
            }
            if last_prune.elapsed() >= PRUNE_INTERVAL {
                service.validator.revocations.prune(portico_store::now_millis());
                last_prune = Instant::now();
            }
            let rotated = events
                .iter()
                .any(|e| e.kind == portico_store::EVENT_SIGNING_KEY_CHANGED);
            let service = service.clone();
            async move {
                if rotated && let Err(e) = service.reload_signing_keys().await {
                    tracing::warn!(error = %e, "cannot reload the cluster's signing keys");
                }
            }
        }))
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
