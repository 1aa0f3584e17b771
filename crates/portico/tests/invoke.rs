//! WSO2's quick-start end to end on one running node, every step through its real interface:
//! the Publisher creates, revises, deploys and publishes the PizzaShack API (backend: the node's
//! own sample service over https); the DevPortal creates an application, subscribes and generates
//! keys; the gateway then serves the menu to the application's token and API key, and follows
//! blocking, revocation, secret regeneration and deletion, each on the very next request (REST
//! calls answer once their node has applied them). On SQLite and again on PostgreSQL.

use std::time::{Duration, Instant};

use portico_testkit::{Admin, Node};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const D: &str = "/api/am/devportal/v3";
const P: &str = "/api/am/publisher/v4";

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}")).to_owned()
}

/// The quick-start's PizzaShack API, secured by OAuth2 and API keys, deployed and published.
async fn publish_pizzashack(admin: &Admin<'_>, name: &str, context: &str) -> String {
    let backend = format!(
        "https://localhost:{}/am/sample/pizzashack/v1/api/",
        admin.0.ports.management
    );
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": name, "context": context, "version": "1.0.0", "policies": ["Unlimited", "Gold"],
                "securityScheme": ["oauth2", "api_key", "oauth_basic_auth_api_key_mandatory"],
                "endpointConfig": {"endpoint_type": "http",
                    "production_endpoints": {"url": backend}, "sandbox_endpoints": {"url": backend}},
                "operations": [
                    {"target": "/menu", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited"},
                    {"target": "/order", "verb": "POST", "authType": "Application & Application User", "throttlingPolicy": "Unlimited"}
                ]
            }),
        )
        .await;
    let api_id = id(&api, "id");
    admin.deploy_and_publish(&api_id).await;
    api_id
}

struct Call {
    status: u16,
    body: Value,
}

async fn invoke(node: &Node, path: &str, credential: (&str, &str)) -> Call {
    let r = node
        .client
        .get(node.gateway_url(path))
        .header(credential.0, credential.1)
        .send()
        .await
        .expect("gateway");
    let status = r.status().as_u16();
    Call {
        status,
        body: r.json().await.unwrap_or(Value::Null),
    }
}

/// The gateway's answer right after a REST call on the same node: changes made through the REST
/// APIs are applied on their node before the call answers (read-your-writes), so no polling.
async fn at_once(node: &Node, path: &str, credential: (&str, &str), want: u16) -> (Call, Duration) {
    let started = Instant::now();
    let call = invoke(node, path, credential).await;
    assert_eq!(call.status, want, "{path}: {}", call.body);
    (call, started.elapsed())
}

