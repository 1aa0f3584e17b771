//! Issue 18's drills with real `portico` processes on PostgreSQL: the database cut away under
//! load through a TCP proxy the test starts between the nodes and the database (the machine's
//! server is never touched), a node started while it is away serving from its last-known-good
//! snapshot, a node killed with `kill -9` that finds the writes made meanwhile in force before it
//! reports ready, and the change feed pruned past a node that was cut off, which then rebuilds
//! from the tables. Also: pruning on SQLite.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portico_testkit::{Admin, EchoBackend, Node, NodeOptions, PgDatabase, TcpProxy};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const P: &str = "/api/am/publisher/v4";
const D: &str = "/api/am/devportal/v3";

fn bin() -> &'static Path {
    Path::new(BIN)
}

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}")).to_owned()
}

/// Heartbeats every second, down after 3 s, a connection waited for at most 2 s, and the
/// change feed kept `retention_days` (default 7).
fn cluster_edits(retention_days: Option<&str>) -> Vec<(String, String)> {
    let mut edits = vec![
        ("heartbeat_seconds = 5".to_owned(), "heartbeat_seconds = 1".to_owned()),
        (
            "node_timeout_seconds = 15".to_owned(),
            "node_timeout_seconds = 3".to_owned(),
        ),
        (
            "connection_timeout_seconds = 5".to_owned(),
            "connection_timeout_seconds = 2".to_owned(),
        ),
    ];
    if let Some(days) = retention_days {
        edits.push((
            "feed_retention_days = 7".to_owned(),
            format!("feed_retention_days = {days}"),
        ));
    }
    edits
}

/// Node 1 on `database_url`, and node 2 joined to it (`init --join` with node 1's keys), each
/// with `edits`.
async fn two_nodes(database_urls: [&str; 2], edits: &[(String, String)]) -> (Node, Node, tempfile::TempDir) {
    let node1 = Node::start(
        bin(),
        NodeOptions {
            database_url: Some(database_urls[0].to_owned()),
            config_edits: edits.to_vec(),
            ..NodeOptions::default()
        },
    )
    .await
    .expect("node 1");
    let work = tempfile::tempdir().expect("tempdir");
    let security: PathBuf = work.path().join("node1-security");
    std::fs::create_dir_all(&security).expect("mkdir");
    for entry in std::fs::read_dir(node1.home.join("conf/security")).expect("security") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), security.join(entry.file_name())).expect("copy");
    }
    let node2 = Node::start(
        bin(),
        NodeOptions {
            database_url: Some(database_urls[1].to_owned()),
            config_edits: edits.to_vec(),
            init_args: vec!["--join".into(), security.display().to_string()],
            ..NodeOptions::default()
        },
    )
    .await
    .expect("node 2");
    (node1, node2, work)
}

/// The PostgreSQL server `db` lives on.
async fn server_of(db: &PgDatabase) -> SocketAddr {
    let rest = db.url.split_once("://").expect("scheme").1;
    let authority = rest.split('/').next().expect("authority");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    tokio::net::lookup_host(host_port)
        .await
        .expect("resolve")
        .next()
        .expect("an address")
}

