//! Reading request JSON the way WSO2's JSON layer (Jackson with scalar coercion) does: a number
//! where a string is expected becomes its text, `"true"`/`"false"` and `"42"` become a boolean
//! and a number, `null` is "not given", unknown fields are ignored. Arrays or objects of the
//! wrong shape and unknown enum values are refused with the field named.

use serde_json::{Map, Value};

/// A request value that cannot be accepted, with the JSON path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    /// Dotted path, e.g. `operations[2].verb`.
    pub field: String,
    pub message: String,
}

impl InputError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> InputError {
        InputError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// JSON type names for messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value as a JSON object, or an error naming `field`.
pub fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, InputError> {
    value
        .as_object()
        .ok_or_else(|| InputError::new(field, format!("must be an object, not {}", kind_of(value))))
}

/// A string, with numbers and booleans coerced to their text (Jackson's scalar coercion).
pub fn coerce_string(value: &Value, field: &str) -> Result<Option<String>, InputError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(InputError::new(
            field,
            format!("must be a string, not {}", kind_of(other)),
        )),
    }
}

/// A boolean; `"true"`/`"false"` (any case) and the numbers 0 and 1 are coerced.
pub fn coerce_bool(value: &Value, field: &str) -> Result<Option<bool>, InputError> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(Some(false)),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(Some(true)),
        other => Err(InputError::new(
            field,
            format!("must be a boolean, not {} ({other})", kind_of(other)),
        )),
    }
}

/// An integer; a numeric string is coerced.
pub fn coerce_i64(value: &Value, field: &str) -> Result<Option<i64>, InputError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| InputError::new(field, format!("must be an integer, not {n}"))),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| InputError::new(field, format!("must be an integer, not the string \"{s}\""))),
        other => Err(InputError::new(
            field,
            format!("must be an integer, not {}", kind_of(other)),
        )),
    }
}

/// An array of strings (each element coerced as [`coerce_string`]); a lone scalar is refused
/// because Jackson refuses it too without ACCEPT_SINGLE_VALUE_AS_ARRAY.
pub fn coerce_string_list(value: &Value, field: &str) -> Result<Option<Vec<String>>, InputError> {
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                coerce_string(item, &format!("{field}[{i}]"))?
                    .ok_or_else(|| InputError::new(format!("{field}[{i}]"), "must not be null"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(InputError::new(
            field,
            format!("must be an array of strings, not {}", kind_of(other)),
        )),
    }
}

/// A string that must be one of `allowed` (exact match, as Jackson's enum binding).
pub fn coerce_enum(value: &Value, field: &str, allowed: &[&str]) -> Result<Option<String>, InputError> {
    let Some(text) = coerce_string(value, field)? else {
        return Ok(None);
    };
    if allowed.contains(&text.as_str()) {
        Ok(Some(text))
    } else {
        Err(InputError::new(
            field,
            format!("unknown value \"{text}\"; expected one of {}", allowed.join(", ")),
        ))
    }
}

/// `obj[key]`, `Null` when absent.
pub fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> &'a Value {
    obj.get(key).unwrap_or(&Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_coerce_as_jackson_does() {
        assert_eq!(coerce_string(&json!(2), "v").expect("ok").as_deref(), Some("2"));
        assert_eq!(coerce_string(&json!(1.5), "v").expect("ok").as_deref(), Some("1.5"));
        assert_eq!(coerce_string(&json!(true), "v").expect("ok").as_deref(), Some("true"));
        assert_eq!(coerce_bool(&json!("TRUE"), "b").expect("ok"), Some(true));
        assert_eq!(coerce_bool(&json!(0), "b").expect("ok"), Some(false));
        assert_eq!(coerce_i64(&json!("42"), "n").expect("ok"), Some(42));
        assert_eq!(coerce_string(&Value::Null, "v").expect("ok"), None);
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        let e = coerce_string(&json!({"a": 1}), "name").expect_err("object");
        assert_eq!(e.field, "name");
        assert!(e.message.contains("object"), "{e}");
        let e = coerce_string_list(&json!(["a", ["b"]]), "tags").expect_err("nested");
        assert_eq!(e.field, "tags[1]");
        let e = coerce_string_list(&json!("a"), "tags").expect_err("scalar");
        assert_eq!(e.field, "tags");
        let e = coerce_bool(&json!("yes"), "flag").expect_err("yes");
        assert_eq!(e.field, "flag");
        let e = coerce_i64(&json!("x1"), "n").expect_err("x1");
        assert!(e.message.contains("x1"));
        let e = coerce_enum(&json!("public"), "visibility", &["PUBLIC", "PRIVATE"]).expect_err("case");
        assert!(e.message.contains("\"public\""), "{e}");
    }
}
