//! Publisher REST API v4 (`/api/am/publisher/v4`): APIs, OpenAPI import, lifecycle, revisions,
//! deployments, environments, throttling policies and subscriptions, with WSO2's paths, field
//! names, status codes and scopes (publisher-api.yaml). The API domain lives in `portico-apis`;
//! this module turns HTTP into calls on it and on the store.

pub(crate) mod apis;
pub(crate) mod artifacts;
mod import;
mod lifecycle;
pub(crate) mod policies;
mod products;
mod revisions;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use portico_apis::{Api, InputError, Product};
use portico_store::{API_TYPE_PRODUCT, ApiRow};
use serde_json::Value;

use crate::error::ErrorListItem;
use crate::{ApiError, RestState};

pub fn routes() -> Router<RestState> {
    Router::new()
        .route("/apis", get(apis::list).post(apis::create))
        .route("/apis/validate-openapi", post(import::validate_openapi))
        .route("/apis/import-openapi", post(import::import_openapi))
        .route("/apis/change-lifecycle", post(lifecycle::change))
        .route(
            "/apis/{api_id}",
            get(apis::get_one).put(apis::update).delete(apis::delete),
        )
        .route(
            "/apis/{api_id}/swagger",
            get(apis::get_swagger).put(import::put_swagger),
        )
        .route("/apis/{api_id}/lifecycle-history", get(lifecycle::history::<false>))
        .route("/apis/{api_id}/lifecycle-state", get(lifecycle::state::<false>))
        .route(
            "/apis/{api_id}/revisions",
            get(revisions::list::<false>).post(revisions::create::<false>),
        )
        .route(
            "/apis/{api_id}/revisions/{revision_id}",
            get(revisions::get_one::<false>).delete(revisions::delete::<false>),
        )
        .route("/apis/{api_id}/deployments", get(revisions::deployments::<false>))
        .route("/apis/{api_id}/deploy-revision", post(revisions::deploy::<false>))
        .route("/apis/{api_id}/undeploy-revision", post(revisions::undeploy::<false>))
        .route("/apis/{api_id}/restore-revision", post(revisions::restore::<false>))
        .route("/api-products", get(products::list).post(products::create))
        .route("/api-products/change-lifecycle", post(products::change_lifecycle))
        .route(
            "/api-products/{api_product_id}",
            get(products::get_one).put(products::update).delete(products::delete),
        )
        .route(
            "/api-products/{api_product_id}/revisions",
            get(revisions::list::<true>).post(revisions::create::<true>),
        )
        .route(
            "/api-products/{api_product_id}/revisions/{revision_id}",
            get(revisions::get_one::<true>).delete(revisions::delete::<true>),
        )
        .route(
            "/api-products/{api_product_id}/deployments",
            get(revisions::deployments::<true>),
        )
        .route(
            "/api-products/{api_product_id}/deploy-revision",
            post(revisions::deploy::<true>),
        )
        .route(
            "/api-products/{api_product_id}/undeploy-revision",
            post(revisions::undeploy::<true>),
        )
        .route(
            "/api-products/{api_product_id}/restore-revision",
            post(revisions::restore::<true>),
        )
        .route(
            "/api-products/{api_product_id}/lifecycle-history",
            get(lifecycle::history::<true>),
        )
        .route(
            "/api-products/{api_product_id}/lifecycle-state",
            get(lifecycle::state::<true>),
        )
        .route("/environments", get(policies::environments))
        .route(
            "/throttling-policies/{policy_level}",
            get(policies::throttling_policies),
        )
        .route("/subscriptions", get(policies::subscriptions))
        .route("/subscriptions/block-subscription", post(policies::block_subscription))
        .route(
            "/subscriptions/unblock-subscription",
            post(policies::unblock_subscription),
        )
}

/// A 400 that names the field at fault, in the body's `error` list too.
pub(crate) fn input_error(e: InputError) -> ApiError {
    let mut error = ApiError::bad_request(format!("Invalid request: {e}"));
    error.errors.push(ErrorListItem {
        code: "400".into(),
        message: e.field.clone(),
        description: Some(e.message.clone()),
    });
    error
}

/// Parses a JSON request body; malformed JSON and a non-JSON content type are refused.
pub(crate) fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    if let Some(kind) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
        && !kind.trim_start().to_ascii_lowercase().starts_with("application/json")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            format!("Content-Type `{kind}` is not supported here; send application/json"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))
}

