//! `lifeCycleStatus`: WSO2's API lifecycle states as the artifact carries them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An API's lifecycle status. Read case-insensitively; a value this version does not know is
/// kept as [`LifecycleStatus::Other`] (a gateway treats it as `CREATED`: deployed, not published).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LifecycleStatus {
    #[default]
    Created,
    PreReleased,
    Prototyped,
    Published,
    Blocked,
    Deprecated,
    Retired,
    /// A status unknown to this version, as written.
    Other(String),
}

const KNOWN: [LifecycleStatus; 7] = [
    LifecycleStatus::Created,
    LifecycleStatus::PreReleased,
    LifecycleStatus::Prototyped,
    LifecycleStatus::Published,
    LifecycleStatus::Blocked,
    LifecycleStatus::Deprecated,
    LifecycleStatus::Retired,
];

impl LifecycleStatus {
    /// `CREATED`, `PRE_RELEASED`, ...
    pub fn wire(&self) -> &str {
        match self {
            LifecycleStatus::Created => "CREATED",
            LifecycleStatus::PreReleased => "PRE_RELEASED",
            LifecycleStatus::Prototyped => "PROTOTYPED",
            LifecycleStatus::Published => "PUBLISHED",
            LifecycleStatus::Blocked => "BLOCKED",
            LifecycleStatus::Deprecated => "DEPRECATED",
            LifecycleStatus::Retired => "RETIRED",
            LifecycleStatus::Other(text) => text,
        }
    }

    /// The status of a wire value, in any case.
    pub fn from_wire(text: &str) -> LifecycleStatus {
        KNOWN
            .into_iter()
            .find(|s| s.wire().eq_ignore_ascii_case(text))
            .unwrap_or_else(|| LifecycleStatus::Other(text.to_owned()))
    }
}

impl Serialize for LifecycleStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.wire())
    }
}

impl<'de> Deserialize<'de> for LifecycleStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(LifecycleStatus::from_wire(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_any_case_and_keeps_unknown_values() {
        let read = |text: &str| serde_json::from_value::<LifecycleStatus>(serde_json::json!(text)).expect("reads");
        assert_eq!(read("PUBLISHED"), LifecycleStatus::Published);
        assert_eq!(read("pre_released"), LifecycleStatus::PreReleased);
        assert_eq!(read("ARCHIVED"), LifecycleStatus::Other("ARCHIVED".into()));
        for status in KNOWN {
            assert_eq!(read(status.wire()), status);
        }
        assert_eq!(
            serde_json::to_value(LifecycleStatus::Other("ARCHIVED".into())).expect("json"),
            "ARCHIVED"
        );
    }
}
