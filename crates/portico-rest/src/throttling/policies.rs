//! `/throttling/policies/{advanced,application,subscription}[/{policyId}]`,
//! `/throttling/policies/search` and `/throttling/policies/custom` of the Admin API: WSO2's
//! fields, status codes and list bodies (admin-api.yaml). Two deviations: deleting a policy in
//! use is 409 naming who uses it (WSO2 documents only 200 and 404), and custom (Siddhi) rules
//! are refused as not supported yet.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portico_apis::InputError;
use portico_store::{StoreError, ThrottlingPolicyRow, level_column};
use portico_throttle::PolicyLevel;
use portico_throttle::policy::custom_policy_unsupported;
use serde_json::{Value, json};

use super::ADMIN_BASE;
use super::policy_json::{policy_draft, policy_json};
use super::usage::apis_using;
use crate::auth::Auth;
use crate::common::body::{created, json_body};
use crate::error::{ApiError, field_error, input_error};
use crate::state::RestState;

/// Scopes of reading policies (admin-api.yaml).
const VIEW_SCOPES: &[&str] = &["apim:admin", "apim:tier_view", "apim:admin_tier_view"];
/// Scopes of adding and changing them.
const MANAGE_SCOPES: &[&str] = &["apim:admin", "apim:tier_manage", "apim:admin_tier_manage"];
/// Scopes of deleting one, and of searching.
const DELETE_SCOPES: &[&str] = &[
    "apim:admin",
    "apim:tier_manage",
    "apim:admin_tier_manage",
    "apim:policies_import_export",
];
const SEARCH_SCOPES: &[&str] = &[
    "apim:admin",
    "apim:tier_view",
    "apim:admin_tier_view",
    "apim:policies_import_export",
];

/// The level of a `/throttling/policies/{level}` path: WSO2's three names only (404 otherwise).
fn path_level(segment: &str) -> Result<PolicyLevel, ApiError> {
    if segment == "custom" {
        return Err(ApiError::not_found(
            "Custom (Siddhi) rules are not supported yet, so there are none",
        ));
    }
    PolicyLevel::ALL
        .into_iter()
        .find(|level| level.as_str() == segment)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "No throttling policies of type `{segment}`; the types are advanced, application and subscription"
            ))
        })
}

/// The policy `id` of `level`, or 404.
async fn stored(state: &RestState, level: PolicyLevel, id: &str) -> Result<ThrottlingPolicyRow, ApiError> {
    state
        .store
        .find_throttling_policy(level, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{} policy {id} not found", level_title(level))))
}

fn level_title(level: PolicyLevel) -> &'static str {
    match level {
        PolicyLevel::Advanced => "Advanced",
        PolicyLevel::Application => "Application",
        PolicyLevel::Subscription => "Subscription",
    }
}

fn location(level: PolicyLevel, id: &str) -> String {
    format!("{ADMIN_BASE}/throttling/policies/{}/{id}", level.as_str())
}

/// `GET /throttling/policies/{level}`: WSO2's `{count, list}` (the advanced list's items are
/// `AdvancedThrottlePolicyInfo`, without conditional groups).
pub async fn list(
    auth: Auth,
    State(state): State<RestState>,
    Path(level): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(VIEW_SCOPES)?;
    let level = path_level(&level)?;
    let rows = state.store.list_throttling_policies(level_column(level)).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut item = policy_json(level, row);
            if let Some(item) = item.as_object_mut() {
                item.remove("conditionalGroups");
            }
            item
        })
        .collect();
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// `POST /throttling/policies/{level}`: 201 with the policy; 400 naming the field at fault
/// (features not supported yet included), 409 for a name the level has.
pub async fn add(
    auth: Auth,
    State(state): State<RestState>,
    Path(level): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    let level = path_level(&level)?;
    let body = json_body(&headers, &body)?;
    let policy = policy_draft(level, &body)?
        .validate()
        .map_err(|e| field_error(e.field(), &e))?;
    let row = state.store.create_throttling_policy(&policy).await?;
    Ok(created(&location(level, &row.id), policy_json(level, &row)))
}

