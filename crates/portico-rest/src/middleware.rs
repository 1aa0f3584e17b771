//! Cross-cutting request and response handling.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::RestState;

/// Refuses a request whose declared body is over the limit before reading any of it. Bodies
/// without a length are cut off at the limit by the extractors (`DefaultBodyLimit`).
pub async fn reject_large_bodies(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large(limit);
    }
    next.run(request).await
}

fn too_large(limit: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Payload Too Large",
        format!("The request body is larger than the limit of {limit} bytes ([transport.https] max_request_body)"),
    )
    .into_response()
}

/// Gives every error answer WSO2's JSON body, including those produced by the framework
/// (405, 413 from extractors, malformed JSON, ...), so clients parse one format.
pub async fn wso2_error_bodies(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.as_u16() < 400 {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("application/scim+json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = status.canonical_reason().unwrap_or("Error");
    let description = if text.trim().is_empty() {
        message.to_owned()
    } else {
        text.trim().to_owned()
    };
    let mut rebuilt = ApiError::new(status, message, description).into_response();
    // Keep headers the framework set (Allow on 405, WWW-Authenticate) but not the old body's.
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rebuilt.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rebuilt
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    rebuilt
}

/// The fallback for paths nothing serves.
pub async fn not_found(request: Request<Body>) -> ApiError {
    ApiError::not_found(format!("No resource at {} {}", request.method(), request.uri().path()))
}

/// Longest a changing REST call waits for this node to apply its own change.
const READ_YOUR_WRITES_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// After a successful change through a REST API (`/api/am/...`), waits until this node's change
/// feed follower has applied it, so that the caller's next request to this node's gateway
/// already sees the new application, key or subscription. Bounded; on a timeout the change still
/// arrives moments later.
pub async fn read_your_writes(State(state): State<RestState>, request: Request, next: Next) -> Response {
    // Under `nest`, the URI seen here may have lost its prefix; the original one is kept.
    let path = request.extensions().get::<axum::extract::OriginalUri>().map_or_else(
        || request.uri().path().to_owned(),
        |original| original.0.path().to_owned(),
    );
    let changes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    ) && path.starts_with("/api/am/");
    let response = next.run(request).await;
    if changes && response.status().is_success() {
        match state.store.latest_seq().await {
            Ok(seq) => {
                tracing::debug!(
                    seq,
                    applied = state.applied_here.applied(),
                    "waiting for this node to apply"
                );
                if !state.applied_here.caught_up(seq, READ_YOUR_WRITES_WAIT).await {
                    tracing::debug!(seq, "change not yet applied on this node when answering");
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the change feed position"),
        }
    }
    response
}
