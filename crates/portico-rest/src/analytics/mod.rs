//! Analytics, a Portico extension (WSO2 serves its analytics from a separate cloud service or
//! an ELK stack): `/api/am/analytics/v1` answers time series (`requests`, `latency`), `errors`
//! by code and `top` APIs, applications and nodes over every node's rollups, and the same as
//! SVG charts under `charts/` (`charts.rs`, no JavaScript, to embed in the portals). The query
//! parameters are read in `params`, who sees what in `scope`, the answers made in `answers`;
//! `GET /metrics` (Prometheus) is `metrics`.
//!
//! Every answer covers only what the caller may see: `apim:admin` everything, a publisher its
//! own APIs, a DevPortal user its own applications.

mod answers;
mod charts;
mod metrics;
mod params;
mod scope;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::routing::get;
use portico_analytics::prometheus::{Gauges, LiveMetrics};

use crate::state::RestState;

/// Where the analytics API is served.
pub const ANALYTICS_BASE: &str = "/api/am/analytics/v1";

/// Reads the node's gauges that live outside the REST state (the gateway's drops and token
/// cache, the Traffic Manager queue), set once the gateway exists.
pub type GaugeSource = Arc<dyn Fn() -> Gauges + Send + Sync>;

/// What the analytics handlers share.
#[derive(Clone, Default)]
pub struct AnalyticsState {
    /// The node's live request metrics (counted by its analytics sink).
    pub metrics: Arc<LiveMetrics>,
    pub gauges: Arc<OnceLock<GaugeSource>>,
}

/// The analytics routes, relative to [`ANALYTICS_BASE`].
pub(crate) fn routes() -> Router<RestState> {
    Router::new()
        .route("/requests", get(answers::requests))
        .route("/latency", get(answers::latency))
        .route("/errors", get(answers::errors))
        .route("/top", get(answers::top))
        .route("/charts/{chart}", get(charts::chart))
}

/// `GET /metrics`, at the management port's root.
pub(crate) fn metrics_routes() -> Router<RestState> {
    Router::new().route("/metrics", get(metrics::metrics))
}
