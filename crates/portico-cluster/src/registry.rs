//! The cluster as the node registry shows it: every node with its state (up, down when silent
//! for longer than the node timeout, stopped), what it applied and deployed, in the one JSON
//! shape the Admin REST API and `portico cluster status --json` answer; and the live Traffic
//! Managers, which gateways send their request events to.

use std::time::Duration;

use portico_store::{NodeRow, Store, StoreError};
use serde_json::{Value, json};

use crate::deployed::Deployed;

/// A node's state in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Heartbeating.
    Up,
    /// Silent for longer than the node timeout without having stopped: killed, cut off or hung.
    Down,
    /// Stopped gracefully.
    Stopped,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::Down => "down",
            NodeState::Stopped => "stopped",
        }
    }
}

/// One node of [`ClusterStatus`].
#[derive(Debug, Clone)]
pub struct NodeStatus {
    pub row: NodeRow,
    pub state: NodeState,
    /// Milliseconds since its last heartbeat.
    pub silent_for_ms: i64,
    pub deployed: Deployed,
}

/// The node registry at one moment.
#[derive(Debug, Clone)]
pub struct ClusterStatus {
    /// The database's clock when the registry was read (milliseconds since the epoch).
    pub now: i64,
    pub node_timeout: Duration,
    /// The newest change-feed sequence number now (a node reports its own position as of its
    /// last heartbeat).
    pub latest_feed_position: i64,
    pub nodes: Vec<NodeStatus>,
}

/// Reads the registry and judges each node against `node_timeout`.
pub async fn cluster_status(store: &Store, node_timeout: Duration) -> Result<ClusterStatus, StoreError> {
    let registry = store.node_registry().await?;
    let latest_feed_position = store.latest_seq().await?;
    let nodes = registry
        .nodes
        .into_iter()
        .map(|row| {
            let state = if row.stopped_at.is_some() {
                NodeState::Stopped
            } else if row.is_live(registry.now, node_timeout) {
                NodeState::Up
            } else {
                NodeState::Down
            };
            NodeStatus {
                silent_for_ms: row.silent_for(registry.now),
                // Written by the heartbeat from a `Deployed`; anything else reads as nothing.
                deployed: serde_json::from_str(&row.deployments).unwrap_or_default(),
                state,
                row,
            }
        })
        .collect();
    Ok(ClusterStatus {
        now: registry.now,
        node_timeout,
        latest_feed_position,
        nodes,
    })
}

impl ClusterStatus {
    /// The JSON answer of `GET /api/am/admin/v4/cluster/nodes` (a Portico extension).
    pub fn to_json(&self) -> Value {
        let list: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| {
                let r = &n.row.registration;
                json!({
                    "nodeId": r.node_id,
                    "status": n.state.as_str(),
                    "version": r.version,
                    "hostname": r.hostname,
                    "bindAddress": r.bind_address,
                    "ports": {
                        "management": r.management_port,
                        "gatewayHttp": r.gateway_http_port,
                        "gatewayHttps": r.gateway_https_port,
                        "trafficManager": r.traffic_manager_port,
                    },
                    "startedAt": n.row.started_at,
                    "lastHeartbeat": n.row.last_heartbeat,
                    "silentForMillis": n.silent_for_ms,
                    "stoppedAt": n.row.stopped_at,
                    "feedPosition": n.row.feed_position,
                    "deployedRevisions": n.deployed,
                })
            })
            .collect();
        json!({
            "count": list.len(),
            "nodeTimeoutSeconds": self.node_timeout.as_secs(),
            "latestFeedPosition": self.latest_feed_position,
            "list": list,
        })
    }
}

/// A live node's Traffic Manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficManagerPeer {
    pub node_id: String,
    /// The node's `[server] hostname`.
    pub host: String,
    pub port: u16,
}

/// The Traffic Managers of the nodes that are up (heard from within `node_timeout`, not stopped),
/// this one included when it heartbeats.
pub async fn live_traffic_managers(
    store: &Store,
    node_timeout: Duration,
) -> Result<Vec<TrafficManagerPeer>, StoreError> {
    let registry = store.node_registry().await?;
    Ok(registry
        .live(node_timeout)
        .map(|n| TrafficManagerPeer {
            node_id: n.registration.node_id.clone(),
            host: n.registration.hostname.clone(),
            port: n.registration.traffic_manager_port,
        })
        .collect())
}
