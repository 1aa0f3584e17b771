//! `POST /apis/change-lifecycle`, `GET /apis/{apiId}/lifecycle-history` and `-state`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use portico_apis::{LifecycleAction, LifecycleStatus};
use portico_store::LifecycleChange;
use serde_json::{Value, json};

use super::{api_of, check_if_match, load_api, load_kind, precondition_failed, rfc3339, to_document};
use crate::{ApiError, Auth, RestState};

/// The id (under `id_param`) and the action of a `change-lifecycle` request, or 400 naming what
/// is missing or unknown.
pub(crate) fn lifecycle_query<'p>(
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

/// `POST /apis/change-lifecycle?apiId=&action=`: 400 for an unknown action, 409 for one the
/// current state does not allow.
pub async fn change(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let user = auth
        .require_any(&["apim:api_publish", "apim:api_manage", "apim:api_import_export"])?
        .username
        .clone();
    let (api_id, action) = lifecycle_query(&params, "apiId")?;
    let mut row = load_api(&state, api_id).await?;
    let conditional = check_if_match(&headers, &row)?;
    for _ in 0..20 {
        let mut api = api_of(&row)?;
        let from = api.life_cycle_status;
        let Some(to) = from.apply(action) else {
            return Err(ApiError::conflict(format!(
                "The action \"{}\" is not allowed for API {api_id} in state {}; allowed: {}",
                action.name(),
                from.wire(),
                from.transitions()
                    .iter()
                    .map(|(a, _)| a.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        api.life_cycle_status = to;
        api.last_updated_time = super::apis::now_millis().to_string();
        let document = to_document(&api)?;
        let change = LifecycleChange {
            from: from.wire(),
            to: to.wire(),
            user: &user,
            document: &document,
        };
        if state
            .store
            .change_api_lifecycle(api_id, row.row_version, &change)
            .await?
            .is_some()
        {
            super::artifacts::refresh_status(&state, api_id, to).await;
            return Ok(Json(json!({
                "workflowStatus": "APPROVED",
                "jsonPayload": null,
                "lifecycleState": lifecycle_state(to),
            })));
        }
        row = load_api(&state, api_id).await?;
        if conditional {
            return Err(precondition_failed(&row));
        }
    }
    Err(ApiError::conflict(format!(
        "API {api_id} is being changed by many requests at once; retry"
    )))
}

/// `GET /apis/{apiId}/lifecycle-history`.
pub async fn history<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&["apim:api_view", "apim:api_publish", "apim:api_manage"])?;
    load_kind(&state, &api_id, PRODUCT).await?;
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
    let row = load_kind(&state, &api_id, PRODUCT).await?;
    Ok(Json(lifecycle_state(api_of(&row)?.life_cycle_status)))
}
