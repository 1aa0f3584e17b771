//! Shared by the attack suite (`attacks_*.rs`): a deployed API with an echo backend, a
//! subscribed application's client, tokens, and JWT pieces.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portico_testkit::{Admin, EchoBackend, Node};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const P: &str = "/api/am/publisher/v4";
pub const D: &str = "/api/am/devportal/v3";
/// The attack suite's API: GET /menu behind OAuth2 at `/attack/1.0.0`.
pub const GATEWAY_PATH: &str = "/attack/1.0.0/menu";

pub fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}")).to_owned()
}

/// The API, deployed and published; returns its id.
pub async fn deployed_api(node: &Node, backend: &EchoBackend) -> String {
    let admin = Admin(node);
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": "Attack", "context": "/attack", "version": "1.0.0", "policies": ["Unlimited"],
                "endpointConfig": {"endpoint_type": "http",
                    "production_endpoints": {"url": backend.url("/")}, "sandbox_endpoints": {"url": backend.url("/")}},
                "operations": [{"target": "/menu", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited"}]
            }),
        )
        .await;
    let api_id = id(&api, "id");
    admin.deploy_and_publish(&api_id).await;
    api_id
}

/// An application of the admin subscribed to `api_id`, with production keys; returns
/// (application id, consumer key, consumer secret).
pub async fn subscribed_app(node: &Node, api_id: &str, name: &str) -> (String, String, String) {
    let admin = Admin(node);
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": name, "throttlingPolicy": "Unlimited", "tokenType": "JWT"}),
        )
        .await;
    let app_id = id(&app, "applicationId");
    admin
        .post(
            &format!("{D}/subscriptions"),
            &json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Unlimited"}),
        )
        .await;
    let keys = admin
        .post(
            &format!("{D}/applications/{app_id}/generate-keys"),
            &json!({"keyType": "PRODUCTION", "keyManager": "Resident Key Manager",
                "grantTypesToBeSupported": ["client_credentials", "password"], "callbackUrl": "", "scopes": ["default"],
                "validityTime": 3600, "additionalProperties": {}}),
        )
        .await;
    (app_id, id(&keys, "consumerKey"), id(&keys, "consumerSecret"))
}

/// A token from the node's token endpoint for the client, with the form's grant.
pub async fn token(node: &Node, client: (&str, &str), form: &[(&str, &str)]) -> String {
    let r = node
        .client
        .post(node.url("/oauth2/token"))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    id(&r.json::<Value>().await.expect("JSON"), "access_token")
}

/// The JSON of a JWT's part `n` (0: header, 1: claims).
pub fn jwt_part(token: &str, n: usize) -> Value {
    let part = token.split('.').nth(n).expect("JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}
