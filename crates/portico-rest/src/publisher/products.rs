//! `/api-products`: WSO2's API Products (bundles of operations of several APIs under one
//! context) — create, list, read and update. Deletion, revisions, deployments and lifecycle share
//! the APIs' handlers (`apis.rs`, `revisions.rs` and `lifecycle.rs`, with `PRODUCT = true`). Products are
//! rows of type `APIPRODUCT` in the store's API table, as in WSO2.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portico_apis::{
    ApiInput, ArtifactBackend, InputError, Product, ProductApi, ProductInput, ProductSnapshot, resolve_apis,
};
use portico_store::{API_TYPE_API, API_TYPE_PRODUCT, ApiRow, NewApiRow, now_millis};
use serde_json::Value;

use crate::auth::Auth;
use crate::common::api_query::parse_query;
use crate::common::api_rows::{api_of, load_kind, product_document, product_of};
use crate::common::body::json_body;
use crate::common::paging::{Page, query_suffix};
use crate::common::policies::check_policies;
use crate::common::row_version::{OptimisticUpdate, not_modified, row_response};
use crate::error::{ApiError, input_error};
use crate::state::RestState;

const BASE: &str = "/api/am/publisher/v4";

async fn load_product(state: &RestState, id: &str) -> Result<ApiRow, ApiError> {
    load_kind(&state.store, id, true).await
}

/// An API Product answer with its ETag (and, when created, its location).
pub(crate) fn product_response(status: StatusCode, row: &ApiRow) -> Result<Response, ApiError> {
    Ok(row_response(
        status,
        row,
        product_of(row)?,
        &format!("{BASE}/api-products/{}", row.id),
    ))
}

/// The subscription tiers and API-level policy a product names must exist.
async fn check_product_policies(state: &RestState, input: &ProductInput) -> Result<(), ApiError> {
    let check = ApiInput {
        policies: input.policies.clone(),
        api_throttling_policy: input.api_throttling_policy.clone(),
        ..ApiInput::default()
    };
    check_policies(&state.store, &check).await
}

/// Resolves the requested `apis` against the stored APIs (400 naming the unknown API or
/// operation).
async fn resolve(
    state: &RestState,
    requested: &[(String, Vec<portico_apis::Operation>)],
) -> Result<Vec<ProductApi>, ApiError> {
    let mut found = HashMap::new();
    for (id, _) in requested {
        if let Some(row) = state.store.find_api(id).await?
            && row.api_type == API_TYPE_API
        {
            found.insert(id.clone(), api_of(&row)?);
        }
    }
    resolve_apis(requested, |id| found.get(id).cloned()).map_err(input_error)
}

/// The endpoints of the product's APIs now (a product revision records them).
pub(crate) async fn backends_of(state: &RestState, product: &Product) -> Result<Vec<ArtifactBackend>, ApiError> {
    let mut backends = Vec::with_capacity(product.apis.len());
    for p in &product.apis {
        let row = state.store.find_api(&p.api_id).await?.ok_or_else(|| {
            ApiError::conflict(format!(
                "The API {} ({}) of this API Product no longer exists",
                p.name, p.api_id
            ))
        })?;
        let api = api_of(&row)?;
        backends.push(ArtifactBackend {
            api_id: api.id,
            name: api.name,
            version: api.version,
            endpoint_config: api.endpoint_config,
        });
    }
    Ok(backends)
}

/// The revision snapshot of a product document: the product marked as a revision, and its
/// APIs' endpoints.
pub(crate) fn snapshot(document: &str, number: i64, backends: &[ArtifactBackend]) -> String {
    match serde_json::from_str::<Product>(document) {
        Ok(mut product) => {
            product.is_revision = true;
            product.revisioned_api_product_id = Some(product.id.clone());
            product.revision_id = number;
            serde_json::to_string(&ProductSnapshot {
                product,
                backends: backends.to_vec(),
            })
            .unwrap_or_else(|_| document.to_owned())
        }
        Err(_) => document.to_owned(),
    }
}

