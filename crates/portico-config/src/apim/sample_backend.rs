//! `[apim.sample_backend]`: whether the PizzaShack sample service is served.

use serde::Deserialize;

/// `[apim.sample_backend]`: WSO2's PizzaShack sample service on the management port
/// (`/am/sample/pizzashack/v1/api/`), so the first tour needs no other process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleBackend {
    /// On in dev mode, off in production mode, unless set.
    #[serde(default)]
    pub enable: Option<bool>,
}
