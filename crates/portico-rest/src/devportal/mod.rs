//! DevPortal REST API v3 (`/api/am/devportal/v3`): published APIs, applications, their OAuth keys
//! and API keys, subscriptions and throttling policies, with WSO2's paths, field names, status
//! codes and scopes (devportal-api.yaml). A caller sees and changes only their own applications
//! and subscriptions; another user's are "not found".

mod apis;
mod applications;
mod keys;
mod subscriptions;

use axum::Router;
use axum::routing::{get, post};
use portico_apis::InputError;
use portico_keymanager::{OAuthError, Principal};
use portico_store::ApplicationRow;
use serde_json::{Map, Value};

use crate::publisher::input_error;
use crate::{ApiError, RestState};

/// Scopes of the application and key operations (alternatives).
pub(crate) const APP_SCOPES: &[&str] = &["apim:subscribe", "apim:app_manage"];
/// Scopes of the subscription operations.
pub(crate) const SUB_SCOPES: &[&str] = &["apim:subscribe", "apim:sub_manage"];
/// Scopes of the API-key operations.
pub(crate) const API_KEY_SCOPES: &[&str] = &["apim:subscribe", "apim:app_manage", "apim:api_key"];

pub(crate) use portico_store::RESIDENT_KEY_MANAGER;

pub fn routes() -> Router<RestState> {
    Router::new()
        .route("/apis", get(apis::list))
        .route("/apis/{api_id}", get(apis::get_one))
        .route("/apis/{api_id}/swagger", get(apis::swagger))
        .route("/throttling-policies/{policy_level}", get(apis::throttling_policies))
        .route("/applications", get(applications::list).post(applications::create))
        .route(
            "/applications/{application_id}",
            get(applications::get_one)
                .put(applications::update)
                .delete(applications::delete),
        )
        .route("/key-managers", get(crate::key_managers::devportal_list))
        .route("/applications/{application_id}/generate-keys", post(keys::generate))
        .route("/applications/{application_id}/map-keys", post(keys::map_keys))
        .route("/applications/{application_id}/keys", get(keys::list))
        .route("/applications/{application_id}/keys/{key_type}", get(keys::get_of_type))
        .route("/applications/{application_id}/oauth-keys", get(keys::list))
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}",
            get(keys::get_one).put(keys::update).delete(keys::clean_up),
        )
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}/generate-token",
            post(keys::generate_token),
        )
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}/regenerate-secret",
            post(keys::regenerate_secret),
        )
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}/clean-up",
            post(keys::clean_up),
        )
        .route(
            "/applications/{application_id}/api-keys/{key_type}/generate",
            post(keys::generate_api_key),
        )
        .route(
            "/applications/{application_id}/api-keys/{key_type}/revoke",
            post(keys::revoke_api_key),
        )
        .route("/subscriptions", get(subscriptions::list).post(subscriptions::create))
        .route("/subscriptions/multiple", post(subscriptions::create_multiple))
        .route(
            "/subscriptions/{subscription_id}",
            get(subscriptions::get_one)
                .put(subscriptions::update)
                .delete(subscriptions::delete),
        )
}

/// The caller's application, or 404 (also for another user's).
pub(crate) async fn own_application(
    state: &RestState,
    caller: &Principal,
    application_id: &str,
) -> Result<ApplicationRow, ApiError> {
    match state.store.find_application(application_id).await? {
        Some(app) if app.owner == caller.username => Ok(app),
        _ => Err(ApiError::not_found(format!(
            "Application with id {application_id} not found"
        ))),
    }
}

/// The body as a JSON object, or 400.
pub(crate) fn body_object(value: &Value) -> Result<&Map<String, Value>, ApiError> {
    portico_apis::input::object(value, "body").map_err(input_error)
}

/// A required, non-blank string field.
pub(crate) fn required_string(obj: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    portico_apis::input::coerce_string(portico_apis::input::get(obj, field), field)
        .map_err(input_error)?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| input_error(InputError::new(field, "is required")))
}

/// An optional string field.
pub(crate) fn optional_string(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    portico_apis::input::coerce_string(portico_apis::input::get(obj, field), field).map_err(input_error)
}

/// An optional JSON object field; a string holding a JSON object is accepted too (WSO2's UI
/// sends `additionalProperties` both ways).
pub(crate) fn optional_object(obj: &Map<String, Value>, field: &str) -> Result<Option<Map<String, Value>>, ApiError> {
    match portico_apis::input::get(obj, field) {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m.clone())),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            _ => Err(input_error(InputError::new(field, "must be an object"))),
        },
        other => Err(input_error(InputError::new(
            field,
            format!("must be an object, not {}", portico_apis::input::kind_of(other)),
        ))),
    }
}

/// A Key Manager error as a REST answer.
pub(crate) fn oauth_error(e: OAuthError) -> ApiError {
    match e {
        OAuthError::Store(e) => e.into(),
        OAuthError::Internal(e) => {
            tracing::error!(error = %e, "key manager failed");
            ApiError::internal("The Key Manager failed; the server log has the details")
        }
        OAuthError::InvalidClient(m) => ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "Unauthorized", m),
        OAuthError::NotFound(m) => ApiError::not_found(m),
        OAuthError::Forbidden(m) => ApiError::new(axum::http::StatusCode::FORBIDDEN, "Forbidden", m),
        other => ApiError::bad_request(other.to_string()),
    }
}

/// Parses a JSON text column, falling back to `default` (stored values are always valid).
pub(crate) fn json_column(text: &str, default: Value) -> Value {
    serde_json::from_str(text).unwrap_or(default)
}
