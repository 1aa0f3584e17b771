//! What the management handlers share: [`RestState`].

use std::sync::Arc;

use portico_config::Config;
use portico_keymanager::{Authenticator, TokenService};
use portico_store::Store;

use crate::analytics::AnalyticsState;
use crate::publisher::artifacts::ArtifactFiles;

/// What the management handlers share.
#[derive(Clone)]
pub struct RestState {
    pub config: Arc<Config>,
    pub store: Store,
    pub authenticator: Arc<Authenticator>,
    /// The Key Manager's OAuth2 side (token endpoint, DCR, revocation).
    pub oauth: Arc<TokenService>,
    /// SHA-256 fingerprints of the loaded TLS and primary certificates (readiness shows them).
    pub key_fingerprints: Arc<KeyFingerprints>,
    /// The runtime artifact files of this node's deployments (written on deploy, removed on
    /// undeploy and delete).
    pub artifacts: ArtifactFiles,
    /// How far this node has applied the change feed (its gateway's applications, keys and
    /// subscriptions); changing REST calls wait for it before answering.
    pub applied_here: Arc<portico_cluster::FollowerProgress>,
    /// Whether this node is in step with the cluster (`/health/ready`), and whether its
    /// database is away (management calls answer 503 meanwhile).
    pub readiness: Arc<portico_cluster::Readiness>,
    /// The node's live metrics and gauges (`/metrics`).
    pub analytics: AnalyticsState,
}

#[derive(Debug, Clone)]
pub struct KeyFingerprints {
    pub tls: String,
    pub primary: String,
}
