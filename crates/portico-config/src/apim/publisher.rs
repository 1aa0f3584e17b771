//! `[apim.publisher]`: limits of the Publisher REST API's definition imports.

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::Checker;

/// `[apim.publisher]`: limits of the Publisher REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publisher {
    /// Lets `import-openapi`/`validate-openapi` fetch URLs that resolve to loopback, private,
    /// link-local or other non-public addresses (off: such URLs are refused, against SSRF).
    #[serde(default)]
    pub allow_private_import_urls: bool,
    /// Largest definition fetched from a URL, in bytes.
    #[serde(default = "default_import_max_bytes")]
    pub import_max_bytes: u64,
    /// Seconds a URL fetch may take in all (connecting included).
    #[serde(default = "default_import_timeout")]
    pub import_timeout_seconds: u64,
}

impl Default for Publisher {
    fn default() -> Self {
        Publisher {
            allow_private_import_urls: false,
            import_max_bytes: default_import_max_bytes(),
            import_timeout_seconds: default_import_timeout(),
        }
    }
}

fn default_import_max_bytes() -> u64 {
    5 * 1024 * 1024
}
fn default_import_timeout() -> u64 {
    20
}

impl Publisher {
    pub(super) fn validate(&self, c: &Checker<'_>) -> Result<(), ConfigError> {
        if !(1024..=100 * 1024 * 1024).contains(&self.import_max_bytes) {
            return Err(c.invalid(
                "apim.publisher.import_max_bytes",
                "must be between 1024 and 104857600 (100 MiB)",
            ));
        }
        if !(1..=300).contains(&self.import_timeout_seconds) {
            return Err(c.invalid("apim.publisher.import_timeout_seconds", "must be between 1 and 300"));
        }
        Ok(())
    }
}
