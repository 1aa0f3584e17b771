//! What a node's gateway has deployed, as the node registry reports it: the revision ids of the
//! runtime artifacts in `deployment/server/<environment>/`, per served environment. A file is
//! read again only when its size or modification time changed, so a heartbeat costs a directory
//! listing and a `stat` per artifact.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::SystemTime;

/// Revision ids per environment, each list sorted.
pub type Deployed = BTreeMap<String, Vec<String>>;

/// A file's size and modification time: what says it has not changed since it was read.
type Stamp = (u64, Option<SystemTime>);

/// The artifact directory of a node, with the revision id last read from each file.
pub struct DeployedRevisions {
    dir: PathBuf,
    environments: Vec<String>,
    /// By file: its stamp when read, and its revision id (`None`: the file does not read as an
    /// artifact).
    read: HashMap<PathBuf, (Stamp, Option<String>)>,
}

impl DeployedRevisions {
    /// `dir` is `deployment/server/`; `environments` are the ones this node serves.
    pub fn new(dir: PathBuf, environments: Vec<String>) -> DeployedRevisions {
        DeployedRevisions {
            dir,
            environments,
            read: HashMap::new(),
        }
    }

    /// The revision ids deployed now, per served environment (an environment without a
    /// directory has none). Blocking file system calls: run it off the async workers.
    pub fn current(&mut self) -> Deployed {
        let mut deployed = Deployed::new();
        let mut seen = HashSet::new();
        for environment in &self.environments {
            let revisions = deployed.entry(environment.clone()).or_default();
            let Ok(entries) = std::fs::read_dir(self.dir.join(environment)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let Ok(meta) = entry.metadata() else { continue };
                let stamp: Stamp = (meta.len(), meta.modified().ok());
                let revision = match self.read.get(&path) {
                    Some((known, revision)) if *known == stamp => revision.clone(),
                    _ => {
                        let revision = revision_of(&path);
                        self.read.insert(path.clone(), (stamp, revision.clone()));
                        revision
                    }
                };
                revisions.extend(revision);
                seen.insert(path);
            }
            revisions.sort();
        }
        self.read.retain(|path, _| seen.contains(path));
        deployed
    }
}

/// The revision id of one artifact file, if it reads as one.
fn revision_of(path: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    portico_artifact::from_slice(&bytes).ok().map(|a| a.revision_id)
}
