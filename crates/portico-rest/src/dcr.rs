//! WSO2's Dynamic Client Registration (`/client-registration/v0.17/register`): how REST clients
//! and WSO2's quick-start obtain a client id and secret, authenticated by HTTP Basic (or bearer).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use portico_keymanager::{DcrRequest, OAuthError};
use serde_json::Value;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::RestState;

pub fn routes() -> Router<RestState> {
    Router::new().route("/register", post(register)).route(
        "/register/{client_id}",
        get(get_registration)
            .put(update_registration)
            .delete(delete_registration),
    )
}

fn body(body: Result<Json<DcrRequest>, JsonRejection>) -> Result<DcrRequest, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request(format!("The registration body is not valid: {}", e.body_text())))
}

fn to_api_error(e: OAuthError) -> ApiError {
    match e {
        OAuthError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "Forbidden", m),
        OAuthError::NotFound(m) => ApiError::not_found(m),
        OAuthError::Store(s) => s.into(),
        OAuthError::Internal(m) => {
            tracing::error!(error = %m, "client registration failed");
            ApiError::internal("Client registration failed; the server log has the details")
        }
        other => ApiError::bad_request(other.to_string()),
    }
}

/// `POST /register`: WSO2's request and response (callbackUrl may lack a scheme).
async fn register(
    auth: Auth,
    State(state): State<RestState>,
    request: Result<Json<DcrRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = body(request)?;
    let client = state.oauth.register(&auth.0, &request).await.map_err(to_api_error)?;
    Ok(Json(client.to_wso2_json()))
}

async fn get_registration(
    auth: Auth,
    State(state): State<RestState>,
    Path(client_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let client = state
        .oauth
        .registered_client(&auth.0, &client_id)
        .await
        .map_err(to_api_error)?;
    Ok(Json(client.to_wso2_json()))
}

async fn update_registration(
    auth: Auth,
    State(state): State<RestState>,
    Path(client_id): Path<String>,
    request: Result<Json<DcrRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = body(request)?;
    let client = state
        .oauth
        .update_registration(&auth.0, &client_id, &request)
        .await
        .map_err(to_api_error)?;
    Ok(Json(client.to_wso2_json()))
}

async fn delete_registration(
    auth: Auth,
    State(state): State<RestState>,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .oauth
        .delete_registration(&auth.0, &client_id)
        .await
        .map_err(to_api_error)?;
    Ok(StatusCode::NO_CONTENT)
}
