//! The audit log (issue 20, item 5) through a started node: management writes are recorded with
//! who, from where, what, the object and a small before/after, listed by admins only at
//! `GET /api/am/admin/v4/audit-log` and written to `logs/audit.log`; no row holds a password,
//! client secret or token. On SQLite and PostgreSQL.

use portico_testkit::{Admin, Node, node_on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const P: &str = "/api/am/publisher/v4";
const D: &str = "/api/am/devportal/v3";
const AUDIT: &str = "/api/am/admin/v4/audit-log";
const USER_PASSWORD: &str = "Carol-Audit-Password-42";
const NEW_PASSWORD: &str = "Carol-Second-Password-43";

async fn check_audit_log(node: &Node) {
    let admin = Admin(node);
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({"name": "Audited", "context": "audited", "version": "1.0.0"}),
        )
        .await;
    let api_id = api["id"].as_str().expect("id").to_owned();
    let mut renamed = api.clone();
    renamed["description"] = json!("second");
    let (status, _) = admin
        .call(Method::PUT, &format!("{P}/apis/{api_id}"), Some(&renamed))
        .await;
    assert_eq!(status, StatusCode::OK);
    let carol = admin
        .post(
            "/scim2/Users",
            &json!({"userName": "carol", "password": USER_PASSWORD, "roles": ["subscriber"]}),
        )
        .await;
    let carol_id = carol["id"].as_str().expect("id").to_owned();
    let (status, _) = admin
        .call(
            Method::PATCH,
            &format!("/scim2/Users/{carol_id}"),
            Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                         "Operations": [{"op": "replace", "path": "password", "value": NEW_PASSWORD}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": "audited-app", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    let keys = admin
        .post(
            &format!(
                "{D}/applications/{}/generate-keys",
                app["applicationId"].as_str().expect("id")
            ),
            &json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}),
        )
        .await;
    let consumer_secret = keys["consumerSecret"].as_str().expect("secret").to_owned();
    let access_token = keys["token"]["accessToken"].as_str().expect("token").to_owned();
    let dcr = admin
        .post(
            "/client-registration/v0.17/register",
            &json!({"clientName": "audited", "owner": "admin", "grantType": "client_credentials", "saasApp": true}),
        )
        .await;
    let dcr_secret = dcr["clientSecret"].as_str().expect("secret").to_owned();
    let (status, _) = admin.call(Method::DELETE, &format!("{P}/apis/{api_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    // Not recorded: reads, and a write nobody authenticated.
    admin.get(&format!("{P}/apis")).await;
    let anonymous = node
        .client
        .post(node.url(&format!("{P}/apis")))
        .basic_auth("admin", Some("not-the-password"))
        .json(&json!({"name": "X", "context": "x", "version": "1"}))
        .send()
        .await
        .expect("send");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let log = admin.get(&format!("{AUDIT}?limit=100")).await;
    let rows = log["list"].as_array().expect("list");
    assert_eq!(log["pagination"]["total"], rows.len(), "{log}");
    let find = |method: &str, path_end: &str| -> &Value {
        rows.iter()
            .find(|r| r["method"] == method && r["path"].as_str().is_some_and(|p| p.ends_with(path_end)))
            .unwrap_or_else(|| panic!("no {method} ...{path_end} in {log}"))
    };
    let created = find("POST", "/apis");
    assert_eq!(created["user"], "admin");
    assert_eq!(created["clientAddress"], "127.0.0.1");
    assert_eq!(created["status"], 201);
    assert_eq!(
        (&created["objectType"], &created["objectId"]),
        (&json!("apis"), &json!(api_id))
    );
    assert_eq!(created["after"]["name"], "Audited");
    assert!(
        created["at"].as_i64().is_some_and(|t| t > 1_700_000_000_000),
        "{created}"
    );
    let updated = find("PUT", &format!("/apis/{api_id}"));
    assert_eq!(updated["before"]["description"], Value::Null, "{updated}");
    assert_eq!(updated["after"]["description"], "second", "{updated}");
    let deleted = find("DELETE", &format!("/apis/{api_id}"));
    assert_eq!(deleted["before"]["description"], "second", "{deleted}");
    assert_eq!(deleted["after"], Value::Null);
    let patched = find("PATCH", &format!("/scim2/Users/{carol_id}"));
    assert_eq!(
        (&patched["objectType"], &patched["objectId"]),
        (&json!("Users"), &json!(carol_id))
    );
    find("POST", "/generate-keys");
    find("POST", "/client-registration/v0.17/register");
    assert!(rows.iter().all(|r| r["method"] != "GET"), "reads are not writes: {log}");
    assert!(
        rows.iter().all(|r| r["user"] == "admin"),
        "the refused write is not recorded: {log}"
    );
    let newest_first: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().expect("id")).collect();
    assert!(newest_first.windows(2).all(|w| w[0] > w[1]), "{newest_first:?}");

    let filtered = admin.get(&format!("{AUDIT}?user=nobody")).await;
    assert_eq!(filtered["count"], 0);
    let (status, _) = admin.call(Method::GET, &format!("{AUDIT}?since=yesterday"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let as_carol = node
        .client
        .get(node.url(AUDIT))
        .basic_auth("carol", Some(NEW_PASSWORD))
        .send()
        .await
        .expect("send");
    assert_eq!(as_carol.status(), StatusCode::FORBIDDEN, "admins only");

    let file = std::fs::read_to_string(node.home.join("logs/audit.log")).expect("audit.log");
    let lines: Vec<Value> = file
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), rows.len(), "{file}");
    assert!(
        lines
            .iter()
            .any(|l| l["path"].as_str().is_some_and(|p| p.ends_with("/generate-keys")))
    );

    let everything = format!("{log}{file}");
    for secret in [
        USER_PASSWORD,
        NEW_PASSWORD,
        &consumer_secret,
        &access_token,
        &dcr_secret,
    ] {
        assert!(!everything.contains(secret), "a secret is in the audit log: {secret}");
    }
    assert!(everything.contains("********"), "secrets are shown masked");
}

node_on_both_backends!(sqlite_audit_log, postgres_audit_log, check_audit_log);
