//! File-system events on this node's artifact directory (`deployment/server/`) when other
//! writers own it: another node on a shared file system (`[deployment] sync = "shared-fs"`) or
//! the operator's rsync (`"rsync"`, on a worker). An event on an artifact wakes the gateway's
//! artifact loader at once, instead of at its next poll.
//!
//! Events are a fast path only: they do not cross machines on NFS (a file another machine
//! writes raises none here), and inotify can run out of watches. The loader's polling stays the
//! backstop; a missed event only costs its interval.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", dir.display())]
pub struct WatchError {
    pub dir: PathBuf,
    #[source]
    pub source: notify::Error,
}

/// Watches a directory tree while it is alive.
pub struct ArtifactWatch {
    _watcher: notify::RecommendedWatcher,
}

/// Watches `dir` (and the environment directories under it) and wakes `wake` on every event
/// that creates, changes, renames or removes an artifact (`*.json`). The directory must exist.
pub fn watch_artifacts(dir: &Path, wake: Arc<Notify>) -> Result<ArtifactWatch, WatchError> {
    let fail = |source| WatchError {
        dir: dir.to_path_buf(),
        source,
    };
    // Runs on notify's own thread; Notify may be woken from any thread.
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
        Ok(event) if touches_artifact(&event) => wake.notify_one(),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "artifact directory watch: polling continues"),
    })
    .map_err(fail)?;
    watcher.watch(dir, RecursiveMode::Recursive).map_err(fail)?;
    Ok(ArtifactWatch { _watcher: watcher })
}

/// Whether an event may change what the gateway serves: an artifact file written, renamed into
/// place or removed, or a whole environment directory appearing or going.
fn touches_artifact(event: &notify::Event) -> bool {
    let relevant_kind = matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    );
    relevant_kind && event.paths.iter().any(|p| p.extension().is_none_or(|e| e == "json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_artifact_renamed_into_place_wakes_the_loader() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = dir.path().join("Default");
        std::fs::create_dir(&env).expect("mkdir");
        let wake = Arc::new(Notify::new());
        let _watch = watch_artifacts(dir.path(), wake.clone()).expect("watch");

        // Written as rsync and the deploy pipeline write: a temporary name (not an artifact,
        // no wake-up), renamed into place.
        let temp = env.join(".api-1.json.XYZ");
        std::fs::write(&temp, "{}").expect("write");
        std::fs::rename(&temp, env.join("api-1.json")).expect("rename");
        let woken = tokio::time::timeout(Duration::from_secs(10), wake.notified()).await;
        assert!(woken.is_ok(), "an artifact renamed into place wakes the loader");
    }

    #[test]
    fn only_artifacts_and_directories_matter() {
        let event =
            |path: &str| notify::Event::new(EventKind::Create(notify::event::CreateKind::File)).add_path(path.into());
        assert!(touches_artifact(&event("/s/Default/api.json")));
        assert!(touches_artifact(&event("/s/Default")));
        assert!(!touches_artifact(&event("/s/Default/notes.txt")));
        let access = notify::Event::new(EventKind::Access(notify::event::AccessKind::Read))
            .add_path("/s/Default/api.json".into());
        assert!(!touches_artifact(&access));
    }
}
