//! The gateway inside a running node: artifacts under deployment/server/ are served and
//! followed, bodies stream with bounded memory.

use std::path::Path;
use std::time::Duration;

use portico_testkit::{EchoBackend, Node, NodeOptions, PgDatabase};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");

fn artifact(id: &str, context: &str, backend: &str) -> Value {
    json!({
        "schema": 1, "id": id, "name": id, "version": "1.0.0", "context": context,
        "isDefaultVersion": false, "lifeCycleStatus": "PUBLISHED",
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend}},
        "operations": [
            {"target": "/menu", "verb": "GET", "authType": "None", "throttlingPolicy": "Unlimited", "scopes": []},
            {"target": "/upload", "verb": "POST", "authType": "None", "throttlingPolicy": "Unlimited", "scopes": []},
            {"target": "/orders", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited", "scopes": []}
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

async fn wait_status(node: &Node, path: &str, want: u16) -> Value {
    for _ in 0..100 {
        let r = node.client.get(node.gateway_url(path)).send().await.expect("send");
        if r.status().as_u16() == want {
            return r.json().await.unwrap_or(Value::Null);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never answered {want}");
}

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("field")
}

#[tokio::test]
async fn artifacts_are_served_followed_and_removed() {
    let backend = EchoBackend::start("pizza-backend").await.expect("backend");
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    write_artifact(&node.home, "pizza", &artifact("pizza", "/pizza", &backend.url("/api")));
    let body = wait_status(&node, "/pizza/1.0.0/menu", 200).await;
    assert_eq!(body["backend"], "pizza-backend");
    assert_eq!(body["uri"], "/api/menu");

    let r = node
        .client
        .get(node.gateway_url("/pizza/1.0.0/orders"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401, "secured resource without a token");

    // HTTPS listener serves the same APIs.
    let r = node
        .client
        .get(format!(
            "https://localhost:{}/pizza/1.0.0/menu",
            node.ports.gateway_https
        ))
        .send()
        .await
        .expect("https");
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "HTTP/2 chosen by ALPN");
    assert_eq!(
        r.json::<Value>().await.expect("json")["headers"]["x-forwarded-proto"],
        "https"
    );
    // A client that offers only HTTP/1.1 gets HTTP/1.1 on the same listener.
    let http1 = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http1_only()
        .build()
        .expect("client");
    let r = http1
        .get(format!(
            "https://localhost:{}/pizza/1.0.0/menu",
            node.ports.gateway_https
        ))
        .send()
        .await
        .expect("https over HTTP/1.1");
    assert_eq!((r.status().as_u16(), r.version()), (200, reqwest::Version::HTTP_11));

    std::fs::remove_file(node.home.join("deployment/server/Default/pizza.json")).expect("remove");
    let body = wait_status(&node, "/pizza/1.0.0/menu", 404).await;
    assert_eq!(body["code"], "900906");
}

#[tokio::test]
async fn a_100_mib_body_streams_with_bounded_memory() {
    let backend = EchoBackend::start("sink").await.expect("backend");
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    write_artifact(&node.home, "sink", &artifact("sink", "/sink", &backend.url("/")));
    wait_status(&node, "/sink/1.0.0/menu", 200).await;
    let pid = node.pid().expect("pid");
    let before = vm_kib(pid, "VmRSS:");

    const SIZE: usize = 100 * 1024 * 1024;
    let r = node
        .client
        .post(node.gateway_url("/sink/1.0.0/upload"))
        .body(vec![b'p'; SIZE])
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["bodyLength"], SIZE as u64);
    let peak = vm_kib(pid, "VmHWM:");
    assert!(
        peak < before + 32 * 1024,
        "gateway memory grew from {before} KiB to a peak of {peak} KiB while streaming 100 MiB"
    );
}

/// Creates an API with one unsecured resource `/items/{id}` on `node` through the Publisher REST
/// API, revises it and deploys the revision to `Default`. Returns the API id.
async fn create_and_deploy(node: &Node, context: &str, backend_url: &str) -> String {
    let (user, pw) = node.admin();
    let publisher = |path: &str| node.url(&format!("/api/am/publisher/v4{path}"));
    let r = node
        .client
        .post(publisher("/apis"))
        .basic_auth(user, Some(pw))
        .json(
            &json!({"name": context.trim_start_matches('/'), "context": context, "version": "2.0",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend_url}},
            "operations": [{"target": "/items/{id}", "verb": "GET", "authType": "None"}]}),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let api_id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = node
        .client
        .post(publisher(&format!("/apis/{api_id}/revisions")))
        .basic_auth(user, Some(pw))
        .json(&json!({"description": "first"}))
        .send()
        .await
        .expect("revise");
    assert_eq!(r.status(), 201);
    let revision = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = node
        .client
        .post(publisher(&format!(
            "/apis/{api_id}/deploy-revision?revisionId={revision}"
        )))
        .basic_auth(user, Some(pw))
        .json(&json!([{"name": "Default", "vhost": "localhost", "displayOnDevportal": true}]))
        .send()
        .await
        .expect("deploy");
    assert_eq!(r.status(), 200);
    api_id
}

#[tokio::test]
async fn a_deployment_on_one_node_reaches_the_other_nodes_gateway() {
    let Some(db) = PgDatabase::create("cluster_deploy").await.expect("database") else {
        return;
    };
    let backend = EchoBackend::start("shared").await.expect("backend");
    let options = NodeOptions::on_postgres(&db);
    let (a, b) = tokio::join!(
        Node::start(Path::new(BIN), options.clone()),
        Node::start(Path::new(BIN), options)
    );
    let (a, b) = (a.expect("node a"), b.expect("node b"));
    create_and_deploy(&a, "/clustered", &backend.url("/svc")).await;
    let started = std::time::Instant::now();
    let body = wait_status(&b, "/clustered/2.0/items/1", 200).await;
    assert_eq!(body["uri"], "/svc/items/1");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    eprintln!("deployed on node a -> routable on node b: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_revision_deployed_through_the_publisher_is_routable_at_once() {
    let backend = EchoBackend::start("deployed").await.expect("backend");
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let (user, pw) = node.admin();
    let publisher = |path: &str| node.url(&format!("/api/am/publisher/v4{path}"));
    assert_eq!(
        node.client
            .get(node.gateway_url("/live/2.0/items/7"))
            .send()
            .await
            .expect("gw")
            .status(),
        404
    );
    let api_id = create_and_deploy(&node, "/live", &backend.url("/svc")).await;
    let deployed = std::time::Instant::now();
    // The artifact poll runs every second; the deploy wakes the loader, so well before that.
    let mut routable = None;
    while deployed.elapsed() < Duration::from_millis(900) {
        let r = node
            .client
            .get(node.gateway_url("/live/2.0/items/7"))
            .send()
            .await
            .expect("gw");
        if r.status() == 200 {
            routable = Some(r.json::<Value>().await.expect("json"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let body = routable.expect("deployed revision not routable within 900 ms (before the 1 s poll)");
    assert_eq!(body["uri"], "/svc/items/7");
    eprintln!("deploy answered -> routable: {:?}", deployed.elapsed());

    // Blocking the API reaches the gateway as well (700700).
    let r = node
        .client
        .post(publisher(&format!(
            "/apis/change-lifecycle?apiId={api_id}&action=Publish"
        )))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .expect("publish");
    assert_eq!(r.status(), 200);
    let r = node
        .client
        .post(publisher(&format!(
            "/apis/change-lifecycle?apiId={api_id}&action=Block"
        )))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .expect("block");
    assert_eq!(r.status(), 200);
    let body = wait_status(&node, "/live/2.0/items/7", 503).await;
    assert_eq!(body["code"], "700700");
}

/// `[apim.gateway] trusted_proxies` and `strip_request_headers` in deployment.toml reach the
/// node's gateway: the client address behind a trusted proxy is the right-most untrusted one, and
/// a site-specific header is never forwarded.
#[tokio::test]
async fn the_gateway_section_of_deployment_toml_reaches_the_gateway() {
    let backend = EchoBackend::start("xff-backend").await.expect("backend");
    let node = Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: vec![
                (
                    "# trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]".into(),
                    "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]".into(),
                ),
                (
                    "# strip_request_headers = [\"X-Internal-User\", \"X-Tenant-*\"]".into(),
                    "strip_request_headers = [\"X-Internal-User\", \"X-Tenant-*\"]".into(),
                ),
            ],
            ..NodeOptions::default()
        },
    )
    .await
    .expect("node");
    write_artifact(&node.home, "xff", &artifact("xff", "/xff", &backend.url("/api")));
    wait_status(&node, "/xff/1.0.0/menu", 200).await;
    let r = node
        .client
        .get(node.gateway_url("/xff/1.0.0/menu"))
        .header("x-forwarded-for", "203.0.113.7, 10.1.2.3")
        .header("x-internal-user", "mallory")
        .header("x-tenant-id", "other")
        .header("x-jwt-assertion", "forged")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let headers = r.json::<Value>().await.expect("json")["headers"].clone();
    assert_eq!(headers["x-forwarded-for"], "203.0.113.7, 10.1.2.3, 127.0.0.1");
    // 127.0.0.1 and 10.1.2.3 are trusted proxies: the client is 203.0.113.7.
    assert_eq!(headers["x-real-ip"], "203.0.113.7");
    for stripped in ["x-internal-user", "x-tenant-id", "x-jwt-assertion"] {
        assert!(
            headers.get(stripped).is_none(),
            "{stripped} reached the backend: {headers}"
        );
    }
}

/// With `[deployment] sync = "shared-fs"` the artifact files belong to the shared directory: a
/// deployment another node makes through the Publisher must not make this node delete them (it
/// used to run the database's reconcile whatever the mode).
#[tokio::test]
async fn shared_fs_artifacts_survive_a_deployment_made_on_another_node() {
    let Some(db) = PgDatabase::create("shared_fs_keep").await.expect("database") else {
        return;
    };
    let backend = EchoBackend::start("shared-fs").await.expect("backend");
    let shared = NodeOptions {
        config_edits: vec![("sync = \"database\"".into(), "sync = \"shared-fs\"".into())],
        ..NodeOptions::on_postgres(&db)
    };
    let (a, b) = tokio::join!(
        Node::start(Path::new(BIN), shared),
        Node::start(Path::new(BIN), NodeOptions::on_postgres(&db))
    );
    let (a, b) = (a.expect("node a (shared-fs)"), b.expect("node b (database)"));
    write_artifact(
        &a.home,
        "by-hand",
        &artifact("by-hand", "/byhand", &backend.url("/api")),
    );
    wait_status(&a, "/byhand/1.0.0/menu", 200).await;

    create_and_deploy(&b, "/elsewhere", &backend.url("/svc")).await;
    wait_status(&b, "/elsewhere/2.0/items/1", 200).await;
    // Give node a's follower time to see node b's api.* events (it wakes on NOTIFY at once).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        a.home.join("deployment/server/Default/by-hand.json").exists(),
        "node a deleted the shared directory's artifact:\n{}",
        a.output()
    );
    wait_status(&a, "/byhand/1.0.0/menu", 200).await;
}
