//! `portico keys rotate` on a two-node cluster (PostgreSQL): the new key signs on the node whose
//! home rotated it, every node validates it at once (JWKS, REST introspection, the gateway) through
//! the change feed, the other node signs with the newest key it holds (the old one until the
//! operator copies `conf/security/signing/` and sends SIGHUP), and the old key keeps validating
//! until it retires, then leaves the JWKS and its tokens are refused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use portico_testkit::{Admin, EchoBackend, Node, NodeOptions, PgDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const P: &str = "/api/am/publisher/v4";
const D: &str = "/api/am/devportal/v3";

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}")).to_owned()
}

/// Copies the files of `from` into `to` (not its subdirectories).
fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// The claims of a JWT.
fn jwt_claims(token: &str) -> Value {
    let claims = token.split('.').nth(1).expect("claims");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The `kid` of a JWT's header.
fn kid(token: &str) -> String {
    let header = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url");
    let header: Value = serde_json::from_slice(&bytes).expect("JSON header");
    id(&header, "kid")
}

async fn jwks_kids(node: &Node) -> Vec<String> {
    let body: Value = node
        .client
        .get(node.url("/oauth2/jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("JSON");
    body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| id(k, "kid"))
        .collect()
}

/// `active` of `token` by `node`'s introspection endpoint (admin credentials).
async fn active_on(node: &Node, token: &str) -> bool {
    let (user, password) = node.admin();
    let body: Value = node
        .client
        .post(node.url("/oauth2/introspect"))
        .basic_auth(user, Some(password))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("JSON");
    body["active"] == json!(true)
}

/// Polls `check` every 100 ms until it holds, for at most 15 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(15), "still not: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An API with the echo backend, deployed and published through `node`, and an application
/// subscribed to it with production keys; returns the consumer key and secret.
async fn subscribed_client(node: &Node, backend: &EchoBackend) -> (String, String) {
    let admin = Admin(node);
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": "Keys", "context": "/keys", "version": "1.0.0", "policies": ["Unlimited"],
                "endpointConfig": {"endpoint_type": "http",
                    "production_endpoints": {"url": backend.url("/")}, "sandbox_endpoints": {"url": backend.url("/")}},
                "operations": [{"target": "/menu", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited"}]
            }),
        )
        .await;
    let api_id = id(&api, "id");
    admin.deploy_and_publish(&api_id).await;
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": "KeysApp", "throttlingPolicy": "Unlimited", "tokenType": "JWT"}),
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
                "grantTypesToBeSupported": ["client_credentials"], "callbackUrl": "", "scopes": ["default"],
                "validityTime": 3600, "additionalProperties": {}}),
        )
        .await;
    (id(&keys, "consumerKey"), id(&keys, "consumerSecret"))
}

