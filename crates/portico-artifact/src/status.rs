//! `lifeCycleStatus`: an API's lifecycle status as the artifact carries it.

use serde::{Deserialize, Serialize};

/// An API's lifecycle status as written: `CREATED`, `PRE_RELEASED`, `PROTOTYPED`, `PUBLISHED`,
/// `BLOCKED`, `DEPRECATED` or `RETIRED` (the Publisher's lifecycle owns the list). Kept as text,
/// so that a status a reader does not know survives a rewrite; readers compare it in any case.
/// Absent: `CREATED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LifecycleStatus(pub String);

impl Default for LifecycleStatus {
    fn default() -> Self {
        LifecycleStatus("CREATED".to_owned())
    }
}

impl LifecycleStatus {
    /// The status as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the status is `wire` (`PUBLISHED`, ...), in any case.
    pub fn is(&self, wire: &str) -> bool {
        self.0.eq_ignore_ascii_case(wire)
    }
}
