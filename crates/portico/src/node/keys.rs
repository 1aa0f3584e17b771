//! Step 1: the node's key pairs: `[keystore.tls]` (TLS of every HTTPS listener, replaceable
//! while the node runs), `[keystore.primary]` (the first signing key, and the root of the
//! secrets derived from it) and the signing keys `portico keys rotate` added beside it in
//! `signing/` (the newest signs tokens and backend JWTs; all of them validate).

use std::sync::Arc;

use anyhow::Context;
use portico_config::{Config, Keystore};
use portico_keystore::{KeyMaterial, ReloadableCert};

pub struct NodeKeys {
    pub tls: KeyMaterial,
    /// What the HTTPS listeners present: `tls`, re-read on SIGHUP or when its files change.
    pub tls_reload: Arc<ReloadableCert>,
    pub primary: KeyMaterial,
    /// The rotated signing keys this node holds, oldest first.
    pub rotated: Vec<KeyMaterial>,
}

impl NodeKeys {
    /// Every signing key this node holds, oldest (the primary) first.
    pub fn signing_keys(&self) -> Vec<&KeyMaterial> {
        std::iter::once(&self.primary).chain(&self.rotated).collect()
    }

    /// The key this node signs with: the newest it holds.
    pub fn signing(&self) -> &KeyMaterial {
        self.rotated.last().unwrap_or(&self.primary)
    }
}

/// Loads every pair; an error names the section (or the rotated key's file) and the
/// configuration file.
pub fn load(config: &Config) -> anyhow::Result<NodeKeys> {
    let tls = load_pair(config, "tls", &config.keystore.tls)?;
    let tls_reload = ReloadableCert::new(&tls, &config.resolve(&config.keystore.tls.private_key))
        .with_context(|| format!("[keystore.tls] in {}", config.path.display()))?;
    let primary = load_pair(config, "primary", &config.keystore.primary)?;
    let dir = portico_keystore::signing_dir(&config.resolve(&config.keystore.primary.private_key));
    let mut rotated = Vec::new();
    for files in portico_keystore::rotated_keys(&dir)? {
        let pair = files.load()?;
        if pair.key_type != primary.key_type {
            anyhow::bail!(
                "{}: a {} key, but [keystore.primary] in {} is {}: rotated keys keep the primary's type",
                files.private_key.display(),
                pair.key_type,
                config.path.display(),
                primary.key_type
            );
        }
        rotated.push(pair);
    }
    Ok(NodeKeys {
        tls,
        tls_reload,
        primary,
        rotated,
    })
}

fn load_pair(config: &Config, name: &str, keystore: &Keystore) -> anyhow::Result<KeyMaterial> {
    KeyMaterial::load(
        &config.resolve(&keystore.certificate),
        &config.resolve(&keystore.private_key),
    )
    .with_context(|| format!("[keystore.{name}] in {}", config.path.display()))
}

/// How often the key files are checked for changes.
const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Keeps the running node's keys in step with its files: on SIGHUP, and when `[keystore.tls]`'s
/// files or the set of rotated signing keys change, the TLS certificate is re-read (new
/// handshakes present it) and the token signer takes the newest signing key. A file that cannot
/// be read leaves the keys in use as they were, with a warning.
pub fn spawn_reloader(
    config: &Config,
    keys: &NodeKeys,
    signer: Arc<portico_keymanager::TokenValidator>,
) -> tokio::task::JoinHandle<()> {
    let tls = keys.tls_reload.clone();
    // The primary stays as the node started with it, even where it shares its files with
    // [keystore.tls] (a renewed TLS certificate is not a new signing key).
    let primary = keys.primary.clone();
    let primary_key = config.resolve(&config.keystore.primary.private_key);
    let dir = portico_keystore::signing_dir(&primary_key);
    let mut seen = portico_keystore::rotated_keys(&dir).unwrap_or_default();
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let asked = match hangup.as_mut() {
                Some(signal) => tokio::select! {
                    _ = signal.recv() => true,
                    () = tokio::time::sleep(WATCH_INTERVAL) => false,
                },
                None => {
                    tokio::time::sleep(WATCH_INTERVAL).await;
                    false
                }
            };
            #[cfg(not(unix))]
            let asked = {
                tokio::time::sleep(WATCH_INTERVAL).await;
                false
            };
            if asked || tls.files_changed() {
                match tls.reload() {
                    Ok(material) => println!(
                        "Reloaded the TLS certificate ([keystore.tls]): SHA-256 {}",
                        material.fingerprint()
                    ),
                    Err(e) => tracing::warn!(error = %e, "TLS certificate not reloaded; the current one stays"),
                }
            }
            let listed = match portico_keystore::rotated_keys(&dir) {
                Ok(listed) => listed,
                Err(e) => {
                    tracing::warn!(error = %e, "signing keys not reloaded");
                    continue;
                }
            };
            if asked || listed != seen {
                match reload_signing(&primary, &listed, &signer.signer) {
                    Ok(kid) => {
                        println!(
                            "Signing keys reloaded: {} held, signing with key id {kid}",
                            listed.len() + 1
                        );
                        seen = listed;
                    }
                    Err(e) => tracing::warn!(error = %e, "signing keys not reloaded; the current ones stay"),
                }
            }
        }
    })
}

fn reload_signing(
    primary: &KeyMaterial,
    listed: &[portico_keystore::SigningKeyFiles],
    signer: &portico_keymanager::TokenSigner,
) -> anyhow::Result<String> {
    let rotated = listed.iter().map(|f| f.load()).collect::<Result<Vec<_>, _>>()?;
    let held: Vec<&KeyMaterial> = std::iter::once(primary).chain(&rotated).collect();
    Ok(signer.replace_held(&held)?)
}
