//! Step 8: this node's gateway kept in step with the cluster (portico-cluster): its identity
//! (this node's key manager, then applications, client ids, subscriptions and external key
//! managers from the store), its throttling and deny policies loaded now and on every change, and
//! other nodes' deployments applied as the change feed reports them.

use std::sync::Arc;

use portico_cluster::{GatewaySync, IdentityCounts, IdentitySource};
use portico_gateway::identity::RevocationCheck;
use portico_keymanager::TokenValidator;

use super::rest::RestDeployments;
use super::started::Node;

/// Installs the gateway's identity and throttling policies and starts following the change
/// feed; returns what the identity holds, how many policies there are, and the follower.
pub async fn follow(node: &Node) -> anyhow::Result<(IdentityCounts, usize, tokio::task::JoinHandle<()>)> {
    let validator = &node.key_manager.validator;
    let held = node
        .keys
        .signing_keys()
        .into_iter()
        .map(|pair| Ok((portico_keymanager::PublishedKey::of(pair)?.kid, pair)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let held: Vec<(&str, &portico_keystore::KeyMaterial)> =
        held.iter().map(|(kid, pair)| (kid.as_str(), *pair)).collect();
    let resident = portico_cluster::resident_identity(
        &held,
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
    let counts = sync.reload_identity().await?;
    let policies = sync.reload_policies().await?;
    let deny = sync.reload_deny_policies().await?;
    tracing::info!(conditions = deny, "gateway deny policies loaded");
    Ok((counts, policies, sync.spawn(node.rest.applied_here.clone())))
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