/// An API on the echo backend created and deployed through `node`, at `/<context>/1.0.0/menu`.
async fn api_on(node: &Node, backend: &EchoBackend, context: &str) -> String {
    let admin = Admin(node);
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": context, "context": format!("/{context}"), "version": "1.0.0", "policies": ["Unlimited"],
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

/// An application `name` subscribed to `api_id`, with production keys, made through `node`;
/// its consumer key and secret.
async fn app_on(node: &Node, name: &str, api_id: &str) -> (String, String) {
    let admin = Admin(node);
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": name, "throttlingPolicy": "Unlimited", "tokenType": "JWT"}),
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

async fn revoke_on(node: &Node, client: &(String, String), token: &str) {
    let r = node
        .client
        .post(node.url("/oauth2/revoke"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("token", token)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::OK);
}

/// The status `node`'s gateway answers `path` with `token`.
async fn call(node: &Node, path: &str, token: &str) -> StatusCode {
    node.client
        .get(node.gateway_url(path))
        .bearer_auth(token)
        .send()
        .await
        .map_or(StatusCode::BAD_GATEWAY, |r| r.status())
}

/// Polls until `node`'s gateway answers `path` with `expected` for `token` (changes arrive
/// through the change feed), for at most 15 s.
async fn until_status(node: &Node, path: &str, token: &str, expected: StatusCode) {
    let started = Instant::now();
    loop {
        let status = call(node, path, token).await;
        if status == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{path} on port {}: still {status}, expected {expected}",
            node.ports.gateway_http
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `/health/ready`: status and body.
async fn readiness(node: &Node) -> (StatusCode, Value) {
    let r = node.client.get(node.url("/health/ready")).send().await.expect("ready");
    let status = r.status();
    (status, r.json().await.expect("JSON"))
}

/// Polls until readiness says 503 waiting for the database, for at most 15 s; its body.
async fn until_database_unavailable(node: &Node) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = readiness(node).await;
        if status == StatusCode::SERVICE_UNAVAILABLE && body["waitingFor"] == "database" {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "still {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A management call while the database is away: 503 in WSO2's error shape, saying why.
async fn management_refused(node: &Node) {
    let (status, body) = Admin(node).call(Method::GET, &format!("{P}/apis"), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], 503, "{body}");
    assert_eq!(body["message"], "Service Unavailable", "{body}");
    let description = body["description"].as_str().unwrap_or_default();
    assert!(description.contains("The database cannot be reached"), "{body}");
}

/// Polls until the last-known-good snapshot of `node` names `client_id`, for at most 10 s.
async fn until_snapshot_holds(node: &Node, client_id: &str) {
    let path = node.home.join("deployment/lkg/gateway.json");
    let started = Instant::now();
    loop {
        if std::fs::read_to_string(&path).is_ok_and(|s| s.contains(client_id)) {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "the snapshot is its owner's only");
            }
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} does not name {client_id}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GETs through a gateway in a loop until stopped, keeping the answers that are not 200.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Load {
    fn start(node: &Node, path: &str, token: &str) -> Load {
        let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let client = node.client.clone();
        let url = node.gateway_url(path);
        let token = token.to_owned();
        let (stop_, sent_) = (stop.clone(), sent.clone());
        let task = tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop_.load(Ordering::Relaxed) {
                let answer = client.get(&url).bearer_auth(&token).send().await;
                sent_.fetch_add(1, Ordering::Relaxed);
                match answer {
                    Ok(r) if r.status() == StatusCode::OK => {}
                    Ok(r) => failures.push(format!("{} {}", r.status(), r.text().await.unwrap_or_default())),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            failures
        });
        Load { stop, sent, task }
    }

    /// Requests sent so far.
    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops; (requests sent, what failed).
    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self.task.await.expect("load task");
        (self.sent.load(Ordering::Relaxed), failures)
    }
}

/// Waits until the load has sent `more` requests beyond what it had sent.
async fn load_goes_on(load: &Load, more: u64) {
    let target = load.sent() + more;
    let started = Instant::now();
    while load.sent() < target {
        assert!(started.elapsed() < Duration::from_secs(30), "the load stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_under_load_gateways_serve_management_refuses_and_all_resumes() {
    let Some(db) = PgDatabase::create("cluster_outage").await.expect("database") else {
        return;
    };
    let proxy = TcpProxy::start(server_of(&db).await).await.expect("proxy");
    let through = proxy.url_through(&db.url).expect("url");
    let (node1, node2, _work) = two_nodes([&through, &through], &cluster_edits(None)).await;
    let backend = EchoBackend::start("outage").await.expect("backend");
    let api_id = api_on(&node1, &backend, "outage").await;
    let client = app_on(&node2, "OutageApp", &api_id).await;
    let token = token_from(&node1, &client).await;
    let path = "/outage/1.0.0/menu";
    until_status(&node1, path, &token, StatusCode::OK).await;
    until_status(&node2, path, &token, StatusCode::OK).await;
    until_snapshot_holds(&node1, &client.0).await;
    until_snapshot_holds(&node2, &client.0).await;

    let load = Load::start(&node1, path, &token);
    load_goes_on(&load, 50).await;

    // The database is cut away from both nodes.
    proxy.cut();
    let body = until_database_unavailable(&node1).await;
    assert!(
        body["reason"].as_str().is_some_and(|r| r.starts_with("store:")),
        "{body}"
    );
    until_database_unavailable(&node2).await;
    management_refused(&node1).await;
    management_refused(&node2).await;
    assert_eq!(
        call(&node2, path, &token).await,
        StatusCode::OK,
        "node 2's gateway serves"
    );
    load_goes_on(&load, 100).await;

    // Node 2 restarted while the database is away: it serves from its snapshot.
    let mut node2 = node2;
    node2.stop().await.expect("stop node 2");
    let node2 = node2.restart_live().await.expect("node 2 starts without its database");
    assert!(
        node2.output().contains("starting from the last-known-good snapshot"),
        "{}",
        node2.output()
    );
    let body = until_database_unavailable(&node2).await;
    assert_eq!(body["gateway"], "serving from its last-known-good snapshot", "{body}");
    assert_eq!(
        call(&node2, path, &token).await,
        StatusCode::OK,
        "served from the snapshot"
    );
    assert_eq!(
        call(&node2, path, "not-a-token").await,
        StatusCode::UNAUTHORIZED,
        "and still authenticates"
    );
    management_refused(&node2).await;
    load_goes_on(&load, 50).await;

    // The database is back: both catch up and go ready without a restart.
    proxy.restore().await.expect("restore");
    let mut node1 = node1;
    let mut node2 = node2;
    node1
        .wait_ready(Duration::from_secs(30))
        .await
        .expect("node 1 ready again");
    node2
        .wait_ready(Duration::from_secs(30))
        .await
        .expect("node 2 ready again");
    let (sent, failures) = load.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} GETs failed: {failures:?}",
        failures.len()
    );
    eprintln!("{sent} GETs through node 1's gateway during the outage drill, none failed");

    // Management works again, and changes flow: a token revoked on node 2 is refused by both.
    let apis = Admin(&node1).get(&format!("{P}/apis")).await;
    assert_eq!(apis["count"], 1, "{apis}");
    revoke_on(&node2, &client, &token).await;
    until_status(&node1, path, &token, StatusCode::UNAUTHORIZED).await;
    until_status(&node2, path, &token, StatusCode::UNAUTHORIZED).await;
    let fresh = token_from(&node2, &client).await;
    until_status(&node1, path, &fresh, StatusCode::OK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_node2_while_node1_is_killed_are_in_force_before_node1_reports_ready() {
    let Some(db) = PgDatabase::create("cluster_kill9").await.expect("database") else {
        return;
    };
    let (mut node1, node2, _work) = two_nodes([&db.url, &db.url], &cluster_edits(None)).await;
    let backend = EchoBackend::start("kill9").await.expect("backend");
    let first_api = api_on(&node1, &backend, "first").await;
    let client = app_on(&node1, "Before", &first_api).await;
    let old_token = token_from(&node1, &client).await;
    until_status(&node2, "/first/1.0.0/menu", &old_token, StatusCode::OK).await;

    node1.kill().expect("kill -9 node 1");
    // Node 2 writes meanwhile: an API, applications with subscriptions and keys, a revocation.
    let second_api = api_on(&node2, &backend, "second").await;
    let mut clients = Vec::new();
    for i in 0..4 {
        clients.push(app_on(&node2, &format!("WhileDown{i}"), &second_api).await);
    }
    revoke_on(&node2, &client, &old_token).await;
    let tokens: Vec<String> = {
        let mut tokens = Vec::new();
        for c in &clients {
            tokens.push(token_from(&node2, c).await);
        }
        tokens
    };

    // The first 200 of node 1's readiness after the restart: everything is in force then.
    let node1 = node1.restart().await.expect("node 1 restarted");
    for token in &tokens {
        assert_eq!(call(&node1, "/second/1.0.0/menu", token).await, StatusCode::OK);
    }
    assert_eq!(
        call(&node1, "/first/1.0.0/menu", &old_token).await,
        StatusCode::UNAUTHORIZED,
        "the revocation made while node 1 was down"
    );
    // Each write is there exactly once, as node 1 lists it.
    let apps = Admin(&node1).get(&format!("{D}/applications?limit=100")).await;
    let names: Vec<&str> = apps["list"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    for i in 0..4 {
        let name = format!("WhileDown{i}");
        assert_eq!(names.iter().filter(|n| **n == name).count(), 1, "{name} in {names:?}");
    }
    let subscriptions = Admin(&node1)
        .get(&format!("{D}/subscriptions?apiId={second_api}"))
        .await;
    assert_eq!(subscriptions["count"], 4, "{subscriptions}");
    let apis = Admin(&node1).get(&format!("{P}/apis")).await;
    assert_eq!(apis["count"], 2, "{apis}");
    drop(node2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_past_the_prune_point_rebuilds_from_the_tables() {
    let Some(db) = PgDatabase::create("cluster_prune").await.expect("database") else {
        return;
    };
    let proxy = TcpProxy::start(server_of(&db).await).await.expect("proxy");
    let through = proxy.url_through(&db.url).expect("url");
    // About 2 s of retention.
    let edits = cluster_edits(Some("0.00002"));
    // Node 1 reaches the database through the proxy, node 2 directly.
    let (mut node1, node2, _work) = two_nodes([&through, &db.url], &edits).await;
    let backend = EchoBackend::start("prune").await.expect("backend");
    let api_id = api_on(&node2, &backend, "pruned").await;
    let client = app_on(&node2, "Early", &api_id).await;
    let token = token_from(&node2, &client).await;
    let path = "/pruned/1.0.0/menu";
    until_status(&node1, path, &token, StatusCode::OK).await;

    proxy.cut();
    until_database_unavailable(&node1).await;
    // Node 2 changes things while node 1 is cut off, and the feed is pruned past them.
    revoke_on(&node2, &client, &token).await;
    let later = app_on(&node2, "Later", &api_id).await;
    let later_token = token_from(&node2, &later).await;
    let store = common::node_store(&node2, Some(&db)).await;
    let head = store.latest_seq().await.expect("head");
    let started = Instant::now();
    while store.feed_pruned_through().await.expect("pruned") < head {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the feed was not pruned through {head}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        call(&node1, path, &token).await,
        StatusCode::OK,
        "node 1 has not heard yet"
    );

    proxy.restore().await.expect("restore");
    node1.wait_ready(Duration::from_secs(30)).await.expect("ready again");
    assert!(
        node1.output().contains("rebuilding from the tables"),
        "{}",
        node1.output()
    );
    assert_eq!(
        call(&node1, path, &token).await,
        StatusCode::UNAUTHORIZED,
        "the revocation"
    );
    assert_eq!(
        call(&node1, path, &later_token).await,
        StatusCode::OK,
        "the later application"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_feed_is_pruned_and_changes_still_apply() {
    let node = Node::start(
        bin(),
        NodeOptions {
            config_edits: cluster_edits(Some("0.00002")),
            ..NodeOptions::default()
        },
    )
    .await
    .expect("node");
    let backend = EchoBackend::start("sqlite-prune").await.expect("backend");
    let api_id = api_on(&node, &backend, "lite").await;
    let client = app_on(&node, "Lite", &api_id).await;
    let token = token_from(&node, &client).await;
    let path = "/lite/1.0.0/menu";
    until_status(&node, path, &token, StatusCode::OK).await;
    let store = common::node_store(&node, None).await;
    let head = store.latest_seq().await.expect("head");
    let started = Instant::now();
    while store.feed_pruned_through().await.expect("pruned") < head {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the feed was not pruned through {head}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        store.events_after(0, 10).await.expect("events").is_empty(),
        "every applied event older than the retention is gone"
    );
    revoke_on(&node, &client, &token).await;
    until_status(&node, path, &token, StatusCode::UNAUTHORIZED).await;
    assert_eq!(readiness(&node).await.0, StatusCode::OK);
    store.close().await;
}
