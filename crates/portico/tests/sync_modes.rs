//! `[deployment] sync` beyond `database`, with two real nodes on one PostgreSQL database (node 2
//! made with `init --join`):
//!
//! - `shared-fs`: one directory both nodes read (node 2's `deployment/server` is a link to node
//!   1's, as an NFS mount would be): what either node deploys, the other serves.
//! - `rsync`: the seed's one-way copy. The test is the operator's scheduled job: it runs real
//!   `rsync -a --delete` from the manager's directory to the worker's. A deploy on the worker is
//!   made on the manager (the environment's `service_url`) and reaches the worker by the copy;
//!   without a `service_url`, or with one nobody answers, the deploy is refused and nothing
//!   changes.
//!
//! Without rsync the rsync test skips, unless `CI=true`: then it fails.
//!
//! Also `bench/cluster` (an ignored test here, as it shares the set-up): per mode, the time from
//! a deploy on node 1 to the API answering on node 2's gateway, and from a token's revocation on
//! node 1 to node 2's gateway refusing it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use portico_testkit::{Admin, EchoBackend, Node, NodeOptions, PgDatabase, init_home};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const P: &str = "/api/am/publisher/v4";

fn bin() -> &'static Path {
    Path::new(BIN)
}

/// `[deployment] sync = "<mode>"` as a deployment.toml edit.
fn sync_mode(mode: &str) -> (String, String) {
    ("sync = \"database\"".into(), format!("sync = \"{mode}\""))
}

/// Replaces one line of a home's deployment.toml.
fn edit_config(home: &Path, from: &str, to: &str) {
    let path = home.join("conf/deployment.toml");
    let text = std::fs::read_to_string(&path).expect("read deployment.toml");
    assert!(text.contains(from), "`{from}` in {}", path.display());
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write deployment.toml");
}

/// Two started nodes of one cluster in sync mode `mode`: node 1 initialised and started, node 2
/// joined with a copy of node 1's conf/security/ and started. With `shared-fs`, node 2's
/// deployment/server is a link to node 1's (an NFS mount in production); with `rsync`, both
/// nodes' `service_url` name node 1, the manager (the seed's step 4). Answers the homes, the
/// nodes and node 1's management port.
async fn two_nodes(db: &PgDatabase, work: &Path, mode: &str) -> ([PathBuf; 2], [Node; 2], u16) {
    let homes = [work.join("node1"), work.join("node2")];
    let options = NodeOptions {
        config_edits: vec![sync_mode(mode)],
        ..NodeOptions::on_postgres(db)
    };
    let manager_port = init_home(bin(), &homes[0], &options).expect("init node 1").management;
    if mode == "rsync" {
        edit_config(&homes[0], DEFAULT_SERVICE_URL, &service_url(manager_port));
    }
    let node1 = start(&homes[0]).await;
    let security = work.join("node1-security");
    std::fs::create_dir_all(&security).expect("mkdir");
    for name in ["node-cert.pem", "node-key.pem"] {
        std::fs::copy(homes[0].join("conf/security").join(name), security.join(name)).expect("copy");
    }
    let join = NodeOptions {
        init_args: vec!["--join".into(), security.display().to_string()],
        ..options
    };
    init_home(bin(), &homes[1], &join).expect("init node 2");
    match mode {
        "shared-fs" => {
            let mount = homes[1].join("deployment/server");
            std::fs::remove_dir_all(&mount).expect("remove node 2's directory");
            std::os::unix::fs::symlink(homes[0].join("deployment/server"), &mount).expect("link");
        }
        "rsync" => edit_config(&homes[1], DEFAULT_SERVICE_URL, &service_url(manager_port)),
        _ => {}
    }
    let node2 = start(&homes[1]).await;
    (homes, [node1, node2], manager_port)
}

async fn start(home: &Path) -> Node {
    Node::start(
        bin(),
        NodeOptions {
            home: Some(home.to_path_buf()),
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{}: {e:#}", home.display()))
}

/// An API with one open GET resource on the echo backend, created through `node`; its id.
async fn create_api(node: &Node, name: &str, backend: &EchoBackend) -> String {
    let api = Admin(node)
        .post(
            &format!("{P}/apis"),
            &json!({"name": name, "context": format!("/{name}"), "version": "1.0.0",
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend.url("/")}},
                "operations": [{"target": "/items", "verb": "GET", "authType": "None"}]}),
        )
        .await;
    api["id"].as_str().unwrap_or_else(|| panic!("id in {api}")).to_owned()
}

/// Makes a revision of `api_id` through `node` and asks `node` to deploy it to `Default`;
/// answers the deploy's status, body and `x-portico-deployed-on` header.
async fn deploy_through(node: &Node, api_id: &str) -> (StatusCode, Value, Option<String>) {
    let revision = Admin(node)
        .post(&format!("{P}/apis/{api_id}/revisions"), &json!({"description": "r"}))
        .await;
    let revision_id = revision["id"].as_str().expect("revision id");
    let (user, password) = node.admin();
    let r = node
        .client
        .post(node.url(&format!("{P}/apis/{api_id}/deploy-revision?revisionId={revision_id}")))
        .basic_auth(user, Some(password))
        .json(&json!([{"name": "Default", "vhost": "localhost", "displayOnDevportal": true}]))
        .send()
        .await
        .expect("deploy");
    let status = r.status();
    let on = r
        .headers()
        .get("x-portico-deployed-on")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body, on)
}

