//! Step 7b: this node in the cluster's node registry (portico-cluster's heartbeat): registered
//! before the node reports ready, then a heartbeat every `[cluster] heartbeat_seconds` with the
//! change-feed position its gateway applied and the revisions in `deployment/server/`.

use portico_cluster::{DeployedRevisions, Heartbeat, HeartbeatTask};
use portico_store::NodeRegistration;

use super::started::Node;

pub async fn start(node: &Node) -> HeartbeatTask {
    let config = &node.config;
    let ports = config.ports();
    Heartbeat {
        store: node.store.clone(),
        registration: NodeRegistration {
            node_id: super::store::node_id(config),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            hostname: config.server.hostname.clone(),
            bind_address: config.server.bind_address.to_string(),
            management_port: ports.management_https,
            gateway_http_port: ports.gateway_http,
            gateway_https_port: ports.gateway_https,
            traffic_manager_port: ports.traffic_manager,
        },
        interval: config.cluster.heartbeat(),
        progress: node.rest.applied_here.clone(),
        deployed: DeployedRevisions::new(config.home.join("deployment/server"), config.served_environments()),
    }
    .start()
    .await
}
