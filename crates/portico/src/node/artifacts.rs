//! Step 7: the runtime artifacts the gateway serves, `deployment/server/<environment>/`, loaded
//! and followed.

use std::time::Duration;

use portico_gateway::artifact::{ArtifactDir, Scan, serve_dir};

use super::started::Node;

/// Loads the runtime artifacts of the environments this node serves into the gateway, and
/// follows changes to them (polling, and at once when the REST deploy pipeline says they
/// changed). Returns how many APIs are routable, and the follower.
pub fn serve(node: &Node) -> (usize, tokio::task::JoinHandle<()>) {
    let config = &node.config;
    let gateway = &node.gateway.gateway;
    let mut artifacts = ArtifactDir::new(config.home.join("deployment/server"), config.served_environments());
    let routable = artifacts.sync_into(gateway, Scan::Full, true).unwrap_or(0);
    let follower = tokio::spawn(serve_dir(
        gateway.clone(),
        artifacts,
        Duration::from_secs(1),
        node.rest.artifacts.changed(),
    ));
    (routable, follower)
}
