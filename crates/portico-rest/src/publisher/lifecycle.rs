//! Lifecycle of APIs and API Products: `POST /apis/change-lifecycle` and
//! `POST /api-products/change-lifecycle`, and their `lifecycle-history` and `lifecycle-state`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use portico_apis::{LifecycleAction, LifecycleStatus};
use portico_store::{ApiRow, LifecycleChange, now_millis};
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::common::api_rows::{api_document, api_of, kind_name, load_kind, product_document, product_of};
use crate::common::row_version::OptimisticUpdate;
use crate::common::time::rfc3339;
use crate::error::ApiError;
use crate::state::RestState;

/// The id (under `id_param`) and the action of a `change-lifecycle` request, or 400 naming what
/// is missing or unknown.
fn lifecycle_query<'p>(
    params: &'p HashMap<String, String>,
    id_param: &str,
) -> Result<(&'p String, LifecycleAction), ApiError> {
    let id = params
        .get(id_param)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("The query parameter `{id_param}` is required")))?;
    let action_text = params
        .get("action")
        .ok_or_else(|| ApiError::bad_request("The query parameter `action` is required"))?;
    let action = LifecycleAction::parse(action_text).ok_or_else(|| {
        let known: Vec<&str> = LifecycleAction::ALL.iter().map(|a| a.name()).collect();
        ApiError::bad_request(format!(
            "action: unknown lifecycle action \"{action_text}\"; expected one of {}",
            known.join(", ")
        ))
    })?;
    Ok((id, action))
}

fn lifecycle_state(status: LifecycleStatus) -> Value {
    let transitions: Vec<Value> = status
        .transitions()
        .iter()
        .map(|(action, to)| json!({ "event": action.name(), "targetState": to.display() }))
        .collect();
    json!({ "state": status.display(), "checkItems": [], "availableTransitions": transitions })
}

/// The document of `row` (an API, or an API Product when `product`) moved to status `to`.
fn moved_document(row: &ApiRow, product: bool, to: LifecycleStatus) -> Result<String, ApiError> {
    let now = now_millis().to_string();
    if product {
        let mut product = product_of(row)?;
        product.state = to;
        product.last_updated_time = now;
        product_document(&product)
    } else {
        let mut api = api_of(row)?;
        api.life_cycle_status = to;
        api.last_updated_time = now;
        api_document(&api)
    }
}

/// `POST /apis/change-lifecycle?apiId=&action=` and
/// `POST /api-products/change-lifecycle?apiProductId=&action=`: 400 for an unknown action, 409
/// for one the current state does not allow.
pub async fn change<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let scopes: &[&str] = if PRODUCT {
        &["apim:api_publish", "apim:api_manage"]
    } else {
        &["apim:api_publish", "apim:api_manage", "apim:api_import_export"]
    };
    let user = auth.require_any(scopes)?.username.clone();
    let (id, action) = lifecycle_query(&params, if PRODUCT { "apiProductId" } else { "apiId" })?;
    let mut update = OptimisticUpdate::start(&headers, load_kind(&state.store, id, PRODUCT).await?)?;
    let to = loop {
        let row = update.row();
        let from = api_of(row)?.life_cycle_status;
        let Some(to) = from.apply(action) else {
            return Err(ApiError::conflict(format!(
                "The action \"{}\" is not allowed for {} {id} in state {}; allowed: {}",
                action.name(),
                kind_name(PRODUCT),
                from.wire(),
                from.transitions()
                    .iter()
                    .map(|(a, _)| a.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let document = moved_document(row, PRODUCT, to)?;
        let change = LifecycleChange {
            from: from.wire(),
            to: to.wire(),
            user: &user,
            document: &document,
        };
        if state
            .store
            .change_api_lifecycle(id, row.row_version, &change)
            .await?
            .is_some()
        {
            break to;
        }
        update.lost_race(&state.store).await?;
    };
    state.artifacts.refresh_status(id, to).await;
    Ok(Json(json!({
        "workflowStatus": "APPROVED",
        "jsonPayload": null,
        "lifecycleState": lifecycle_state(to),
    })))
}

/// `GET /apis/{apiId}/lifecycle-history`.
pub async fn history<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&["apim:api_view", "apim:api_publish", "apim:api_manage"])?;
    load_kind(&state.store, &api_id, PRODUCT).await?;
    let display = |s: &str| {
        LifecycleStatus::parse(s)
            .map(|s| s.display().to_owned())
            .unwrap_or(s.to_owned())
    };
    let list: Vec<Value> = state
        .store
        .lifecycle_history(&api_id)
        .await?
        .into_iter()
        .map(|h| {
            json!({
                "previousState": h.previous_state.as_deref().map(display),
                "postState": display(&h.post_state),
                "user": h.username,
                "updatedTime": rfc3339(h.updated_at),
            })
        })
        .collect();
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// `GET /apis/{apiId}/lifecycle-state`.
pub async fn state<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&[
        "apim:api_view",
        "apim:api_publish",
        "apim:api_create",
        "apim:api_manage",
    ])?;
    let row = load_kind(&state.store, &api_id, PRODUCT).await?;
    Ok(Json(lifecycle_state(api_of(&row)?.life_cycle_status)))
}
