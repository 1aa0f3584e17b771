//! `/health/live` and `/health/ready` for load balancers and orchestrators.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::RestState;

pub fn routes() -> Router<RestState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

/// 200 while the process serves requests.
async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "live" }))
}

/// 200 when the store answers and the keys are loaded; 503 with the reason otherwise.
async fn ready(State(state): State<RestState>) -> (StatusCode, Json<serde_json::Value>) {
    let store = match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the database did not answer within 2 s".to_owned()),
    };
    let keys = json!({ "tls": state.key_fingerprints.tls, "primary": state.key_fingerprints.primary });
    match store {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "store": state.store.backend().to_string(), "keys": keys })),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": format!("store: {reason}"), "keys": keys })),
        ),
    }
}
