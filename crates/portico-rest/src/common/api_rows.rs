//! Stored API rows read as what they hold: an API, or an API Product (a row of type
//! `APIPRODUCT`), with the row's lifecycle status (the authoritative one); and the documents
//! written back into them.

use portico_apis::{Api, LifecycleStatus, Product};
use portico_store::{API_TYPE_PRODUCT, ApiRow, Store};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The API stored in `row`. An API Product's row gives the product seen as an API (type
/// `APIPRODUCT`).
pub(crate) fn api_of(row: &ApiRow) -> Result<Api, ApiError> {
    if is_product(row) {
        return product_of(row).map(|p| p.as_api());
    }
    let mut api: Api = read_document(row, "API")?;
    if let Some(status) = LifecycleStatus::parse(&row.lifecycle_status) {
        api.life_cycle_status = status;
    }
    Ok(api)
}

/// The API Product stored in `row`.
pub(crate) fn product_of(row: &ApiRow) -> Result<Product, ApiError> {
    let mut product: Product = read_document(row, "API Product")?;
    if let Some(status) = LifecycleStatus::parse(&row.lifecycle_status) {
        product.state = status;
    }
    Ok(product)
}

fn read_document<T: DeserializeOwned>(row: &ApiRow, kind: &str) -> Result<T, ApiError> {
    serde_json::from_str(&row.document).map_err(|e| {
        tracing::error!(id = %row.id, error = %e, "stored {kind} document does not parse");
        ApiError::internal(format!(
            "The stored {kind} {} is unreadable; the server log has the details",
            row.id
        ))
    })
}

/// Whether `row` holds an API Product.
pub(crate) fn is_product(row: &ApiRow) -> bool {
    row.api_type == API_TYPE_PRODUCT
}

/// What a row holds, as messages name it.
pub(crate) fn kind_name(product: bool) -> &'static str {
    if product { "API Product" } else { "API" }
}

/// The stored document of an API.
pub(crate) fn api_document(api: &Api) -> Result<String, ApiError> {
    serde_json::to_string(api).map_err(|e| ApiError::internal(format!("cannot serialise the API: {e}")))
}

/// The stored document of an API Product.
pub(crate) fn product_document(product: &Product) -> Result<String, ApiError> {
    serde_json::to_string(product).map_err(|e| ApiError::internal(format!("cannot serialise the API Product: {e}")))
}

/// Loads an API (`product` false) or an API Product (`product` true), or answers 404.
pub(crate) async fn load_kind(store: &Store, id: &str, product: bool) -> Result<ApiRow, ApiError> {
    match store.find_api(id).await? {
        Some(row) if is_product(&row) == product => Ok(row),
        _ => Err(ApiError::not_found(format!(
            "{} with id {id} not found",
            kind_name(product)
        ))),
    }
}

/// Loads an API or answers 404 (API Products are not APIs here).
pub(crate) async fn load_api(store: &Store, api_id: &str) -> Result<ApiRow, ApiError> {
    load_kind(store, api_id, false).await
}