async fn quick_start(node: &Node) {
    let admin = Admin(node);
    let api_id = publish_pizzashack(&admin, "PizzaShackAPI", "/pizza").await;
    let other_id = publish_pizzashack(&admin, "OtherAPI", "/other").await;

    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": "PizzaApp", "throttlingPolicy": "Unlimited", "description": "quick start", "tokenType": "JWT"}),
        )
        .await;
    let app_id = id(&app, "applicationId");
    let subscription = admin
        .post(
            &format!("{D}/subscriptions"),
            &json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Unlimited"}),
        )
        .await;
    let subscription_id = id(&subscription, "subscriptionId");
    let keys = admin
        .post(
            &format!("{D}/applications/{app_id}/generate-keys"),
            &json!({"keyType": "PRODUCTION", "keyManager": "Resident Key Manager",
                "grantTypesToBeSupported": ["password", "client_credentials", "refresh_token"],
                "callbackUrl": "", "scopes": ["default"], "validityTime": 3600, "additionalProperties": {}}),
        )
        .await;
    let token = keys["token"]["accessToken"]
        .as_str()
        .expect("generate-keys answers a first token")
        .to_owned();
    let bearer = format!("Bearer {token}");
    let auth = ("authorization", bearer.as_str());

    // The gateway serves the menu from the sample backend (https, the node's own certificate).
    let (menu, _) = at_once(node, "/pizza/1.0.0/menu", auth, 200).await;
    assert_eq!(menu.body.as_array().map(Vec::len), Some(10), "{}", menu.body);

    // No subscription to the other API; no credentials at all.
    let call = invoke(node, "/other/1.0.0/menu", auth).await;
    assert_eq!((call.status, call.body["code"].as_str()), (403, Some("900908")));
    let call = invoke(node, "/pizza/1.0.0/menu", ("x-none", "-")).await;
    assert_eq!((call.status, call.body["code"].as_str()), (401, Some("900902")));
    let _ = other_id;

    // An API key works like the token.
    let key = admin
        .post(
            &format!("{D}/applications/{app_id}/api-keys/PRODUCTION/generate"),
            &json!({"validityPeriod": -1, "additionalProperties": {}}),
        )
        .await;
    let api_key = id(&key, "apikey");
    let (call, _) = at_once(node, "/pizza/1.0.0/menu", ("apikey", &api_key), 200).await;
    assert!(call.body.is_array());

    // Blocking the subscription stops both; unblocking restores them.
    admin
        .post(
            &format!("{P}/subscriptions/block-subscription?subscriptionId={subscription_id}&blockState=BLOCKED"),
            &json!({}),
        )
        .await;
    let (call, blocked_after) = at_once(node, "/pizza/1.0.0/menu", auth, 403).await;
    assert_eq!(call.body["code"], "900908");
    assert_eq!(
        invoke(node, "/pizza/1.0.0/menu", ("apikey", &api_key)).await.status,
        403
    );
    admin
        .post(
            &format!("{P}/subscriptions/unblock-subscription?subscriptionId={subscription_id}"),
            &json!({}),
        )
        .await;
    at_once(node, "/pizza/1.0.0/menu", auth, 200).await;
    println!("gateway answered the first request after blocking in {blocked_after:?}");

    // Revoking the API key refuses it at once.
    admin
        .post(
            &format!("{D}/applications/{app_id}/api-keys/PRODUCTION/revoke"),
            &json!({"apikey": api_key}),
        )
        .await;
    let (call, _) = at_once(node, "/pizza/1.0.0/menu", ("apikey", &api_key), 401).await;
    assert_eq!(call.body["code"], "900901");

    // Revoking the token (RFC 7009) refuses it on the very next request.
    let key_mapping = id(&keys, "keyMappingId");
    let (consumer_key, consumer_secret) = (id(&keys, "consumerKey"), id(&keys, "consumerSecret"));
    let r = node
        .client
        .post(node.url("/oauth2/revoke"))
        .basic_auth(&consumer_key, Some(&consumer_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        // A JWT is made of URL-safe characters and dots: no escaping needed.
        .body(format!("token={token}"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 200);
    let call = invoke(node, "/pizza/1.0.0/menu", auth).await;
    assert_eq!((call.status, call.body["code"].as_str()), (401, Some("900901")));

    // A fresh token; regenerating the secret stops it.
    let fresh = admin
        .post(
            &format!("{D}/applications/{app_id}/oauth-keys/{key_mapping}/generate-token"),
            &json!({"consumerSecret": consumer_secret, "validityPeriod": 3600, "scopes": ["default"]}),
        )
        .await;
    let fresh = format!("Bearer {}", id(&fresh, "accessToken"));
    at_once(node, "/pizza/1.0.0/menu", ("authorization", &fresh), 200).await;
    admin
        .post(
            &format!("{D}/applications/{app_id}/oauth-keys/{key_mapping}/regenerate-secret"),
            &json!({}),
        )
        .await;
    at_once(node, "/pizza/1.0.0/menu", ("authorization", &fresh), 401).await;

    // Deleting the application: its new token stops working.
    let keys2 = admin
        .post(
            &format!("{D}/applications/{app_id}/oauth-keys/{key_mapping}/generate-token"),
            &json!({"validityPeriod": 3600, "scopes": []}),
        )
        .await;
    let last = format!("Bearer {}", id(&keys2, "accessToken"));
    at_once(node, "/pizza/1.0.0/menu", ("authorization", &last), 200).await;
    let (status, body) = admin
        .call(Method::DELETE, &format!("{D}/applications/{app_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    at_once(node, "/pizza/1.0.0/menu", ("authorization", &last), 401).await;
}

portico_testkit::node_on_both_backends!(
    sqlite_quick_start_through_the_gateway,
    postgres_quick_start_through_the_gateway,
    quick_start
);