/// Polls `node`'s gateway until `/<name>/1.0.0/items` answers `want`, for at most 20 s.
async fn wait_gateway(node: &Node, name: &str, want: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = node
            .client
            .get(node.gateway_url(&format!("/{name}/1.0.0/items")))
            .send()
            .await
            .expect("gateway");
        if r.status() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} on port {}: still {} (want {want})\n{}",
            node.ports.gateway_http,
            r.status(),
            node.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn artifact(home: &Path, api_id: &str) -> PathBuf {
    home.join(format!("deployment/server/Default/{api_id}.json"))
}

#[tokio::test]
async fn shared_fs_nodes_serve_what_either_node_deployed() {
    let Some(db) = PgDatabase::create("sync_shared_fs").await.expect("database") else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let (homes, [node1, node2], _) = two_nodes(&db, work.path(), "shared-fs").await;
    let backend = EchoBackend::start("shared").await.expect("backend");

    for (by, other, name) in [(&node2, &node1, "fromtwo"), (&node1, &node2, "fromone")] {
        let api_id = create_api(by, name, &backend).await;
        let (status, body, _) = deploy_through(by, &api_id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(artifact(&homes[0], &api_id).exists(), "written to the shared directory");
        wait_gateway(other, name, StatusCode::OK).await;
        wait_gateway(by, name, StatusCode::OK).await;
    }
    // Deployments another node made never make a node rewrite the shared directory: both
    // artifacts are still there once each node's follower has seen the other's events.
    let apis = Admin(&node1).get(&format!("{P}/apis")).await;
    assert_eq!(apis["count"], 2, "{apis}");
    for api in apis["list"].as_array().expect("list") {
        let id = api["id"].as_str().expect("id");
        assert!(artifact(&homes[0], id).exists(), "{id} kept");
    }
}

/// The rsync binary, or `None` (the test skips) when it is missing outside CI.
fn rsync_binary() -> Option<PathBuf> {
    let found = ["/usr/bin/rsync", "/bin/rsync", "/usr/local/bin/rsync"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "rsync is not installed (apt-get install rsync); CI=true needs it"
        );
        eprintln!("SKIPPING: rsync is not installed");
    }
    found
}

/// The operator's scheduled copy: the manager's deployment/server/ onto the worker's.
fn run_rsync(rsync: &Path, manager: &Path, worker: &Path) {
    let from = format!("{}/", manager.join("deployment/server").display());
    let to = format!("{}/", worker.join("deployment/server").display());
    let out = Command::new(rsync)
        .args(["-a", "--delete", &from, &to])
        .output()
        .expect("run rsync");
    assert!(out.status.success(), "rsync: {}", String::from_utf8_lossy(&out.stderr));
}

/// The service_url line `portico init` writes for a node at offset 0.
const DEFAULT_SERVICE_URL: &str = "service_url = \"https://localhost:9443/services/\"";

fn service_url(port: u16) -> String {
    format!("service_url = \"https://localhost:{port}/services/\"")
}

