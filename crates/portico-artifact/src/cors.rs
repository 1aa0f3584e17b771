//! WSO2's `APICorsConfiguration` and WSO2's CORS defaults (`[apim.cors]`): the one place they
//! are written down, for the Publisher's APIs, the gateway's gateway-wide rules and the config's
//! `[apim.cors]` defaults alike.

use serde::{Deserialize, Serialize};

/// An API's CORS rules. A field a document leaves out reads as empty (or false): a missing
/// `corsConfiguration` is [`CorsConfiguration::default`] (disabled), but an enabled one lists
/// what it allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsConfiguration {
    #[serde(default)]
    pub cors_configuration_enabled: bool,
    /// Origins allowed; `*` allows any.
    #[serde(default)]
    pub access_control_allow_origins: Vec<String>,
    #[serde(default)]
    pub access_control_allow_credentials: bool,
    #[serde(default)]
    pub access_control_allow_headers: Vec<String>,
    #[serde(default)]
    pub access_control_allow_methods: Vec<String>,
}

impl Default for CorsConfiguration {
    /// WSO2's defaults (`[apim.cors]`): any origin, the usual methods, the headers WSO2's
    /// clients send, no credentials; not enabled.
    fn default() -> Self {
        CorsConfiguration {
            cors_configuration_enabled: false,
            access_control_allow_origins: vec!["*".into()],
            access_control_allow_credentials: false,
            access_control_allow_headers: [
                "authorization",
                "Access-Control-Allow-Origin",
                "Content-Type",
                "SOAPAction",
                "apikey",
                "Internal-Key",
            ]
            .map(String::from)
            .to_vec(),
            access_control_allow_methods: ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
                .map(String::from)
                .to_vec(),
        }
    }
}
