//! Keeping this node's gateway in step with the cluster: which change-feed events change what
//! the gateway serves, and what the node does about each.
//!
//! - Deployments another node made (`api.*` events from elsewhere): this node's runtime artifacts
//!   are rewritten from the store ([`Deployments`]) and the gateway's artifact loader is woken.
//!   This node's own deployments wrote their artifacts already.
//! - Changes to applications, key mappings, subscriptions, OAuth clients, key managers and signing
//!   keys (from any node, this one included): the gateway's identity is reloaded from the store.
//! - Changes to throttling policies ([`EVENT_POLICY_CHANGED`], from any node): the gateway's
//!   policies are reloaded from the store.
//! - Changes to deny policies (`deny_policy.changed`, from any node): the gateway's deny
//!   policies are reloaded from the store.

use std::future::Future;
use std::sync::Arc;

use portico_gateway::Gateway;
use portico_store::{ChangeEvent, StoreError};
use tokio::sync::Notify;

use crate::deny_policies::load_deny_policies;
use crate::follow::{FollowerProgress, follow_with_progress};
use crate::identity::IdentitySource;
use crate::policies::{EVENT_POLICY_CHANGED, load_policies};

/// Feed events after which the gateway reloads applications, client ids, subscriptions and
/// external key managers.
const IDENTITY_EVENTS: [&str; 6] = [
    portico_store::EVENT_APPLICATION_CHANGED,
    portico_store::EVENT_KEY_MAPPING_CHANGED,
    portico_store::EVENT_SUBSCRIPTION_CHANGED,
    portico_store::EVENT_CLIENT_CHANGED,
    portico_store::EVENT_KEY_MANAGER_CHANGED,
    portico_store::EVENT_SIGNING_KEY_CHANGED,
];

/// This node's runtime artifacts (`deployment/server/`), rewritten from the deployments the
/// store records. The deploy pipeline that writes them belongs to the management crates, which
/// depend on this one; the node hands it in.
pub trait Deployments: Send + Sync + 'static {
    type Error: std::fmt::Display;

    /// Rewrites the artifacts; returns how many are deployed.
    fn reconcile(&self) -> impl Future<Output = Result<usize, Self::Error>> + Send;
}

/// How much identity data the gateway holds after a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityCounts {
    /// Client ids of this node's key manager.
    pub clients: usize,
    pub subscriptions: usize,
}

/// Applies the change feed to this node's gateway.
pub struct GatewaySync<D> {
    /// This node's id, as the store records it as the origin of the events it appends.
    node_id: String,
    gateway: Arc<Gateway>,
    identity: IdentitySource,
    deployments: D,
    /// Wakes the gateway's artifact loader (it also polls).
    artifacts_changed: Arc<Notify>,
}

impl<D: Deployments> GatewaySync<D> {
    pub fn new(
        node_id: String,
        gateway: Arc<Gateway>,
        identity: IdentitySource,
        deployments: D,
        artifacts_changed: Arc<Notify>,
    ) -> Arc<GatewaySync<D>> {
        Arc::new(GatewaySync {
            node_id,
            gateway,
            identity,
            deployments,
            artifacts_changed,
        })
    }

    /// Loads the identity from the store and installs it in the gateway.
    pub async fn reload_identity(&self) -> Result<IdentityCounts, StoreError> {
        let identity = self.identity.load().await?;
        let counts = IdentityCounts {
            clients: identity.clients.len(),
            subscriptions: identity.subscriptions.len(),
        };
        self.gateway.install_identity(identity);
        Ok(counts)
    }

    /// Loads the throttling policies from the store and installs them in the gateway; returns
    /// how many there are.
    pub async fn reload_policies(&self) -> Result<usize, StoreError> {
        let policies = load_policies(self.identity.store()).await?;
        self.gateway.install_throttle_policies(&policies);
        Ok(policies.len())
    }

    /// Loads the enabled deny policies from the store and installs them in the gateway; returns
    /// how many conditions are enforced.
    pub async fn reload_deny_policies(&self) -> Result<usize, StoreError> {
        let (deny, count) = load_deny_policies(self.identity.store()).await?;
        self.gateway.install_deny_policies(deny);
        Ok(count)
    }

