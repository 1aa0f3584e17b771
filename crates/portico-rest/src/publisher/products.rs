//! `/api-products`: WSO2's API Products (bundles of operations of several APIs under one
//! context) — create, list, read, update, delete and lifecycle. Revisions and deployments share
//! the APIs' handlers (`revisions.rs`, with `PRODUCT = true`). Products are rows of type
//! `APIPRODUCT` in the store's API table, as in WSO2.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portico_apis::{
    ApiInput, ArtifactBackend, InputError, Product, ProductApi, ProductInput, ProductSnapshot, resolve_apis,
};
use portico_store::{API_TYPE_API, API_TYPE_PRODUCT, ApiRow, LifecycleChange, NewApiRow};
use serde_json::{Value, json};

use super::apis::{now_millis, parse_query};
use super::{
    api_of, check_if_match, check_policies, etag, input_error, json_body, load_kind, pagination, paging,
    precondition_failed, product_of,
};
use crate::{ApiError, Auth, RestState};

const BASE: &str = "/api/am/publisher/v4";
const ATTEMPTS: usize = 20;

async fn load_product(state: &RestState, id: &str) -> Result<ApiRow, ApiError> {
    load_kind(state, id, true).await
}

fn document(product: &Product) -> Result<String, ApiError> {
    serde_json::to_string(product).map_err(|e| ApiError::internal(format!("cannot serialise the API Product: {e}")))
}

pub(crate) fn product_response(status: StatusCode, row: &ApiRow) -> Result<Response, ApiError> {
    let product = product_of(row)?;
    let mut response = (status, Json(product)).into_response();
    response.headers_mut().insert(header::ETAG, etag(row));
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("{BASE}/api-products/{}", row.id))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The subscription tiers and API-level policy a product names must exist.
async fn check_product_policies(state: &RestState, input: &ProductInput) -> Result<(), ApiError> {
    let check = ApiInput {
        policies: input.policies.clone(),
        api_throttling_policy: input.api_throttling_policy.clone(),
        ..ApiInput::default()
    };
    check_policies(state, &check).await
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
                document: document(&product)?,
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
    let (limit, offset) = paging(
        params.get("limit").map(String::as_str),
        params.get("offset").map(String::as_str),
    )?;
    let query = params.get("query").map(String::as_str).unwrap_or("");
    let mut filter = parse_query(query)?;
    filter.api_type = Some(API_TYPE_PRODUCT.to_owned());
    let (rows, total) = state.store.list_apis(&filter, limit, offset).await?;
    let list = rows
        .iter()
        .map(|row| product_of(row).map(|p| p.info()))
        .collect::<Result<Vec<_>, _>>()?;
    let extra = if query.is_empty() {
        String::new()
    } else {
        format!("&query={}", query.replace(' ', "%20"))
    };
    Ok(Json(json!({
        "count": list.len(),
        "list": list,
        "pagination": pagination("/api-products", limit, offset, total, &extra),
    })))
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
    if let Some(tag) = headers.get(header::IF_NONE_MATCH)
        && tag == etag(&row)
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag(&row));
        return Ok(response);
    }
    product_response(StatusCode::OK, &row)
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
    let mut row = load_product(&state, &id).await?;
    let conditional = check_if_match(&headers, &row)?;
    check_product_policies(&state, &input).await?;
    let apis = match &input.apis {
        Some(requested) => Some(resolve(&state, requested).await?),
        None => None,
    };
    for _ in 0..ATTEMPTS {
        let mut product = product_of(&row)?;
        product.apply_update(input.clone(), apis.clone(), now_millis());
        if let Some(updated) = state
            .store
            .update_api(&id, row.row_version, &document(&product)?, None)
            .await?
        {
            return product_response(StatusCode::OK, &updated);
        }
        row = load_product(&state, &id).await?;
        if conditional {
            return Err(precondition_failed(&row));
        }
    }
    Err(ApiError::conflict(format!(
        "API Product {id} is being changed by many requests at once; retry"
    )))
}

/// `DELETE /api-products/{apiProductId}`: refused (409) while subscriptions exist.
pub async fn delete(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require_any(&["apim:api_delete", "apim:api_manage", "apim:api_import_export"])?;
    let row = load_product(&state, &id).await?;
    check_if_match(&headers, &row)?;
    let (subscriptions, _) = state.store.list_subscriptions(Some(&id), 1, 0).await?;
    if !subscriptions.is_empty() {
        return Err(ApiError::conflict(format!(
            "Cannot remove the API Product {id} as active subscriptions exist"
        )));
    }
    let environments = state.store.delete_api(&id).await?;
    for environment in environments {
        super::artifacts::remove(&state, &environment, &id).await;
    }
    Ok(StatusCode::OK)
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

/// `POST /api-products/change-lifecycle?apiProductId=&action=`.
pub async fn change_lifecycle(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let user = auth
        .require_any(&["apim:api_publish", "apim:api_manage"])?
        .username
        .clone();
    let (id, action) = super::lifecycle::lifecycle_query(&params, "apiProductId")?;
    let mut row = load_product(&state, id).await?;
    let conditional = check_if_match(&headers, &row)?;
    for _ in 0..ATTEMPTS {
        let mut product = product_of(&row)?;
        let from = product.state;
        let Some(to) = from.apply(action) else {
            return Err(ApiError::conflict(format!(
                "The action \"{}\" is not allowed for API Product {id} in state {}; allowed: {}",
                action.name(),
                from.wire(),
                from.transitions()
                    .iter()
                    .map(|(a, _)| a.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        product.state = to;
        product.last_updated_time = now_millis().to_string();
        let document = document(&product)?;
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
            super::artifacts::refresh_status(&state, id, to).await;
            let transitions: Vec<Value> = to
                .transitions()
                .iter()
                .map(|(action, target)| json!({ "event": action.name(), "targetState": target.display() }))
                .collect();
            return Ok(Json(json!({
                "workflowStatus": "APPROVED",
                "jsonPayload": null,
                "lifecycleState": { "state": to.display(), "checkItems": [], "availableTransitions": transitions },
            })));
        }
        row = load_product(&state, id).await?;
        if conditional {
            return Err(precondition_failed(&row));
        }
    }
    Err(ApiError::conflict(format!(
        "API Product {id} is being changed by many requests at once; retry"
    )))
}