async fn token_from(node: &Node, client: &(String, String)) -> String {
    let r = node
        .client
        .post(node.url("/oauth2/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    id(&r.json::<Value>().await.expect("JSON"), "access_token")
}

async fn gateway_status(node: &Node, token: &str) -> StatusCode {
    node.client
        .get(node.gateway_url("/keys/1.0.0/menu"))
        .bearer_auth(token)
        .send()
        .await
        .expect("gateway")
        .status()
}

#[tokio::test]
async fn a_rotated_key_signs_every_node_validates_it_and_the_old_one_retires() {
    let Some(db) = PgDatabase::create("keys_rotate").await.expect("database") else {
        return;
    };
    let backend = EchoBackend::start("keys").await.expect("backend");
    let node1 = Node::start(Path::new(BIN), NodeOptions::on_postgres(&db))
        .await
        .expect("node 1");
    let work = tempfile::tempdir().expect("tempdir");
    let security: PathBuf = work.path().join("node1-security");
    copy_files(&node1.home.join("conf/security"), &security);
    let node2 = Node::start(
        Path::new(BIN),
        NodeOptions {
            init_args: vec!["--join".into(), security.display().to_string()],
            ..NodeOptions::on_postgres(&db)
        },
    )
    .await
    .expect("node 2");
    let client = subscribed_client(&node1, &backend).await;
    let old_token = token_from(&node1, &client).await;
    let old_kid = kid(&old_token);
    assert_eq!(jwks_kids(&node1).await, std::slice::from_ref(&old_kid));
    eventually("node 2's gateway serves node 1's token", || async {
        gateway_status(&node2, &old_token).await == StatusCode::OK
    })
    .await;

    // Rotate on node 1's home while both nodes run; superseded keys retire after 40 s.
    let out = Command::new(BIN)
        .args(["keys", "rotate", "--home"])
        .arg(&node1.home)
        .args(["--keep-old-seconds", "40"])
        .output()
        .expect("run keys rotate");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    let rotated_at = Instant::now();
    let new_kid = printed
        .split("key id ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no key id in: {printed}"))
        .to_owned();
    assert_ne!(new_kid, old_kid);
    for step in ["copy", "conf/security/signing/", "kill -HUP", "--join"] {
        assert!(printed.contains(step), "the steps name `{step}`: {printed}");
    }
    let key_file = node1.home.join("conf/security/signing/signing-0002-key.pem");
    assert!(key_file.is_file(), "{printed}");

    // Both nodes publish both keys at once (the change feed), node 1 signs with the new one.
    for node in [&node1, &node2] {
        eventually("the JWKS lists the old and the new key", || async {
            let kids = jwks_kids(node).await;
            kids.contains(&old_kid) && kids.contains(&new_kid)
        })
        .await;
    }
    let started = Instant::now();
    let new_token = loop {
        let token = token_from(&node1, &client).await;
        if kid(&token) == new_kid {
            break token;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "node 1 still signs with the old key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Node 2 holds only the old key: it still signs with it, and validates the new one.
    assert_eq!(kid(&token_from(&node2, &client).await), old_kid);
    for node in [&node1, &node2] {
        assert!(
            active_on(node, &new_token).await,
            "the new key's token on {}",
            node.ports.management
        );
        assert!(
            active_on(node, &old_token).await,
            "the old key's token on {}",
            node.ports.management
        );
    }
    eventually("node 2's gateway serves the new key's token", || async {
        gateway_status(&node2, &new_token).await == StatusCode::OK
    })
    .await;
    assert_eq!(gateway_status(&node2, &old_token).await, StatusCode::OK);

    // The operator copies the new key to node 2 and sends SIGHUP: it signs with it.
    copy_files(
        &node1.home.join("conf/security/signing"),
        &node2.home.join("conf/security/signing"),
    );
    let pid = node2.pid().expect("node 2 runs").to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    eventually("node 2 signs with the new key", || async {
        kid(&token_from(&node2, &client).await) == new_kid
    })
    .await;

    // Once the old key retires, it leaves the JWKS and its tokens are refused everywhere.
    let retire = Duration::from_secs(41).saturating_sub(rotated_at.elapsed());
    tokio::time::sleep(retire).await;
    // A token of the old key the gateways have not seen yet (they cache validated tokens until
    // they expire, which is when a key normally retires).
    let mut claims = jwt_claims(&old_token);
    claims["jti"] = json!("never-seen");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(old_kid.clone());
    let old_key = std::fs::read(node1.home.join("conf/security/node-key.pem")).expect("old key");
    let unseen = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(&old_key).expect("key"),
    )
    .expect("sign");
    for node in [&node1, &node2] {
        eventually("the old key has left the JWKS", || async {
            jwks_kids(node).await == std::slice::from_ref(&new_kid)
        })
        .await;
        assert!(
            !active_on(node, &old_token).await,
            "retired key on {}",
            node.ports.management
        );
        assert!(active_on(node, &new_token).await);
        assert_eq!(gateway_status(node, &unseen).await, StatusCode::UNAUTHORIZED);
        assert_eq!(gateway_status(node, &new_token).await, StatusCode::OK);
    }
    let log = node2.output();
    assert!(log.contains("Signing keys reloaded"), "{log}");
}

#[tokio::test]
async fn keys_rotate_refuses_a_home_without_a_database_and_writes_nothing() {
    let work = tempfile::tempdir().expect("tempdir");
    let home = work.path().join("home");
    portico_testkit::init_home(Path::new(BIN), &home, &NodeOptions::default()).expect("init");
    // A SQLite home whose database file is gone: the public key cannot be recorded.
    for entry in std::fs::read_dir(home.join("database")).expect("database dir") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
    }
    let out = Command::new(BIN)
        .args(["keys", "rotate", "--home"])
        .arg(&home)
        .output()
        .expect("run keys rotate");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{printed}");
    assert!(printed.contains("record the new key in the database"), "{printed}");
    let signing = home.join("conf/security/signing");
    let left: Vec<_> = std::fs::read_dir(&signing)
        .map(|d| d.map(|e| e.expect("entry").file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left behind: {left:?}");
}
