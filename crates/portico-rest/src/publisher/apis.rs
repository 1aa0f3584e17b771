//! `/apis` and `/apis/{apiId}`: list, create, read, update, delete, and the API's definition.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portico_apis::{Api, ApiInput};
use portico_store::{ApiFilter, NewApiRow};
use serde_json::{Value, json};

use super::{
    api_of, check_if_match, check_policies, etag, input_error, json_body, load_api, pagination, paging,
    precondition_failed, to_document,
};
use crate::{ApiError, Auth, RestState};

const BASE: &str = "/api/am/publisher/v4";

/// Attempts of a read-modify-write before giving up under heavy contention.
const UPDATE_ATTEMPTS: usize = 20;

/// Reads `query=name:x version:y context:/c provider:p status:PUBLISHED`; a bare word is a
/// name search.
pub(crate) fn parse_query(query: &str) -> Result<ApiFilter, ApiError> {
    let mut filter = ApiFilter::default();
    for token in query.split_whitespace() {
        let (key, value) = token.split_once(':').unwrap_or(("name", token));
        let value = value.trim_matches('"').to_owned();
        match key.to_ascii_lowercase().as_str() {
            "name" => filter.name = Some(value),
            "version" => filter.version = Some(value),
            "context" => filter.context = Some(value),
            "provider" => filter.provider = Some(value),
            "status" | "lifecyclestatus" => {
                let status = portico_apis::LifecycleStatus::parse(&value)
                    .ok_or_else(|| ApiError::bad_request(format!("query: unknown lifecycle status \"{value}\"")))?;
                filter.status = Some(status.wire().to_owned());
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "query: unknown search key `{other}`; use name, version, context, provider or status"
                )));
            }
        }
    }
    Ok(filter)
}

/// `GET /apis`.
pub async fn list(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&[
        "apim:api_view",
        "apim:api_manage",
        "apim:api_import_export",
        "apim:api_list_view",
    ])?;
    let (limit, offset) = paging(
        params.get("limit").map(String::as_str),
        params.get("offset").map(String::as_str),
    )?;
    let query = params.get("query").map(String::as_str).unwrap_or("");
    let mut filter = parse_query(query)?;
    // API Products share the table; the Publisher lists them under /api-products.
    filter.api_type = Some(portico_store::API_TYPE_API.to_owned());
    let (rows, total) = state.store.list_apis(&filter, limit, offset).await?;
    let list = rows
        .iter()
        .map(|row| api_of(row).map(|api| api.info()))
        .collect::<Result<Vec<_>, _>>()?;
    let extra = if query.is_empty() {
        String::new()
    } else {
        format!("&query={}", query.replace(' ', "%20"))
    };
    Ok(Json(json!({
        "count": list.len(),
        "list": list,
        "pagination": pagination("/apis", limit, offset, total, &extra),
    })))
}

/// An API answer with its ETag.
pub(crate) fn api_response(status: StatusCode, row: &portico_store::ApiRow) -> Result<Response, ApiError> {
    let api = api_of(row)?;
    let mut response = (status, Json(api)).into_response();
    response.headers_mut().insert(header::ETAG, etag(row));
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("{BASE}/apis/{}", row.id))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Stores a new API (shared by `POST /apis` and `import-openapi`).
pub(crate) async fn create_api(
    state: &RestState,
    input: ApiInput,
    caller: &str,
    definition: Option<String>,
) -> Result<Response, ApiError> {
    check_policies(state, &input).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_millis();
    let api = Api::create(input, id, caller, now).map_err(input_error)?;
    let row = state
        .store
        .create_api(
            &NewApiRow {
                id: api.id.clone(),
                name: api.name.clone(),
                version: api.version.clone(),
                context: api.context.clone(),
                provider: api.provider.clone(),
                lifecycle_status: api.life_cycle_status.wire().to_owned(),
                document: to_document(&api)?,
                definition,
                api_type: portico_store::API_TYPE_API.to_owned(),
            },
            caller,
        )
        .await?;
    api_response(StatusCode::CREATED, &row)
}

