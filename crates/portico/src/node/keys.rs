//! Step 1: the node's key pairs, `[keystore.tls]` (TLS of every HTTPS listener) and
//! `[keystore.primary]` (signs tokens and backend JWTs; the gateway verifies with it).

use anyhow::Context;
use portico_config::{Config, Keystore};
use portico_keystore::KeyMaterial;

pub struct NodeKeys {
    pub tls: KeyMaterial,
    pub primary: KeyMaterial,
}

/// Loads both pairs; an error names the section and the configuration file.
pub fn load(config: &Config) -> anyhow::Result<NodeKeys> {
    Ok(NodeKeys {
        tls: load_pair(config, "tls", &config.keystore.tls)?,
        primary: load_pair(config, "primary", &config.keystore.primary)?,
    })
}

fn load_pair(config: &Config, name: &str, keystore: &Keystore) -> anyhow::Result<KeyMaterial> {
    KeyMaterial::load(
        &config.resolve(&keystore.certificate),
        &config.resolve(&keystore.private_key),
    )
    .with_context(|| format!("[keystore.{name}] in {}", config.path.display()))
}
