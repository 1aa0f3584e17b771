//! An API's definition as an answer (the Publisher's and the DevPortal's
//! `GET /apis/{apiId}/swagger`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portico_store::ApiRow;

use super::api_rows::api_of;
use super::row_version::etag;
use crate::error::ApiError;

/// The stored definition verbatim, or one generated from the operations when the API was
/// created without one; with the row's ETag.
pub(crate) fn definition_response(row: &ApiRow) -> Result<Response, ApiError> {
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
