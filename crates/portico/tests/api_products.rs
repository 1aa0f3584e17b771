//! API Products on one running node, through its real interfaces: the Publisher's
//! `/api-products` (CRUD, validation, revisions, deployment, lifecycle), DevPortal subscriptions
//! to a product, the gateway routing `/{productContext}[/1.0.0]/{resource}` to the owning API's
//! backend (the node's PizzaShack sample over https) with the product's subscription, and the
//! REST version aliases (Publisher v2/v3, DevPortal v2). On SQLite and again on PostgreSQL.

#![recursion_limit = "256"]

use std::path::Path;
use std::time::{Duration, Instant};

use portico_testkit::{Admin, Node, NodeOptions, PgDatabase};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const D: &str = "/api/am/devportal/v3";
const P: &str = "/api/am/publisher/v4";

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}")).to_owned()
}

fn backend(node: &Node) -> String {
    format!(
        "https://localhost:{}/am/sample/pizzashack/v1/api/",
        node.ports.management
    )
}

/// The quick-start's PizzaShack API (the collection's body), deployed and published.
async fn publish_api(admin: &Admin<'_>, name: &str, context: &str) -> String {
    let url = backend(admin.0);
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": name, "context": context, "version": "1.0.0", "provider": "admin",
                "lifeCycleStatus": "PUBLISHED", "wsdlInfo": null, "monetization": null, "mediationPolicies": [],
                "businessInformation": {"businessOwner": "Jane Roe", "businessOwnerEmail": "marketing@pizzashack.com"},
                "policies": ["Unlimited"], "securityScheme": ["oauth2", "oauth_basic_auth_api_key_mandatory"],
                "endpointConfig": {"endpoint_type": "http",
                    "production_endpoints": {"url": url}, "sandbox_endpoints": {"url": url}},
                "operations": [
                    {"target": "/menu", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited"},
                    {"target": "/order", "verb": "POST", "authType": "Application & Application User", "throttlingPolicy": "Unlimited"}
                ]
            }),
        )
        .await;
    // Creating an API ignores the lifeCycleStatus in the body; passthrough fields come back.
    assert_eq!(api["lifeCycleStatus"], "CREATED", "{api}");
    assert_eq!(api["businessInformation"]["businessOwner"], "Jane Roe", "{api}");
    let api_id = id(&api, "id");
    admin.deploy_and_publish(&api_id).await;
    api_id
}

