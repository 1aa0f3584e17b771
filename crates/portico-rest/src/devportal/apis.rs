//! `GET /apis`, `GET /apis/{apiId}`, `GET /apis/{apiId}/swagger` (published APIs, anonymous
//! callers see the public ones) and `GET /throttling-policies/{policyLevel}`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use portico_apis::{Api, LifecycleStatus};
use portico_keymanager::Principal;
use portico_store::ApiRow;
use serde_json::{Value, json};

use crate::auth::MaybeAuth;
use crate::common::api_query::parse_query;
use crate::common::api_rows::api_of;
use crate::common::definition::definition_response;
use crate::common::paging::{Page, query_suffix, total_of};
use crate::common::policies::policy_list;
use crate::error::ApiError;
use crate::state::RestState;

/// Lifecycle states the DevPortal lists (WSO2 lists deprecated APIs too).
fn listed(status: LifecycleStatus) -> bool {
    matches!(
        status,
        LifecycleStatus::Published | LifecycleStatus::Prototyped | LifecycleStatus::Deprecated
    )
}

/// Whether `caller` may see the API: PUBLIC for everyone, otherwise only to holders of one of
/// the visible roles.
pub(crate) fn visible_to(api: &Api, caller: Option<&Principal>) -> bool {
    if api.visibility.eq_ignore_ascii_case("PUBLIC") {
        return true;
    }
    let Some(caller) = caller else {
        return false;
    };
    api.visible_roles.iter().any(|role| {
        caller
            .roles
            .iter()
            .any(|r| role.eq_ignore_ascii_case(r.as_str()) || role.eq_ignore_ascii_case(r.wso2_name()))
    })
}

/// A published (or prototyped, deprecated) API the caller may see, or 404.
pub(crate) async fn visible_api(
    state: &RestState,
    caller: Option<&Principal>,
    api_id: &str,
) -> Result<(ApiRow, Api), ApiError> {
    let not_found = || ApiError::not_found(format!("API with id {api_id} not found"));
    let row = state.store.find_api(api_id).await?.ok_or_else(not_found)?;
    let api = api_of(&row)?;
    if listed(api.life_cycle_status) && visible_to(&api, caller) {
        Ok((row, api))
    } else {
        Err(not_found())
    }
}

/// `GET /apis`.
pub async fn list(
    MaybeAuth(caller): MaybeAuth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let page = Page::of(&params)?;
    let query = params.get("query").map(String::as_str).unwrap_or("");
    // WSO2's DevPortal search also takes `tag:<tag>` (the store filters the other keys).
    let (tags, others): (Vec<&str>, Vec<&str>) = query.split_whitespace().partition(|t| t.starts_with("tag:"));
    let filter = parse_query(&others.join(" "))?;
    let (rows, _) = state.store.list_apis(&filter, 100_000, 0).await?;
    let mut visible = Vec::new();
    for row in &rows {
        let api = api_of(row)?;
        let tagged = tags
            .iter()
            .all(|t| api.tags.iter().any(|own| own.eq_ignore_ascii_case(&t["tag:".len()..])));
        if tagged && listed(api.life_cycle_status) && visible_to(&api, caller.as_ref()) {
            visible.push(api);
        }
    }
    let list: Vec<Value> = page
        .of_slice(&visible)
        .map(|api| {
            let mut info = api.info();
            info["throttlingPolicies"] = json!(api.policies);
            info["tags"] = json!(api.tags);
            info
        })
        .collect();
    Ok(page.list_body(list, total_of(&visible), "/apis", &query_suffix(query)))
}

/// The DevPortal's view of an API: the API without its backend endpoints, with its tiers.
pub(crate) fn devportal_api_json(api: &Api) -> Value {
    let mut value = serde_json::to_value(api).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut value {
        m.remove("endpointConfig");
        m.insert(
            "tiers".into(),
            Value::Array(
                api.policies
                    .iter()
                    .map(|p| json!({ "tierName": p, "tierPlan": "FREE", "monetizationAttributes": null }))
                    .collect(),
            ),
        );
        m.insert("throttlingPolicies".into(), json!(api.policies));
    }
    value
}

/// `GET /apis/{apiId}`.
pub async fn get_one(
    MaybeAuth(caller): MaybeAuth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, api) = visible_api(&state, caller.as_ref(), &api_id).await?;
    Ok(Json(devportal_api_json(&api)))
}

/// `GET /apis/{apiId}/swagger`.
pub async fn swagger(
    MaybeAuth(caller): MaybeAuth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
) -> Result<Response, ApiError> {
    let (row, _) = visible_api(&state, caller.as_ref(), &api_id).await?;
    definition_response(&row)
}

/// `GET /throttling-policies/{policyLevel}`: `application` or `subscription`.
pub async fn throttling_policies(
    State(state): State<RestState>,
    Path(level): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let level = match level.as_str() {
        "application" => "application",
        "subscription" => "subscription",
        other => {
            return Err(ApiError::bad_request(format!(
                "policyLevel: unknown value \"{other}\"; expected application or subscription"
            )));
        }
    };
    policy_list(&state.store, level, &params).await
}
