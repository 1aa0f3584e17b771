//! An API row's version as its ETag, and the optimistic read-modify-write it guards: a change is
//! stored only if the row is still at the version it was read at; `If-Match` makes a lost race
//! a 412, without it the change is tried again on the fresh row.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portico_store::{ApiRow, Store};

use super::api_rows::{is_product, kind_name, load_kind};
use crate::error::ApiError;

/// Attempts of a read-modify-write before giving up under heavy contention.
const UPDATE_ATTEMPTS: usize = 20;

/// The ETag of an API row: its row version.
pub(crate) fn etag(row: &ApiRow) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", row.row_version)).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `body` as the answer about `row`, with the row's ETag; a 201 names `location`.
pub(crate) fn row_response(status: StatusCode, row: &ApiRow, body: impl serde::Serialize, location: &str) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::ETAG, etag(row));
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(location)
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// 304 with the row's ETag when the request's `If-None-Match` is that ETag.
pub(crate) fn not_modified(headers: &HeaderMap, row: &ApiRow) -> Option<Response> {
    let tag = etag(row);
    if headers.get(header::IF_NONE_MATCH) != Some(&tag) {
        return None;
    }
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    response.headers_mut().insert(header::ETAG, tag);
    Some(response)
}

/// Checks `If-Match` against the row: `Ok(true)` when given and matching (the change is
/// conditional), `Ok(false)` when absent, `Err(412)` when given and not matching.
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

/// 412: the row changed since the caller read it.
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

/// A read-modify-write of an API row, guarded by its row version: each attempt reads
/// [`OptimisticUpdate::row`] and stores its change only if the row is still at that version (a
/// compare-and-swap); after a lost race, [`OptimisticUpdate::lost_race`] reads the row again for
/// the next attempt.
pub(crate) struct OptimisticUpdate {
    row: ApiRow,
    /// `If-Match` was given: a lost race is 412, not retried.
    conditional: bool,
    lost: usize,
}

impl OptimisticUpdate {
    /// Starts an update of `row`, checking the request's `If-Match` against it (412).
    pub(crate) fn start(headers: &HeaderMap, row: ApiRow) -> Result<OptimisticUpdate, ApiError> {
        let conditional = check_if_match(headers, &row)?;
        Ok(OptimisticUpdate {
            row,
            conditional,
            lost: 0,
        })
    }

    /// The row as last read.
    pub(crate) fn row(&self) -> &ApiRow {
        &self.row
    }

    /// Someone changed the row first: reads it again for the next attempt. A conditional update
    /// is refused (412), and so is one that lost [`UPDATE_ATTEMPTS`] times (409).
    pub(crate) async fn lost_race(&mut self, store: &Store) -> Result<(), ApiError> {
        let product = is_product(&self.row);
        self.row = load_kind(store, &self.row.id, product).await?;
        if self.conditional {
            return Err(precondition_failed(&self.row));
        }
        self.lost += 1;
        if self.lost >= UPDATE_ATTEMPTS {
            return Err(ApiError::conflict(format!(
                "{} {} is being changed by many requests at once; retry",
                kind_name(product),
                self.row.id
            )));
        }
        Ok(())
    }
}