/// The working copy restored from a product revision's snapshot.
pub(crate) fn restored(snapshot: &str, now: i64) -> String {
    match serde_json::from_str::<ProductSnapshot>(snapshot) {
        Ok(ProductSnapshot { mut product, .. }) => {
            product.is_revision = false;
            product.revisioned_api_product_id = None;
            product.revision_id = 0;
            product.last_updated_time = now.to_string();
            serde_json::to_string(&product).unwrap_or_else(|_| snapshot.to_owned())
        }
        Err(_) => snapshot.to_owned(),
    }
}

/// `POST /api-products`.
pub async fn create(
    auth: Auth,
    State(state): State<RestState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = auth
        .require_any(&["apim:api_create", "apim:api_manage", "apim:api_publish"])?
        .username
        .clone();
    let body = json_body(&headers, &body)?;
    let input = ProductInput::from_json(&body).map_err(input_error)?;
    if input.name.is_none() {
        return Err(input_error(InputError::new("name", "is required")));
    }
    if input.context.is_none() {
        return Err(input_error(InputError::new("context", "is required")));
    }
    check_product_policies(&state, &input).await?;
    let requested = input
        .apis
        .clone()
        .ok_or_else(|| input_error(InputError::new("apis", "is required")))?;
    let apis = resolve(&state, &requested).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let product = Product::create(input, apis, id, &caller, now_millis()).map_err(input_error)?;
    let row = state
        .store
        .create_api(
            &NewApiRow {
                id: product.id.clone(),
                name: product.name.clone(),
                version: product.version.clone(),
                context: product.context.clone(),
                provider: product.provider.clone(),
                lifecycle_status: product.state.wire().to_owned(),
                document: product_document(&product)?,
                definition: None,
                api_type: API_TYPE_PRODUCT.to_owned(),
            },
            &caller,
        )
        .await?;
    product_response(StatusCode::CREATED, &row)
}

/// `GET /api-products` (`limit`, `offset`, `query=name:x ...`).
pub async fn list(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&["apim:api_view", "apim:api_manage", "apim:api_list_view"])?;
    let page = Page::of(&params)?;
    let query = params.get("query").map(String::as_str).unwrap_or("");
    let mut filter = parse_query(query)?;
    filter.api_type = Some(API_TYPE_PRODUCT.to_owned());
    let (rows, total) = state.store.list_apis(&filter, page.limit, page.offset).await?;
    let list = rows
        .iter()
        .map(|row| product_of(row).map(|p| p.info()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page.list_body(list, total, "/api-products", &query_suffix(query)))
}

/// `GET /api-products/{apiProductId}`.
pub async fn get_one(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth.require_any(&["apim:api_view", "apim:api_manage", "apim:api_product_import_export"])?;
    let row = load_product(&state, &id).await?;
    match not_modified(&headers, &row) {
        Some(response) => Ok(response),
        None => product_response(StatusCode::OK, &row),
    }
}

/// `PUT /api-products/{apiProductId}`: name, context, version, provider and state stay.
pub async fn update(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require_any(&["apim:api_create", "apim:api_manage", "apim:api_publish"])?;
    let body = json_body(&headers, &body)?;
    let input = ProductInput::from_json(&body).map_err(input_error)?;
    let mut update = OptimisticUpdate::start(&headers, load_product(&state, &id).await?)?;
    check_product_policies(&state, &input).await?;
    let apis = match &input.apis {
        Some(requested) => Some(resolve(&state, requested).await?),
        None => None,
    };
    loop {
        let mut product = product_of(update.row())?;
        product.apply_update(input.clone(), apis.clone(), now_millis());
        let version = update.row().row_version;
        if let Some(updated) = state
            .store
            .update_api(&id, version, &product_document(&product)?, None)
            .await?
        {
            return product_response(StatusCode::OK, &updated);
        }
        update.lost_race(&state.store).await?;
    }
}

/// The products that take operations from `api_id` (an API used by a product cannot be
/// deleted, as in WSO2).
pub(crate) async fn products_using(state: &RestState, api_id: &str) -> Result<Vec<String>, ApiError> {
    let filter = portico_store::ApiFilter {
        api_type: Some(API_TYPE_PRODUCT.to_owned()),
        ..Default::default()
    };
    let (rows, _) = state.store.list_apis(&filter, 100_000, 0).await?;
    let mut names = Vec::new();
    for row in &rows {
        let product = product_of(row)?;
        if product.apis.iter().any(|a| a.api_id == api_id) {
            names.push(product.name);
        }
    }
    Ok(names)
}
