//! The seed's active-active pair behind its load balancer: two nodes on one PostgreSQL database
//! (node 2 made with `init --join`), and a real nginx running exactly what `portico lb nginx`
//! prints (only the nodes' ports, which the testkit picks free, are put in place of the
//! offsets'). Requests through nginx reach both nodes; a `kill -9` of node 1 under steady GET
//! load through nginx fails no request.
//!
//! Which node served a request: each node strips a header of its own (`[apim.gateway]
//! strip_request_headers`), and the echo backend shows which one is missing.
//!
//! nginx runs as a child process (`master_process off`, killed by its PID). Without nginx the
//! tests skip, unless `CI=true`: then they fail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portico_testkit::{Admin, EchoBackend, Node, NodeOptions, PgDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const P: &str = "/api/am/publisher/v4";
const D: &str = "/api/am/devportal/v3";

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

/// The nginx binary, or `None` (the test skips) when it is missing outside CI.
fn nginx_binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nginx is not installed (apt-get install nginx); CI=true needs it"
        );
        eprintln!("SKIPPING: nginx is not installed");
    }
    found
}

/// The header node `n` strips before calling the backend: its mark on what it forwarded.
fn stripped_by(n: usize) -> String {
    format!("X-Not-Via-Node-{n}")
}

/// A node on `db` that strips its own header.
fn node_options(db: &PgDatabase, n: usize, init_args: Vec<String>) -> NodeOptions {
    NodeOptions {
        config_edits: vec![(
            "# strip_request_headers = [\"X-Internal-User\", \"X-Tenant-*\"]".into(),
            format!("strip_request_headers = [\"{}\"]", stripped_by(n)),
        )],
        init_args,
        ..NodeOptions::on_postgres(db)
    }
}

/// Two nodes, an API deployed through node 1 and a token from node 2 for an application
/// subscribed on node 2; both gateways serve it.
struct Pair {
    _db: PgDatabase,
    _backend: EchoBackend,
    _work: tempfile::TempDir,
    nodes: [Node; 2],
    token: String,
}

const RESOURCE: &str = "/shop/1.0.0/menu";

impl Pair {
    async fn start(label: &str) -> Option<Pair> {
        let db = PgDatabase::create(label).await.expect("database")?;
        let node1 = Node::start(Path::new(BIN), node_options(&db, 1, Vec::new()))
            .await
            .expect("node 1");
        let work = tempfile::tempdir().expect("tempdir");
        let security = work.path().join("node1-security");
        std::fs::create_dir_all(&security).expect("mkdir");
        for name in ["node-cert.pem", "node-key.pem"] {
            std::fs::copy(node1.home.join("conf/security").join(name), security.join(name)).expect("copy");
        }
        let join = vec!["--join".to_owned(), security.display().to_string()];
        let node2 = Node::start(Path::new(BIN), node_options(&db, 2, join))
            .await
            .expect("node 2");
        let backend = EchoBackend::start("shop").await.expect("backend");

        let admin1 = Admin(&node1);
        let api = admin1
            .post(
                &format!("{P}/apis"),
                &json!({
                    "name": "Shop", "context": "/shop", "version": "1.0.0", "policies": ["Unlimited"],
                    "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend.url("/")}},
                    "operations": [{"target": "/menu", "verb": "GET"}, {"target": "/orders", "verb": "POST"}]
                }),
            )
            .await;
        let api_id = id(&api, "id");
        admin1.deploy_and_publish(&api_id).await;
        let admin2 = Admin(&node2);
        let app = admin2
            .post(
                &format!("{D}/applications"),
                &json!({"name": "ShopApp", "throttlingPolicy": "Unlimited"}),
            )
            .await;
        let app_id = id(&app, "applicationId");
        admin2
            .post(
                &format!("{D}/subscriptions"),
                &json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Unlimited"}),
            )
            .await;
        let keys = admin2
            .post(
                &format!("{D}/applications/{app_id}/generate-keys"),
                &json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"], "validityTime": 3600}),
            )
            .await;
        let token = keys["token"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("token in {keys}"))
            .to_owned();
        let pair = Pair {
            _db: db,
            _backend: backend,
            _work: work,
            nodes: [node1, node2],
            token,
        };
        for node in &pair.nodes {
            pair.wait_served(node).await;
        }
        Some(pair)
    }