/// The API stored in `row`, with the row's lifecycle status (the authoritative one). An API
/// Product's row gives the product seen as an API (type `APIPRODUCT`).
pub(crate) fn api_of(row: &ApiRow) -> Result<Api, ApiError> {
    if row.api_type == API_TYPE_PRODUCT {
        return product_of(row).map(|p| p.as_api());
    }
    let mut api: Api = serde_json::from_str(&row.document).map_err(|e| {
        tracing::error!(api = %row.id, error = %e, "stored API document does not parse");
        ApiError::internal(format!(
            "The stored API {} is unreadable; the server log has the details",
            row.id
        ))
    })?;
    if let Some(status) = portico_apis::LifecycleStatus::parse(&row.lifecycle_status) {
        api.life_cycle_status = status;
    }
    Ok(api)
}

pub(crate) fn to_document(api: &Api) -> Result<String, ApiError> {
    serde_json::to_string(api).map_err(|e| ApiError::internal(format!("cannot serialise the API: {e}")))
}

/// The API Product stored in `row`, with the row's state (the authoritative one).
pub(crate) fn product_of(row: &ApiRow) -> Result<Product, ApiError> {
    let mut product: Product = serde_json::from_str(&row.document).map_err(|e| {
        tracing::error!(product = %row.id, error = %e, "stored API Product document does not parse");
        ApiError::internal(format!(
            "The stored API Product {} is unreadable; the server log has the details",
            row.id
        ))
    })?;
    if let Some(status) = portico_apis::LifecycleStatus::parse(&row.lifecycle_status) {
        product.state = status;
    }
    Ok(product)
}

/// Loads an API (`product` false) or an API Product (`product` true), or answers 404.
pub(crate) async fn load_kind(state: &RestState, id: &str, product: bool) -> Result<ApiRow, ApiError> {
    match state.store.find_api(id).await? {
        Some(row) if (row.api_type == API_TYPE_PRODUCT) == product => Ok(row),
        _ if product => Err(ApiError::not_found(format!("API Product with id {id} not found"))),
        _ => Err(ApiError::not_found(format!("API with id {id} not found"))),
    }
}

/// Loads an API or answers 404 (API Products are not APIs here).
pub(crate) async fn load_api(state: &RestState, api_id: &str) -> Result<ApiRow, ApiError> {
    load_kind(state, api_id, false).await
}

/// The ETag of an API row: its row version.
pub(crate) fn etag(row: &ApiRow) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", row.row_version)).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Checks `If-Match` against the row: `Err(412)` when given and not matching.
pub(crate) fn check_if_match(headers: &HeaderMap, row: &ApiRow) -> Result<bool, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(false);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let current = format!("\"{}\"", row.row_version);
    let matches = text == "*"
        || text
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == current || t.trim_matches('"') == row.row_version.to_string());
    if matches {
        Ok(true)
    } else {
        Err(precondition_failed(row))
    }
}

pub(crate) fn precondition_failed(row: &ApiRow) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "Precondition Failed",
        format!(
            "The API {} was changed by someone else (its ETag is now \"{}\"); fetch it again and retry",
            row.id, row.row_version
        ),
    )
}

/// Epoch milliseconds as RFC 3339 (`2026-11-26T15:00:00.123Z`).
pub(crate) fn rfc3339(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// `limit` and `offset` query parameters (WSO2's defaults: 25 and 0).
pub(crate) fn paging(limit: Option<&str>, offset: Option<&str>) -> Result<(i64, i64), ApiError> {
    let parse =
        |name: &str, value: Option<&str>, default: i64| -> Result<i64, ApiError> {
            match value {
                None | Some("") => Ok(default),
                Some(v) => v.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::bad_request(format!("`{name}` must be a non-negative integer, not \"{v}\""))
                }),
            }
        };
    let limit = parse("limit", limit, 25)?.min(1000);
    Ok((limit, parse("offset", offset, 0)?))
}

/// WSO2's `Pagination` object.
pub(crate) fn pagination(path: &str, limit: i64, offset: i64, total: i64, extra: &str) -> Value {
    let link = |o: i64| format!("{path}?limit={limit}&offset={o}{extra}");
    serde_json::json!({
        "offset": offset,
        "limit": limit,
        "total": total,
        "next": if offset + limit < total { link(offset + limit) } else { String::new() },
        "previous": if offset > 0 { link((offset - limit).max(0)) } else { String::new() },
    })
}

/// Checks that every throttling policy an input names exists at its level.
pub(crate) async fn check_policies(state: &RestState, input: &portico_apis::ApiInput) -> Result<(), ApiError> {
    let (subscription, api_level) = input.policy_references();
    for (level, refs) in [("subscription", subscription), ("api", api_level)] {
        if refs.is_empty() {
            continue;
        }
        let known: Vec<String> = state
            .store
            .list_throttling_policies(level)
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect();
        for (field, name) in refs {
            if !known.iter().any(|k| k == &name) {
                return Err(input_error(InputError::new(
                    field,
                    format!(
                        "unknown {level} throttling policy \"{name}\"; known: {}",
                        known.join(", ")
                    ),
                )));
            }
        }
    }
    Ok(())
}
