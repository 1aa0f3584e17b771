//! The management HTTP surface on :9443: health, the Key Manager's OAuth2 endpoints, DCR, SCIM 2.0,
//! the REST APIs (Publisher v4, DevPortal v3, Admin v4 as they land), with WSO2's error body and authentication on every REST path.
//!
//! Everything here turns HTTP into calls on the store and the key manager and back; the error
//! mapping to HTTP happens once, in [`error::ApiError`].
#![forbid(unsafe_code)]

mod admin;
mod auth;
mod cluster_nodes;
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

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use portico_config::Config;
use portico_keymanager::{Authenticator, TokenService};
use portico_store::Store;

pub use auth::{Auth, MaybeAuth};
pub use error::ApiError;
pub use key_managers::configured_key_managers;
pub use sample::SAMPLE_BASE_PATH;

/// What the management handlers share.
#[derive(Clone)]
pub struct RestState {
    pub config: Arc<Config>,
    pub store: Store,
    pub authenticator: Arc<Authenticator>,
    /// The Key Manager's OAuth2 side (token endpoint, DCR, revocation).
    pub oauth: Arc<TokenService>,
    /// SHA-256 fingerprints of the loaded TLS and primary certificates (readiness shows them).
    pub key_fingerprints: Arc<KeyFingerprints>,
    /// Woken whenever an artifact file is written or removed, so this node's gateway reloads at
    /// once instead of at its next poll.
    pub artifacts_changed: Arc<tokio::sync::Notify>,
    /// How far this node has applied the change feed (its gateway's applications, keys and
    /// subscriptions); changing REST calls wait for it before answering.
    pub applied_here: Arc<portico_cluster::FollowerProgress>,
}

#[derive(Debug, Clone)]
pub struct KeyFingerprints {
    pub tls: String,
    pub primary: String,
}

/// Rewrites `<home>/deployment/server/` from the deployments recorded in the store (and removes
/// stale artifacts); run at start-up. Returns how many artifacts are deployed.
pub async fn reconcile_artifacts(state: &RestState) -> Result<usize, ApiError> {
    publisher::artifacts::reconcile(state).await
}

/// The whole management router.
pub fn router(state: RestState) -> Router {
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
        .nest("/api/am/admin/v4", admin::routes())
        .nest("/api/am/publisher/v4", publisher::routes())
        .nest("/api/am/devportal/v3", devportal::routes())
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
        .with_state(state)
}
