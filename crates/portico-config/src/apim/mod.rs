//! `[apim.*]`: the API manager's own sections. Each submodule owns one of them, its defaults and
//! the checks of its keys; [`Apim::validate`] runs them in file order.

mod analytics;
mod cors;
mod gateway;
mod jwt;
mod portal;
mod publisher;
mod sample_backend;
mod sync_runtime_artifacts;
mod throttling;

use serde::Deserialize;

pub use analytics::{Analytics, AnalyticsType};
pub use cors::{Cors, OneOrMany};
pub use gateway::{Environment, Gateway};
pub use jwt::{BackendJwt, IntrospectionEndpoint, JwksLocation, JwtIssuer};
pub use portal::{DevPortal, Portal};
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
    #[serde(default)]
    pub sample_backend: SampleBackend,
    /// Throttling policies' enforcement and the cluster's counters.
    #[serde(default)]
    pub throttling: Throttling,
    /// Analytics: records, rollups, retention, the ELK log, `/metrics`' token.
    #[serde(default)]
    pub analytics: Analytics,
    /// The web portals' sessions.
    #[serde(default)]
    pub portal: Portal,
    /// The Developer Portal (self sign-up).
    #[serde(default)]
    pub devportal: DevPortal,
}

impl Apim {
    /// Checks every `[apim.*]` section; fills in the default environment and virtual hosts from
    /// `server` and `ports`.
    pub(crate) fn validate(&mut self, server: &Server, ports: &Ports, c: &Checker<'_>) -> Result<(), ConfigError> {
        self.gateway.validate(server, ports, c)?;
        self.sync_runtime_artifacts.validate(&self.gateway.environment, c)?;
        self.jwt.validate(c)?;
        self.publisher.validate(c)?;
        self.portal.validate(c)?;
        self.throttling.validate(c)?;
        self.analytics.validate(c)
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
