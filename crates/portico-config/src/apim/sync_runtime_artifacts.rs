//! `[apim.sync_runtime_artifacts.gateway]`: which of the configured environments this node's
//! gateway serves.

use serde::Deserialize;

use super::gateway::Environment;
use crate::error::ConfigError;
use crate::section::Checker;

/// `[apim.sync_runtime_artifacts.gateway]`: which environments this node's gateway serves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRuntimeArtifacts {
    #[serde(default)]
    pub gateway: GatewaySync,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySync {
    /// Environment names; every configured environment when empty.
    #[serde(default)]
    pub gateway_labels: Vec<String>,
}

impl SyncRuntimeArtifacts {
    /// Every label must name one of `environments`.
    pub(super) fn validate(&self, environments: &[Environment], c: &Checker<'_>) -> Result<(), ConfigError> {
        for (i, label) in self.gateway.gateway_labels.iter().enumerate() {
            if !environments.iter().any(|e| &e.name == label) {
                return Err(c.invalid(
                    &format!("apim.sync_runtime_artifacts.gateway.gateway_labels[{i}]"),
                    &format!("`{label}` is not a configured [[apim.gateway.environment]]"),
                ));
            }
        }
        Ok(())
    }
}