fn product_body(name: &str, context: &str, api_id: &str, state: &str) -> Value {
    json!({
        "name": name, "context": context, "description": null, "provider": "admin", "hasThumbnail": null,
        "state": state, "enableSchemaValidation": false, "isRevision": false, "revisionedApiProductId": null,
        "revisionId": 0, "responseCachingEnabled": false, "cacheTimeout": 300, "visibility": "PUBLIC",
        "visibleRoles": [], "visibleTenants": [], "accessControl": "NONE", "accessControlRoles": [], "apiType": null,
        "transport": ["http", "https"], "tags": [], "policies": ["Unlimited", "Gold"], "apiThrottlingPolicy": null,
        "authorizationHeader": "Authorization", "securityScheme": ["oauth2", "oauth_basic_auth_api_key_mandatory"],
        "subscriptionAvailability": "ALL_TENANTS", "subscriptionAvailableTenants": [], "additionalProperties": [],
        "monetization": null,
        "businessInformation": {"businessOwner": null, "businessOwnerEmail": null, "technicalOwner": null, "technicalOwnerEmail": null},
        "apis": [{"name": "PizzaShackAPI", "apiId": api_id, "version": "1.0.0", "operations": [
            {"id": "", "target": "/menu", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited", "scopes": [], "usedProductIds": []},
            {"id": "", "target": "/order", "verb": "POST", "authType": "Application & Application User", "throttlingPolicy": "Unlimited", "scopes": [], "usedProductIds": []}
        ]}],
        "scopes": [], "categories": []
    })
}

async fn invoke(node: &Node, path: &str, token: &str) -> (u16, Value) {
    let r = node
        .client
        .get(node.gateway_url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("gateway");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls until the gateway answers `want` (deployments and subscriptions travel asynchronously).
async fn eventually(node: &Node, path: &str, token: &str, want: u16) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = invoke(node, path, token).await;
        if status == want {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} still answers {status} {body} instead of {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An application subscribed to `api_id` with `tier`, and a token of it.
async fn subscribed_app(admin: &Admin<'_>, name: &str, api_id: &str, tier: &str) -> (String, String) {
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": name, "throttlingPolicy": "Unlimited", "description": "d", "tokenType": "JWT",
                "status": "APPROVED", "owner": "admin", "hashEnabled": true}),
        )
        .await;
    let app_id = id(&app, "applicationId");
    admin
        .post(
            &format!("{D}/subscriptions"),
            &json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": tier}),
        )
        .await;
    let keys = admin
        .post(
            &format!("{D}/applications/{app_id}/generate-keys"),
            &json!({"keyType": "PRODUCTION", "keyManager": "Resident Key Manager",
                "grantTypesToBeSupported": ["refresh_token", "urn:ietf:params:oauth:grant-type:saml2-bearer", "password", "client_credentials"],
                "scopes": ["am_application_scope", "default"], "validityTime": 3600}),
        )
        .await;
    (app_id, id(&keys["token"], "accessToken"))
}

/// Runs the scenario; returns a token of the application subscribed to the product.
async fn products(node: &Node) -> String {
    let admin = Admin(node);
    let api_id = publish_api(&admin, "PizzaShackAPI", "/pizza").await;

    // Validation: unknown API, unknown operation, missing name, wrong type.
    let mut body = product_body("Bad", "/bad", "no-such-api", "PUBLISHED");
    let (status, err) = admin
        .call(Method::POST, &format!("{P}/api-products"), Some(&body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["description"]
            .as_str()
            .unwrap_or_default()
            .contains("apis[0].apiId"),
        "{err}"
    );
    body["apis"][0]["apiId"] = json!(api_id);
    body["apis"][0]["operations"][1]["target"] = json!("/nope");
    let (status, err) = admin
        .call(Method::POST, &format!("{P}/api-products"), Some(&body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("apis[0].operations[1]") && text.contains("POST /nope"),
        "{err}"
    );
    let mut body = product_body("Bad", "/bad", &api_id, "PUBLISHED");
    body["cacheTimeout"] = json!("soon");
    let (status, err) = admin
        .call(Method::POST, &format!("{P}/api-products"), Some(&body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(err.to_string().contains("cacheTimeout"), "{err}");

    // Create (state PUBLISHED kept, version 1.0.0), read, list.
    let product = admin
        .post(
            &format!("{P}/api-products"),
            &product_body("PizzaShackAPIProduct", "/pizzaproduct", &api_id, "PUBLISHED"),
        )
        .await;
    let product_id = id(&product, "id");
    assert_eq!(product["state"], "PUBLISHED", "{product}");
    assert_eq!(product["version"], "1.0.0");
    assert_eq!(product["apis"][0]["apiId"], api_id.as_str());
    assert_eq!(product["subscriptionAvailability"], "ALL_TENANTS");
    let got = admin.get(&format!("{P}/api-products/{product_id}")).await;
    assert_eq!(got["name"], "PizzaShackAPIProduct");
    let listed = admin
        .get(&format!("{P}/api-products?limit=10&offset=0&query=name:Pizza"))
        .await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["list"][0]["state"], "PUBLISHED");
    // The Publisher's API list does not show products; the product is not an API there.
    let apis = admin.get(&format!("{P}/apis")).await;
    assert_eq!(apis["count"], 1, "{apis}");
    let (status, _) = admin.call(Method::GET, &format!("{P}/apis/{product_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A taken context is 409.
    let (status, err) = admin
        .call(
            Method::POST,
            &format!("{P}/api-products"),
            Some(&product_body("Another", "/pizzaproduct", &api_id, "CREATED")),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");

    // Update keeps identity fields and re-validates operations.
    let mut update = got.clone();
    update["description"] = json!("bundle");
    update["name"] = json!("Renamed");
    let (status, updated) = admin
        .call(Method::PUT, &format!("{P}/api-products/{product_id}"), Some(&update))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (updated["description"].as_str(), updated["name"].as_str()),
        (Some("bundle"), Some("PizzaShackAPIProduct"))
    );
    update["apis"][0]["operations"][0]["target"] = json!("/missing");
    let (status, _) = admin
        .call(Method::PUT, &format!("{P}/api-products/{product_id}"), Some(&update))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Revisions: at most 5; deploy one.
    let mut revisions = Vec::new();
    for i in 0..5 {
        let r = admin
            .post(
                &format!("{P}/api-products/{product_id}/revisions"),
                &json!({"description": format!("r{i}")}),
            )
            .await;
        revisions.push(id(&r, "id"));
    }
    let (status, err) = admin
        .call(
            Method::POST,
            &format!("{P}/api-products/{product_id}/revisions"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, _) = admin
        .call(
            Method::DELETE,
            &format!("{P}/api-products/{product_id}/revisions/{}", revisions[4]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let listed = admin.get(&format!("{P}/api-products/{product_id}/revisions")).await;
    assert_eq!(listed["count"], 4);
    let deployed = admin
        .post(
            &format!(
                "{P}/api-products/{product_id}/deploy-revision?revisionId={}",
                revisions[0]
            ),
            &json!([{"name": "Default", "vhost": "localhost", "displayOnDevportal": true}]),
        )
        .await;
    assert_eq!(deployed[0]["name"], "Default", "{deployed}");
    let deployments = admin.get(&format!("{P}/api-products/{product_id}/deployments")).await;
    assert_eq!(deployments["count"], 1);

    // Restoring a revision makes it the working copy again.
    let mut changed = admin.get(&format!("{P}/api-products/{product_id}")).await;
    changed["description"] = json!("changed");
    let (status, _) = admin
        .call(Method::PUT, &format!("{P}/api-products/{product_id}"), Some(&changed))
        .await;
    assert_eq!(status, StatusCode::OK);
    let restored = admin
        .post(
            &format!(
                "{P}/api-products/{product_id}/restore-revision?revisionId={}",
                revisions[0]
            ),
            &json!({}),
        )
        .await;
    assert_eq!(restored["description"], "bundle", "{restored}");
    assert_eq!(restored["isRevision"], false);

    // The DevPortal lists the published product with its type.
    let listed = admin.get(&format!("{D}/apis")).await;
    let entry = listed["list"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["id"] == product_id.as_str()))
        .unwrap_or_else(|| panic!("product in {listed}"))
        .clone();
    assert_eq!(entry["type"], "APIPRODUCT");

    // Subscriptions: tiers are the product's; the gateway checks the product's id.
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": "Probe", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    let (status, err) = admin
        .call(
            Method::POST,
            &format!("{D}/subscriptions"),
            Some(
                &json!({"applicationId": id(&app, "applicationId"), "apiId": product_id, "throttlingPolicy": "Bronze"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (product_app, product_token) = subscribed_app(&admin, "PizzaProductApp", &product_id, "Gold").await;
    let (_, api_token) = subscribed_app(&admin, "PizzaApp", &api_id, "Unlimited").await;

    let menu = eventually(node, "/pizzaproduct/menu", &product_token, 200).await;
    assert_eq!(menu.as_array().map(Vec::len), Some(10), "{menu}");
    let menu = eventually(node, "/pizzaproduct/1.0.0/menu", &product_token, 200).await;
    assert!(menu.is_array());
    // (The other application's client id reaches the gateway asynchronously.)
    let body = eventually(node, "/pizzaproduct/menu", &api_token, 403).await;
    assert_eq!(body["code"], "900908", "{body}");
    let (status, body) = invoke(node, "/pizza/1.0.0/menu", &product_token).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("900908")), "{body}");
    eventually(node, "/pizza/1.0.0/menu", &api_token, 200).await;
    // An operation the product does not take from the API is not there.
    let (status, body) = invoke(node, "/pizzaproduct/order/1", &product_token).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("900906")), "{body}");

    // The product's tier is recorded on the subscription.
    let subs = admin
        .get(&format!("{D}/subscriptions?applicationId={product_app}"))
        .await;
    assert_eq!(subs["list"][0]["apiId"], product_id.as_str());
    assert_eq!(subs["list"][0]["throttlingPolicy"], "Gold");
    assert_eq!(subs["list"][0]["apiInfo"]["type"], "APIPRODUCT", "{subs}");

    // The product's state: blocked products answer 700700 at the gateway; re-publish restores.
    let changed = admin
        .post(
            &format!("{P}/api-products/change-lifecycle?apiProductId={product_id}&action=Block"),
            &json!({}),
        )
        .await;
    assert_eq!(changed["lifecycleState"]["state"], "Blocked", "{changed}");
    let body = eventually(node, "/pizzaproduct/menu", &product_token, 503).await;
    assert_eq!(body["code"], "700700", "{body}");
    admin
        .post(
            &format!("{P}/api-products/change-lifecycle?apiProductId={product_id}&action=Re-Publish"),
            &json!({}),
        )
        .await;
    eventually(node, "/pizzaproduct/menu", &product_token, 200).await;

    let history = admin
        .get(&format!("{P}/api-products/{product_id}/lifecycle-history"))
        .await;
    assert_eq!(history["count"], 3, "{history}");
    let lc = admin
        .get(&format!("{P}/api-products/{product_id}/lifecycle-state"))
        .await;
    assert_eq!(lc["state"], "Published", "{lc}");

    // A product created in CREATED state cannot be subscribed to.
    let created = admin
        .post(
            &format!("{P}/api-products"),
            &product_body("Draft", "/draft", &api_id, "CREATED"),
        )
        .await;
    let (status, err) = admin
        .call(
            Method::POST,
            &format!("{D}/subscriptions"),
            Some(&json!({"applicationId": id(&app, "applicationId"), "apiId": id(&created, "id"), "throttlingPolicy": "Unlimited"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, _) = admin
        .call(
            Method::DELETE,
            &format!("{P}/api-products/{}", id(&created, "id")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The API a product uses cannot be deleted; the subscribed product neither.
    let (status, _) = admin.call(Method::DELETE, &format!("{P}/apis/{api_id}"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin
        .call(Method::DELETE, &format!("{P}/api-products/{product_id}"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Version aliases answer as the current versions.
    for (alias, current) in [
        ("/api/am/publisher/v2", P),
        ("/api/am/publisher/v3", P),
        ("/api/am/devportal/v2", D),
    ] {
        let path = if current == P {
            format!("/api-products/{product_id}")
        } else {
            format!("/apis/{product_id}")
        };
        let a = admin.get(&format!("{alias}{path}")).await;
        let b = admin.get(&format!("{current}{path}")).await;
        assert_eq!(a, b, "{alias}{path}");
    }
    let a = admin.get(&format!("/api/am/publisher/v2/apis/{api_id}")).await;
    assert_eq!(a["id"], api_id.as_str());
    let a = admin
        .get(&format!(
            "/api/am/devportal/v2/subscriptions?applicationId={product_app}"
        ))
        .await;
    assert_eq!(a["count"], 1);
    product_token
}

#[tokio::test]
async fn sqlite_api_products() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let token = products(&node).await;
    // After a restart the product's artifact is rewritten from the store and served again.
    let node = node.restart().await.expect("restart");
    let menu = eventually(&node, "/pizzaproduct/menu", &token, 200).await;
    assert!(menu.is_array(), "{menu}");
}

#[tokio::test]
async fn postgres_api_products() {
    let Some(db) = PgDatabase::create("products").await.expect("database") else {
        return;
    };
    let node = Node::start(Path::new(BIN), NodeOptions::on_postgres(&db))
        .await
        .expect("node");
    products(&node).await;
}