pub(crate) fn now_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `POST /apis`.
pub async fn create(
    auth: Auth,
    State(state): State<RestState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = auth
        .require_any(&["apim:api_create", "apim:api_manage"])?
        .username
        .clone();
    let body = json_body(&headers, &body)?;
    let input = ApiInput::from_json(&body).map_err(input_error)?;
    create_api(&state, input, &caller, None).await
}

/// `GET /apis/{apiId}`.
pub async fn get_one(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth.require_any(&[
        "apim:api_view",
        "apim:api_manage",
        "apim:api_import_export",
        "apim:api_product_import_export",
    ])?;
    let row = load_api(&state, &api_id).await?;
    if let Some(tag) = headers.get(header::IF_NONE_MATCH)
        && tag == etag(&row)
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag(&row));
        return Ok(response);
    }
    api_response(StatusCode::OK, &row)
}

/// `PUT /apis/{apiId}`: a read-modify-write guarded by the row version. With `If-Match`, a
/// changed API is 412; without it, a lost race is retried on the fresh copy.
pub async fn update(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require_any(&["apim:api_create", "apim:api_manage", "apim:api_publish"])?;
    let body = json_body(&headers, &body)?;
    let input = ApiInput::from_json(&body).map_err(input_error)?;
    let mut row = load_api(&state, &api_id).await?;
    let conditional = check_if_match(&headers, &row)?;
    check_policies(&state, &input).await?;
    for _ in 0..UPDATE_ATTEMPTS {
        let mut api = api_of(&row)?;
        api.apply_update(input.clone(), now_millis());
        if let Some(updated) = state
            .store
            .update_api(&api_id, row.row_version, &to_document(&api)?, None)
            .await?
        {
            return api_response(StatusCode::OK, &updated);
        }
        row = load_api(&state, &api_id).await?;
        if conditional {
            return Err(precondition_failed(&row));
        }
    }
    Err(ApiError::conflict(format!(
        "API {api_id} is being changed by many requests at once; retry"
    )))
}

/// `DELETE /apis/{apiId}`.
pub async fn delete(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require_any(&["apim:api_delete", "apim:api_manage", "apim:api_import_export"])?;
    let row = load_api(&state, &api_id).await?;
    check_if_match(&headers, &row)?;
    let (subscriptions, _) = state.store.list_subscriptions(Some(&api_id), 1, 0).await?;
    if !subscriptions.is_empty() {
        return Err(ApiError::conflict(format!(
            "Cannot remove the API {api_id} as active subscriptions exist"
        )));
    }
    let products = super::products::products_using(&state, &api_id).await?;
    if !products.is_empty() {
        return Err(ApiError::conflict(format!(
            "Cannot remove the API {api_id} as it is used by the API Product(s) {}",
            products.join(", ")
        )));
    }
    let environments = state.store.delete_api(&api_id).await?;
    for environment in environments {
        super::artifacts::remove(&state, &environment, &api_id).await;
    }
    Ok(StatusCode::OK)
}

/// `GET /apis/{apiId}/swagger`: the stored definition verbatim, or one generated from the
/// operations when the API was created without one.
pub async fn get_swagger(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
) -> Result<Response, ApiError> {
    auth.require_any(&["apim:api_view", "apim:api_manage", "apim:api_definition_view"])?;
    let row = load_api(&state, &api_id).await?;
    definition_response(&row)
}

pub(crate) fn definition_response(row: &portico_store::ApiRow) -> Result<Response, ApiError> {
    let text = match &row.definition {
        Some(text) => text.clone(),
        None => portico_apis::generate_openapi(&api_of(row)?).to_string(),
    };
    let kind = if text.trim_start().starts_with('{') {
        "application/json"
    } else {
        "application/yaml"
    };
    let mut response = (StatusCode::OK, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    response.headers_mut().insert(header::ETAG, etag(row));
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_words() {
        let f = super::parse_query("name:pizza version:1.0 status:published").expect("ok");
        assert_eq!(f.name.as_deref(), Some("pizza"));
        assert_eq!(f.version.as_deref(), Some("1.0"));
        assert_eq!(f.status.as_deref(), Some("PUBLISHED"));
        assert_eq!(super::parse_query("shop").expect("ok").name.as_deref(), Some("shop"));
        assert!(super::parse_query("colour:red").is_err());
    }
}
