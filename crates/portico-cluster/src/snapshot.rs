//! The last-known-good snapshot: what this node's gateway needs besides its runtime artifacts,
//! kept on local disk so that a node started while the database cannot be reached still serves.
//!
//! One JSON file, `deployment/lkg/gateway.json` under the node's home: applications with their
//! client ids and subscriptions, external key managers (their configuration and PEM keys),
//! throttling and deny policies, revoked tokens and token cut-offs, the cluster's token issuer
//! and key id, and the change-feed position it was read at. The runtime artifacts are the files
//! of `deployment/server/` themselves, which are written atomically too and only ever rewritten
//! from the database.
//!
//! The file is written after each change this node applies (a burst coalesces into one write)
//! to a temporary file that is renamed over the old one, so a reader finds the old snapshot or
//! the new one, never half of one. It holds no secret: external key managers' introspection
//! client secrets are left out (introspecting their opaque tokens waits for the database), and
//! the file and its directory are readable by their owner only (0600, 0700), as conf/security/.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use portico_store::{
    DenyPolicyRow, GatewayIdentity, RevokedToken, Store, StoreError, ThrottlingPolicyRow, TokenCutoff,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::follow::FollowerProgress;
use crate::policies::STORED_LEVELS;

/// The snapshot's place under a node's home.
pub const SNAPSHOT_PATH: &str = "deployment/lkg/gateway.json";

/// The version of the file's layout; another version is not read.
const FORMAT: u32 = 1;

/// How long a burst of changes is gathered before one write.
const COALESCE: Duration = Duration::from_millis(250);

