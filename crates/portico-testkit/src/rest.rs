//! Calls to a node's REST APIs as its super admin (HTTP Basic), answering status and JSON.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::Node;

/// The super admin of a running node.
pub struct Admin<'a>(pub &'a Node);

impl Admin<'_> {
    /// Any request; the body is sent as JSON when given. Non-JSON answers come back as a string.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let (user, pw) = self.0.admin();
        let mut rb = self
            .0
            .client
            .request(method, self.0.url(path))
            .basic_auth(user, Some(pw));
        if let Some(body) = body {
            rb = rb.json(body);
        }
        let r = rb.send().await.expect("send");
        let status = r.status();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A POST that must succeed (2xx); its JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> Value {
        let (status, body) = self.call(Method::POST, path, Some(body)).await;
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    /// A GET that must answer 200; its JSON answer.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }
}
