//! `[apim.*]`: the API manager's own sections. Each submodule owns one of them, its defaults and
//! the checks of its keys; [`Apim::validate`] runs them in file order.

mod cors;
mod gateway;
mod jwt;
mod key_manager;
mod publisher;
mod sample_backend;
mod sync_runtime_artifacts;
mod throttling;

use serde::Deserialize;

pub use cors::{Cors, OneOrMany};
pub use gateway::{Environment, Gateway};
pub use jwt::{BackendJwt, IntrospectionEndpoint, JwksLocation, JwtIssuer};
pub use key_manager::KeyManager;
pub use publisher::Publisher;
pub use sample_backend::SampleBackend;
pub use sync_runtime_artifacts::{GatewaySync, SyncRuntimeArtifacts};
pub use throttling::{ThrottleCounter, Throttling, ThrottlingRedis, UrlGroupConfig};

use crate::error::ConfigError;
use crate::section::Checker;
use crate::server::Server;
use crate::transport::Ports;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Apim {
    #[serde(default)]
    pub gateway: Gateway,
    /// Gateway-wide CORS rules for APIs without their own.
    #[serde(default)]
    pub cors: Cors,
    #[serde(default)]
    pub sync_runtime_artifacts: SyncRuntimeArtifacts,
    #[serde(default)]
    pub publisher: Publisher,
    #[serde(default)]
    pub jwt: BackendJwt,
    /// What key manager discovery may fetch.
    #[serde(default)]
    pub key_manager: KeyManager,
    #[serde(default)]
    pub sample_backend: SampleBackend,
    /// Throttling policies' enforcement and the cluster's counters.
    #[serde(default)]
    pub throttling: Throttling,
}

impl Apim {
    /// Checks every `[apim.*]` section; fills in the default environment and virtual hosts from
    /// `server` and `ports`.
    pub(crate) fn validate(&mut self, server: &Server, ports: &Ports, c: &Checker<'_>) -> Result<(), ConfigError> {
        self.gateway.validate(server, ports, c)?;
        self.sync_runtime_artifacts.validate(&self.gateway.environment, c)?;
        self.jwt.validate(c)?;
        self.publisher.validate(c)?;
        self.throttling.validate(c)
    }

    /// The environments this node's gateway serves.
    pub(crate) fn served_environments(&self) -> Vec<String> {
        let labels = &self.sync_runtime_artifacts.gateway.gateway_labels;
        if labels.is_empty() {
            self.gateway.environment.iter().map(|e| e.name.clone()).collect()
        } else {
            labels.clone()
        }
    }
}
