//! Step 8: this node's gateway kept in step with the cluster (portico-cluster): its identity
//! (this node's key manager, then applications, client ids, subscriptions and external key
//! managers from the store, or from the last-known-good snapshot when the node started without
//! its database), its throttling and deny policies loaded now and on every change, and other
//! nodes' deployments applied as the change feed reports them. Beside the follower: the writer
//! of the last-known-good snapshot, the pruner of the change feed, and the readiness watch.

use std::sync::Arc;
use std::time::Duration;

use portico_cluster::{FeedPruner, GatewaySnapshot, GatewaySync, IdentityCounts, IdentitySource, SnapshotOwner};
use portico_gateway::identity::RevocationCheck;
use portico_keymanager::TokenValidator;

use super::rest::RestDeployments;
use super::started::Node;

/// How often readiness checks the database when nobody asks.
const READINESS_WATCH: Duration = Duration::from_secs(1);

/// What step 8 loaded and started.
pub struct Following {
    pub identity: IdentityCounts,
    /// Throttling policies loaded into the gateway.
    pub policies: usize,
    /// The follower, the snapshot writer, the pruner and the readiness watch.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Installs the gateway's identity and throttling policies (from the store, or `snapshot`) and
/// starts following the change feed, writing the snapshot and pruning the feed.
pub async fn follow(node: &Node, snapshot: Option<&GatewaySnapshot>) -> anyhow::Result<Following> {
    let validator = &node.key_manager.validator;
    let resident = portico_cluster::resident_identity(
        &node.keys.primary,
        validator.signer.kid(),
        validator.signer.issuer(),
        Arc::new(KeyManagerRevocations(validator.clone())),
    )?;
    let identity = IdentitySource::new(
        node.store.clone(),
        resident,
        node.gateway.issuer_keys.clone(),
        portico_rest::configured_key_managers(&node.config),
    );
    let sync = GatewaySync::new(
        super::store::node_id(&node.config),
        node.gateway.gateway.clone(),
        identity,
        RestDeployments::new(&node.rest),
        node.rest.artifacts.changed(),
    );
    let (identity, policies) = match snapshot {
        Some(snapshot) => sync.install_snapshot(snapshot),
        None => {
            let counts = sync.reload_identity().await?;
            let policies = sync.reload_policies().await?;
            let deny = sync.reload_deny_policies().await?;
            tracing::info!(conditions = deny, "gateway deny policies loaded");
            // What was just loaded is the first snapshot.
            sync.applied().notify_one();
            (counts, policies)
        }
    };
    let config = &node.config;
    let progress = node.rest.applied_here.clone();
    let writer = portico_cluster::spawn_snapshot_writer(
        node.store.clone(),
        config.home.clone(),
        SnapshotOwner {
            node_id: super::store::node_id(config),
            issuer: validator.signer.issuer().to_owned(),
            primary_key_id: validator.signer.kid().to_owned(),
        },
        progress.clone(),
        sync.applied(),
    );
    let pruner = FeedPruner {
        store: node.store.clone(),
        retention: config.cluster.feed_retention(),
        node_timeout: config.cluster.node_timeout(),
        min_interval: config.cluster.heartbeat(),
        progress: progress.clone(),
    }
    .spawn();
    Ok(Following {
        identity,
        policies,
        tasks: vec![
            sync.spawn(progress),
            writer,
            pruner,
            node.rest.readiness.spawn_watch(READINESS_WATCH),
        ],
    })
}

/// The key manager's revocation list, as the gateway consults it on every request. (The key
/// manager and the gateway do not know each other; the node introduces them.)
struct KeyManagerRevocations(Arc<TokenValidator>);

impl RevocationCheck for KeyManagerRevocations {
    fn is_revoked(&self, jti: &str, subject: &str, client_id: &str, issued_at: u64) -> bool {
        let iat = i64::try_from(issued_at).unwrap_or(i64::MAX);
        self.0.revocations.is_revoked_parts(jti, subject, client_id, iat)
    }
}
