//! The Publisher's writer against the golden artifacts of `portico-artifact`: a known API and a
//! known API Product are written as those files say (artifact schema 1, as written before the
//! wire types had a crate of their own), and the files read back as what the writer produced.

use portico_apis::{
    Api, ApiInput, ArtifactBackend, LifecycleStatus, Placement, Product, ProductInput, ProductSnapshot,
    RuntimeArtifact, api_artifact, product_artifact, resolve_apis,
};
use serde_json::{Value, json};

const API: &str = include_str!("../../portico-artifact/tests/fixtures/api-schema1.json");
const PRODUCT: &str = include_str!("../../portico-artifact/tests/fixtures/product-schema1.json");

fn api(body: Value, id: &str, now: i64) -> Api {
    let input = ApiInput::from_json(&body).unwrap_or_else(|e| panic!("{e}"));
    Api::create(input, id.into(), "admin", now).unwrap_or_else(|e| panic!("{e}"))
}

/// A deployment to the `Default` environment.
fn placement<'a>(revision_id: &'a str, revision_number: i64, vhost: &'a str, deployed_time: i64) -> Placement<'a> {
    Placement {
        revision_id,
        revision_number,
        environment: "Default",
        vhost,
        deployed_time,
    }
}

/// The writer wrote the golden file (as JSON: key order aside), and the file reads back as what
/// the writer produced.
fn assert_written_as(written: &RuntimeArtifact, golden: &str) {
    let json: Value = serde_json::from_str(golden).expect("golden JSON");
    let read = portico_artifact::from_slice(golden.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(serde_json::to_value(written).expect("json"), json);
    assert_eq!(&read, written);
}

#[test]
fn an_api_is_written_as_the_golden_artifact() {
    let pizza = api(
        json!({
            "name": "PizzaShack", "context": "/pizzashack", "version": "1.0.0", "isDefaultVersion": true,
            "policies": ["Gold", "Bronze"], "apiThrottlingPolicy": "10KPerMin",
            "securityScheme": ["oauth2", "api_key"], "audiences": ["pizza-clients"],
            "corsConfiguration": {"corsConfigurationEnabled": true, "accessControlAllowOrigins": ["https://app.example"],
                "accessControlAllowCredentials": true},
            "endpointConfig": {"endpoint_type": "load_balance",
                "algoCombo": "org.apache.synapse.endpoints.algorithms.RoundRobin", "sessionManagement": "",
                "production_endpoints": [
                    {"url": "http://backend-1:8080/pizza", "config": {"actionDuration": "3000", "suspendDuration": 1000,
                        "factor": "2", "suspendMaxDuration": 8000, "connectTimeout": 500, "retryTimeOut": "1"}},
                    {"url": "https://backend-2:8443/pizza", "config": {"tlsVerification": "false"}}
                ],
                "sandbox_endpoints": {"url": "http://sandbox:8080/pizza"}},
            "operations": [
                {"target": "/menu", "verb": "GET", "authType": "None"},
                {"target": "/order", "verb": "POST", "scopes": ["order"], "throttlingPolicy": "Gold"},
                {"target": "/order/{orderId}", "verb": "get"}
            ]
        }),
        "6b3c3f1e-pizza",
        1_700_000_000_000,
    );
    let at = placement("rev-pizza-1", 1, "localhost", 1_700_000_100_000);
    let written = api_artifact(&pizza, LifecycleStatus::Published, &at).expect("artifact");
    assert_written_as(&written, API);
}

#[test]
fn a_product_is_written_as_the_golden_artifact() {
    let menu = api(
        json!({"name": "Menu", "context": "/menu", "version": "2.0",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://menu:8080"}},
            "operations": [{"target": "/items", "verb": "GET", "authType": "None"},
                {"target": "/items/{id}", "verb": "GET", "scopes": ["read"]}]}),
        "api-menu",
        1,
    );
    let orders = api(
        json!({"name": "Orders", "context": "/orders", "version": "1.0",
            "endpointConfig": {"endpoint_type": "failover", "production_endpoints": {"url": "http://orders-a:8080"},
                "production_failovers": [{"url": "http://orders-b:8080"}], "sandbox_endpoints": {"url": "http://orders-sandbox:8080"}},
            "operations": [{"target": "/orders", "verb": "POST", "throttlingPolicy": "10KPerMin"}]}),
        "api-orders",
        1,
    );
    let input = ProductInput::from_json(&json!({"name": "Shop", "context": "/shop", "policies": ["Gold"],
        "apis": [{"apiId": "api-menu", "operations": [{"target": "/items", "verb": "GET"}, {"target": "/items/{id}", "verb": "GET"}]},
                 {"apiId": "api-orders", "operations": [{"target": "/orders", "verb": "POST"}]}]}))
    .expect("product input");
    let apis = resolve_apis(input.apis.as_deref().unwrap_or_default(), |id| {
        [&menu, &orders].into_iter().find(|a| a.id == id).cloned()
    })
    .expect("resolves");
    let product = Product::create(input, apis, "prod-shop".into(), "admin", 1).expect("product");
    let backends = [&menu, &orders]
        .into_iter()
        .map(|a| ArtifactBackend {
            api_id: a.id.clone(),
            name: a.name.clone(),
            version: a.version.clone(),
            endpoint_config: a.endpoint_config.clone(),
        })
        .collect();
    let at = placement("rev-shop-3", 3, "shop.example", 1_700_000_200_000);
    let snapshot = ProductSnapshot { product, backends };
    let written = product_artifact(&snapshot, LifecycleStatus::Published, &at).expect("artifact");
    assert_written_as(&written, PRODUCT);
}

#[test]
fn an_endpoint_config_the_artifact_cannot_carry_is_refused_by_name() {
    let body = json!({"name": "A", "context": "/a", "version": "1",
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://a", "config": "fast"}}});
    let err = ApiInput::from_json(&body).expect_err("config");
    assert_eq!(err.field, "endpointConfig.production_endpoints.config");

    // A stored API from before that check: the writer names the field rather than writing it.
    let mut stored = api(json!({"name": "A", "context": "/a", "version": "1"}), "api-a", 1);
    stored.endpoint_config = Some(
        json!({"endpoint_type": "http", "production_endpoints": {"url": "http://a"},
        "production_failovers": "http://b"}),
    );
    let at = placement("r", 1, "localhost", 1);
    let err = api_artifact(&stored, LifecycleStatus::Created, &at).expect_err("failovers");
    assert_eq!(err.field, "endpointConfig.production_failovers");
}
