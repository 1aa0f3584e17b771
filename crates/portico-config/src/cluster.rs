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
    /// Change-feed events every live node has applied are pruned once older than this many
    /// days (fractions allowed).
    #[serde(default = "default_feed_retention")]
    pub feed_retention_days: f64,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            node_id: None,
            heartbeat_seconds: default_heartbeat(),
            node_timeout_seconds: default_node_timeout(),
            feed_retention_days: default_feed_retention(),
        }
    }
}

fn default_heartbeat() -> u64 {
    5
}
fn default_node_timeout() -> u64 {
    15
}
fn default_feed_retention() -> f64 {
    7.0
}

/// The longest retention accepted: ten years.
const MAX_RETENTION_DAYS: f64 = 3650.0;

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
        if !(self.feed_retention_days > 0.0 && self.feed_retention_days <= MAX_RETENTION_DAYS) {
            return Err(c.invalid(
                "cluster.feed_retention_days",
                "must be a number of days above 0 and at most 3650",
            ));
        }
        Ok(())
    }

    /// How long change-feed events are kept at least.
    pub fn feed_retention(&self) -> Duration {
        Duration::from_secs_f64(self.feed_retention_days * 86_400.0)
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_seconds)
    }

    pub fn node_timeout(&self) -> Duration {
        Duration::from_secs(self.node_timeout_seconds)
    }
}
