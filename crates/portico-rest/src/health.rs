//! `/health/live` and `/health/ready` for load balancers and orchestrators, and the refusal of
//! management calls while the database is away.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::error::ApiError;
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

/// 200 when the store answers, the keys are loaded and every change of the cluster's feed has
/// been applied here (portico-cluster's `Readiness`); 503 with what it waits for otherwise: the
/// database, the start-up, or the change feed (its position and head).
async fn ready(State(state): State<RestState>) -> (StatusCode, Json<serde_json::Value>) {
    let report = state.readiness.check().await;
    let mut body = report.to_json();
    body["store"] = json!(state.store.backend().to_string());
    body["keys"] = json!({ "tls": state.key_fingerprints.tls, "primary": state.key_fingerprints.primary });
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// While the last readiness check found the database away, every management call but health,
/// the JWKS and the sample backend answers 503 at once (WSO2's error body) rather than waiting
/// for a connection; the gateway keeps serving what it holds.
pub async fn refuse_without_database(State(state): State<RestState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let needs_database =
        !(path.starts_with("/health/") || path == "/oauth2/jwks" || path.starts_with(crate::SAMPLE_BASE_PATH));
    if needs_database && let Some(reason) = state.readiness.database_unavailable() {
        return ApiError::unavailable(format!(
            "The database cannot be reached ({reason}): management calls are refused until it is back; the gateway keeps serving the APIs, applications and tokens it knows"
        ))
        .into_response();
    }
    next.run(request).await
}
