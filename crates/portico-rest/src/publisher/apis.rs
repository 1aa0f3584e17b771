//! `/apis` and `/apis/{apiId}`: list, create, read, update, delete, and the API's definition.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portico_apis::{Api, ApiInput};
use portico_store::{ApiRow, NewApiRow, now_millis};
use serde_json::Value;

use super::products::products_using;
use crate::auth::Auth;
use crate::common::api_query::parse_query;
use crate::common::api_rows::{api_document, api_of, kind_name, load_api, load_kind};
use crate::common::body::json_body;
use crate::common::definition::definition_response;
use crate::common::paging::{Page, query_suffix};
use crate::common::policies::check_policies;
use crate::common::row_version::{OptimisticUpdate, check_if_match, not_modified, row_response};
use crate::error::{ApiError, input_error};
use crate::state::RestState;

const BASE: &str = "/api/am/publisher/v4";

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
    let page = Page::of(&params)?;
    let query = params.get("query").map(String::as_str).unwrap_or("");
    let mut filter = parse_query(query)?;
    // API Products share the table; the Publisher lists them under /api-products.
    filter.api_type = Some(portico_store::API_TYPE_API.to_owned());
    let (rows, total) = state.store.list_apis(&filter, page.limit, page.offset).await?;
    let list = rows
        .iter()
        .map(|row| api_of(row).map(|api| api.info()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page.list_body(list, total, "/apis", &query_suffix(query)))
}

/// An API answer with its ETag (and, when created, its location).
pub(crate) fn api_response(status: StatusCode, row: &ApiRow) -> Result<Response, ApiError> {
    Ok(row_response(
        status,
        row,
        api_of(row)?,
        &format!("{BASE}/apis/{}", row.id),
    ))
}

/// Stores a new API (shared by `POST /apis` and `import-openapi`).
pub(crate) async fn create_api(
    state: &RestState,
    input: ApiInput,
    caller: &str,
    definition: Option<String>,
) -> Result<Response, ApiError> {
    check_policies(&state.store, &input).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let api = Api::create(input, id, caller, now_millis()).map_err(input_error)?;
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
                document: api_document(&api)?,
                definition,
                api_type: portico_store::API_TYPE_API.to_owned(),
            },
            caller,
        )
        .await?;
    api_response(StatusCode::CREATED, &row)
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
    let row = load_api(&state.store, &api_id).await?;
    match not_modified(&headers, &row) {
        Some(response) => Ok(response),
        None => api_response(StatusCode::OK, &row),
    }
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
    let mut update = OptimisticUpdate::start(&headers, load_api(&state.store, &api_id).await?)?;
    check_policies(&state.store, &input).await?;
    loop {
        let mut api = api_of(update.row())?;
        api.apply_update(input.clone(), now_millis());
        let version = update.row().row_version;
        if let Some(updated) = state
            .store
            .update_api(&api_id, version, &api_document(&api)?, None)
            .await?
        {
            return api_response(StatusCode::OK, &updated);
        }
        update.lost_race(&state.store).await?;
    }
}

/// `DELETE /apis/{apiId}` and `DELETE /api-products/{apiProductId}`: refused (409) while
/// subscriptions exist, and for an API while an API Product uses it.
pub async fn delete<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require_any(&["apim:api_delete", "apim:api_manage", "apim:api_import_export"])?;
    let row = load_kind(&state.store, &id, PRODUCT).await?;
    check_if_match(&headers, &row)?;
    let kind = kind_name(PRODUCT);
    let (subscriptions, _) = state.store.list_subscriptions(Some(&id), 1, 0).await?;
    if !subscriptions.is_empty() {
        return Err(ApiError::conflict(format!(
            "Cannot remove the {kind} {id} as active subscriptions exist"
        )));
    }
    let products = if PRODUCT {
        Vec::new()
    } else {
        products_using(&state, &id).await?
    };
    if !products.is_empty() {
        return Err(ApiError::conflict(format!(
            "Cannot remove the API {id} as it is used by the API Product(s) {}",
            products.join(", ")
        )));
    }
    let environments = state.store.delete_api(&id).await?;
    for environment in environments {
        state.artifacts.remove(&environment, &id).await;
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
    let row = load_api(&state.store, &api_id).await?;
    definition_response(&row)
}

/// `GET /apis/export` and `GET /api-products/export` (WSO2's apictl archives): not served, said
/// plainly rather than answered as an API whose id is `export`. 404 is what WSO2's document
/// lists for an export that finds nothing.
pub async fn export_not_served(_auth: Auth) -> ApiError {
    ApiError::not_found(
        "Export is not served by Portico: there is no API archive (apictl's format) to download. \
         Read an API with GET /apis/{apiId} and its definition with GET /apis/{apiId}/swagger.",
    )
}
