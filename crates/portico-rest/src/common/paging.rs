//! Paged lists: WSO2's `limit` and `offset` query parameters and its list body with the
//! `Pagination` object.

use std::collections::HashMap;

use axum::Json;
use serde_json::{Value, json};

use crate::error::ApiError;

/// One page of a list: `limit` items from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub limit: i64,
    pub offset: i64,
}

/// WSO2's default page size.
const DEFAULT_LIMIT: i64 = 25;
/// The largest page served, whatever `limit` asks for.
const MAX_LIMIT: i64 = 1000;

impl Page {
    /// The page a request's `limit` and `offset` ask for (WSO2's defaults: 25 and 0); 400 naming
    /// the parameter that is not a non-negative integer.
    pub(crate) fn of(params: &HashMap<String, String>) -> Result<Page, ApiError> {
        let parse = |name: &str, default: i64| -> Result<i64, ApiError> {
            match params.get(name).map(String::as_str) {
                None | Some("") => Ok(default),
                Some(v) => v.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::bad_request(format!("`{name}` must be a non-negative integer, not \"{v}\""))
                }),
            }
        };
        Ok(Page {
            limit: parse("limit", DEFAULT_LIMIT)?.min(MAX_LIMIT),
            offset: parse("offset", 0)?,
        })
    }

    /// This page of a list held in memory.
    pub(crate) fn of_slice<'a, T>(&self, all: &'a [T]) -> impl Iterator<Item = &'a T> {
        all.iter()
            .skip(usize::try_from(self.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(self.limit).unwrap_or(usize::MAX))
    }

    /// WSO2's list body: `count`, `list` (this page) and `pagination`, whose links go to `path`
    /// with `extra` (further query parameters, `&name=value...`) appended.
    pub(crate) fn list_body(&self, list: Vec<Value>, total: i64, path: &str, extra: &str) -> Json<Value> {
        let Page { limit, offset } = *self;
        let link = |o: i64| format!("{path}?limit={limit}&offset={o}{extra}");
        Json(json!({
            "count": list.len(),
            "list": list,
            "pagination": {
                "offset": offset,
                "limit": limit,
                "total": total,
                "next": if offset + limit < total { link(offset + limit) } else { String::new() },
                "previous": if offset > 0 { link((offset - limit).max(0)) } else { String::new() },
            },
        }))
    }
}

/// How many items a list held in memory has, as a `total`.
pub(crate) fn total_of<T>(all: &[T]) -> i64 {
    i64::try_from(all.len()).unwrap_or(i64::MAX)
}

/// `&query=...` for the pagination links of a search, `""` without one.
pub(crate) fn query_suffix(query: &str) -> String {
    if query.is_empty() {
        String::new()
    } else {
        format!("&query={}", query.replace(' ', "%20"))
    }
}
