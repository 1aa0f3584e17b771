//! Two nodes made the seed's way (step 7): node 2 by `portico init --join` from a copy of node
//! 1's conf/security/, on one PostgreSQL database. They share the keys, the token issuer and the
//! admin account; `init --join` refuses what would not work, leaving no home behind; the node
//! registry (`portico cluster status`, `GET /api/am/admin/v4/cluster/nodes`) shows both nodes,
//! and node 2 down once it is killed. Also: a node never replaces an admin that exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine;
use portico_testkit::{Admin, EchoBackend, Node, NodeOptions, PgDatabase};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const P: &str = "/api/am/publisher/v4";
const D: &str = "/api/am/devportal/v3";
const NODES: &str = "/api/am/admin/v4/cluster/nodes";

fn bin() -> &'static Path {
    Path::new(BIN)
}

fn portico(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run portico")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}")).to_owned()
}

/// Heartbeats every second; a node silent for 3 s is down.
fn fast_heartbeats() -> Vec<(String, String)> {
    vec![
        ("heartbeat_seconds = 5".into(), "heartbeat_seconds = 1".into()),
        ("node_timeout_seconds = 15".into(), "node_timeout_seconds = 3".into()),
    ]
}

/// The admin's stored password hash, read from the cluster's database.
async fn admin_hash(db: &PgDatabase) -> String {
    let store = portico_store::Store::connect_existing(&portico_store::StoreOptions {
        backend: portico_store::Backend::Postgres,
        url: db.url.clone(),
        pool_size: 1,
        acquire_timeout: Duration::from_secs(5),
        node_id: "test".into(),
    })
    .await
    .expect("store");
    let admin = store.find_user("admin").await.expect("read").expect("admin");
    store.close().await;
    admin.password_hash
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// `portico init --join` into `home` with `args`; must fail with `message` and leave no home.
fn refused(home: &Path, args: &[&str], message: &str) {
    let mut all = vec!["init", "--home", home.to_str().expect("utf-8")];
    all.extend(args);
    let out = portico(&all);
    assert!(!out.status.success(), "{all:?} succeeded: {}", text(&out));
    assert!(
        text(&out).contains(message),
        "{all:?}: expected `{message}` in:\n{}",
        text(&out)
    );
    assert!(!home.exists(), "{all:?} left {} behind", home.display());
}

/// Each refusal of `init --join`: a missing or partial PATH, keys that are not the cluster's, a
/// database without Portico's schema, a wrong --admin-password.
async fn check_refusals(db: &PgDatabase, work: &Path, security: &Path) {
    let url = db.url.as_str();
    let home = work.join("refused");
    let home = home.as_path();
    let partial = work.join("partial-security");
    std::fs::create_dir_all(&partial).expect("mkdir");
    std::fs::copy(security.join("node-cert.pem"), partial.join("node-cert.pem")).expect("copy");
    for dir in [work.join("no-such-dir"), partial] {
        let dir = dir.to_str().expect("utf-8");
        refused(
            home,
            &["--database-url", url, "--join", dir],
            "give a copy of node 1's conf/security/",
        );
    }

    // Another installation's keys (a node of its own, never part of this cluster).
    let stranger = work.join("stranger");
    let out = portico(&[
        "init",
        "--home",
        stranger.to_str().expect("utf-8"),
        "--admin-password",
        "x-pw-1",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let foreign = stranger.join("conf/security");
    refused(
        home,
        &["--database-url", url, "--join", foreign.to_str().expect("utf-8")],
        "are not the cluster's: its tokens are signed with key id",
    );

    let Some(empty) = PgDatabase::create("cluster_join_empty").await.expect("database") else {
        return;
    };
    let security = security.to_str().expect("utf-8");
    refused(
        home,
        &["--database-url", &empty.url, "--join", security],
        "has no Portico schema",
    );
    refused(
        home,
        &[
            "--database-url",
            url,
            "--join",
            security,
            "--admin-password",
            "not-the-admins",
        ],
        "--admin-password is not the password of the cluster's admin `admin`",
    );
    refused(home, &["--join", security], "--join needs --database-url");
}

/// A successful join into a home that is not started: what it prints and what it wrote.
fn check_join_output(db: &PgDatabase, work: &Path, security: &Path, node1: &Node) {
    let home = work.join("preview");
    let out = portico(&[
        "init",
        "--home",
        home.to_str().expect("utf-8"),
        "--offset",
        "7",
        "--database-url",
        &db.url,
        "--join",
        security.to_str().expect("utf-8"),
    ]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    let issuer = format!("https://localhost:{}/oauth2/token", node1.ports.management);
    for expected in [
        "Shared with the cluster:",
        "conf/security/node-key.pem",
        &format!("issuer:  {issuer}"),
        "`admin` as the database has it",
        &format!("localhost:{} (up)", node1.ports.management),
        "Still to do:",
        "portico serve --home",
    ] {
        assert!(printed.contains(expected), "`{expected}` in:\n{printed}");
    }
    assert!(!printed.contains("Admin password:"), "no new password is made up");
    for name in ["node-cert.pem", "node-key.pem"] {
        let copied = home.join("conf/security").join(name);
        assert_eq!(
            std::fs::read(&copied).expect("copied"),
            std::fs::read(security.join(name)).expect("original"),
            "{name}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&copied).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} is readable by its owner only");
        }
    }
    let check = portico(&["config", "check", "--home", home.to_str().expect("utf-8")]);
    assert!(check.status.success(), "{}", text(&check));
}

/// The claims of a JWT, unverified.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// An API with the echo backend, created and deployed through node 1; returns its id.
async fn api_deployed_on(node: &Node, backend: &EchoBackend) -> String {
    let admin = Admin(node);
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": "Shop", "context": "/shop", "version": "1.0.0", "policies": ["Unlimited"],
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

/// An application subscribed to `api_id` with production keys, made through `node`'s DevPortal;
/// returns its consumer key and secret.
async fn subscribed_keys_on(node: &Node, api_id: &str) -> (String, String) {
    let admin = Admin(node);
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": "ShopApp", "throttlingPolicy": "Unlimited", "tokenType": "JWT"}),
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

/// A client-credentials token from `node`'s token endpoint.
async fn token_from(node: &Node, client: &(String, String)) -> String {
    let r = node
        .client
        .post(node.url("/oauth2/token"))
        .basic_auth(&client.0, Some(&client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("JSON");
    id(&body, "access_token")
}

/// Polls `node`'s gateway until `path` answers 200 to `token` (the deployment and the
/// subscription come from the change feed), for at most 10 s.
async fn served(node: &Node, path: &str, token: &str) -> Duration {
    let started = Instant::now();
    loop {
        let r = node
            .client
            .get(node.gateway_url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("gateway");
        let status = r.status();
        if status == StatusCode::OK {
            return started.elapsed();
        }
        let body = r.text().await.unwrap_or_default();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} on port {}: still {status} {body}",
            node.ports.gateway_http
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `portico cluster status` of `home`: (node id, status) of each node, and the whole text.
fn cluster_status(home: &Path) -> (Vec<(String, String)>, String) {
    let out = portico(&["cluster", "status", "--home", home.to_str().expect("utf-8")]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    let mut lines = printed.lines();
    assert!(lines.next().is_some_and(|l| l.contains("node(s)")), "{printed}");
    assert!(lines.next().is_some_and(|l| l.starts_with("NODE")), "{printed}");
    let nodes = lines
        .map(|l| {
            let mut cells = l.split_whitespace();
            (
                cells.next().unwrap_or_default().to_owned(),
                cells.next().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (nodes, printed)
}

/// (node id, status) of each node the REST endpoint lists.
fn listed(body: &Value) -> Vec<(String, String)> {
    body["list"]
        .as_array()
        .unwrap_or_else(|| panic!("list in {body}"))
        .iter()
        .map(|n| (id(n, "nodeId"), id(n, "status")))
        .collect()
}

fn node_id(node: &Node) -> String {
    format!("localhost:{}", node.ports.management)
}

#[tokio::test]
async fn a_node_made_with_init_join_shares_keys_issuer_and_admin() {
    let Some(db) = PgDatabase::create("cluster_join").await.expect("database") else {
        return;
    };
    let node1 = Node::start(
        bin(),
        NodeOptions {
            config_edits: fast_heartbeats(),
            ..NodeOptions::on_postgres(&db)
        },
    )
    .await
    .expect("node 1");
    let work = tempfile::tempdir().expect("tempdir");
    // What the operator carries over to node 2's machine.
    let security: PathBuf = work.path().join("node1-security");
    copy_dir(&node1.home.join("conf/security"), &security);
    let hash_before = admin_hash(&db).await;

    check_refusals(&db, work.path(), &security).await;
    check_join_output(&db, work.path(), &security, &node1);

    let node2 = Node::start(
        bin(),
        NodeOptions {
            config_edits: fast_heartbeats(),
            init_args: vec!["--join".into(), security.display().to_string()],
            ..NodeOptions::on_postgres(&db)
        },
    )
    .await
    .expect("node 2");
    assert_eq!(admin_hash(&db).await, hash_before, "the cluster's admin is unchanged");
    let jwks = |node: &Node| {
        let r = node.client.get(node.url("/oauth2/jwks")).send();
        async move { r.await.expect("jwks").json::<Value>().await.expect("JSON")["keys"][0]["kid"].clone() }
    };
    assert_eq!(jwks(&node1).await, jwks(&node2).await, "one key, one kid");

    // An API deployed through node 1, subscribed on node 2, a token issued by node 1: node 2's
    // gateway accepts it (and node 1's gateway too).
    let backend = EchoBackend::start("shop").await.expect("backend");
    let api_id = api_deployed_on(&node1, &backend).await;
    let client = subscribed_keys_on(&node2, &api_id).await;
    let token = token_from(&node1, &client).await;
    let issuer = format!("https://localhost:{}/oauth2/token", node1.ports.management);
    assert_eq!(claims(&token)["iss"], issuer.as_str());
    let took = served(&node2, "/shop/1.0.0/menu", &token).await;
    eprintln!("node 2's gateway served node 1's token after {took:?}");
    served(&node1, "/shop/1.0.0/menu", &token).await;
    // Node 2 issues as the cluster: its tokens carry the same issuer, and node 1 takes them.
    let token2 = token_from(&node2, &client).await;
    assert_eq!(claims(&token2)["iss"], issuer.as_str());
    served(&node1, "/shop/1.0.0/menu", &token2).await;

    // The registry: both up, in the table and through REST (admins only).
    let both = vec![(node_id(&node1), "up".to_owned()), (node_id(&node2), "up".to_owned())];
    let mut sorted = both.clone();
    sorted.sort();
    // What a node has deployed is reported with its next heartbeat (every second here).
    let mut status = cluster_status(&node1.home);
    for _ in 0..50 {
        if status.1.matches("Default=1").count() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = cluster_status(&node1.home);
    }
    let (nodes, printed) = status;
    assert_eq!(nodes, sorted, "{printed}");
    assert!(printed.contains("Default=1"), "the deployed revision: {printed}");
    let body = Admin(&node2).get(NODES).await;
    assert_eq!(listed(&body), sorted, "{body}");
    assert_eq!(body["nodeTimeoutSeconds"], 3);
    let json_out = portico(&[
        "cluster",
        "status",
        "--json",
        "--home",
        node2.home.to_str().expect("utf-8"),
    ]);
    assert!(json_out.status.success(), "{}", text(&json_out));
    let printed_json: Value = serde_json::from_slice(&json_out.stdout).expect("JSON");
    assert_eq!(listed(&printed_json), sorted, "{printed_json}");
    let first = &body["list"][0];
    assert_eq!(first["ports"]["gatewayHttp"], node1.ports.gateway_http, "{body}");
    assert_eq!(first["ports"]["trafficManager"], node1.ports.traffic_manager, "{body}");
    let (status, denied) = Admin(&node1)
        .call(
            Method::POST,
            "/scim2/Users",
            Some(&json!({"userName": "sub", "password": "sub-pw-1", "roles": ["Internal/subscriber"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{denied}");
    let r = node1
        .client
        .get(node1.url(NODES))
        .basic_auth("sub", Some("sub-pw-1"))
        .send()
        .await
        .expect("nodes as a subscriber");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Node 2 killed: down once it has been silent for the node timeout.
    let node2_id = node_id(&node2);
    drop(node2);
    let killed = Instant::now();
    loop {
        let (nodes, printed) = cluster_status(&node1.home);
        let state = |id: &str| nodes.iter().find(|(n, _)| n == id).map(|(_, s)| s.clone());
        assert_eq!(state(&node_id(&node1)).as_deref(), Some("up"), "{printed}");
        if state(&node2_id).as_deref() == Some("down") {
            assert!(killed.elapsed() >= Duration::from_secs(2), "down too early: {printed}");
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "node 2 still not down: {printed}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let body = Admin(&node1).get(NODES).await;
    let mut expected = vec![(node_id(&node1), "up".to_owned()), (node2_id, "down".to_owned())];
    expected.sort();
    assert_eq!(listed(&body), expected, "{body}");
}

/// A node whose deployment.toml names another admin password than the stored one keeps the
/// stored one (and says so); `cluster status` works on SQLite too.
#[tokio::test]
async fn an_existing_admin_is_never_replaced_from_the_config() {
    let mut node = Node::start(bin(), NodeOptions::default()).await.expect("node");
    node.stop().await.expect("stop");
    let path = node.home.join("conf/deployment.toml");
    let config = std::fs::read_to_string(&path).expect("read");
    let changed: Vec<String> = config
        .lines()
        .map(|l| {
            if l.starts_with("password_hash = ") {
                "password = \"changed-in-config\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&path, changed.join("\n")).expect("write");
    let node = node.restart().await.expect("restart");
    let as_admin = |password: &'static str| {
        node.client
            .get(node.url("/api/am/admin/v4/environments"))
            .basic_auth("admin", Some(password))
            .send()
    };
    assert_eq!(as_admin("admin-test-pw").await.expect("old").status(), StatusCode::OK);
    assert_eq!(
        as_admin("changed-in-config").await.expect("new").status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        node.output().contains("does not match the stored password of `admin`"),
        "{}",
        node.output()
    );
    let (nodes, printed) = cluster_status(&node.home);
    assert_eq!(nodes, [(node_id(&node), "up".to_owned())], "{printed}");
}
