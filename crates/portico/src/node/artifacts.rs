//! Step 7: the runtime artifacts the gateway serves, `deployment/server/<environment>/`, loaded
//! and followed: polled, woken by this node's deploy pipeline, and, where other writers own the
//! directory (`[deployment] sync = "shared-fs"`, an rsync worker), by file-system events.

use std::time::Duration;

use portico_cluster::ArtifactWatch;
use portico_gateway::artifact::{ArtifactDir, Scan, serve_dir};

use super::started::Node;

/// The artifact loader and, when other writers own the directory, its file-system watch.
pub struct ArtifactLoader {
    pub task: tokio::task::JoinHandle<()>,
    /// Dropped with the loader (the watch thread stops).
    _watch: Option<ArtifactWatch>,
}

/// Loads the runtime artifacts of the environments this node serves into the gateway, and
/// follows changes to them (polling, and at once when the REST deploy pipeline or a file-system
/// event says they changed). Returns how many APIs are routable, and the loader.
pub fn serve(node: &Node) -> (usize, ArtifactLoader) {
    let config = &node.config;
    let gateway = &node.gateway.gateway;
    let dir = config.home.join("deployment/server");
    let wake = node.rest.artifacts.changed();
    let watch = (!config.store_owns_artifacts())
        .then(|| watch(&dir, wake.clone()))
        .flatten();
    let mut artifacts = ArtifactDir::new(dir, config.served_environments());
    let routable = artifacts.sync_into(gateway, Scan::Full, true).unwrap_or(0);
    let task = tokio::spawn(serve_dir(gateway.clone(), artifacts, Duration::from_secs(1), wake));
    (routable, ArtifactLoader { task, _watch: watch })
}

/// The file-system watch of `dir`; without one (inotify limits, a file system without events)
/// the loader still polls every second.
fn watch(dir: &std::path::Path, wake: std::sync::Arc<tokio::sync::Notify>) -> Option<ArtifactWatch> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot create the artifact directory");
    }
    match portico_cluster::watch_artifacts(dir, wake) {
        Ok(watch) => {
            tracing::info!(dir = %dir.display(), "following the artifact directory by file-system events and polling");
            Some(watch)
        }
        Err(e) => {
            tracing::warn!(error = %e, "no file-system events: the artifact directory is polled every second");
            None
        }
    }
}