/// `GET /throttling/policies/{level}/{policyId}`.
pub async fn get_one(
    auth: Auth,
    State(state): State<RestState>,
    Path((level, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(VIEW_SCOPES)?;
    let level = path_level(&level)?;
    Ok(Json(policy_json(level, &stored(&state, level, &id).await?)))
}

/// `PUT /throttling/policies/{level}/{policyId}`: replaces everything but the name (policies are
/// referred to by name, so a different `policyName` is refused; an absent one keeps it).
pub async fn update(
    auth: Auth,
    State(state): State<RestState>,
    Path((level, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    let level = path_level(&level)?;
    let current = stored(&state, level, &id).await?;
    let body = json_body(&headers, &body)?;
    let mut draft = policy_draft(level, &body)?;
    match &draft.policy_name {
        None => draft.policy_name = Some(current.name.clone()),
        Some(name) if *name != current.name => {
            return Err(input_error(InputError::new(
                "policyName",
                format!(
                    "cannot change from \"{}\" to \"{name}\" (APIs, applications and subscriptions name their policies)",
                    current.name
                ),
            )));
        }
        Some(_) => {}
    }
    let policy = draft.validate().map_err(|e| field_error(e.field(), &e))?;
    let row = state.store.update_throttling_policy(&id, &policy).await?;
    Ok(Json(policy_json(level, &row)))
}

/// `DELETE /throttling/policies/{level}/{policyId}`: 200; 409 naming the APIs, applications or
/// subscriptions that still use the policy.
pub async fn delete(
    auth: Auth,
    State(state): State<RestState>,
    Path((level, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(DELETE_SCOPES)?;
    let level = path_level(&level)?;
    let current = stored(&state, level, &id).await?;
    let what = format!("{} throttling policy `{}`", level.as_str(), current.name);
    let apis = apis_using(&state.store, level, &current.name).await?;
    let refusal = if apis.is_empty() {
        match state.store.delete_throttling_policy(level, &id).await {
            Ok(_) => return Ok(StatusCode::OK),
            Err(e @ StoreError::InUse(_)) => e,
            Err(e) => return Err(e.into()),
        }
    } else {
        StoreError::in_use(&what, &apis)
    };
    Err(ApiError::conflict(refusal.to_string()))
}

/// WSO2's search type of a level (`ThrottlePolicyDetails.type`).
fn search_type(level: PolicyLevel) -> &'static str {
    match level {
        PolicyLevel::Advanced => "api",
        PolicyLevel::Application => "app",
        PolicyLevel::Subscription => "sub",
    }
}

/// `query=type:<all|app|sub|api|global> [name:<policyName>]`, as WSO2 reads it: the levels to
/// search and the name to find.
fn parse_search(query: Option<&str>) -> Result<(Vec<PolicyLevel>, Option<String>), ApiError> {
    let bad = |message: String| input_error(InputError::new("query", message));
    let Some(query) = query.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok((PolicyLevel::ALL.to_vec(), None));
    };
    let (mut kind, mut name) = (None, None);
    for term in query.split_whitespace() {
        match term.split_once(':') {
            Some(("type", value)) => kind = Some(value.to_owned()),
            Some(("name", value)) => name = Some(value.to_owned()),
            _ => return Err(bad(format!("\"{term}\" is not type:<type> or name:<policyName>"))),
        }
    }
    let kind = kind.ok_or_else(|| bad(format!("\"{query}\" has no type:<all|app|sub|api|global>")))?;
    let levels = match kind.as_str() {
        "all" => PolicyLevel::ALL.to_vec(),
        // Custom (global) policies are not supported yet, so there are none.
        "global" => Vec::new(),
        other => PolicyLevel::ALL
            .into_iter()
            .filter(|level| search_type(*level) == other || level.as_str() == other)
            .collect::<Vec<_>>(),
    };
    if levels.is_empty() && kind != "global" {
        return Err(bad(format!(
            "unknown type \"{kind}\"; expected all, app, sub, api or global"
        )));
    }
    Ok((levels, name))
}

/// `GET /throttling/policies/search?query=type:sub`: WSO2's `ThrottlePolicyDetailsList`. A name
/// that a specific type has no policy of is 404, as in WSO2.
pub async fn search(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(SEARCH_SCOPES)?;
    let (levels, name) = parse_search(params.get("query").map(String::as_str))?;
    let mut list = Vec::new();
    for level in &levels {
        for row in state.store.list_throttling_policies(level_column(*level)).await? {
            if name.as_ref().is_some_and(|n| *n != row.name) {
                continue;
            }
            list.push(json!({
                "uuid": row.id,
                "policyName": row.name,
                "displayName": row.display_name,
                "description": row.description,
                "isDeployed": true,
                "type": search_type(*level),
            }));
        }
    }
    if let Some(name) = name
        && list.is_empty()
        && levels.len() == 1
    {
        return Err(ApiError::not_found(format!(
            "Couldn't retrieve an existing throttling policy with Name: {name} and type: {}",
            search_type(levels[0])
        )));
    }
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// `GET /throttling/policies/custom`: none, as custom (Siddhi) rules are not supported yet.
pub async fn list_custom(auth: Auth) -> Result<Json<Value>, ApiError> {
    auth.require_any(VIEW_SCOPES)?;
    Ok(Json(json!({ "count": 0, "list": [] })))
}

/// `POST /throttling/policies/custom`: 400, custom (Siddhi) rules are not supported yet.
pub async fn add_custom(auth: Auth) -> Result<Response, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    let e = custom_policy_unsupported();
    Err(field_error(e.field(), &e))
}
