//! `/throttling/deny-policies` and `/throttling/deny-policy/{conditionId}` of the Admin API:
//! WSO2's blocking conditions (`BlockingCondition`, `BlockingConditionList`,
//! `BlockingConditionStatus`). Values are validated by `portico-throttle` (400s name the field);
//! an `API` condition must name an existing API by its context and version, and an
//! `APPLICATION` one an existing application as `owner:appName`, as WSO2 checks them.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portico_apis::InputError;
use portico_apis::input::{coerce_bool, coerce_string, get, object};
use portico_store::{ApiFilter, DenyPolicyRow};
use portico_throttle::deny::api_condition_value;
use portico_throttle::{DenyCondition, DenyType};
use serde_json::{Value, json};

use super::ADMIN_BASE;
use crate::auth::Auth;
use crate::common::body::{created, json_body};
use crate::error::{ApiError, field_error, input_error};
use crate::state::RestState;

/// Scopes of reading deny policies (admin-api.yaml).
const VIEW_SCOPES: &[&str] = &["apim:admin", "apim:bl_view"];
/// Scopes of adding, changing and deleting them.
const MANAGE_SCOPES: &[&str] = &["apim:admin", "apim:bl_manage"];

/// WSO2's `BlockingCondition` of a stored row.
fn condition_json(row: &DenyPolicyRow) -> Value {
    let value = DenyCondition::from_stored(&row.condition_type, &row.condition_value)
        .map(|c| c.value_json())
        .unwrap_or_else(|_| json!(row.condition_value));
    json!({
        "conditionId": row.id,
        "conditionType": row.condition_type,
        "conditionValue": value,
        "conditionStatus": row.enabled,
    })
}

/// A deny policy, or 404.
async fn stored(state: &RestState, id: &str) -> Result<DenyPolicyRow, ApiError> {
    state
        .store
        .find_deny_policy(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Deny policy {id} not found")))
}

/// `query=conditionType:API & conditionValue:/pizzashack/1.0.0`: the wanted type and value.
fn parse_query(query: &str) -> Result<(Option<String>, Option<String>), ApiError> {
    let (mut kind, mut value) = (None, None);
    for term in query.split('&').map(str::trim).filter(|t| !t.is_empty()) {
        match term.split_once(':') {
            Some(("conditionType", v)) => kind = Some(v.trim().to_owned()),
            Some(("conditionValue", v)) => value = Some(v.trim().to_owned()),
            _ => {
                return Err(input_error(InputError::new(
                    "query",
                    format!("\"{term}\" is not conditionType:<type> or conditionValue:<value>"),
                )));
            }
        }
    }
    Ok((kind, value))
}

/// Whether a stored condition's value is `wanted`: its text, or one of its addresses.
fn value_matches(row: &DenyPolicyRow, wanted: &str) -> bool {
    if row.condition_value == wanted {
        return true;
    }
    match DenyCondition::from_stored(&row.condition_type, &row.condition_value) {
        Ok(DenyCondition::Ip { ip, .. }) => ip.to_string() == wanted,
        Ok(DenyCondition::IpRange { start, end, .. }) => start.to_string() == wanted || end.to_string() == wanted,
        _ => false,
    }
}

/// `GET /throttling/deny-policies[?query=conditionType:API & conditionValue:...]`.
pub async fn list(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(VIEW_SCOPES)?;
    let (kind, value) = parse_query(params.get("query").map(String::as_str).unwrap_or_default())?;
    let list: Vec<Value> = state
        .store
        .list_deny_policies()
        .await?
        .iter()
        .filter(|row| kind.as_ref().is_none_or(|k| *k == row.condition_type))
        .filter(|row| value.as_ref().is_none_or(|v| value_matches(row, v)))
        .map(condition_json)
        .collect();
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// An `API` condition's API, canonical (as the API's own context and version spell it), or a
/// 400 when no API has that context and version.
async fn existing_api(state: &RestState, context: &str) -> Result<String, ApiError> {
    let (rows, _) = state.store.list_apis(&ApiFilter::default(), i64::MAX, 0).await?;
    rows.iter()
        .map(|row| api_condition_value(&row.context, &row.version))
        .find(|value| value.eq_ignore_ascii_case(context))
        .ok_or_else(|| {
            input_error(InputError::new(
                "conditionValue",
                format!("no API has the context and version {context}"),
            ))
        })
}

/// Checks that an `APPLICATION` condition's application exists.
async fn check_application(state: &RestState, owner: &str, name: &str) -> Result<(), ApiError> {
    let (apps, _) = state.store.list_applications(owner, Some(name), i64::MAX, 0).await?;
    if apps.iter().any(|app| app.name == name) {
        Ok(())
    } else {
        Err(input_error(InputError::new(
            "conditionValue",
            format!("{owner} has no application named {name}"),
        )))
    }
}

/// `POST /throttling/deny-policies`: 201 with the condition; `conditionStatus` defaults to true
/// (enforced). 400 naming the field at fault, 409 for a condition that exists.
pub async fn add(
    auth: Auth,
    State(state): State<RestState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    let body = json_body(&headers, &body)?;
    let obj = object(&body, "body").map_err(input_error)?;
    let kind = coerce_string(get(obj, "conditionType"), "conditionType").map_err(input_error)?;
    let kind = DenyType::from_field(kind.as_deref()).map_err(|e| field_error(e.field(), &e))?;
    let mut condition =
        DenyCondition::from_json(kind, get(obj, "conditionValue")).map_err(|e| field_error(e.field(), &e))?;
    let enabled = coerce_bool(get(obj, "conditionStatus"), "conditionStatus")
        .map_err(input_error)?
        .unwrap_or(true);
    match &mut condition {
        DenyCondition::Api { context } => *context = existing_api(&state, context).await?,
        DenyCondition::Application { owner, name } => check_application(&state, owner, name).await?,
        _ => {}
    }
    let row = state
        .store
        .create_deny_policy(kind.as_str(), &condition.stored_value(), enabled)
        .await?;
    Ok(created(
        &format!("{ADMIN_BASE}/throttling/deny-policy/{}", row.id),
        condition_json(&row),
    ))
}

/// `GET /throttling/deny-policy/{conditionId}`.
pub async fn get_one(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(VIEW_SCOPES)?;
    Ok(Json(condition_json(&stored(&state, &id).await?)))
}

/// `PATCH /throttling/deny-policy/{conditionId}` with `{"conditionStatus": bool}`: turns the
/// condition on or off.
pub async fn patch(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    stored(&state, &id).await?;
    let body = json_body(&headers, &body)?;
    let obj = object(&body, "body").map_err(input_error)?;
    let enabled = coerce_bool(get(obj, "conditionStatus"), "conditionStatus")
        .map_err(input_error)?
        .ok_or_else(|| input_error(InputError::new("conditionStatus", "is required")))?;
    let row = state.store.set_deny_policy_enabled(&id, enabled).await?;
    Ok(Json(condition_json(&row)))
}

/// `DELETE /throttling/deny-policy/{conditionId}`.
pub async fn delete(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    state.store.delete_deny_policy(&id).await?;
    Ok(StatusCode::OK)
}
