//! Step 4: the management REST APIs' shared state, and `deployment/server/` rebuilt from the
//! deployments the store records.

use std::sync::Arc;

use portico_cluster::{FollowerProgress, GatewaySnapshot, Readiness};
use portico_config::Config;
use portico_rest::{ArtifactFiles, KeyFingerprints, RestState};
use portico_store::Store;

use super::key_manager::KeyManager;
use super::keys::NodeKeys;
use super::throttling::NodeThrottling;

/// The REST state; with `snapshot` (the node starts without its database), the gateway's
/// follower starts from the snapshot's position and rebuilds from the tables once it can, and
/// readiness says the gateway serves from the snapshot meanwhile.
pub fn state(
    config: &Arc<Config>,
    store: &Store,
    keys: &NodeKeys,
    key_manager: &KeyManager,
    snapshot: Option<&GatewaySnapshot>,
    metrics: Arc<portico_analytics::prometheus::LiveMetrics>,
) -> RestState {
    let applied_here = match snapshot {
        None => FollowerProgress::new(key_manager.feed_position),
        Some(_) => FollowerProgress::from_snapshot(key_manager.feed_position),
    };
    let readiness = Readiness::new(
        store.clone(),
        vec![applied_here.clone(), key_manager.progress.clone()],
        snapshot.map(|s| s.written_at),
    );
    RestState {
        applied_here,
        readiness,
        analytics: portico_rest::AnalyticsState {
            metrics,
            gauges: Arc::default(),
        },
        artifacts: ArtifactFiles::new(store.clone(), config, Arc::new(tokio::sync::Notify::new())),
        config: config.clone(),
        store: store.clone(),
        authenticator: key_manager.authenticator.clone(),
        oauth: key_manager.tokens.clone(),
        key_fingerprints: Arc::new(KeyFingerprints {
            tls: keys.tls.fingerprint(),
            primary: keys.primary.fingerprint(),
        }),
    }
}

/// Lets `/metrics` read the gateway's analytics drops and token cache, and the throttle
/// publisher's queue, once they exist.
pub fn read_gauges(state: &RestState, gateway: &Arc<portico_gateway::Gateway>, throttling: &NodeThrottling) {
    let gateway = Arc::downgrade(gateway);
    let counter = throttling.gateway.as_ref().map(|t| t.throttler.counter().clone());
    let source: portico_rest::GaugeSource = Arc::new(move || {
        let mut gauges = portico_analytics::prometheus::Gauges::default();
        if let Some(gateway) = gateway.upgrade() {
            gauges.analytics_dropped = gateway.analytics_dropped();
            gauges.token_cache = gateway.token_cache_stats();
        }
        if let Some(counter) = &counter {
            let stats = counter.stats();
            gauges.traffic_manager = Some((stats.queued, stats.dropped, stats.batches_dropped));
        }
        gauges
    });
    let _ = state.analytics.gauges.set(source);
}

/// The Publisher's deploy pipeline, which writes this node's runtime artifacts; the cluster
/// follower runs it for deployments made on other nodes. Only with `[deployment] sync =
/// "database"`, and on the rsync manager, does the store own `deployment/server/`: otherwise the
/// files are the shared directory's (or rsync's copy), and a reconcile would delete them.
pub struct RestDeployments {
    files: ArtifactFiles,
    store_owns_artifacts: bool,
}

impl RestDeployments {
    pub fn new(state: &RestState) -> RestDeployments {
        RestDeployments {
            files: state.artifacts.clone(),
            store_owns_artifacts: state.config.store_owns_artifacts(),
        }
    }
}

impl portico_cluster::Deployments for RestDeployments {
    type Error = portico_rest::ApiError;

    async fn reconcile(&self) -> Result<usize, Self::Error> {
        if !self.store_owns_artifacts {
            return Ok(0);
        }
        portico_rest::reconcile_artifacts(&self.files).await
    }

    fn is_unavailable(error: &Self::Error) -> bool {
        error.status == http::StatusCode::SERVICE_UNAVAILABLE
    }
}

/// With `[deployment] sync = "database"`, rewrites `deployment/server/` from the store (removing
/// stale artifacts). Returns how many API revisions are deployed (0 when the files are managed
/// by hand).
pub async fn rebuild_artifacts(state: &RestState) -> anyhow::Result<usize> {
    use portico_cluster::Deployments;
    RestDeployments::new(state)
        .reconcile()
        .await
        .map_err(|e| anyhow::anyhow!("rebuilding deployment/server/ from the store: {e}"))
}
