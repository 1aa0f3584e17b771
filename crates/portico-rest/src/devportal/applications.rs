//! `/applications` and `/applications/{applicationId}`: the caller's applications.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portico_apis::InputError;
use portico_apis::input::{coerce_enum, coerce_string_list, get};
use portico_store::{ApplicationRow, NewApplication};
use serde_json::{Map, Value, json};

use super::access::{APP_SCOPES, own_application};
use super::fields::{body_object, json_column, optional_string, required_string};
use super::keys::key_json;
use crate::auth::Auth;
use crate::common::body::json_body;
use crate::common::paging::{Page, query_suffix};
use crate::error::{ApiError, input_error};
use crate::state::RestState;

const BASE: &str = "/api/am/devportal/v3";

/// WSO2's `Application` (and `ApplicationInfo`, which is a subset).
pub(crate) fn application_json(app: &ApplicationRow) -> Value {
    json!({
        "applicationId": app.id,
        "name": app.name,
        "throttlingPolicy": app.throttling_policy,
        "description": app.description,
        "tokenType": app.token_type,
        "status": app.status,
        "groups": json_column(&app.group_ids, json!([])),
        "subscriptionCount": app.subscription_count,
        "keys": [],
        "attributes": json_column(&app.attributes, json!({})),
        "subscriptionScopes": json_column(&app.subscription_scopes, json!([])),
        "owner": app.owner,
        "hashEnabled": true,
        "createdTime": app.created_at.to_string(),
        "updatedTime": app.updated_at.to_string(),
    })
}

/// Reads an application body (create and update take the same one).
async fn application_input(state: &RestState, owner: &str, body: &Value) -> Result<NewApplication, ApiError> {
    let obj = body_object(body)?;
    let name = required_string(obj, "name")?;
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(input_error(InputError::new(
            "name",
            "must be at most 100 characters without control characters",
        )));
    }
    let throttling_policy = required_string(obj, "throttlingPolicy")?;
    let description = optional_string(obj, "description")?;
    let token_type = coerce_enum(get(obj, "tokenType"), "tokenType", &["OAUTH", "JWT"])
        .map_err(input_error)?
        .unwrap_or_else(|| "JWT".into());
    let attributes = match get(obj, "attributes") {
        Value::Null => Map::new(),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let text = portico_apis::input::coerce_string(v, &format!("attributes.{k}")).map_err(input_error)?;
                out.insert(k.clone(), Value::String(text.unwrap_or_default()));
            }
            out
        }
        other => {
            return Err(input_error(InputError::new(
                "attributes",
                format!("must be an object, not {}", portico_apis::input::kind_of(other)),
            )));
        }
    };
    let groups = coerce_string_list(get(obj, "groups"), "groups")
        .map_err(input_error)?
        .unwrap_or_default();
    let subscription_scopes = match get(obj, "subscriptionScopes") {
        Value::Null => Vec::new(),
        Value::Array(items) => items.clone(),
        other => {
            return Err(input_error(InputError::new(
                "subscriptionScopes",
                format!("must be an array, not {}", portico_apis::input::kind_of(other)),
            )));
        }
    };
    let known: Vec<String> = state
        .store
        .list_throttling_policies("application")
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    if !known.contains(&throttling_policy) {
        return Err(input_error(InputError::new(
            "throttlingPolicy",
            format!(
                "unknown application throttling policy \"{throttling_policy}\"; known: {}",
                known.join(", ")
            ),
        )));
    }
    Ok(NewApplication {
        name,
        owner: owner.to_owned(),
        throttling_policy,
        description,
        token_type,
        attributes: Value::Object(attributes).to_string(),
        groups: json!(groups).to_string(),
        subscription_scopes: Value::Array(subscription_scopes).to_string(),
    })
}

/// `GET /applications`.
pub async fn list(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut scopes = APP_SCOPES.to_vec();
    scopes.push("apim:app_import_export");
    let caller = auth.require_any(&scopes)?;
    let page = Page::of(&params)?;
    let query = params.get("query").map(|q| q.trim()).unwrap_or("");
    let name = Some(query)
        .filter(|q| !q.is_empty())
        .map(|q| q.strip_prefix("name:").unwrap_or(q).trim_matches('"'));
    let (rows, total) = state
        .store
        .list_applications(&caller.username, name, page.limit, page.offset)
        .await?;
    let list: Vec<Value> = rows.iter().map(application_json).collect();
    Ok(page.list_body(list, total, "/applications", &query_suffix(query)))
}

/// `POST /applications`.
pub async fn create(
    auth: Auth,
    State(state): State<RestState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let body = json_body(&headers, &body)?;
    let input = application_input(&state, &caller.username, &body).await?;
    let id = state.store.create_application(&input).await?;
    let app = own_application(&state, caller, &id).await?;
    let mut response = (StatusCode::CREATED, Json(application_json(&app))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{BASE}/applications/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /applications/{applicationId}`.
pub async fn get_one(
    auth: Auth,
    State(state): State<RestState>,
    Path(application_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let app = own_application(&state, caller, &application_id).await?;
    let mut body = application_json(&app);
    body["keys"] = state
        .store
        .list_key_mappings(&app.id)
        .await?
        .iter()
        .map(|m| key_json(m, None, Value::Null))
        .collect();
    Ok(Json(body))
}

/// `PUT /applications/{applicationId}`.
pub async fn update(
    auth: Auth,
    State(state): State<RestState>,
    Path(application_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    own_application(&state, caller, &application_id).await?;
    let body = json_body(&headers, &body)?;
    let input = application_input(&state, &caller.username, &body).await?;
    state.store.update_application(&application_id, &input).await?;
    let app = own_application(&state, caller, &application_id).await?;
    Ok(Json(application_json(&app)))
}

/// `DELETE /applications/{applicationId}`: the application, its subscriptions and keys; every
/// token issued to its keys stops working.
pub async fn delete(
    auth: Auth,
    State(state): State<RestState>,
    Path(application_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut scopes = APP_SCOPES.to_vec();
    scopes.push("apim:app_import_export");
    let caller = auth.require_any(&scopes)?;
    own_application(&state, caller, &application_id).await?;
    let clients = state.store.delete_application(&application_id).await?;
    for client_id in clients {
        state.oauth.revoke_client_tokens(&client_id).await?;
    }
    Ok(StatusCode::OK)
}