    /// Applies one batch of feed events; failures are logged, and the next change retries.
    pub async fn apply(&self, events: &[ChangeEvent]) {
        let changes = Changes::of(events, &self.node_id);
        if changes.deployments_elsewhere {
            match self.deployments.reconcile().await {
                Ok(_) => self.artifacts_changed.notify_one(),
                Err(e) => tracing::warn!(error = %e, "cannot apply deployments from other nodes"),
            }
        }
        if changes.identity {
            match self.reload_identity().await {
                Ok(counts) => tracing::debug!(
                    clients = counts.clients,
                    subscriptions = counts.subscriptions,
                    "gateway identity reloaded"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot reload applications and subscriptions"),
            }
        }
        if changes.policies {
            match self.reload_policies().await {
                Ok(count) => tracing::info!(policies = count, "gateway throttling policies reloaded"),
                Err(e) => tracing::warn!(error = %e, "cannot reload throttling policies"),
            }
        }
        if changes.deny_policies {
            match self.reload_deny_policies().await {
                Ok(count) => tracing::info!(conditions = count, "gateway deny policies reloaded"),
                Err(e) => tracing::warn!(error = %e, "cannot reload deny policies"),
            }
        }
    }

    /// Follows the change feed from `progress`'s position, reporting to it, until the task is
    /// aborted.
    pub fn spawn(self: &Arc<Self>, progress: Arc<FollowerProgress>) -> tokio::task::JoinHandle<()> {
        let store = self.identity.store().clone();
        let poll = store.feed_poll_interval();
        let sync = self.clone();
        tokio::spawn(follow_with_progress(store, progress, poll, move |events| {
            let sync = sync.clone();
            async move { sync.apply(&events).await }
        }))
    }
}

/// What a batch of feed events asks of the gateway.
#[derive(Debug, PartialEq, Eq)]
struct Changes {
    deployments_elsewhere: bool,
    identity: bool,
    policies: bool,
    deny_policies: bool,
}

impl Changes {
    fn of(events: &[ChangeEvent], node_id: &str) -> Changes {
        Changes {
            deployments_elsewhere: events
                .iter()
                .any(|e| e.kind.starts_with("api.") && e.origin_node != node_id),
            identity: events.iter().any(|e| IDENTITY_EVENTS.contains(&e.kind.as_str())),
            policies: events.iter().any(|e| e.kind == EVENT_POLICY_CHANGED),
            deny_policies: events
                .iter()
                .any(|e| e.kind == portico_store::EVENT_DENY_POLICY_CHANGED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, origin: &str) -> ChangeEvent {
        ChangeEvent {
            seq: 1,
            kind: kind.to_owned(),
            entity_id: "id".to_owned(),
            payload: "{}".to_owned(),
            origin_node: origin.to_owned(),
            created_at: 0,
        }
    }

    #[test]
    fn only_other_nodes_deployments_rewrite_the_artifacts() {
        let here = [event("api.deployed", "node-a")];
        assert!(!Changes::of(&here, "node-a").deployments_elsewhere);
        let elsewhere = [event("api.deployed", "node-b")];
        assert!(Changes::of(&elsewhere, "node-a").deployments_elsewhere);
    }

    #[test]
    fn identity_changes_from_any_node_reload_the_identity() {
        for kind in IDENTITY_EVENTS {
            for origin in ["node-a", "node-b"] {
                assert_eq!(
                    Changes::of(&[event(kind, origin)], "node-a"),
                    Changes {
                        deployments_elsewhere: false,
                        identity: true,
                        policies: false,
                        deny_policies: false
                    },
                    "{kind} from {origin}"
                );
            }
        }
        let unrelated = [event(portico_store::EVENT_TOKEN_REVOKED, "node-b")];
        assert_eq!(
            Changes::of(&unrelated, "node-a"),
            Changes {
                deployments_elsewhere: false,
                identity: false,
                policies: false,
                deny_policies: false
            }
        );
    }

    #[test]
    fn policy_changes_from_any_node_reload_the_policies() {
        for origin in ["node-a", "node-b"] {
            let changes = Changes::of(&[event(EVENT_POLICY_CHANGED, origin)], "node-a");
            assert!(changes.policies && !changes.identity, "{origin}");
        }
    }

    #[test]
    fn deny_policy_changes_from_any_node_reload_the_deny_policies() {
        for origin in ["node-a", "node-b"] {
            let changes = Changes::of(&[event(portico_store::EVENT_DENY_POLICY_CHANGED, origin)], "node-a");
            assert!(
                changes.deny_policies && !changes.policies && !changes.identity,
                "{origin}"
            );
        }
    }
}
