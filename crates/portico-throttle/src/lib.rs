//! Throttling: WSO2's policies, throttle keys and fixed windows, the Traffic Manager, the
//! gateway's event publisher and decision table, and Redis counting. Everything about
//! throttling that is not HTTP, REST or SQL lives here, so the gateway, the Admin REST API, the
//! store, the config and the binary share one definition of each rule.
//!
//! # How a request is throttled
//!
//! ```text
//! gateway throttle phase                         Traffic Manager (every node, port 9611+offset)
//!  RequestEvent (keys + quotas)                   counts per key in fixed windows
//!   -> Throttler::admit                           decides on state change (count >= limit)
//!        decision table (lock-free read)   <----  Decisions frames (+ full state on connect)
//!        local counts (certain refusals)
//!        Counter::record (try_send)  ------------> Events frames, batched, HMAC-authenticated
//! ```
//!
//! WSO2's semantics are kept: keys ([`key`]), windows aligned to the epoch ([`window`]),
//! "throttled when count >= limit", decisions only on a state change, and WSO2's defaults
//! ([`policy::default_policies`]). WSO2's known failures are fixed: every event goes to every
//! url group (no doubled limits), queues never block a request, a TM restarted mid-window takes
//! its peers' counts, burst control is counted across the cluster like quotas, the failure mode
//! is a choice ([`FailureMode`]), and the gateway refuses what its own count already proves.
//!
//! # Public surface, by caller
//!
//! - **Admin REST** (policies): [`policy::PolicyDraft`] → [`PolicyDraft::validate`] →
//!   [`Policy`] or a [`PolicyError`] whose [`field`](PolicyError::field) names the JSON field
//!   (400); [`policy::custom_policy_unsupported`] for `/throttling/policies/custom`;
//!   [`PolicyLevel::parse`] for the path segment. Publisher/DevPortal listings read
//!   [`Policy::burst`] for `rateLimitCount`/`rateLimitTimeUnit`. Deny policies:
//!   [`DenyCondition::from_json`] (400s name the field), [`DenyCondition::stored_value`].
//! - **Store**: seeds [`policy::default_policies`] on a fresh database; stores [`Policy`] fields
//!   ([`TimeUnit::as_str`], [`BurstUnit::as_str`] for the unit columns).
//! - **Gateway** (throttle phase): per request, build a [`RequestEvent`] with
//!   [`RequestEvent::api`] or [`RequestEvent::resource`], [`RequestEvent::application`],
//!   [`RequestEvent::subscription`] (or [`RequestEvent::unauthenticated`]), passing
//!   [`Policy::enforced_quota`] and [`Policy::burst_quota`] of the policies in its snapshot;
//!   first [`DenyPolicies::check`] (a [`DenyType`] is 403 with 900805), then
//!   [`Throttler::admit`]. A [`Refusal`] gives [`KeyKind::error_code`] (900800–900809,
//!   status 429), `until_ms` for `Retry-After` ([`window::retry_after_secs`]) and the quota for
//!   `RateLimit-Policy`; an [`Admission`] gives the headroom for `RateLimit`.
//! - **Config**: [`FailureMode::parse`], [`GroupKind::parse`] and [`UrlGroup::new`] for
//!   `[[apim.throttling.url_group]]`, [`publisher::receiver_address`] for one url.
//! - **Binary** (wiring): derive a [`ClusterSecret`] from the shared primary key;
//!   [`traffic_manager::start`] on the TM listener with [`TrafficManagerConfig`] (peers from the
//!   node registry); one [`DecisionTable`]; a [`Publisher`] ([`PublisherConfig`], one group per
//!   live TM when no url group is configured, kept current with [`Publisher::set_groups`]) or
//!   a [`RedisCounter`] ([`RedisConfig`]) as the
//!   [`Counter`]; a [`Throttler`] over them, with [`Throttler::spawn_sweeper`] and
//!   [`Throttler::set_live_nodes`] fed by the node registry.
//!
//! The TM protocol is defined once, in [`wire`].
#![forbid(unsafe_code)]

pub mod batch;
pub mod counter;
pub mod decision;
pub mod deny;
pub mod event;
pub mod key;
pub mod policy;
pub mod publisher;
pub mod redis_counter;
pub mod shards;
pub mod throttler;
pub mod traffic_manager;
pub mod window;
pub mod wire;

pub use counter::{Counter, CounterStats, FailureMode};
pub use decision::{Decision, DecisionTable};
pub use deny::{DenyCondition, DenyError, DenyPolicies, DenyRequest, DenyType};
pub use event::RequestEvent;
pub use key::KeyKind;
pub use policy::{BurstUnit, Policy, PolicyDraft, PolicyError, PolicyLevel, TimeUnit};
pub use publisher::{GroupKind, Publisher, PublisherConfig, UrlGroup};
pub use redis_counter::{RedisConfig, RedisCounter};
pub use throttler::{Admission, Refusal, RefusalCause, Throttler};
pub use traffic_manager::{TrafficManagerConfig, TrafficManagerHandle};
pub use window::{Window, WindowQuota};
pub use wire::ClusterSecret;