    /// Polls `node`'s own gateway until the API answers 200 to the token (the deployment and
    /// the subscription arrive through the change feed).
    async fn wait_served(&self, node: &Node) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = node
                .client
                .get(node.gateway_url(RESOURCE))
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("gateway");
            if r.status() == StatusCode::OK {
                return;
            }
            let status = r.status();
            assert!(
                Instant::now() < deadline,
                "port {}: still {status} {}",
                node.ports.gateway_http,
                r.text().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `portico lb nginx` for the pair (node n at offset n - 1, as on one machine), with the
    /// nodes' real ports put in place of the offsets' and nginx's own ports `listen_offset` up.
    fn lb_config(&self, listen_offset: u16) -> String {
        let node1 = &self.nodes[0];
        let security = node1.home.join("conf/security");
        let cert = security.join("node-cert.pem");
        let key = security.join("node-key.pem");
        let out = portico(&[
            "lb",
            "nginx",
            "--node",
            "127.0.0.1:0",
            "--node",
            "127.0.0.1:1",
            "--server-name",
            "localhost",
            "--cert",
            cert.to_str().expect("utf-8"),
            "--key",
            key.to_str().expect("utf-8"),
            "--node-cert",
            cert.to_str().expect("utf-8"),
            "--listen-offset",
            &listen_offset.to_string(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let mut config = String::from_utf8(out.stdout).expect("utf-8");
        for (offset, node) in self.nodes.iter().enumerate() {
            let offset = u16::try_from(offset).expect("offset");
            for (base, real) in [
                (9443, node.ports.management),
                (8243, node.ports.gateway_https),
                (8280, node.ports.gateway_http),
            ] {
                let printed = format!("server 127.0.0.1:{} ", base + offset);
                assert!(config.contains(&printed), "`{printed}` in:\n{config}");
                config = config.replace(&printed, &format!("server 127.0.0.1:{real} "));
            }
        }
        config
    }

    /// Which node served an echo answer: the one whose header is missing.
    fn served_by(echo: &Value) -> usize {
        let headers = &echo["headers"];
        let present = |n: usize| headers.get(stripped_by(n).to_ascii_lowercase()).is_some();
        match (present(1), present(2)) {
            (false, true) => 1,
            (true, false) => 2,
            _ => panic!("neither node's mark in {echo}"),
        }
    }
}

/// nginx running a configuration that includes `portico.conf`, as a child process.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    listen_offset: u16,
}

impl Nginx {
    fn start(binary: &Path, portico_conf: &str, listen_offset: u16) -> Nginx {
        let dir = tempfile::tempdir().expect("temp dir");
        let prefix = dir.path().display().to_string();
        std::fs::write(dir.path().join("portico.conf"), portico_conf).expect("portico.conf");
        let main = format!(
            "master_process off;\nerror_log {prefix}/error.log notice;\npid {prefix}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n\
             client_body_temp_path {prefix}/client_body;\n    proxy_temp_path {prefix}/proxy;\n\
             fastcgi_temp_path {prefix}/fastcgi;\n    uwsgi_temp_path {prefix}/uwsgi;\n\
             scgi_temp_path {prefix}/scgi;\n    include {prefix}/portico.conf;\n}}\n"
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, main).expect("nginx.conf");
        let check = Command::new(binary)
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .output()
            .expect("nginx -t");
        assert!(
            check.status.success(),
            "nginx -t refused what lb nginx printed: {}\n{portico_conf}",
            text(&check)
        );
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx {
            child,
            dir,
            listen_offset,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", nginx.port(8280))).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}): {}", nginx.error_log());
            }
            assert!(started.elapsed() < Duration::from_secs(10), "nginx did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    fn port(&self, base: u16) -> u16 {
        base + self.listen_offset
    }

    /// A URL through nginx: gateway HTTP (8280), gateway HTTPS (8243) or management (9443).
    fn url(&self, base: u16, path: &str) -> String {
        let scheme = if base == 8280 { "http" } else { "https" };
        format!("{scheme}://localhost:{}{path}", self.port(base))
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Only the process this test started, by its PID (one process: master_process off).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An offset for nginx's listeners whose three ports (8243, 8280, 9443 plus it) are free now.
fn free_listen_offset() -> u16 {
    let start = 12_000 + (std::process::id() % 8_000) as u16;
    (0..8_000u16)
        .map(|i| 12_000 + (start - 12_000 + i * 7) % 8_000)
        .find(|offset| {
            [8243u16, 8280, 9443]
                .iter()
                .all(|base| std::net::TcpListener::bind(("127.0.0.1", base + offset)).is_ok())
        })
        .expect("a free listen offset")
}

#[test]
fn lb_nginx_without_nodes_is_refused() {
    let out = portico(&["lb", "nginx", "--server-name", "api.example.com"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("lb nginx needs at least one --node HOST:OFFSET"),
        "{}",
        text(&out)
    );
    assert!(out.stdout.is_empty(), "no configuration is printed: {}", text(&out));
    let out = portico(&["lb", "nginx", "--node", "10.0.0.5"]);
    assert!(text(&out).contains("expected HOST:OFFSET"), "{}", text(&out));
}

#[tokio::test]
async fn nginx_from_lb_nginx_balances_the_gateways_and_fronts_management() {
    let Some(binary) = nginx_binary() else { return };
    let Some(pair) = Pair::start("lb_nginx").await else {
        return;
    };
    let listen_offset = free_listen_offset();
    let nginx = Nginx::start(&binary, &pair.lb_config(listen_offset), listen_offset);
    let cert = std::fs::read(pair.nodes[0].home.join("conf/security/node-cert.pem")).expect("cert");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("pem"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    // Both gateway listeners, round robin: each node serves some of the requests.
    for base in [8280, 8243] {
        let mut served = [0usize; 2];
        for _ in 0..10 {
            let r = client
                .get(nginx.url(base, RESOURCE))
                .bearer_auth(&pair.token)
                .header(stripped_by(1), "x")
                .header(stripped_by(2), "x")
                .send()
                .await
                .expect("through nginx");
            assert_eq!(r.status(), StatusCode::OK, "{}", nginx.error_log());
            let echo: Value = r.json().await.expect("echo");
            served[Pair::served_by(&echo) - 1] += 1;
        }
        assert!(
            served[0] > 0 && served[1] > 0,
            "port {base}: served by node 1, 2: {served:?}"
        );
    }

    // A POST is not retried on the other node: the failing one answers it. With no token it is
    // refused (401) by whichever node got it, once.
    let r = client
        .post(nginx.url(8280, "/shop/1.0.0/orders"))
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Management through nginx (TLS to the nodes, verified against the cluster's certificate).
    let r = client
        .get(nginx.url(9443, "/health/ready"))
        .send()
        .await
        .expect("ready through nginx");
    assert_eq!(r.status(), StatusCode::OK, "{}", nginx.error_log());
    let (user, password) = pair.nodes[0].admin();
    let r = client
        .get(nginx.url(9443, "/api/am/admin/v4/cluster/nodes"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .expect("REST through nginx");
    assert_eq!(r.status(), StatusCode::OK);
    let nodes: Value = r.json().await.expect("JSON");
    assert_eq!(nodes["count"], 2, "{nodes}");
}

/// Sends GETs through nginx from `workers` tasks until `stop`; counts answers and failures and
/// which node served, before and after `killed` is set.
struct Load {
    ok: AtomicUsize,
    failures: std::sync::Mutex<Vec<String>>,
    /// Requests served by node 1 and node 2, before the kill and after it.
    served: [[AtomicUsize; 2]; 2],
    killed: AtomicBool,
    stop: AtomicBool,
}

async fn load_worker(load: Arc<Load>, client: reqwest::Client, url: String, token: String) {
    while !load.stop.load(Ordering::SeqCst) {
        let after_kill = usize::from(load.killed.load(Ordering::SeqCst));
        let result = client
            .get(&url)
            .bearer_auth(&token)
            .header(stripped_by(1), "x")
            .header(stripped_by(2), "x")
            .send()
            .await;
        match result {
            Ok(r) if r.status() == StatusCode::OK => match r.json::<Value>().await {
                Ok(echo) => {
                    load.ok.fetch_add(1, Ordering::SeqCst);
                    load.served[after_kill][Pair::served_by(&echo) - 1].fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => load.failures.lock().expect("lock").push(format!("body: {e}")),
            },
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                load.failures.lock().expect("lock").push(format!("{status} {body}"));
            }
            Err(e) => load.failures.lock().expect("lock").push(format!("{e:?}")),
        }
    }
}

#[tokio::test]
async fn kill_9_of_node_1_under_get_load_through_nginx_fails_no_request() {
    let Some(binary) = nginx_binary() else { return };
    let Some(pair) = Pair::start("failover_drill").await else {
        return;
    };
    let listen_offset = free_listen_offset();
    let nginx = Nginx::start(&binary, &pair.lb_config(listen_offset), listen_offset);
    let cert = std::fs::read(pair.nodes[0].home.join("conf/security/node-cert.pem")).expect("cert");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("pem"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let load = Arc::new(Load {
        ok: AtomicUsize::new(0),
        failures: std::sync::Mutex::new(Vec::new()),
        served: Default::default(),
        killed: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    });
    // Steady load on both gateway listeners: 4 clients, each one request at a time.
    let workers: Vec<_> = [8280, 8243, 8280, 8243]
        .into_iter()
        .map(|base| {
            tokio::spawn(load_worker(
                load.clone(),
                client.clone(),
                nginx.url(base, RESOURCE),
                pair.token.clone(),
            ))
        })
        .collect();

    // Until both nodes have served under the load, then kill -9 node 1 (no drain, no goodbye).
    let deadline = Instant::now() + Duration::from_secs(20);
    while load.served[0].iter().any(|n| n.load(Ordering::SeqCst) < 20) {
        assert!(Instant::now() < deadline, "load did not reach both nodes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = pair.nodes[0].pid().expect("node 1 runs");
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    load.killed.store(true, Ordering::SeqCst);
    let at_kill = load.ok.load(Ordering::SeqCst);

    // Keep the load on for a good while after: past nginx's fail_timeout (10 s), when it tries
    // node 1 again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while load.ok.load(Ordering::SeqCst) < at_kill + 500 || Instant::now() + Duration::from_secs(18) < deadline {
        assert!(Instant::now() < deadline, "the load stalled after the kill");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    load.stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("worker");
    }

    let failures = load.failures.lock().expect("lock").clone();
    let served = |when: usize, node: usize| load.served[when][node].load(Ordering::SeqCst);
    eprintln!(
        "GETs: {} ok; before the kill node 1 {} / node 2 {}, after it node 1 {} / node 2 {}",
        load.ok.load(Ordering::SeqCst),
        served(0, 0),
        served(0, 1),
        served(1, 0),
        served(1, 1)
    );
    assert!(
        failures.is_empty(),
        "{} failed GETs, e.g. {:?}\nnginx: {}",
        failures.len(),
        &failures[..failures.len().min(5)],
        nginx.error_log()
    );
    assert!(served(1, 1) >= 500, "node 2 carried the load after the kill");
    // Requests already on their way to node 1 when it died count as before the kill; none may
    // be answered by node 1 after it (it is dead): a few in flight at the flag's store at most.
    assert!(
        served(1, 0) <= 4,
        "node 1 answered {} requests after kill -9",
        served(1, 0)
    );
}
