//! `[server]`: the host name, the port offset, the mode, the bind address and the shutdown grace.

use std::net::IpAddr;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::Checker;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Added to every port, so that several nodes share one machine.
    #[serde(default)]
    pub offset: u16,
    #[serde(default)]
    pub mode: Mode,
    /// Address every listener binds to.
    #[serde(default = "default_bind")]
    pub bind_address: IpAddr,
    /// Seconds in-flight requests get to finish on SIGINT/SIGTERM.
    #[serde(default = "default_drain")]
    pub shutdown_grace_seconds: u64,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            hostname: default_hostname(),
            offset: 0,
            mode: Mode::default(),
            bind_address: default_bind(),
            shutdown_grace_seconds: default_drain(),
        }
    }
}

fn default_hostname() -> String {
    "localhost".to_owned()
}
fn default_bind() -> IpAddr {
    IpAddr::from([0, 0, 0, 0])
}
fn default_drain() -> u64 {
    10
}

/// `dev` accepts any admin password and serves samples; `production` enforces the hardening rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Dev,
    Production,
}

impl Server {
    pub(crate) fn validate(&self, c: &Checker<'_>) -> Result<(), ConfigError> {
        if self.hostname.trim().is_empty() || self.hostname.contains(char::is_whitespace) {
            return Err(c.invalid("server.hostname", "must be a host name without spaces"));
        }
        Ok(())
    }
}
