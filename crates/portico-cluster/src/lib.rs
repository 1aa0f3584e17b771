//! Keeping this node in step with the cluster. The nodes of a cluster share one store; what any
//! node changes reaches the others through the store's change feed, and this crate applies it:
//!
//! - [`follow`]: the change-feed follower every node runs (wake-ups, polling, replay, and the
//!   progress writers wait on for read-your-writes);
//! - [`IdentitySource`]: the gateway's identity data (applications, client ids, subscriptions, external
//!   key managers) loaded from the store on top of this node's own key manager;
//! - [`load_policies`]: the throttling policies the gateway enforces, read from the store;
//!   [`load_deny_policies`]: its deny policies (WSO2's blocking conditions), likewise;
//! - [`GatewaySync`]: which feed events change this node's gateway, and applying them;
//! - [`watch_artifacts`]: file-system events on an artifact directory other writers own (a
//!   shared file system, rsync), waking the gateway's artifact loader;
//! - [`GatewaySnapshot`]: the last-known-good snapshot of what the gateway needs, written after
//!   each applied change and served from when the node starts without its database;
//! - [`Readiness`]: whether this node is in step with the cluster (database reachable, every
//!   change applied), what `/health/ready` answers; [`FeedPruner`]: the feed's retention;
//! - [`Heartbeat`]: this node's entry in the node registry, with [`DeployedRevisions`] (what its
//!   artifacts hold); [`cluster_status`] and [`live_traffic_managers`] read the registry.
//!
//! Management crates (the key manager, REST) use the follower; the data plane (`portico-gateway`)
//! knows nothing of the store or the feed: this crate hands it finished values.
#![forbid(unsafe_code)]

mod artifact_watch;
mod deny_policies;
mod deployed;
mod follow;
mod gateway_sync;
mod heartbeat;
mod identity;
mod policies;
mod prune;
mod readiness;
mod registry;
mod snapshot;
#[cfg(test)]
mod test_store;

pub use artifact_watch::{ArtifactWatch, WatchError, watch_artifacts};
pub use deny_policies::{deny_policies_from_rows, load_deny_policies};
pub use deployed::{Deployed, DeployedRevisions};
pub use follow::{FeedHandler, FollowerProgress, Retry, follow, follow_feed, retry_if_unavailable};
pub use gateway_sync::{Deployments, GatewaySync, IdentityCounts};
pub use heartbeat::{Heartbeat, HeartbeatTask};
pub use identity::{IdentitySource, ResidentKeyError, resident_identity};
pub use policies::{EVENT_POLICY_CHANGED, load_policies, policies_from_rows};
pub use prune::FeedPruner;
pub use readiness::{Readiness, ReadinessReport};
pub use registry::{ClusterStatus, NodeState, NodeStatus, TrafficManagerPeer, cluster_status, live_traffic_managers};
pub use snapshot::{
    GatewaySnapshot, SNAPSHOT_PATH, SnapshotError, SnapshotOwner, spawn_writer as spawn_snapshot_writer,
};
