//! What the first start-up steps made, handed to the steps after them (and kept until the node
//! stops).

use std::sync::Arc;

use portico_config::Config;
use portico_rest::RestState;
use portico_store::Store;

use super::analytics::NodeAnalytics;
use super::gateway::NodeGateway;
use super::key_manager::KeyManager;
use super::keys::NodeKeys;
use super::throttling::NodeThrottling;

pub struct Node {
    pub config: Arc<Config>,
    pub keys: NodeKeys,
    pub store: Store,
    pub key_manager: KeyManager,
    pub rest: RestState,
    pub gateway: NodeGateway,
    pub throttling: NodeThrottling,
    pub analytics: NodeAnalytics,
}
