//! `GET /metrics`: the node's metrics in Prometheus' text format. With `[apim.analytics]
//! metrics_token` set, the caller must send `Authorization: Bearer <token>`; without one, only
//! loopback callers are answered (a scraper on the same machine, or a tunnel).

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::RestState;

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(State(state): State<RestState>, request: Request) -> Result<Response, ApiError> {
    match &state.config.apim.analytics.metrics_token {
        Some(token) => {
            let sent = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            // Compared as digests: equal-length, so the comparison's time says nothing of the token.
            let matches = sent.is_some_and(|s| Sha256::digest(s.as_bytes()) == Sha256::digest(token.as_bytes()));
            if !matches {
                let mut refused = ApiError::invalid_credentials(
                    "GET /metrics needs the bearer token of [apim.analytics] metrics_token",
                )
                .into_response();
                refused
                    .headers_mut()
                    .insert("www-authenticate", HeaderValue::from_static("Bearer realm=\"metrics\""));
                return Ok(refused);
            }
        }
        None => {
            let peer = request
                .extensions()
                .get::<portico_net::ConnectionInfo>()
                .map(|info| info.peer.ip());
            if !peer.is_some_and(|ip| ip.is_loopback()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "GET /metrics answers loopback callers only while [apim.analytics] metrics_token is not set",
                ));
            }
        }
    }
    let mut gauges = state.analytics.gauges.get().map(|source| source()).unwrap_or_default();
    let pool = state.store.pool_use();
    gauges.pool = Some((pool.open, pool.idle, pool.max));
    gauges.feed_lag = match state.store.latest_seq().await {
        Ok(latest) => Some((latest - state.applied_here.applied()).max(0)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the change feed's position for /metrics");
            None
        }
    };
    let body = state.analytics.metrics.render(&gauges);
    Ok(([(CONTENT_TYPE, TEXT_FORMAT)], body).into_response())
}
