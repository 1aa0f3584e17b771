//! Analytics: every gateway request becomes an [`Event`], events become rollups, rollups answer
//! queries. One job, in steps:
//!
//! - [`Sink`]: a node's events as they come, counted into the live Prometheus metrics
//!   ([`prometheus`]), written to WSO2's ELK log when configured ([`elk`]), and batched to the
//!   [`Recorder`], which writes raw rows and this node's per-minute rollups.
//! - [`Maintenance`]: folds this node's minutes into hours and hours into days, and deletes what
//!   is older than each resolution's retention (24 h raw, 48 h minutes, 30 days hours, 90 days
//!   days by default), against an injected [`Clock`].
//! - [`Query`]: time series, latency percentiles, errors by code and top-N over every node's
//!   rollups, for a checked [`Window`] and the caller's [`Scope`].
//!
//! # The latency histogram: DDSketch, 1 % relative error
//!
//! Each rollup carries a DDSketch ([`LatencySketch`]) of the total latency rather than
//! HdrHistogram-style buckets. Both merge by adding bucket counts; DDSketch's buckets are
//! logarithmic with ratio γ = (1 + α)/(1 − α), so every quantile it answers is within
//! α = [`RELATIVE_ERROR`] (1 %) of the true value at any magnitude, with no range to configure,
//! and only the buckets that were hit are stored (a minute's latencies spread over a few dozen
//! buckets; an HdrHistogram of the same precision over 1 µs..1 h is thousands of counters,
//! mostly empty, per rollup row). Percentiles of any range come from merging its rows' sketches.
//!
//! Rows live in the store's `analytics_events` and `analytics_rollups` tables (migration 0009,
//! SQLite and PostgreSQL); each node writes only its own rollup rows, so no two writers race,
//! and queries add every node's up.
#![forbid(unsafe_code)]

pub mod clock;
pub mod elk;
pub mod event;
mod maintenance;
pub mod prometheus;
mod query;
mod recorder;
pub mod rollup;
mod sink;
pub mod sketch;

pub use clock::{Clock, ManualClock, SystemClock};
pub use event::{Event, StatusClass};
pub use maintenance::{Maintenance, PassReport, Retention};
pub use query::{
    Counts, Filters, Granularity, MAX_POINTS, Percentiles, Query, QueryError, Scope, TopBy, TopEntry, Window,
};
pub use recorder::Recorder;
pub use sink::Sink;
pub use sketch::{LatencySketch, RELATIVE_ERROR};

/// What analytics can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error(transparent)]
    Store(#[from] portico_store::StoreError),
}
