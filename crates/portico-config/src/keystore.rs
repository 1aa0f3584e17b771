//! `[keystore.tls]`, `[keystore.primary]` and `[truststore]`: where the node's key material and
//! the extra CAs it trusts are, all PEM.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::{Checker, yes};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keystores {
    /// Serves TLS on the management and gateway HTTPS listeners.
    #[serde(default)]
    pub tls: Keystore,
    /// Signs tokens (JWT access tokens, API keys, backend JWTs).
    #[serde(default)]
    pub primary: Keystore,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keystore {
    /// Only `PEM` for now.
    #[serde(rename = "type", default = "default_keystore_type")]
    pub kind: String,
    /// Certificate chain, PEM, relative to the home.
    #[serde(default = "default_cert")]
    pub certificate: PathBuf,
    /// Private key (PKCS#8 PEM), relative to the home.
    #[serde(default = "default_key")]
    pub private_key: PathBuf,
}

impl Default for Keystore {
    fn default() -> Self {
        Keystore {
            kind: default_keystore_type(),
            certificate: default_cert(),
            private_key: default_key(),
        }
    }
}

fn default_keystore_type() -> String {
    "PEM".to_owned()
}
fn default_cert() -> PathBuf {
    PathBuf::from("conf/security/node-cert.pem")
}
fn default_key() -> PathBuf {
    PathBuf::from("conf/security/node-key.pem")
}

/// `[truststore]`: whom the gateway trusts when it calls https backends: the system's roots,
/// this node's own TLS certificate, and a PEM bundle of extra CAs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Truststore {
    /// A PEM file of CA certificates (relative to the home), in addition to the others.
    #[serde(default)]
    pub file_name: Option<PathBuf>,
    /// Only "PEM".
    #[serde(default = "default_keystore_type", rename = "type")]
    pub kind: String,
    /// Trust the operating system's root certificates.
    #[serde(default = "yes")]
    pub system_roots: bool,
}

impl Default for Truststore {
    fn default() -> Self {
        Truststore {
            file_name: None,
            kind: default_keystore_type(),
            system_roots: true,
        }
    }
}

const ONLY_PEM: &str = "only \"PEM\" is supported";

impl Keystores {
    pub(crate) fn validate(&self, c: &Checker<'_>) -> Result<(), ConfigError> {
        for (name, keystore) in [("tls", &self.tls), ("primary", &self.primary)] {
            if !keystore.kind.eq_ignore_ascii_case("PEM") {
                return Err(c.invalid(&format!("keystore.{name}.type"), ONLY_PEM));
            }
        }
        Ok(())
    }
}

impl Truststore {
    pub(crate) fn validate(&self, c: &Checker<'_>) -> Result<(), ConfigError> {
        if !self.kind.eq_ignore_ascii_case("PEM") {
            return Err(c.invalid("truststore.type", ONLY_PEM));
        }
        Ok(())
    }
}
