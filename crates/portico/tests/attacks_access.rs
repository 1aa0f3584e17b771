//! Attack suite, one user against another's things and against roles they lack: a subscriber
//! reading or changing another subscriber's applications, keys and subscriptions (404: the
//! application does not exist for them), reaching the Publisher and Admin APIs and SCIM (403),
//! and scope escalation through DCR (registering for someone else is refused; the scopes a token
//! gets are only those the user's roles allow).

mod attack_support;

use std::path::Path;

use attack_support::{D, P, deployed_api, id, jwt_part};
use portico_testkit::{Admin, EchoBackend, Node, NodeOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");

/// A user's Basic credentials.
struct User<'a> {
    node: &'a Node,
    name: String,
    password: String,
}

impl User<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .node
            .client
            .request(method, self.node.url(path))
            .basic_auth(&self.name, Some(&self.password));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.expect("send");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

async fn subscriber<'a>(node: &'a Node, name: &str) -> User<'a> {
    let password = format!("{name}-Secret-pw-1");
    let (status, body) = Admin(node)
        .call(
            Method::POST,
            "/scim2/Users",
            Some(&json!({"userName": name, "password": password, "roles": ["Internal/subscriber"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    User {
        node,
        name: name.into(),
        password,
    }
}

#[tokio::test]
async fn a_subscriber_cannot_reach_another_subscribers_applications_keys_or_subscriptions() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let backend = EchoBackend::start("attack-access").await.expect("backend");
    let api_id = deployed_api(&node, &backend).await;
    let alice = subscriber(&node, "alice").await;
    let mallory = subscriber(&node, "mallory").await;
    let (status, app) = alice
        .call(
            Method::POST,
            &format!("{D}/applications"),
            Some(json!({"name": "AliceApp", "throttlingPolicy": "Unlimited"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app_id = id(&app, "applicationId");
    let (status, subscription) = alice
        .call(
            Method::POST,
            &format!("{D}/subscriptions"),
            Some(json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Unlimited"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{subscription}");
    let subscription_id = id(&subscription, "subscriptionId");
    let (status, keys) = alice
        .call(
            Method::POST,
            &format!("{D}/applications/{app_id}/generate-keys"),
            Some(json!({"keyType": "PRODUCTION", "keyManager": "Resident Key Manager",
                "grantTypesToBeSupported": ["client_credentials"], "scopes": ["default"], "validityTime": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let mapping_id = id(&keys, "keyMappingId");

    let a = format!("{D}/applications/{app_id}");
    let cases: Vec<(Method, String, Option<Value>, &[u16])> = vec![
        (Method::GET, a.clone(), None, &[404]),
        (
            Method::PUT,
            a.clone(),
            Some(json!({"name": "Stolen", "throttlingPolicy": "Unlimited"})),
            &[404],
        ),
        (Method::DELETE, a.clone(), None, &[404]),
        (Method::GET, format!("{a}/oauth-keys"), None, &[404]),
        (Method::GET, format!("{a}/oauth-keys/{mapping_id}"), None, &[404]),
        (
            Method::POST,
            format!("{a}/oauth-keys/{mapping_id}/regenerate-secret"),
            None,
            &[404],
        ),
        (
            Method::POST,
            format!("{a}/oauth-keys/{mapping_id}/generate-token"),
            Some(json!({"validityPeriod": 3600})),
            &[404],
        ),
        (
            Method::POST,
            format!("{a}/oauth-keys/{mapping_id}/clean-up"),
            None,
            &[404],
        ),
        (Method::GET, format!("{a}/keys"), None, &[404]),
        (Method::GET, format!("{a}/keys/PRODUCTION"), None, &[404]),
        (
            Method::POST,
            format!("{a}/generate-keys"),
            Some(
                json!({"keyType": "SANDBOX", "keyManager": "Resident Key Manager", "grantTypesToBeSupported": ["client_credentials"]}),
            ),
            &[404],
        ),
        (
            Method::POST,
            format!("{a}/api-keys/PRODUCTION/generate"),
            Some(json!({"validityPeriod": -1})),
            &[404],
        ),
        (
            Method::GET,
            format!("{D}/subscriptions?applicationId={app_id}"),
            None,
            &[404],
        ),
        (
            Method::GET,
            format!("{D}/subscriptions/{subscription_id}"),
            None,
            &[404],
        ),
        (
            Method::PUT,
            format!("{D}/subscriptions/{subscription_id}"),
            Some(json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Unlimited"})),
            &[404],
        ),
        (
            Method::DELETE,
            format!("{D}/subscriptions/{subscription_id}"),
            None,
            &[404],
        ),
        (
            Method::POST,
            format!("{D}/subscriptions"),
            Some(json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Unlimited"})),
            &[404],
        ),
        // Roles the subscriber lacks: the Publisher, Admin and SCIM APIs.
        (
            Method::POST,
            format!("{P}/apis"),
            Some(json!({"name": "M", "context": "/m", "version": "1"})),
            &[403],
        ),
        (Method::DELETE, format!("{P}/apis/{api_id}"), None, &[403]),
        (Method::GET, "/api/am/admin/v4/environments".into(), None, &[403]),
        (Method::GET, "/scim2/Users".into(), None, &[403]),
        (
            Method::PATCH,
            "/scim2/Users/alice".into(),
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "password", "value": "x"}]}),
            ),
            &[403, 404],
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &cases {
        let (status, answer) = mallory.call(method.clone(), path, body.clone()).await;
        if !expected.contains(&status.as_u16()) {
            wrong.push(format!("{method} {path}: {status} (expected {expected:?}) {answer}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cross-user requests answered otherwise:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    // Alice's things are untouched.
    let (status, mine) = alice.call(Method::GET, &a, None).await;
    assert_eq!((status, mine["name"].as_str()), (StatusCode::OK, Some("AliceApp")));
    let (status, listed) = alice
        .call(Method::GET, &format!("{D}/subscriptions?applicationId={app_id}"), None)
        .await;
    assert_eq!(
        (status, listed["count"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{listed}"
    );
    let (status, _) = alice
        .call(Method::GET, &format!("{a}/oauth-keys/{mapping_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Mallory's own list does not show it.
    let (_, theirs) = mallory.call(Method::GET, &format!("{D}/applications"), None).await;
    assert!(!theirs.to_string().contains(&app_id), "{theirs}");
}

async fn register(user: &User<'_>, owner: &str, name: &str) -> (StatusCode, Value) {
    user.call(
        Method::POST,
        "/client-registration/v0.17/register",
        Some(json!({"clientName": name, "owner": owner, "grantType": "password client_credentials", "saasApp": true})),
    )
    .await
}

#[tokio::test]
async fn dcr_does_not_escalate_scopes() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let mallory = subscriber(&node, "mallory").await;
    // Registering a client for the admin is refused.
    let (status, body) = register(&mallory, "admin", "as_admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, client) = register(&mallory, "mallory", "own").await;
    assert_eq!(status, StatusCode::OK, "{client}");
    let (client_id, secret) = (id(&client, "clientId"), id(&client, "clientSecret"));
    let wanted = "apim:admin apim:api_create apim:api_publish apim:api_delete apim:subscribe apim:app_manage";
    for grant in [
        vec![
            ("grant_type", "password"),
            ("username", "mallory"),
            ("password", mallory.password.as_str()),
            ("scope", wanted),
        ],
        vec![("grant_type", "client_credentials"), ("scope", wanted)],
    ] {
        let r = node
            .client
            .post(node.url("/oauth2/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&grant)
            .send()
            .await
            .expect("token");
        assert_eq!(r.status(), StatusCode::OK);
        let answer: Value = r.json().await.expect("JSON");
        let token = id(&answer, "access_token");
        let granted: Vec<String> = answer["scope"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for forbidden in ["apim:admin", "apim:api_create", "apim:api_publish", "apim:api_delete"] {
            assert!(
                !granted.iter().any(|s| s == forbidden),
                "{grant:?} granted {forbidden}: {granted:?}"
            );
        }
        assert!(granted.iter().any(|s| s == "apim:subscribe"), "{granted:?}");
        assert_eq!(
            jwt_part(&token, 1)["scope"],
            answer["scope"],
            "the token carries what the answer says"
        );
        for (method, path) in [
            (Method::GET, "/api/am/admin/v4/environments"),
            (Method::POST, "/api/am/publisher/v4/apis"),
        ] {
            let r = node
                .client
                .request(method.clone(), node.url(path))
                .bearer_auth(&token)
                .json(&json!({"name": "M", "context": "/m", "version": "1"}))
                .send()
                .await
                .expect("call");
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} with mallory's token"
            );
            let body: Value = r.json().await.expect("JSON");
            assert_eq!(body["code"], json!(900910), "{body}");
        }
    }
}
