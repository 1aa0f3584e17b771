//! `[deployment]`: how deployed API revisions reach the gateways (DESIGN.md step 5).

use serde::Deserialize;

/// `[deployment]`: how deployed API revisions reach the gateways (DESIGN.md step 5).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    #[serde(default)]
    pub sync: ArtifactSync,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactSync {
    /// The database is the truth: each node rewrites deployment/server/ from it at start-up and
    /// when the change feed reports deployments made elsewhere.
    #[default]
    Database,
    /// deployment/server/ is the truth (a shared or rsync'd directory, or files placed by hand):
    /// the node serves what it finds there and never removes files.
    SharedFs,
}
