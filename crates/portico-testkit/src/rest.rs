//! Calls to a node's REST APIs as its super admin (HTTP Basic), answering status and JSON.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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

    /// Revises the API `api_id`, deploys the revision to the `Default` gateway environment and
    /// publishes the API, through the Publisher REST API v4; every step must succeed.
    pub async fn deploy_and_publish(&self, api_id: &str) {
        const P: &str = "/api/am/publisher/v4";
        let revision = self
            .post(
                &format!("{P}/apis/{api_id}/revisions"),
                &json!({"description": "first"}),
            )
            .await;
        let revision_id = revision["id"]
            .as_str()
            .unwrap_or_else(|| panic!("revision id in {revision}"));
        self.post(
            &format!("{P}/apis/{api_id}/deploy-revision?revisionId={revision_id}"),
            &json!([{"name": "Default", "vhost": "localhost", "displayOnDevportal": true}]),
        )
        .await;
        let (status, body) = self
            .call(
                Method::POST,
                &format!("{P}/apis/change-lifecycle?apiId={api_id}&action=Publish"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "publish {api_id}: {body}");
    }
}
