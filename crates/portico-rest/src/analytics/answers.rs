//! The JSON answers: `requests` (counts per bucket), `latency` (percentiles per bucket),
//! `errors` (by code) and `top` (APIs, applications or nodes by count).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query as QueryParams, State};
use portico_analytics::event::error_type;
use portico_analytics::{Counts, Percentiles, Query, RELATIVE_ERROR, TopBy, Window};
use serde_json::{Value, json};

use super::{params, scope};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::RestState;

/// The checked query of a request: parameters (beyond the common ones, `extra`), then scope.
pub(super) async fn query(
    state: &RestState,
    auth: &Auth,
    params: &HashMap<String, String>,
    extra: &[&str],
) -> Result<Query, ApiError> {
    params::known_only(params, extra)?;
    let window = params::window(params)?;
    let filters = params::filters(params)?;
    let scope = scope::of(state, &auth.0).await?;
    Ok(Query { window, filters, scope })
}

fn analytics_error(e: portico_analytics::AnalyticsError) -> ApiError {
    match e {
        portico_analytics::AnalyticsError::Store(e) => e.into(),
    }
}

pub(super) fn counts_json(c: &Counts) -> Value {
    json!({
        "count": c.count,
        "success": c.classes[0],
        "redirects": c.classes[1],
        "clientErrors": c.classes[2],
        "serverErrors": c.classes[3],
        "throttled": c.throttled,
    })
}

fn percentiles_json(p: &Percentiles) -> Value {
    json!({"count": p.count, "p50": p.p50, "p95": p.p95, "p99": p.p99})
}

fn window_json(w: &Window) -> Value {
    json!({"from": w.from, "to": w.to, "granularity": w.granularity.as_str()})
}

/// Counts per bucket.
pub(super) async fn series(state: &RestState, q: &Query) -> Result<(Vec<(i64, Counts)>, Counts), ApiError> {
    q.series(&state.store).await.map_err(analytics_error)
}

pub(super) async fn latency_of(
    state: &RestState,
    q: &Query,
) -> Result<(Vec<(i64, Percentiles)>, Percentiles), ApiError> {
    q.latency(&state.store).await.map_err(analytics_error)
}

pub(super) async fn errors_of(state: &RestState, q: &Query) -> Result<Vec<(String, u64)>, ApiError> {
    let codes = q.errors(&state.store).await.map_err(analytics_error)?;
    let mut list: Vec<(String, u64)> = codes.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(list)
}

pub(super) async fn top_of(
    state: &RestState,
    q: &Query,
    by: TopBy,
    limit: usize,
) -> Result<Vec<portico_analytics::TopEntry>, ApiError> {
    q.top(&state.store, by, limit).await.map_err(analytics_error)
}

/// `GET /requests`.
pub async fn requests(
    auth: Auth,
    State(state): State<RestState>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let q = query(&state, &auth, &params, &[]).await?;
    let (points, total) = series(&state, &q).await?;
    let list: Vec<Value> = points
        .iter()
        .map(|(t, c)| {
            let mut v = counts_json(c);
            v["timestamp"] = json!(t);
            v
        })
        .collect();
    Ok(Json(json!({
        "window": window_json(&q.window),
        "statusClass": q.filters.status_class.map(|c| c.as_str()),
        "total": counts_json(&total),
        "count": list.len(),
        "list": list,
    })))
}

/// `GET /latency`: p50, p95 and p99 in milliseconds, within the sketch's relative error.
pub async fn latency(
    auth: Auth,
    State(state): State<RestState>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let q = query(&state, &auth, &params, &[]).await?;
    let (points, total) = latency_of(&state, &q).await?;
    let list: Vec<Value> = points
        .iter()
        .map(|(t, p)| {
            let mut v = percentiles_json(p);
            v["timestamp"] = json!(t);
            v
        })
        .collect();
    Ok(Json(json!({
        "window": window_json(&q.window),
        "unit": "ms",
        "relativeError": RELATIVE_ERROR,
        "total": percentiles_json(&total),
        "count": list.len(),
        "list": list,
    })))
}

/// `GET /errors`: WSO2's error codes (and error statuses of backends) with their counts.
pub async fn errors(
    auth: Auth,
    State(state): State<RestState>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let q = query(&state, &auth, &params, &[]).await?;
    let list = errors_of(&state, &q).await?;
    let total: u64 = list.iter().map(|(_, n)| n).sum();
    let list: Vec<Value> = list
        .iter()
        .map(|(code, count)| {
            let kind = if code.len() == 3 {
                "TARGET_RESPONSE"
            } else {
                error_type(code)
            };
            json!({"code": code, "errorType": kind, "count": count})
        })
        .collect();
    Ok(Json(
        json!({"window": window_json(&q.window), "total": total, "count": list.len(), "list": list}),
    ))
}

/// `GET /top?by=api|application|node&limit=10`.
pub async fn top(
    auth: Auth,
    State(state): State<RestState>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let q = query(&state, &auth, &params, params::TOP).await?;
    let (by, limit) = params::top(&params)?;
    let entries = top_of(&state, &q, by, limit).await?;
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = counts_json(&e.counts);
            v["id"] = json!(e.id);
            v["name"] = json!(e.label);
            v
        })
        .collect();
    Ok(Json(json!({
        "window": window_json(&q.window),
        "by": match by { TopBy::Api => "api", TopBy::Application => "application", TopBy::Node => "node" },
        "count": list.len(),
        "list": list,
    })))
}
