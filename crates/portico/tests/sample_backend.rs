//! The PizzaShack sample on the management port, and the gateway calling https backends: the
//! node's own certificate is trusted, a stranger's is not unless the endpoint switches
//! verification off.

use std::path::Path;
use std::time::Duration;

use portico_testkit::{Node, NodeOptions};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const SAMPLE: &str = "/am/sample/pizzashack/v1/api";

fn artifact(id: &str, context: &str, endpoint: Value) -> Value {
    json!({
        "schema": 1, "id": id, "name": id, "version": "1.0.0", "context": context,
        "isDefaultVersion": false, "lifeCycleStatus": "PUBLISHED",
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": endpoint},
        "operations": [
            {"target": "/menu", "verb": "GET", "authType": "None", "throttlingPolicy": "Unlimited", "scopes": []},
            {"target": "/order", "verb": "POST", "authType": "None", "throttlingPolicy": "Unlimited", "scopes": []}
        ],
        "policies": ["Unlimited"], "apiThrottlingPolicy": null,
        "corsConfiguration": {"corsConfigurationEnabled": false},
        "securityScheme": ["oauth2"], "transport": ["http", "https"],
        "revisionId": "rev-1", "revisionNumber": 1, "environment": "Default", "vhost": "localhost", "deployedTime": 1
    })
}

fn write_artifact(home: &Path, id: &str, doc: &Value) {
    let dir = home.join("deployment/server/Default");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let tmp = dir.join(format!(".{id}.tmp"));
    std::fs::write(&tmp, doc.to_string()).expect("write");
    std::fs::rename(&tmp, dir.join(format!("{id}.json"))).expect("rename");
}

/// Polls until the path answers something other than 404 (the artifact is loaded).
async fn routed(node: &Node, path: &str) -> reqwest::Response {
    for _ in 0..100 {
        let r = node.client.get(node.gateway_url(path)).send().await.expect("send");
        if r.status() != 404 {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} was never routed");
}

#[tokio::test]
async fn pizzashack_serves_its_menu_and_keeps_orders() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let menu: Value = node
        .client
        .get(node.url(&format!("{SAMPLE}/menu")))
        .send()
        .await
        .expect("menu")
        .json()
        .await
        .expect("json");
    let items = menu.as_array().expect("menu is a list");
    assert_eq!(items.len(), 10);
    assert!(items.iter().all(|i| i["name"].is_string() && i["price"].is_string()));

    let order = json!({"pizzaType": "Garden Fresh", "quantity": 2, "customerName": "Ann", "address": "1 Main St",
        "creditCardNumber": "4111", "delivered": false});
    let r = node
        .client
        .post(node.url(&format!("{SAMPLE}/order")))
        .json(&order)
        .send()
        .await
        .expect("order");
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("location").is_some());
    let placed: Value = r.json().await.expect("json");
    let id = placed["orderId"].as_str().expect("orderId").to_owned();
    let url = node.url(&format!("{SAMPLE}/order/{id}"));
    let fetched: Value = node
        .client
        .get(&url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(fetched["customerName"], "Ann");
    let mut changed = order.clone();
    changed["quantity"] = json!(3);
    let r = node.client.put(&url).json(&changed).send().await.expect("put");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["quantity"], 3);
    assert_eq!(node.client.delete(&url).send().await.expect("delete").status(), 200);
    let r = node.client.get(&url).send().await.expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], 404);

    // Bad orders are refused with a reason and change nothing.
    let r = node
        .client
        .post(node.url(&format!("{SAMPLE}/order")))
        .json(&json!({"pizzaType": "Pineapple Surprise", "quantity": 1}))
        .send()
        .await
        .expect("bad order");
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<Value>().await.expect("json")["description"]
            .as_str()
            .is_some_and(|d| d.contains("Pineapple Surprise"))
    );
}

#[tokio::test]
async fn production_mode_serves_no_sample() {
    let node = Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: vec![("mode = \"dev\"".into(), "mode = \"production\"".into())],
            ..Default::default()
        },
    )
    .await
    .expect("node");
    let r = node
        .client
        .get(node.url(&format!("{SAMPLE}/menu")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_gateway_calls_https_backends_it_trusts_and_refuses_strangers() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let stranger = Node::start(Path::new(BIN), NodeOptions::default())
        .await
        .expect("second node");
    let own = format!("https://localhost:{}{SAMPLE}/", node.ports.management);
    let foreign = format!("https://localhost:{}{SAMPLE}/", stranger.ports.management);

    // This node's own certificate is in the backend trust store.
    write_artifact(&node.home, "own", &artifact("own", "/pizza", json!({"url": own})));
    let r = routed(&node, "/pizza/1.0.0/menu").await;
    assert_eq!(r.status(), 200);
    let menu: Value = r.json().await.expect("json");
    assert_eq!(menu.as_array().map(Vec::len), Some(10), "{menu}");

    // Another node's self-signed certificate is not: the call fails as an unreachable backend.
    write_artifact(
        &node.home,
        "foreign",
        &artifact(
            "foreign",
            "/foreign",
            json!({"url": foreign, "config": {"suspendDuration": 0}}),
        ),
    );
    let r = routed(&node, "/foreign/1.0.0/menu").await;
    assert_eq!(r.status(), 502);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "101503");

    // The endpoint may switch verification off.
    write_artifact(
        &node.home,
        "insecure",
        &artifact(
            "insecure",
            "/insecure",
            json!({"url": foreign, "config": {"tlsVerification": false}}),
        ),
    );
    let r = routed(&node, "/insecure/1.0.0/menu").await;
    assert_eq!(r.status(), 200);
    let order = json!({"pizzaType": "Spicy Italian", "quantity": 1});
    let r = node
        .client
        .post(node.gateway_url("/insecure/1.0.0/order"))
        .json(&order)
        .send()
        .await
        .expect("order through the gateway");
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn a_ca_bundle_in_the_truststore_makes_a_strangers_certificate_trusted() {
    let stranger = Node::start(Path::new(BIN), NodeOptions::default())
        .await
        .expect("stranger");
    let bundle = stranger.home.join("conf/security/node-cert.pem");
    let node = Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: vec![(
                "# file_name = \"conf/security/backend-ca.pem\"".into(),
                format!("file_name = \"{}\"", bundle.display()),
            )],
            ..Default::default()
        },
    )
    .await
    .expect("node");
    assert!(
        node.output().contains("1 from [truststore] file_name"),
        "{}",
        node.output()
    );
    let foreign = format!("https://localhost:{}{SAMPLE}/", stranger.ports.management);
    write_artifact(
        &node.home,
        "bundle",
        &artifact("bundle", "/bundle", json!({"url": foreign})),
    );
    let r = routed(&node, "/bundle/1.0.0/menu").await;
    assert_eq!(r.status(), 200, "verified against the bundle");

    // A bundle that is not PEM stops the node with the key named.
    let bad = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(bad.path(), "not a certificate").expect("write");
    let home = tempfile::tempdir().expect("home");
    portico_testkit::init_home(Path::new(BIN), home.path(), &NodeOptions::default()).expect("init");
    let config = home.path().join("conf/deployment.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace(
            "# file_name = \"conf/security/backend-ca.pem\"",
            &format!("file_name = \"{}\"", bad.path().display()),
        ),
    )
    .expect("edit");
    let out = std::process::Command::new(BIN)
        .args(["serve", "--home"])
        .arg(home.path())
        .output()
        .expect("serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[truststore]"), "{stderr}");
}
