//! Password checks that cannot be used against the node (issue 20, item 3), through a started
//! node: failures lock a user name out (HTTP Basic and the password grant alike) with 429 and
//! `Retry-After`, without the right password getting through meanwhile; an admin's reset lifts
//! the lock-out and revokes the user's tokens; a crowd of wrong passwords at once meets the
//! bounded hashing queue (503 with `Retry-After`).

use std::path::Path;

use portico_testkit::{Admin, Node, NodeOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const USER_PW: &str = "bob-first-password";

async fn node() -> Node {
    Node::start(Path::new(env!("CARGO_BIN_EXE_portico")), NodeOptions::default())
        .await
        .expect("node")
}

async fn as_user(node: &Node, user: &str, password: &str) -> reqwest::Response {
    node.client
        .get(node.url("/api/am/devportal/v3/applications"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .expect("send")
}

/// A password grant for `user` through a DCR client of the admin's.
async fn password_grant(node: &Node, client: &(String, String), user: &str, password: &str) -> reqwest::Response {
    node.client
        .post(node.url("/oauth2/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", "apim:subscribe"),
        ])
        .send()
        .await
        .expect("token")
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After on {}", r.status()))
}

#[tokio::test]
async fn failures_lock_out_a_user_and_an_admin_reset_lifts_it_and_revokes_tokens() {
    let node = node().await;
    let admin = Admin(&node);
    let bob = admin
        .post(
            "/scim2/Users",
            &json!({"userName": "bob", "password": USER_PW, "roles": ["subscriber"]}),
        )
        .await;
    let bob_id = bob["id"].as_str().expect("id").to_owned();
    let client = admin
        .post(
            "/client-registration/v0.17/register",
            &json!({"clientName": "guard", "owner": "admin", "grantType": "password refresh_token", "saasApp": true}),
        )
        .await;
    let client = (
        client["clientId"].as_str().expect("id").to_owned(),
        client["clientSecret"].as_str().expect("secret").to_owned(),
    );
    let token: Value = password_grant(&node, &client, "bob", USER_PW)
        .await
        .json()
        .await
        .expect("json");
    let access = token["access_token"].as_str().expect("token").to_owned();

    // The first failures are answered as wrong; past them the name is locked out, whichever
    // way the password comes (Basic or the password grant), and the right one does not pass.
    for attempt in 0..6 {
        let r = as_user(&node, "bob", &format!("guess-{attempt}")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let locked = as_user(&node, "bob", USER_PW).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&locked) >= 1);
    let body: Value = locked.json().await.expect("json");
    assert!(
        body["description"]
            .as_str()
            .is_some_and(|d| d.contains("Too many failed sign-ins")),
        "{body}"
    );
    let grant = password_grant(&node, &client, "bob", USER_PW).await;
    assert_eq!(grant.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&grant) >= 1);
    let body: Value = grant.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    // Another user from the same address is not locked out.
    assert_eq!(
        as_user(&node, "admin", &node.admin_password).await.status(),
        StatusCode::OK
    );

    // The admin resets bob's password: the lock-out is lifted and bob's tokens stop working.
    let (status, body) = admin
        .call(
            Method::PATCH,
            &format!("/scim2/Users/{bob_id}"),
            Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                         "Operations": [{"op": "replace", "path": "password", "value": "bob-second-password"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        as_user(&node, "bob", "bob-second-password").await.status(),
        StatusCode::OK
    );
    let revoked = node
        .client
        .get(node.url("/api/am/devportal/v3/applications"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("send");
    assert_eq!(
        revoked.status(),
        StatusCode::UNAUTHORIZED,
        "bob's token was revoked by the reset"
    );
}

#[tokio::test]
async fn a_crowd_of_wrong_passwords_meets_the_bounded_queue() {
    let node = node().await;
    // More at once than the hashing slots and their queue hold: (cores - 1) x (1 + 4).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let slots = cores.saturating_sub(1).max(1) * 5;
    let mut crowd = tokio::task::JoinSet::new();
    for i in 0..slots * 4 {
        let (client, url) = (node.client.clone(), node.url("/api/am/devportal/v3/applications"));
        crowd.spawn(async move {
            let r = client
                .get(url)
                .basic_auth(format!("nobody{i}"), Some("wrong"))
                .send()
                .await
                .expect("send");
            (r.status(), r.headers().contains_key("retry-after"))
        });
    }
    let answers = crowd.join_all().await;
    let allowed = [
        StatusCode::UNAUTHORIZED,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
    assert!(answers.iter().all(|(s, _)| allowed.contains(s)), "{answers:?}");
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!busy.is_empty(), "some are told to come back: {answers:?}");
    assert!(busy.iter().all(|(_, retry)| *retry), "503s carry Retry-After");
    let ready = node.client.get(node.url("/health/ready")).send().await.expect("ready");
    assert_eq!(ready.status(), StatusCode::OK, "the node is unharmed");
}
