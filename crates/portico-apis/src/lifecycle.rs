//! WSO2's default API lifecycle (`APILifeCycle.xml`): states, actions and the allowed
//! transitions. The wire value of a state is upper case (`PUBLISHED`); the history and
//! `lifecycleState` show WSO2's display names (`Published`).

use serde::{Deserialize, Serialize};

/// An API lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleStatus {
    Created,
    PreReleased,
    Prototyped,
    Published,
    Blocked,
    Deprecated,
    Retired,
}

impl LifecycleStatus {
    pub const ALL: [LifecycleStatus; 7] = [
        LifecycleStatus::Created,
        LifecycleStatus::PreReleased,
        LifecycleStatus::Prototyped,
        LifecycleStatus::Published,
        LifecycleStatus::Blocked,
        LifecycleStatus::Deprecated,
        LifecycleStatus::Retired,
    ];

    /// `CREATED`, `PRE_RELEASED`, ...
    pub fn wire(self) -> &'static str {
        match self {
            LifecycleStatus::Created => "CREATED",
            LifecycleStatus::PreReleased => "PRE_RELEASED",
            LifecycleStatus::Prototyped => "PROTOTYPED",
            LifecycleStatus::Published => "PUBLISHED",
            LifecycleStatus::Blocked => "BLOCKED",
            LifecycleStatus::Deprecated => "DEPRECATED",
            LifecycleStatus::Retired => "RETIRED",
        }
    }

    /// WSO2's display name: `Created`, `Pre-Released`, ...
    pub fn display(self) -> &'static str {
        match self {
            LifecycleStatus::Created => "Created",
            LifecycleStatus::PreReleased => "Pre-Released",
            LifecycleStatus::Prototyped => "Prototyped",
            LifecycleStatus::Published => "Published",
            LifecycleStatus::Blocked => "Blocked",
            LifecycleStatus::Deprecated => "Deprecated",
            LifecycleStatus::Retired => "Retired",
        }
    }

    /// Parses a wire value or a display name, case-insensitively.
    pub fn parse(text: &str) -> Option<LifecycleStatus> {
        LifecycleStatus::ALL
            .into_iter()
            .find(|s| s.wire().eq_ignore_ascii_case(text) || s.display().eq_ignore_ascii_case(text))
    }

    /// The actions allowed from this state and where each leads.
    pub fn transitions(self) -> &'static [(LifecycleAction, LifecycleStatus)] {
        use LifecycleAction as A;
        use LifecycleStatus as S;
        match self {
            S::Created => &[(A::Publish, S::Published), (A::DeployAsPrototype, S::Prototyped)],
            S::PreReleased => &[
                (A::Publish, S::Published),
                (A::DeployAsPrototype, S::Prototyped),
                (A::DemoteToCreated, S::Created),
            ],
            S::Prototyped => &[
                (A::Publish, S::Published),
                (A::DemoteToCreated, S::Created),
                (A::DeployAsPrototype, S::Prototyped),
            ],
            S::Published => &[
                (A::Block, S::Blocked),
                (A::DeployAsPrototype, S::Prototyped),
                (A::DemoteToCreated, S::Created),
                (A::Deprecate, S::Deprecated),
            ],
            S::Blocked => &[(A::Deprecate, S::Deprecated), (A::RePublish, S::Published)],
            S::Deprecated => &[(A::Retire, S::Retired)],
            S::Retired => &[],
        }
    }

    /// The state `action` leads to from here, if WSO2's lifecycle allows it.
    pub fn apply(self, action: LifecycleAction) -> Option<LifecycleStatus> {
        self.transitions().iter().find(|(a, _)| *a == action).map(|(_, to)| *to)
    }
}

impl std::fmt::Display for LifecycleStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.wire())
    }
}

/// A lifecycle action (`action` of `POST /apis/change-lifecycle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleAction {
    Publish,
    DeployAsPrototype,
    DemoteToCreated,
    Block,
    Deprecate,
    RePublish,
    Retire,
}

impl LifecycleAction {
    pub const ALL: [LifecycleAction; 7] = [
        LifecycleAction::Publish,
        LifecycleAction::DeployAsPrototype,
        LifecycleAction::DemoteToCreated,
        LifecycleAction::Block,
        LifecycleAction::Deprecate,
        LifecycleAction::RePublish,
        LifecycleAction::Retire,
    ];

    /// WSO2's action name, as the query parameter carries it.
    pub fn name(self) -> &'static str {
        match self {
            LifecycleAction::Publish => "Publish",
            LifecycleAction::DeployAsPrototype => "Deploy as a Prototype",
            LifecycleAction::DemoteToCreated => "Demote to Created",
            LifecycleAction::Block => "Block",
            LifecycleAction::Deprecate => "Deprecate",
            LifecycleAction::RePublish => "Re-Publish",
            LifecycleAction::Retire => "Retire",
        }
    }

    /// Parses an action name; WSO2 compares them case-insensitively.
    pub fn parse(text: &str) -> Option<LifecycleAction> {
        LifecycleAction::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(text.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LifecycleAction as A;
    use LifecycleStatus as S;

    #[test]
    fn the_default_lifecycle_table() {
        assert_eq!(S::Created.apply(A::Publish), Some(S::Published));
        assert_eq!(S::Created.apply(A::DeployAsPrototype), Some(S::Prototyped));
        assert_eq!(S::Created.apply(A::Block), None);
        assert_eq!(S::Created.apply(A::Retire), None);
        assert_eq!(S::Published.apply(A::Block), Some(S::Blocked));
        assert_eq!(S::Published.apply(A::Deprecate), Some(S::Deprecated));
        assert_eq!(S::Published.apply(A::DemoteToCreated), Some(S::Created));
        assert_eq!(S::Published.apply(A::RePublish), None);
        assert_eq!(S::Blocked.apply(A::RePublish), Some(S::Published));
        assert_eq!(S::Blocked.apply(A::Publish), None);
        assert_eq!(S::Deprecated.apply(A::Retire), Some(S::Retired));
        assert_eq!(S::Deprecated.apply(A::Publish), None);
        for action in A::ALL {
            assert_eq!(S::Retired.apply(action), None, "{action:?} from Retired");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.wire()), Some(s));
            assert_eq!(S::parse(s.display()), Some(s));
            assert_eq!(serde_json::to_value(s).expect("json"), s.wire());
        }
        for a in A::ALL {
            assert_eq!(A::parse(a.name()), Some(a));
        }
        assert_eq!(A::parse("deploy as a prototype"), Some(A::DeployAsPrototype));
        assert_eq!(A::parse("Launch"), None);
    }
}
