//! Deny policies (WSO2's blocking conditions) enforced by a running node's gateway: created,
//! disabled and deleted through the Admin REST API v4, reaching the gateway through the change
//! feed within a second.
//!
//! - An IP condition for the test's address (127.0.0.1) refuses every API with 403 and WSO2's
//!   900805; disabled, then deleted, requests pass again.
//! - An API condition refuses only that API, whoever calls it.

use std::time::{Duration, Instant};

use portico_testkit::{Admin, EchoBackend, Node, node_on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const A: &str = "/api/am/admin/v4";
const P: &str = "/api/am/publisher/v4";

node_on_both_backends!(
    sqlite_deny_policies_refuse,
    postgres_deny_policies_refuse,
    |node, _db| { deny_policies_refuse(node) }
);

/// An open API (no credentials needed) on `backend`, deployed and published.
async fn publish_open(admin: &Admin<'_>, backend: &EchoBackend, context: &str) {
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": context.trim_start_matches('/'), "context": context, "version": "1.0.0",
                "policies": ["Unlimited"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend.url("/")}},
                "operations": [{"target": "/open", "verb": "GET", "authType": "None", "throttlingPolicy": "Unlimited"}]
            }),
        )
        .await;
    let api_id = api["id"].as_str().unwrap_or_else(|| panic!("API id in {api}"));
    admin.deploy_and_publish(api_id).await;
}

/// The status of `GET path` at the gateway, and WSO2's code when it is an error.
async fn answer(node: &Node, path: &str) -> (u16, Option<String>) {
    let r = node.client.get(node.gateway_url(path)).send().await.expect("gateway");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().map(str::to_owned))
}

/// Waits until `path` answers `expected` (status, code), or fails after a second.
async fn answers_within_a_second(node: &Node, path: &str, expected: (u16, Option<&str>)) {
    let started = Instant::now();
    loop {
        let (status, code) = answer(node, path).await;
        if (status, code.as_deref()) == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path}: {status} {code:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn deny(admin: &Admin<'_>, body: Value) -> String {
    let (status, created) = admin
        .call(Method::POST, &format!("{A}/throttling/deny-policies"), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["conditionId"]
        .as_str()
        .unwrap_or_else(|| panic!("id in {created}"));
    format!("{A}/throttling/deny-policy/{id}")
}

async fn deny_policies_refuse(node: &Node) {
    let admin = Admin(node);
    let backend = EchoBackend::start("deny").await.expect("backend");
    publish_open(&admin, &backend, "/kept").await;
    publish_open(&admin, &backend, "/blocked").await;
    let (kept, blocked) = ("/kept/1.0.0/open", "/blocked/1.0.0/open");
    const REFUSED: (u16, Option<&str>) = (403, Some("900805"));
    const PASSED: (u16, Option<&str>) = (200, None);
    answers_within_a_second(node, kept, PASSED).await;

    // An IP condition for this client refuses every API; disabled or deleted, it no longer does.
    let ip = deny(
        &admin,
        json!({"conditionType": "IP", "conditionValue": {"fixedIp": "127.0.0.1", "invert": false}}),
    )
    .await;
    answers_within_a_second(node, kept, REFUSED).await;
    answers_within_a_second(node, blocked, REFUSED).await;
    let r = node.client.get(node.gateway_url(kept)).send().await.expect("gateway");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["message"], "Message blocked", "{body}");
    let (status, _) = admin
        .call(Method::PATCH, &ip, Some(&json!({"conditionStatus": false})))
        .await;
    assert_eq!(status, StatusCode::OK);
    answers_within_a_second(node, kept, PASSED).await;
    let (status, _) = admin
        .call(Method::PATCH, &ip, Some(&json!({"conditionStatus": true})))
        .await;
    assert_eq!(status, StatusCode::OK);
    answers_within_a_second(node, kept, REFUSED).await;
    assert_eq!(admin.call(Method::DELETE, &ip, None).await.0, StatusCode::OK);
    answers_within_a_second(node, kept, PASSED).await;

    // An API condition refuses that API only.
    deny(
        &admin,
        json!({"conditionType": "API", "conditionValue": "/blocked/1.0.0"}),
    )
    .await;
    answers_within_a_second(node, blocked, REFUSED).await;
    assert_eq!(answer(node, kept).await, (200, None));
}
