//! The REST APIs, called in-process: a request carrying the session's bearer token goes through
//! the management REST router (the same handlers, validation and scopes as over HTTPS) and its
//! JSON answer comes back as a value or a [`RestFailure`] naming the field at fault.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Largest answer read from the REST router (lists are paged, so this is generous).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// The REST router, as an in-process client.
#[derive(Clone)]
pub struct Rest {
    router: Router,
}

/// A refused or failed REST call: its status, what it said, and the field it named.
#[derive(Debug, Clone)]
pub struct RestFailure {
    pub status: StatusCode,
    pub description: String,
    /// WSO2's `error[0].message`: the field path (`context`, `operations[2].target`, ...).
    pub field: Option<String>,
}

impl RestFailure {
    fn from_answer(status: StatusCode, body: &Value) -> RestFailure {
        // WSO2 bodies (`description`, `error[].message`), SCIM (`detail`), OAuth2 (`error_description`).
        let description = ["description", "detail", "error_description", "message"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_str))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("The request failed ({status})"));
        let field = body
            .get("error")
            .and_then(Value::as_array)
            .and_then(|list| list.first())
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let description = match body
            .get("error")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .and_then(|e| e.get("description"))
            .and_then(Value::as_str)
        {
            Some(detail) if field.is_some() => detail.to_owned(),
            _ => description.trim_start_matches("Invalid request: ").to_owned(),
        };
        RestFailure {
            status,
            description,
            field,
        }
    }

    fn internal(what: impl std::fmt::Display) -> RestFailure {
        RestFailure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            description: what.to_string(),
            field: None,
        }
    }
}

/// What a request carries as its body.
pub enum Payload {
    None,
    Json(Value),
    /// `multipart/form-data` parts: (name, file name, content).
    Multipart(Vec<(String, Option<String>, Vec<u8>)>),
}

impl Rest {
    pub fn new(router: Router) -> Rest {
        Rest { router }
    }

    /// Calls `method path` (with its query) as the holder of `token` (anonymous when `None`).
    pub async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        payload: Payload,
    ) -> Result<Value, RestFailure> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match payload {
            Payload::None => Body::empty(),
            Payload::Json(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            Payload::Multipart(parts) => {
                let boundary = format!("portico-{}", uuid::Uuid::new_v4().simple());
                request = request.header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                );
                Body::from(multipart_body(&boundary, parts))
            }
        };
        let request = request.body(body).map_err(RestFailure::internal)?;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(RestFailure::internal)?;
        let status = response.status();
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(RestFailure::internal)?
            .to_bytes();
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        if status.is_success() {
            Ok(value)
        } else {
            Err(RestFailure::from_answer(status, &value))
        }
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> Result<Value, RestFailure> {
        self.call(token, Method::GET, path, Payload::None).await
    }

    pub async fn post(&self, token: Option<&str>, path: &str, body: Value) -> Result<Value, RestFailure> {
        self.call(token, Method::POST, path, Payload::Json(body)).await
    }

    pub async fn post_empty(&self, token: Option<&str>, path: &str) -> Result<Value, RestFailure> {
        self.call(token, Method::POST, path, Payload::None).await
    }

    pub async fn put(&self, token: Option<&str>, path: &str, body: Value) -> Result<Value, RestFailure> {
        self.call(token, Method::PUT, path, Payload::Json(body)).await
    }

    pub async fn delete(&self, token: Option<&str>, path: &str) -> Result<Value, RestFailure> {
        self.call(token, Method::DELETE, path, Payload::None).await
    }
}

fn multipart_body(boundary: &str, parts: Vec<(String, Option<String>, Vec<u8>)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file_name, content) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match file_name {
            // Quotes and line breaks cannot appear in a header parameter; drop them.
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                f.replace(['"', '\r', '\n'], "")
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(&content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// Percent-encodes a query parameter's value.
pub fn q(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}
