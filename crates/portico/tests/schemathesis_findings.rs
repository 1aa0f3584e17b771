//! The bugs an independent schemathesis run against WSO2's documents found (issue 20, item 7),
//! each through the REST API of a started node: grant type names, the undeploy body with
//! `allEnvironments`, out-of-range nested integers, and `GET /apis/export`.

use std::path::Path;

use portico_testkit::{Admin, Node, NodeOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const D: &str = "/api/am/devportal/v3";
const P: &str = "/api/am/publisher/v4";

async fn node() -> Node {
    Node::start(Path::new(env!("CARGO_BIN_EXE_portico")), NodeOptions::default())
        .await
        .expect("node")
}

#[tokio::test]
async fn generate_keys_takes_wso2_grant_type_names_only() {
    let node = node().await;
    let admin = Admin(&node);
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": "grants", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    let keys = format!(
        "{D}/applications/{}/generate-keys",
        app["applicationId"].as_str().expect("id")
    );
    for (grants, named) in [
        (json!(["client_credentials", "foo_bar"]), "grantTypesToBeSupported[1]"),
        (json!(["urn:nonsense"]), "grantTypesToBeSupported[0]"),
        (json!([true, false]), "grantTypesToBeSupported[0]"),
    ] {
        let (status, body) = admin
            .call(
                Method::POST,
                &keys,
                Some(&json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": grants})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{grants}: {body}");
        assert_eq!(body["error"][0]["message"], named, "{body}");
        assert!(
            body["description"]
                .as_str()
                .is_some_and(|d| d.contains("is not a grant type")),
            "{body}"
        );
    }
    // WSO2's Postman collection sends saml2-bearer, which Portico stores but does not issue.
    let grants = json!([
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:saml2-bearer",
        "password",
        "client_credentials"
    ]);
    let body = admin
        .post(
            &keys,
            &json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": grants}),
        )
        .await;
    assert_eq!(body["supportedGrantTypes"], grants, "{body}");
}

#[tokio::test]
async fn undeploy_with_all_environments_reads_its_body_and_nested_integers_stay_integers() {
    let node = node().await;
    let admin = Admin(&node);
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({"name": "Nested", "context": "nested", "version": "1.0.0",
                    "threatProtectionPolicies": {"list": [{"policyId": "p", "priority": 3}]}}),
        )
        .await;
    let id = api["id"].as_str().expect("id").to_owned();
    assert_eq!(api["threatProtectionPolicies"]["list"][0]["priority"], 3);
    let mut update = api.clone();
    update["threatProtectionPolicies"] =
        serde_json::from_str::<Value>(r#"{"list": [{"policyId": "p", "priority": -30035858951153255431798784}]}"#)
            .expect("json");
    let (status, body) = admin.call(Method::PUT, &format!("{P}/apis/{id}"), Some(&update)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"][0]["message"], "threatProtectionPolicies.list[0].priority",
        "{body}"
    );
    assert_eq!(
        admin.get(&format!("{P}/apis/{id}")).await["threatProtectionPolicies"]["list"][0]["priority"],
        3
    );

    admin.deploy_and_publish(&id).await;
    let revision = admin.get(&format!("{P}/apis/{id}/revisions")).await["list"][0]["id"]
        .as_str()
        .expect("revision")
        .to_owned();
    let undeploy = |all: bool| format!("{P}/apis/{id}/undeploy-revision?revisionId={revision}&allEnvironments={all}");
    for all in [false, true] {
        let (user, pw) = node.admin();
        let r = node
            .client
            .post(node.url(&undeploy(all)))
            .basic_auth(user, Some(pw))
            .header("content-type", "application/json")
            .body("not json")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "allEnvironments={all}");
    }
    let deployments = admin.get(&format!("{P}/apis/{id}/deployments")).await;
    assert_eq!(deployments["count"], 1, "still deployed: {deployments}");
    let (status, body) = admin.call(Method::POST, &undeploy(true), None).await;
    assert_eq!(status, StatusCode::CREATED, "an empty body with the flag: {body}");
    assert_eq!(body, json!([]));
}

#[tokio::test]
async fn export_says_it_is_not_served() {
    let node = node().await;
    let admin = Admin(&node);
    for path in [
        format!("{P}/apis/export?apiId=x"),
        format!("{P}/api-products/export?apiProductId=x"),
    ] {
        let (status, body) = admin.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let description = body["description"].as_str().expect("description");
        assert!(description.starts_with("Export is not served by Portico"), "{body}");
        assert!(!description.contains("with id"), "{body}");
    }
}