#[tokio::test]
async fn rsync_worker_serves_the_managers_copy_and_deploys_through_the_manager() {
    let Some(rsync) = rsync_binary() else { return };
    let Some(db) = PgDatabase::create("sync_rsync").await.expect("database") else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let ([manager_home, worker_home], [manager, worker], manager_port) = two_nodes(&db, work.path(), "rsync").await;
    let backend = EchoBackend::start("rsync").await.expect("backend");

    // Deployed on the manager: the worker serves it once the copy has run.
    let on_manager = create_api(&manager, "onmanager", &backend).await;
    let (status, body, on) = deploy_through(&manager, &on_manager).await;
    assert_eq!((status, on), (StatusCode::OK, None), "{body}");
    wait_gateway(&manager, "onmanager", StatusCode::OK).await;
    assert!(!artifact(&worker_home, &on_manager).exists(), "nothing copied yet");
    run_rsync(&rsync, &manager_home, &worker_home);
    wait_gateway(&worker, "onmanager", StatusCode::OK).await;

    // Deployed through the worker: made on the manager, which wrote its artifact before it
    // answered; the worker's copy has it after the next rsync run.
    let on_worker = create_api(&worker, "onworker", &backend).await;
    let (status, body, on) = deploy_through(&worker, &on_worker).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["name"], "Default", "the manager's answer: {body}");
    assert_eq!(
        on.as_deref(),
        Some(format!("https://localhost:{manager_port}").as_str())
    );
    assert!(artifact(&manager_home, &on_worker).exists(), "the manager wrote it");
    assert!(
        !artifact(&worker_home, &on_worker).exists(),
        "the worker never writes its rsync copy"
    );
    wait_gateway(&manager, "onworker", StatusCode::OK).await;
    run_rsync(&rsync, &manager_home, &worker_home);
    wait_gateway(&worker, "onworker", StatusCode::OK).await;

    // A service_url nobody answers: refused, nothing deployed anywhere.
    let dead = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        socket.local_addr().expect("addr").port()
    };
    let mut worker = worker;
    worker.stop().await.expect("stop the worker");
    edit_config(&worker_home, &service_url(manager_port), &service_url(dead));
    let worker = worker.restart().await.expect("worker restarts");
    let refused = create_api(&worker, "refused", &backend).await;
    let (status, body, _) = deploy_through(&worker, &refused).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let description = body["description"].as_str().unwrap_or_default();
    for expected in [
        format!("its manager https://localhost:{dead}"),
        "cannot be reached".to_owned(),
        "nothing was deployed".to_owned(),
    ] {
        assert!(description.contains(&expected), "`{expected}` in {description}");
    }
    assert_nothing_deployed(&worker, &manager_home, &refused).await;

    // No service_url: refused, naming the manager that is up.
    let mut worker = worker;
    worker.stop().await.expect("stop the worker");
    edit_config(&worker_home, &service_url(dead), "");
    let worker = worker.restart().await.expect("worker restarts");
    let (status, body, _) = deploy_through(&worker, &refused).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let description = body["description"].as_str().unwrap_or_default();
    for expected in [
        "has no service_url".to_owned(),
        format!("https://localhost:{manager_port}/services/"),
        "nothing was deployed".to_owned(),
    ] {
        assert!(description.contains(&expected), "`{expected}` in {description}");
    }
    assert_nothing_deployed(&worker, &manager_home, &refused).await;
}

/// `api_id` has no deployment in the database and no artifact on the manager.
async fn assert_nothing_deployed(worker: &Node, manager_home: &Path, api_id: &str) {
    let (status, deployments) = Admin(worker)
        .call(Method::GET, &format!("{P}/apis/{api_id}/deployments"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{deployments}");
    assert_eq!(deployments["count"], 0, "{deployments}");
    assert!(!artifact(manager_home, api_id).exists());
}

// ---- bench/cluster ------------------------------------------------------------------------

/// Two started nodes in one sync mode; in rsync mode, the operator's copy running on a schedule.
struct Cluster {
    nodes: [Node; 2],
    _work: tempfile::TempDir,
    rsync: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

/// How often the benchmark's "operator schedule" runs rsync.
const RSYNC_EVERY: Duration = Duration::from_millis(100);

impl Cluster {
    async fn start(db: &PgDatabase, mode: &str) -> Cluster {
        let work = tempfile::tempdir().expect("tempdir");
        let (homes, nodes, _) = two_nodes(db, work.path(), mode).await;
        let rsync = (mode == "rsync").then(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let binary = rsync_binary().expect("rsync");
            let (manager, worker, flag) = (homes[0].clone(), homes[1].clone(), stop.clone());
            let copier = std::thread::spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    run_rsync(&binary, &manager, &worker);
                    std::thread::sleep(RSYNC_EVERY);
                }
            });
            (stop, copier)
        });
        Cluster {
            nodes,
            _work: work,
            rsync,
        }
    }

    fn stop_rsync(&mut self) {
        if let Some((stop, copier)) = self.rsync.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = copier.join();
        }
    }
}

