//! `[apim.cors]`: the gateway-wide CORS rules, and WSO2's defaults for them.

use portico_artifact::CorsConfiguration;
use serde::Deserialize;

use crate::section::yes;

/// `[apim.cors]`, WSO2's defaults when absent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    #[serde(default = "yes")]
    pub enable: bool,
    /// `"*"` or a list of origins.
    #[serde(default = "default_cors_origins")]
    pub allow_origins: OneOrMany,
    #[serde(default = "default_cors_methods")]
    pub allow_methods: Vec<String>,
    #[serde(default = "default_cors_headers")]
    pub allow_headers: Vec<String>,
    #[serde(default)]
    pub allow_credentials: bool,
}

impl Default for Cors {
    fn default() -> Self {
        Cors {
            enable: true,
            allow_origins: default_cors_origins(),
            allow_methods: default_cors_methods(),
            allow_headers: default_cors_headers(),
            allow_credentials: CorsConfiguration::default().access_control_allow_credentials,
        }
    }
}

/// A value WSO2 lets you write as one string or as a list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

// WSO2's defaults are written down once, in the runtime artifact's crate.
fn default_cors_origins() -> OneOrMany {
    OneOrMany::Many(CorsConfiguration::default().access_control_allow_origins)
}
fn default_cors_methods() -> Vec<String> {
    CorsConfiguration::default().access_control_allow_methods
}
fn default_cors_headers() -> Vec<String> {
    CorsConfiguration::default().access_control_allow_headers
}
