//! Form bodies and form errors: reading `application/x-www-form-urlencoded`, and errors shown
//! next to the field they concern (from a REST answer's field name, or the portal's own parsing
//! of a form into a REST body).

use std::collections::BTreeMap;

use crate::rest_client::RestFailure;

/// The pairs of an urlencoded body, in order (`+` is a space; bad escapes stay as they are).
pub fn parse_urlencoded(bytes: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &[u8]| {
        let spaced: Vec<u8> = s.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        percent_encoding::percent_decode(&spaced)
            .decode_utf8_lossy()
            .into_owned()
    };
    bytes
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(i) => (decode(&pair[..i]), decode(&pair[i + 1..])),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// A posted form: its fields by name (a repeated name keeps every value).
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn from_body(bytes: &[u8]) -> Fields {
        Fields(parse_urlencoded(bytes))
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    }

    /// Every value of `name` (checkboxes, repeated rows), untrimmed.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Errors of one form: per field, and one for the whole form.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    pub general: Option<String>,
    fields: BTreeMap<String, String>,
}

impl FormErrors {
    pub fn is_empty(&self) -> bool {
        self.general.is_none() && self.fields.is_empty()
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn set(&mut self, name: &str, message: impl Into<String>) {
        self.fields.insert(name.to_owned(), message.into());
    }

    /// One error for the whole form.
    pub fn general(message: impl Into<String>) -> FormErrors {
        FormErrors {
            general: Some(message.into()),
            fields: BTreeMap::new(),
        }
    }

    /// Places a REST refusal next to the form field it names: the field path's first segment
    /// (`endpointConfig.production_endpoints.url` → `endpointConfig`) when the form has such a
    /// field, else the REST path's last word (`userName`), else at the top of the form.
    pub fn from_rest(failure: &RestFailure, form_fields: &[&str]) -> FormErrors {
        let mut errors = FormErrors::default();
        if let Some(path) = &failure.field {
            // The Publisher's import names its form part too: `additionalProperties.name`.
            let path = path.strip_prefix("additionalProperties.").unwrap_or(path);
            let first = path.split(['.', '[']).next().unwrap_or(path);
            if let Some(name) = form_fields.iter().find(|f| **f == path || **f == first) {
                errors.set(name, failure.description.clone());
                return errors;
            }
        }
        // SCIM and OAuth answers name the field at the start of their text.
        if let Some(name) = form_fields
            .iter()
            .copied()
            .find(|f: &&str| failure.description.starts_with(*f) || failure.description.starts_with(&format!("`{f}`")))
        {
            errors.set(name, failure.description.clone());
            return errors;
        }
        errors.general = Some(failure.description.clone());
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_pairs() {
        let pairs = parse_urlencoded(b"a=1&b=x+y%3C&c&d=%zz");
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y<".into()),
                ("c".into(), String::new()),
                ("d".into(), "%zz".into())
            ]
        );
    }

    #[test]
    fn rest_errors_find_their_field() {
        let failure = RestFailure {
            status: axum::http::StatusCode::BAD_REQUEST,
            description: "must not contain `..`".into(),
            field: Some("context".into()),
        };
        let e = FormErrors::from_rest(&failure, &["name", "context"]);
        assert_eq!(e.field("context"), Some("must not contain `..`"));
        let e = FormErrors::from_rest(&failure, &["name"]);
        assert_eq!(e.general.as_deref(), Some("must not contain `..`"));
        let scim = RestFailure {
            status: axum::http::StatusCode::BAD_REQUEST,
            description: "password must be at least 5 characters".into(),
            field: None,
        };
        assert!(
            FormErrors::from_rest(&scim, &["userName", "password"])
                .field("password")
                .is_some()
        );
    }
}