/// Polls `url` until it answers `want`, every 2 ms; the time it took.
async fn until_status(client: &reqwest::Client, url: &str, bearer: Option<&str>, want: StatusCode) -> Duration {
    let started = Instant::now();
    loop {
        let mut request = client.get(url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if request.send().await.is_ok_and(|r| r.status() == want) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url} never answered {want}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// From the deploy request on node 1 to the API answering on node 2's gateway, `count` times.
async fn publish_to_routable(cluster: &Cluster, backend: &EchoBackend, count: usize) -> Vec<Duration> {
    let [node1, node2] = &cluster.nodes;
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("bench{i}");
        let api_id = create_api(node1, &name, backend).await;
        let revision = Admin(node1)
            .post(&format!("{P}/apis/{api_id}/revisions"), &json!({"description": "r"}))
            .await;
        let revision_id = revision["id"].as_str().expect("revision id");
        let (user, password) = node1.admin();
        let url = node2.gateway_url(&format!("/{name}/1.0.0/items"));
        let started = Instant::now();
        let r = node1
            .client
            .post(node1.url(&format!("{P}/apis/{api_id}/deploy-revision?revisionId={revision_id}")))
            .basic_auth(user, Some(password))
            .json(&json!([{"name": "Default", "vhost": "localhost"}]))
            .send()
            .await
            .expect("deploy");
        assert_eq!(r.status(), StatusCode::OK);
        until_status(&node2.client, &url, None, StatusCode::OK).await;
        times.push(started.elapsed());
    }
    times
}

/// From a token's revocation on node 1 to node 2's gateway refusing it, `count` times.
async fn revocation_propagation(cluster: &Cluster, backend: &EchoBackend, count: usize) -> Vec<Duration> {
    let [node1, node2] = &cluster.nodes;
    let admin = Admin(node1);
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({"name": "Secured", "context": "/secured", "version": "1.0.0", "policies": ["Unlimited"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend.url("/")}},
                "operations": [{"target": "/items", "verb": "GET"}]}),
        )
        .await;
    let api_id = api["id"].as_str().expect("id").to_owned();
    admin.deploy_and_publish(&api_id).await;
    let app = admin
        .post(
            "/api/am/devportal/v3/applications",
            &json!({"name": "BenchApp", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    let app_id = app["applicationId"].as_str().expect("app id").to_owned();
    admin
        .post(
            "/api/am/devportal/v3/subscriptions",
            &json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Unlimited"}),
        )
        .await;
    let keys = admin
        .post(
            &format!("/api/am/devportal/v3/applications/{app_id}/generate-keys"),
            &json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"], "validityTime": 3600}),
        )
        .await;
    let client = (
        keys["consumerKey"].as_str().expect("key").to_owned(),
        keys["consumerSecret"].as_str().expect("secret").to_owned(),
    );
    let url = node2.gateway_url("/secured/1.0.0/items");
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let token: Value = node1
            .client
            .post(node1.url("/oauth2/token"))
            .basic_auth(&client.0, Some(&client.1))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token JSON");
        let token = token["access_token"].as_str().expect("access_token").to_owned();
        until_status(&node2.client, &url, Some(&token), StatusCode::OK).await;
        let started = Instant::now();
        let r = node1
            .client
            .post(node1.url("/oauth2/revoke"))
            .basic_auth(&client.0, Some(&client.1))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .expect("revoke");
        assert_eq!(r.status(), StatusCode::OK);
        until_status(&node2.client, &url, Some(&token), StatusCode::UNAUTHORIZED).await;
        times.push(started.elapsed());
    }
    times
}

/// The `p`th percentile (nearest rank) in milliseconds.
fn percentile(times: &[Duration], p: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run bench/cluster"]
async fn bench_cluster_propagation_per_sync_mode() {
    let deploys = env_count("PORTICO_BENCH_DEPLOYS", 50);
    let revocations = env_count("PORTICO_BENCH_REVOCATIONS", 20);
    let backend = EchoBackend::start("bench").await.expect("backend");
    let mut rows = Vec::new();
    for mode in ["database", "shared-fs", "rsync"] {
        let Some(db) = PgDatabase::create(&format!("bench_{}", mode.replace('-', "_")))
            .await
            .expect("database")
        else {
            return;
        };
        let mut cluster = Cluster::start(&db, mode).await;
        let published = publish_to_routable(&cluster, &backend, deploys).await;
        let revoked = revocation_propagation(&cluster, &backend, revocations).await;
        cluster.stop_rsync();
        eprintln!("{mode}: done");
        rows.push((mode, published, revoked));
    }
    let database_p99 = percentile(&rows[0].1, 99.0);
    println!();
    println!(
        "publish-to-routable: deploy request on node 1 until node 2's gateway answers 200 ({deploys} deploys per mode);"
    );
    println!(
        "revocation: POST /oauth2/revoke on node 1 until node 2's gateway answers 401 ({revocations} tokens per mode)."
    );
    println!("rsync: the operator's copy runs every {} ms.", RSYNC_EVERY.as_millis());
    println!();
    println!(
        "| mode      | publish p50 ms | publish p99 ms | p99 / database | p99 < 1 s | revoke p50 ms | revoke p99 ms |"
    );
    println!(
        "|-----------|---------------:|---------------:|---------------:|:---------:|--------------:|--------------:|"
    );
    for (mode, published, revoked) in &rows {
        let p99 = percentile(published, 99.0);
        println!(
            "| {mode:<9} | {:>14.1} | {p99:>14.1} | {:>14.2} | {:^9} | {:>13.1} | {:>13.1} |",
            percentile(published, 50.0),
            p99 / database_p99,
            if p99 < 1000.0 { "yes" } else { "NO" },
            percentile(revoked, 50.0),
            percentile(revoked, 99.0),
        );
    }
}
