//! `[oauth]`: token lifetimes and the issuer of the Key Manager.

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::Checker;

/// `[oauth]`: token lifetimes of the Key Manager.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth {
    /// Lifetime of access tokens, in seconds (WSO2's default: 3600).
    #[serde(default = "default_access_token_validity")]
    pub access_token_validity_seconds: i64,
    /// Lifetime of refresh tokens, in seconds (WSO2's default: 86400).
    #[serde(default = "default_refresh_token_validity")]
    pub refresh_token_validity_seconds: i64,
    /// The `iss` of issued tokens. Default: `https://<server.hostname>:<management port>/oauth2/token`
    /// (WSO2's); on PostgreSQL, the cluster's: the first node that starts records its own in the
    /// database and every node issues and accepts that one. A value here wins for this node; set
    /// the same on every node (e.g. the load balancer's name).
    #[serde(default)]
    pub issuer: Option<String>,
}

impl Default for OAuth {
    fn default() -> Self {
        OAuth {
            access_token_validity_seconds: default_access_token_validity(),
            refresh_token_validity_seconds: default_refresh_token_validity(),
            issuer: None,
        }
    }
}

fn default_access_token_validity() -> i64 {
    3600
}
fn default_refresh_token_validity() -> i64 {
    86400
}

impl OAuth {
    pub(crate) fn validate(&self, c: &Checker<'_>) -> Result<(), ConfigError> {
        for (key, value) in [
            (
                "oauth.access_token_validity_seconds",
                self.access_token_validity_seconds,
            ),
            (
                "oauth.refresh_token_validity_seconds",
                self.refresh_token_validity_seconds,
            ),
        ] {
            if !(1..=10 * 365 * 86400).contains(&value) {
                return Err(c.invalid(key, "must be between 1 second and 10 years"));
            }
        }
        Ok(())
    }
}
