//! `[cluster]`: this node among the nodes that share one database: its id, and the heartbeats of
//! the node registry (`portico cluster status`).

use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::Checker;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// This node's id in the cluster (the registry, the origin of its change-feed events).
    /// Default: `<server.hostname>:<management port>`.
    #[serde(default)]
    pub node_id: Option<String>,
    /// Seconds between two heartbeats into the node registry.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_seconds: u64,
    /// A node silent for longer than this shows as down.
    #[serde(default = "default_node_timeout")]
    pub node_timeout_seconds: u64,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            node_id: None,
            heartbeat_seconds: default_heartbeat(),
            node_timeout_seconds: default_node_timeout(),
        }
    }
}

fn default_heartbeat() -> u64 {
    5
}
fn default_node_timeout() -> u64 {
    15
}

impl Cluster {
    pub(crate) fn validate(&self, c: &Checker<'_>) -> Result<(), ConfigError> {
        if let Some(id) = &self.node_id
            && (id.trim().is_empty() || id.contains(char::is_whitespace))
        {
            return Err(c.invalid("cluster.node_id", "must be a name without spaces"));
        }
        if !(1..=3600).contains(&self.heartbeat_seconds) {
            return Err(c.invalid("cluster.heartbeat_seconds", "must be between 1 and 3600"));
        }
        if self.node_timeout_seconds <= self.heartbeat_seconds {
            return Err(c.invalid(
                "cluster.node_timeout_seconds",
                "must be longer than cluster.heartbeat_seconds (a live node would show as down between heartbeats)",
            ));
        }
        Ok(())
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_seconds)
    }

    pub fn node_timeout(&self) -> Duration {
        Duration::from_secs(self.node_timeout_seconds)
    }
}