/// Why a snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no last-known-good snapshot at {0}")]
    Missing(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a last-known-good snapshot: {source}")]
    Format { path: PathBuf, source: serde_json::Error },
    #[error("{path}: snapshot format {found}, this Portico reads format {FORMAT}")]
    Version { path: PathBuf, found: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the gateway needs, as the database had it at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySnapshot {
    pub format: u32,
    /// When it was read (milliseconds since the epoch, this node's clock).
    pub written_at: i64,
    pub node_id: String,
    /// Every change-feed event up to this one is in it (later ones may be too).
    pub feed_position: i64,
    /// The `iss` of the cluster's tokens.
    pub issuer: String,
    /// The id of the key that signs them.
    pub primary_key_id: String,
    pub identity: GatewayIdentity,
    pub throttling_policies: Vec<ThrottlingPolicyRow>,
    pub deny_policies: Vec<DenyPolicyRow>,
    pub revoked_tokens: Vec<RevokedToken>,
    pub token_cutoffs: Vec<TokenCutoff>,
}

/// Who this node is in the snapshots it writes.
#[derive(Debug, Clone)]
pub struct SnapshotOwner {
    pub node_id: String,
    pub issuer: String,
    pub primary_key_id: String,
}

impl GatewaySnapshot {
    /// Reads what the gateway needs from the store; the position is `progress`'s before the
    /// reads, so nothing it covers is missing.
    pub async fn read(store: &Store, owner: &SnapshotOwner, progress: &FollowerProgress) -> Result<Self, StoreError> {
        let feed_position = progress.applied();
        let mut identity = store.gateway_identity().await?;
        for key_manager in &mut identity.key_managers {
            key_manager.configuration = without_secrets(&key_manager.configuration);
        }
        let mut throttling_policies = Vec::new();
        for level in STORED_LEVELS {
            throttling_policies.extend(store.list_throttling_policies(level).await?);
        }
        Ok(GatewaySnapshot {
            format: FORMAT,
            written_at: portico_store::now_millis(),
            node_id: owner.node_id.clone(),
            feed_position,
            issuer: owner.issuer.clone(),
            primary_key_id: owner.primary_key_id.clone(),
            identity,
            throttling_policies,
            deny_policies: store.list_deny_policies().await?,
            revoked_tokens: store.revoked_access_tokens().await?,
            token_cutoffs: store.token_cutoffs().await?,
        })
    }

    /// The snapshot under `home`.
    pub fn load(home: &Path) -> Result<GatewaySnapshot, SnapshotError> {
        let path = home.join(SNAPSHOT_PATH);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SnapshotError::Missing(path)),
            Err(source) => return Err(SnapshotError::Io { path, source }),
        };
        let snapshot: GatewaySnapshot = serde_json::from_slice(&bytes).map_err(|source| SnapshotError::Format {
            path: path.clone(),
            source,
        })?;
        if snapshot.format != FORMAT {
            return Err(SnapshotError::Version {
                path,
                found: snapshot.format,
            });
        }
        Ok(snapshot)
    }

    /// Writes it under `home`: a temporary file (owner-only) in the same directory, synced,
    /// then renamed over the old snapshot.
    pub fn save(&self, home: &Path) -> Result<(), SnapshotError> {
        let path = home.join(SNAPSHOT_PATH);
        let io = |source| SnapshotError::Io {
            path: path.clone(),
            source,
        };
        let dir = path.parent().unwrap_or(home);
        create_private_dir(dir).map_err(io)?;
        let text = serde_json::to_vec(self).map_err(|source| SnapshotError::Format {
            path: path.clone(),
            source,
        })?;
        let temp = dir.join(format!(".gateway.json.{}.tmp", std::process::id()));
        let written = write_private(&temp, &text).and_then(|()| std::fs::rename(&temp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.map_err(io)
    }
}

/// A key manager's stored configuration without its introspection client secret.
fn without_secrets(configuration: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(configuration) else {
        return "{}".to_owned();
    };
    if let Some(properties) = value.get_mut("additionalProperties").and_then(|p| p.as_object_mut()) {
        properties.remove("client_secret");
    }
    value.to_string()
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Writes `bytes` to a new file readable by its owner only, and syncs it to disk.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Writes the snapshot each time `due` is notified (after a pause that gathers a burst), reading
/// it from the store; a store that is away leaves the last snapshot in place. Runs until
/// aborted.
pub fn spawn_writer(
    store: Store,
    home: PathBuf,
    owner: SnapshotOwner,
    progress: Arc<FollowerProgress>,
    due: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            due.notified().await;
            tokio::time::sleep(COALESCE).await;
            let snapshot = match GatewaySnapshot::read(&store, &owner, &progress).await {
                Ok(snapshot) => snapshot,
                Err(e) => {
                    tracing::debug!(error = %e, "last-known-good snapshot not written: cannot read the store");
                    continue;
                }
            };
            let home = home.clone();
            let saved = tokio::task::spawn_blocking(move || snapshot.save(&home)).await;
            match saved {
                Ok(Ok(())) => tracing::debug!("last-known-good snapshot written"),
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot write the last-known-good snapshot"),
                Err(e) => tracing::warn!(error = %e, "cannot write the last-known-good snapshot"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn introspection_secrets_are_left_out() {
        let config = r#"{"introspectionEndpoint":"https://idp/introspect","additionalProperties":{"client_id":"gw","client_secret":"s3cret"}}"#;
        let kept = without_secrets(config);
        assert!(!kept.contains("s3cret"), "{kept}");
        assert!(kept.contains("\"client_id\":\"gw\""), "{kept}");
    }

    #[tokio::test]
    async fn a_snapshot_read_from_the_store_survives_a_round_trip_owner_only() {
        let (store, dir) = crate::test_store::fresh_store().await;
        store.create_deny_policy("USER", "mallory", true).await.expect("deny");
        let owner = SnapshotOwner {
            node_id: "n1".into(),
            issuer: "https://n1/oauth2/token".into(),
            primary_key_id: "kid".into(),
        };
        let snapshot = GatewaySnapshot::read(&store, &owner, &FollowerProgress::new(7))
            .await
            .expect("read");
        assert_eq!(snapshot.feed_position, 7);
        assert_eq!(snapshot.deny_policies.len(), 1);
        assert_eq!(snapshot.throttling_policies.len(), 13, "WSO2's defaults");
        assert!(matches!(
            GatewaySnapshot::load(dir.path()),
            Err(SnapshotError::Missing(_))
        ));
        snapshot.save(dir.path()).expect("save");
        snapshot.save(dir.path()).expect("save again over the first");
        assert_eq!(GatewaySnapshot::load(dir.path()).expect("load"), snapshot);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            let path = dir.path().join(SNAPSHOT_PATH);
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().expect("dir")), 0o700);
        }
        std::fs::write(dir.path().join(SNAPSHOT_PATH), b"{not json").expect("garble");
        assert!(matches!(
            GatewaySnapshot::load(dir.path()),
            Err(SnapshotError::Format { .. })
        ));
    }
}
