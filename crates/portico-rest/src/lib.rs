//! The management HTTP surface on :9443: health, the Key Manager's OAuth2 endpoints, DCR, SCIM 2.0,
//! the REST APIs (Publisher v4, DevPortal v3, Admin v4 as they land), with WSO2's error body and authentication on every REST path.
//!
//! Everything here turns HTTP into calls on the store and the key manager and back; the error
//! mapping to HTTP happens once, in [`error::ApiError`].
//!
//! Layout: one module per API (`publisher/`, `devportal/`, `admin` with `key_managers` and
//! `throttling/`, `analytics/` (a Portico extension, and `/metrics`), `oauth`, `dcr`, `scim`, `health`, `sample`), each folder's `mod.rs` holding only its routes; `common/`
//! what several APIs use (request bodies, paging, API rows, ETags and optimistic updates, ...);
//! `state` the handlers' shared [`RestState`], `auth` the caller, `middleware` what wraps every
//! request, `audit` the audit log of every management write (one middleware around it all). `publisher/artifacts` is the deploy pipeline's output, [`ArtifactFiles`], which the
//! binary also reconciles at start-up. Modules import downwards only: no module imports one that
//! imports it back.
#![forbid(unsafe_code)]

mod admin;
mod analytics;
mod audit;
mod auth;
mod cluster_nodes;
mod common;
mod dcr;
mod devportal;
pub mod error;
mod fetch;
mod health;
mod key_managers;
mod middleware;
mod oauth;
mod publisher;
mod sample;
mod scim;
mod state;
mod throttling;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use analytics::{ANALYTICS_BASE, AnalyticsState, GaugeSource};
pub use auth::{Auth, MaybeAuth};
pub use error::ApiError;
pub use key_managers::configured_key_managers;
pub use publisher::artifacts::ArtifactFiles;
pub use sample::SAMPLE_BASE_PATH;
pub use state::{KeyFingerprints, RestState};

/// Rewrites `<home>/deployment/server/` from the deployments recorded in the store (and removes
/// stale artifacts); run at start-up and when other nodes deploy. Returns how many artifacts are
/// deployed.
pub async fn reconcile_artifacts(artifacts: &ArtifactFiles) -> Result<usize, ApiError> {
    artifacts.reconcile().await
}

/// The whole management router, every management write recorded in the audit log.
pub fn router(state: RestState) -> Router {
    let app = unaudited_router(state.clone());
    let hook = audit::AuditHook::new(state, app.clone());
    app.layer(axum::middleware::from_fn_with_state(hook, audit::record))
}

/// Every route and the layers every request goes through, without the audit log (through which
/// the audit middleware reads an object as it was before a write).
fn unaudited_router(state: RestState) -> Router {
    let body_limit = usize::try_from(state.config.management_body_limit()).unwrap_or(usize::MAX);
    let mut router = Router::new();
    if state.config.sample_backend_enabled() {
        router = router.nest(SAMPLE_BASE_PATH, sample::routes());
    }
    router
        .merge(health::routes())
        .merge(oauth::routes())
        .nest("/client-registration/v0.17", dcr::routes())
        .nest("/scim2", scim::routes())
        .route("/api/identity/user/v1.0/me", axum::routing::post(scim::self_register))
        .nest("/api/am/admin/v4", admin::routes())
        .nest("/api/am/publisher/v4", publisher::routes())
        .nest("/api/am/devportal/v3", devportal::routes())
        // Portico extensions: analytics (JSON and SVG charts) and Prometheus' /metrics.
        .nest(ANALYTICS_BASE, analytics::routes())
        .merge(analytics::metrics_routes())
        // Aliases for older WSO2 tooling (4.0's v2, 4.1's v3): the same shapes as the current versions.
        .nest("/api/am/publisher/v2", publisher::routes())
        .nest("/api/am/publisher/v3", publisher::routes())
        .nest("/api/am/devportal/v2", devportal::routes())
        .fallback(middleware::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            body_limit,
            middleware::reject_large_bodies,
        ))
        .layer(axum::middleware::from_fn(middleware::wso2_error_bodies))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::read_your_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            health::refuse_without_database,
        ))
        .with_state(state)
}
