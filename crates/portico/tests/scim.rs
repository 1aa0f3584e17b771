//! SCIM 2.0 users and groups over HTTPS against started nodes (SQLite and PostgreSQL): create,
//! get, filter, patch password and roles, delete, group membership, and the invalidation of a
//! user's tokens when a role is removed or the user deleted.

use portico_testkit::Node;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn json(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

fn scim(node: &Node, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let (user, pw) = node.admin();
    node.client
        .request(method, node.url(&format!("/scim2{path}")))
        .basic_auth(user, Some(pw))
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| -> String {
                s.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                        _ => format!("%{b:02X}"),
                    })
                    .collect()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A password-grant token for `user` through a fresh DCR client of the admin.
async fn user_token(node: &Node, client: &(String, String), user: &str, pw: &str, scope: &str) -> reqwest::Response {
    node.client
        .post(node.url("/oauth2/token"))
        .basic_auth(&client.0, Some(&client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", pw),
            ("scope", scope),
        ]))
        .send()
        .await
        .expect("token")
}

async fn check_scim(node: &Node) {
    let (admin, admin_pw) = node.admin();
    let r = node
        .client
        .post(node.url("/client-registration/v0.17/register"))
        .basic_auth(admin, Some(admin_pw))
        .json(&json!({"clientName": "scim_test", "grantType": "password refresh_token", "callbackUrl": ""}))
        .send()
        .await
        .expect("dcr");
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    let client = (
        body["clientId"].as_str().expect("id").to_owned(),
        body["clientSecret"].as_str().expect("secret").to_owned(),
    );

    // Create a creator.
    let r = scim(node, reqwest::Method::POST, "/Users")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "carol",
            "password": "carol-pw-1",
            "roles": [{"value": "Internal/creator"}, {"value": "Internal/subscriber"}],
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/scim+json")
    );
    let carol = json(r).await;
    let id = carol["id"].as_str().expect("id").to_owned();
    assert_eq!(carol["userName"], "carol");
    let groups: Vec<&str> = carol["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["display"].as_str())
        .collect();
    assert_eq!(groups, vec!["Internal/creator", "Internal/subscriber"]);
    assert!(carol.get("password").is_none());

    // Duplicate: 409 uniqueness. Bad input: 400 naming the field.
    let r = scim(node, reqwest::Method::POST, "/Users")
        .json(&json!({"userName": "carol", "password": "whatever1"}))
        .send()
        .await
        .expect("dup");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(json(r).await["scimType"], "uniqueness");
    let r = scim(node, reqwest::Method::POST, "/Users")
        .json(&json!({"userName": "dave", "password": "pw12345", "roles": ["Internal/wizard"]}))
        .send()
        .await
        .expect("bad role");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = json(r).await;
    assert!(body["detail"].as_str().unwrap_or_default().contains("wizard"), "{body}");
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");

    // Get and filter.
    let r = scim(node, reqwest::Method::GET, &format!("/Users/{id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(json(r).await["userName"], "carol");
    let r = scim(
        node,
        reqwest::Method::GET,
        &format!("/Users?{}", form(&[("filter", "userName eq \"carol\"")])),
    )
    .send()
    .await
    .expect("filter");
    let list = json(r).await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["id"], id.as_str());
    let r = scim(
        node,
        reqwest::Method::GET,
        &format!("/Users?{}", form(&[("filter", "userName eq \"nobody\"")])),
    )
    .send()
    .await
    .expect("filter");
    assert_eq!(json(r).await["totalResults"], 0);
    let r = scim(
        node,
        reqwest::Method::GET,
        &format!("/Users?{}", form(&[("filter", "userName sw \"c\"")])),
    )
    .send()
    .await
    .expect("filter");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(r).await["scimType"], "invalidFilter");

    // Carol's token has api_create; the Admin API refuses it (no apim:admin for a creator).
    let r = user_token(node, &client, "carol", "carol-pw-1", "apim:api_create apim:admin").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert_eq!(
        body["scope"], "apim:api_create",
        "apim:admin is not granted to a creator"
    );
    let carol_token = body["access_token"].as_str().expect("token").to_owned();
    let introspect = |t: String| {
        let client = client.clone();
        async move {
            let r = node
                .client
                .post(node.url("/oauth2/introspect"))
                .basic_auth(&client.0, Some(&client.1))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("token", &t)]))
                .send()
                .await
                .expect("introspect");
            json(r).await["active"].as_bool().expect("active")
        }
    };
    assert!(introspect(carol_token.clone()).await);
    let r = node
        .client
        .get(node.url("/api/am/admin/v4/environments"))
        .bearer_auth(&carol_token)
        .send()
        .await
        .expect("env");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(json(r).await["code"], 900910);

    // Removing a role invalidates her tokens.
    let r = scim(node, reqwest::Method::PATCH, &format!("/Users/{id}"))
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": "roles", "value": [{"value": "Internal/subscriber"}]}],
        }))
        .send()
        .await
        .expect("patch roles");
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert_eq!(body["groups"].as_array().map(Vec::len), Some(1));
    assert!(!introspect(carol_token.clone()).await, "role removal revokes tokens");

    // Password change: the old password stops working, the new one works.
    let r = scim(node, reqwest::Method::PATCH, &format!("/Users/{id}"))
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"password": "carol-pw-2"}},
                           {"op": "add", "path": "roles", "value": [{"value": "Internal/publisher"}]}],
        }))
        .send()
        .await
        .expect("patch password");
    assert_eq!(r.status(), StatusCode::OK);
    let r = user_token(node, &client, "carol", "carol-pw-1", "apim:api_view").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = user_token(node, &client, "carol", "carol-pw-2", "apim:api_publish").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert_eq!(body["scope"], "apim:api_publish");
    let token2 = body["access_token"].as_str().expect("token").to_owned();
    assert!(introspect(token2.clone()).await);

    // Groups: the four roles with members; membership patch; fixed set.
    let r = scim(node, reqwest::Method::GET, "/Groups")
        .send()
        .await
        .expect("groups");
    let groups = json(r).await;
    assert_eq!(groups["totalResults"], 4);
    let creator = groups["Resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|g| g["displayName"] == "Internal/creator")
        .expect("creator group")
        .clone();
    assert!(
        creator["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["display"] == "carol")
    );
    let creator_id = creator["id"].as_str().expect("id").to_owned();
    let r = scim(node, reqwest::Method::PATCH, &format!("/Groups/{creator_id}"))
        .json(&json!({"Operations": [{"op": "remove", "path": "members", "value": [{"value": id}]}]}))
        .send()
        .await
        .expect("patch group");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        !json(r).await["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["display"] == "carol")
    );
    let r = scim(node, reqwest::Method::POST, "/Groups")
        .json(&json!({"displayName": "Internal/new"}))
        .send()
        .await
        .expect("create group");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Deleting the user: 204, the user is gone and so are her tokens.
    let r = user_token(node, &client, "carol", "carol-pw-2", "apim:api_publish").await;
    let token3 = json(r).await["access_token"].as_str().expect("token").to_owned();
    assert!(introspect(token3.clone()).await);
    let r = scim(node, reqwest::Method::DELETE, &format!("/Users/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!introspect(token3.clone()).await, "deleted user's token is revoked");
    let r = scim(node, reqwest::Method::GET, &format!("/Users/{id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = user_token(node, &client, "carol", "carol-pw-2", "apim:api_publish").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Only admins manage users: a subscriber's Basic credentials get 403.
    let r = scim(node, reqwest::Method::POST, "/Users")
        .json(&json!({"userName": "sam", "password": "sam-pw-1", "roles": ["Internal/subscriber"]}))
        .send()
        .await
        .expect("create sam");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = node
        .client
        .get(node.url("/scim2/Users"))
        .basic_auth("sam", Some("sam-pw-1"))
        .send()
        .await
        .expect("list as sam");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

portico_testkit::node_on_both_backends!(sqlite_scim_users_and_groups, postgres_scim_users_and_groups, check_scim);
