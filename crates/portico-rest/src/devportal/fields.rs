//! Reading the DevPortal's JSON request bodies and the JSON text columns of its stored rows.

use portico_apis::InputError;
use serde_json::{Map, Value};

use crate::error::{ApiError, input_error};

/// The body as a JSON object, or 400.
pub(super) fn body_object(value: &Value) -> Result<&Map<String, Value>, ApiError> {
    portico_apis::input::object(value, "body").map_err(input_error)
}

/// A required, non-blank string field.
pub(super) fn required_string(obj: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    portico_apis::input::coerce_string(portico_apis::input::get(obj, field), field)
        .map_err(input_error)?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| input_error(InputError::new(field, "is required")))
}

/// An optional string field.
pub(super) fn optional_string(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    portico_apis::input::coerce_string(portico_apis::input::get(obj, field), field).map_err(input_error)
}

/// An optional JSON object field; a string holding a JSON object is accepted too (WSO2's UI
/// sends `additionalProperties` both ways).
pub(super) fn optional_object(obj: &Map<String, Value>, field: &str) -> Result<Option<Map<String, Value>>, ApiError> {
    match portico_apis::input::get(obj, field) {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m.clone())),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            _ => Err(input_error(InputError::new(field, "must be an object"))),
        },
        other => Err(input_error(InputError::new(
            field,
            format!("must be an object, not {}", portico_apis::input::kind_of(other)),
        ))),
    }
}

/// Parses a JSON text column, falling back to `default` (stored values are always valid).
pub(super) fn json_column(text: &str, default: Value) -> Value {
    serde_json::from_str(text).unwrap_or(default)
}
