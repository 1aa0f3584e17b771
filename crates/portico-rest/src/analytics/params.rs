//! The query parameters of the analytics API, checked: the window (`from`, `to` in milliseconds
//! since the epoch, `granularity` minute, hour or day), the filters (`apiId`, `applicationId`,
//! `node`, `statusClass` 2xx..5xx) and, for `top`, `by` and `limit`. An unknown parameter, a
//! value that does not read, a reversed or unbounded range or a granularity too fine for it is
//! a 400 naming the parameter.

use std::collections::HashMap;

use portico_analytics::{Filters, Granularity, QueryError, StatusClass, TopBy, Window};

use crate::error::{ApiError, input_error};

/// Parameters every query takes.
const COMMON: &[&str] = &[
    "from",
    "to",
    "granularity",
    "apiId",
    "applicationId",
    "node",
    "statusClass",
];
/// `top`'s own.
pub(super) const TOP: &[&str] = &["by", "limit"];

/// The most entries `top` answers.
const MAX_LIMIT: usize = 100;

pub(super) fn bad(parameter: &str, message: impl Into<String>) -> ApiError {
    input_error(portico_apis::InputError::new(parameter, message))
}

pub(super) fn query_error(e: QueryError) -> ApiError {
    bad(e.parameter, e.message)
}

/// Refuses parameters outside `COMMON` and `extra`.
pub(super) fn known_only(params: &HashMap<String, String>, extra: &[&str]) -> Result<(), ApiError> {
    let mut names: Vec<&String> = params.keys().collect();
    names.sort();
    for name in names {
        if !COMMON.contains(&name.as_str()) && !extra.contains(&name.as_str()) {
            let mut allowed: Vec<&str> = COMMON.iter().chain(extra).copied().collect();
            allowed.sort_unstable();
            return Err(bad(
                name,
                format!("unknown parameter; the known ones are {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn millis(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| bad(name, format!("\"{v}\" is not a time in milliseconds since the epoch")))
        })
        .transpose()
}

/// The checked window.
pub(super) fn window(params: &HashMap<String, String>) -> Result<Window, ApiError> {
    let granularity = params
        .get("granularity")
        .map(|g| {
            Granularity::parse(g).ok_or_else(|| bad("granularity", format!("\"{g}\" is not one of minute, hour, day")))
        })
        .transpose()?;
    Window::new(millis(params, "from")?, millis(params, "to")?, granularity).map_err(query_error)
}

/// The filters.
pub(super) fn filters(params: &HashMap<String, String>) -> Result<Filters, ApiError> {
    let text = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    let status_class = params
        .get("statusClass")
        .map(|c| {
            StatusClass::parse(c).ok_or_else(|| bad("statusClass", format!("\"{c}\" is not one of 2xx, 3xx, 4xx, 5xx")))
        })
        .transpose()?;
    Ok(Filters {
        api_id: text("apiId"),
        application_id: text("applicationId"),
        node_id: text("node"),
        status_class,
    })
}

/// `top`'s `by` (api by default) and `limit` (10 by default, at most 100).
pub(super) fn top(params: &HashMap<String, String>) -> Result<(TopBy, usize), ApiError> {
    let by = match params.get("by") {
        None => TopBy::Api,
        Some(by) => {
            TopBy::parse(by).ok_or_else(|| bad("by", format!("\"{by}\" is not one of api, application, node")))?
        }
    };
    let limit = match params.get("limit") {
        None => 10,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| bad("limit", format!("\"{l}\" is not a number from 1 to {MAX_LIMIT}")))?,
    };
    Ok((by, limit))
}
