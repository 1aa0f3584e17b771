//! `[transport.*]`: the node's listeners, their ports (with `[server] offset` applied) and the
//! management listener's request body limit.

use std::collections::HashSet;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::Checker;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transports {
    /// Management listener: REST APIs, portals, OAuth2 (WSO2's 9443).
    #[serde(default)]
    pub https: Transport,
    /// Gateway plain HTTP listener (WSO2's 8280).
    #[serde(default)]
    pub passthru_http: Transport,
    /// Gateway HTTPS listener (WSO2's 8243).
    #[serde(default)]
    pub passthru_https: Transport,
    /// Traffic Manager receiver (WSO2's 9611).
    #[serde(default)]
    pub traffic_manager: Transport,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// Port before `[server] offset` is added; WSO2's default when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// Largest request body accepted, in bytes (413 above it).
    #[serde(default)]
    pub max_request_body: Option<u64>,
}

/// Effective ports, offset applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub management_https: u16,
    pub gateway_http: u16,
    pub gateway_https: u16,
    pub traffic_manager: u16,
}

impl Ports {
    fn from_array([management_https, gateway_http, gateway_https, traffic_manager]: [u16; 4]) -> Ports {
        Ports {
            management_https,
            gateway_http,
            gateway_https,
            traffic_manager,
        }
    }
}

/// Default management request body limit: 10 MiB.
const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;

impl Transports {
    /// Each listener's port key, its section and WSO2's port, in the order of [`Ports`]' fields.
    fn listeners(&self) -> [(&'static str, &Transport, u16); 4] {
        [
            ("transport.https.port", &self.https, 9443),
            ("transport.passthru_http.port", &self.passthru_http, 8280),
            ("transport.passthru_https.port", &self.passthru_https, 8243),
            ("transport.traffic_manager.port", &self.traffic_manager, 9611),
        ]
    }

    /// Checks that every port plus `offset` is a port, that no two listeners share one, and the
    /// body limit.
    pub(crate) fn validate(&self, offset: u16, c: &Checker<'_>) -> Result<(), ConfigError> {
        let mut ports = Vec::with_capacity(4);
        for (key, transport, default) in self.listeners() {
            let base = transport.port.unwrap_or(default);
            let port = base
                .checked_add(offset)
                .filter(|p| *p != 0)
                .ok_or_else(|| c.invalid(key, &format!("port {base} plus offset {offset} is not a valid port")))?;
            ports.push(port);
        }
        let unique: HashSet<u16> = ports.iter().copied().collect();
        if unique.len() != ports.len() {
            return Err(c.invalid("transport", "two listeners share one port"));
        }
        if let Some(0) = self.https.max_request_body {
            return Err(c.invalid("transport.https.max_request_body", "must be greater than 0"));
        }
        Ok(())
    }

    /// Effective ports with `offset` applied (checked by [`Transports::validate`]).
    pub(crate) fn ports(&self, offset: u16) -> Ports {
        Ports::from_array(
            self.listeners()
                .map(|(_, transport, default)| transport.port.unwrap_or(default).saturating_add(offset)),
        )
    }

    /// Largest request body the management listener accepts.
    pub(crate) fn management_body_limit(&self) -> u64 {
        self.https.max_request_body.unwrap_or(DEFAULT_MAX_BODY)
    }
}
