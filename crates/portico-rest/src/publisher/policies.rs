//! `GET /environments`, `GET /throttling-policies/{policyLevel}` and `GET /subscriptions`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::common::api_rows::load_api;
use crate::common::environments::environments_json;
use crate::common::paging::Page;
use crate::common::policies::policy_list;
use crate::error::ApiError;
use crate::state::RestState;

/// `GET /environments`: the same environments as the Admin API's.
pub async fn environments(auth: Auth, State(state): State<RestState>) -> Result<Json<Value>, ApiError> {
    auth.require_any(&[
        "apim:api_view",
        "apim:api_create",
        "apim:api_publish",
        "apim:api_manage",
        "apim:environment_read",
    ])?;
    let list = environments_json(&state.config);
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// `GET /throttling-policies/{policyLevel}`: `subscription` (also the spec's misspelt
/// `subcription`) or `api`.
pub async fn throttling_policies(
    auth: Auth,
    State(state): State<RestState>,
    Path(level): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&[
        "apim:api_view",
        "apim:mcp_server_view",
        "apim:tier_view",
        "apim:tier_manage",
    ])?;
    let level = match level.as_str() {
        "subscription" | "subcription" => "subscription",
        "api" => "api",
        other => {
            return Err(ApiError::bad_request(format!(
                "policyLevel: unknown value \"{other}\"; expected subscription or api"
            )));
        }
    };
    policy_list(&state.store, level, &params).await
}

/// `GET /subscriptions[?apiId=]`.
pub async fn subscriptions(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&[
        "apim:api_view",
        "apim:mcp_server_view",
        "apim:subscription_view",
        "apim:subscription_manage",
    ])?;
    let page = Page::of(&params)?;
    let api_id = params.get("apiId").map(String::as_str).filter(|v| !v.is_empty());
    if let Some(api_id) = api_id {
        load_api(&state.store, api_id).await?;
    }
    let (rows, total) = state.store.list_subscriptions(api_id, page.limit, page.offset).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|s| {
            json!({
                "subscriptionId": s.id,
                "applicationInfo": {
                    "applicationId": s.application_id,
                    "name": s.application_name,
                    "subscriber": s.application_owner,
                    "description": s.application_description,
                    "status": s.application_status,
                    "throttlingPolicy": s.application_policy,
                },
                "apiId": s.api_id,
                "throttlingPolicy": s.throttling_policy,
                "subscriptionStatus": s.status,
            })
        })
        .collect();
    let extra = api_id.map(|id| format!("&apiId={id}")).unwrap_or_default();
    Ok(page.list_body(list, total, "/subscriptions", &extra))
}

fn subscription_id_param(params: &HashMap<String, String>) -> Result<String, ApiError> {
    params
        .get("subscriptionId")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("subscriptionId: the query parameter is required"))
}

async fn set_subscription_status(state: &RestState, id: &str, status: &str) -> Result<(), ApiError> {
    if state.store.find_subscription(id).await?.is_none() {
        return Err(ApiError::not_found(format!("Subscription with id {id} not found")));
    }
    state.store.set_subscription_status(id, status).await?;
    Ok(())
}

/// `POST /subscriptions/block-subscription?subscriptionId=&blockState=BLOCKED|PROD_ONLY_BLOCKED`.
pub async fn block_subscription(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<axum::http::StatusCode, ApiError> {
    auth.require_any(&["apim:subscription_block", "apim:subscription_manage"])?;
    let id = subscription_id_param(&params)?;
    let block_state = match params.get("blockState").map(|s| s.trim()) {
        Some("BLOCKED") => "BLOCKED",
        Some("PROD_ONLY_BLOCKED") => "PROD_ONLY_BLOCKED",
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "blockState: unknown value \"{other}\"; expected BLOCKED or PROD_ONLY_BLOCKED"
            )));
        }
        None => return Err(ApiError::bad_request("blockState: the query parameter is required")),
    };
    set_subscription_status(&state, &id, block_state).await?;
    Ok(axum::http::StatusCode::OK)
}

/// `POST /subscriptions/unblock-subscription?subscriptionId=`.
pub async fn unblock_subscription(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<axum::http::StatusCode, ApiError> {
    auth.require_any(&["apim:subscription_block", "apim:subscription_manage"])?;
    let id = subscription_id_param(&params)?;
    set_subscription_status(&state, &id, "UNBLOCKED").await?;
    Ok(axum::http::StatusCode::OK)
}
