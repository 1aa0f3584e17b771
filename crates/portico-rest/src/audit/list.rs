//! `GET /api/am/admin/v4/audit-log`, a Portico extension of the Admin REST API (WSO2 has no
//! equivalent): the audit log, newest first, WSO2's paged list body. Admins only. Filters:
//! `user`, `since` and `until` (milliseconds since the epoch), `limit` and `offset`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use portico_store::AuditFilter;
use serde_json::Value;

use super::entry_json;
use crate::common::paging::Page;
use crate::{ApiError, Auth, RestState};

pub async fn list(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&["apim:admin"])?;
    let page = Page::of(&params)?;
    let millis = |name: &str| -> Result<Option<i64>, ApiError> {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("`{name}` must be milliseconds since the epoch, not \"{v}\""))
                })
            })
            .transpose()
    };
    let filter = AuditFilter {
        actor: params.get("user").filter(|u| !u.is_empty()).cloned(),
        since: millis("since")?,
        until: millis("until")?,
        limit: page.limit,
        offset: page.offset,
    };
    let (rows, total) = state.store.list_audit(&filter).await?;
    let extra: String = ["user", "since", "until"]
        .iter()
        .filter_map(|name| params.get(*name).map(|v| format!("&{name}={v}")))
        .collect();
    Ok(page.list_body(
        rows.iter().map(entry_json).collect(),
        total,
        "/api/am/admin/v4/audit-log",
        &extra,
    ))
}
