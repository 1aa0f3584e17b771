//! Throttling through real nodes: policies in the store (rows added here by SQL, as the Admin
//! REST policy API does not exist yet, then announced on the change feed), APIs, applications,
//! subscriptions and keys through the REST APIs, requests through the gateways.
//!
//! - One node: each level refuses with its WSO2 code once exactly its limit was admitted
//!   (subscription 900804, resource 900802, application 900803, API-level 900800, and the
//!   `Unauthenticated` tier per client IP), with `Retry-After` and the rate-limit fields.
//! - The same limits with `counter = "redis"`, the counts visible in Redis.
//! - Two nodes on PostgreSQL sharing keys, each sending its events to both Traffic Managers:
//!   load split across both gateways admits between the limit and 5 % over it in total; with
//!   one node's Traffic Manager gone mid-window, requests keep flowing at the other.
//! - The same with no url group configured and node 2 made by `portico init --join`: each node
//!   finds the other's Traffic Manager in the node registry, and drops it when it dies.
//! - The restart drill: a 100 per minute tier, node 2 (with its Traffic Manager) killed with
//!   SIGKILL and started again mid-window; the limit holds across the restart.
//!
//! Burst control cannot be stored yet (the table has no burst columns); its codes (900807,
//! 900809) are checked at the gateway (crates/portico-gateway/tests/throttle.rs).

use std::path::Path;
use std::time::{Duration, Instant};

use portico_testkit::{Admin, EchoBackend, Node, NodeOptions, NodePorts, PgDatabase, init_home};
use reqwest::{Method, Response};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const D: &str = "/api/am/devportal/v3";
const P: &str = "/api/am/publisher/v4";
const HOUR_MS: u128 = 3_600_000;

/// The test's policies: quotas per hour, so that one test never spans two windows (see
/// [`room_in_the_hour`]).
const POLICIES: [(&str, &str, i64); 5] = [
    ("subscription", "Sub5", 5),
    ("subscription", "Sub100", 100),
    ("application", "App4", 4),
    ("api", "Res3", 3),
    ("api", "Api6", 6),
];

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}")).to_owned()
}

/// Adds the test's policies (and makes `Unauthenticated` 4 per hour) through the Admin REST
/// API, then waits until `node` has reloaded its gateway's policies after the last change.
async fn add_policies(node: &Node) {
    let admin = Admin(node);
    let reloads = |node: &Node| node.output().matches("throttling policies reloaded").count();
    let before = reloads(node);
    let per_hour = |count: i64| json!({"type": "REQUESTCOUNTLIMIT", "requestCount": {"requestCount": count, "unitTime": 1, "timeUnit": "hour"}});
    for (level, name, count) in POLICIES {
        let path = if level == "api" { "advanced" } else { level };
        admin
            .post(
                &format!("/api/am/admin/v4/throttling/policies/{path}"),
                // Subscription tiers refuse at their quota only with stopOnQuotaReach (else WSO2 only
                // notes the overage).
                &json!({"policyName": name, "displayName": name, "description": "test tier",
                        "defaultLimit": per_hour(count), "stopOnQuotaReach": true}),
            )
            .await;
    }
    let subscription = admin.get("/api/am/admin/v4/throttling/policies/subscription").await;
    let mut unauthenticated = subscription["list"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["policyName"] == "Unauthenticated"))
        .unwrap_or_else(|| panic!("no Unauthenticated tier in {subscription}"))
        .clone();
    unauthenticated["defaultLimit"] = per_hour(4);
    let (status, body) = admin
        .call(
            Method::PUT,
            &format!(
                "/api/am/admin/v4/throttling/policies/subscription/{}",
                id(&unauthenticated, "policyId")
            ),
            Some(&unauthenticated),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Reloads follow the change feed in batches: wait for one, then until none follows for 0.5 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = before;
    let mut quiet_since = Instant::now();
    loop {
        let now = reloads(node);
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
        }
        if seen > before && quiet_since.elapsed() > Duration::from_millis(500) {
            break;
        }
        assert!(Instant::now() < deadline, "policies not reloaded:\n{}", node.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits, if needed, until at least a minute of the current hour window remains.
async fn room_in_the_hour() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let left = HOUR_MS - now % HOUR_MS;
    if left < 60_000 {
        println!("waiting {left} ms for the next hour window");
        tokio::time::sleep(Duration::from_millis(u64::try_from(left).unwrap_or(60_000) + 50)).await;
    }
}

/// An API on the echo backend, secured by OAuth2 and API keys, with one open resource,
/// deployed and published.
async fn publish(admin: &Admin<'_>, backend: &EchoBackend, api: (&str, &[&str], Option<&str>)) -> String {
    let (context, tiers, api_policy) = api;
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": context.trim_start_matches('/'), "context": context, "version": "1.0.0",
                "policies": tiers, "apiThrottlingPolicy": api_policy,
                "securityScheme": ["oauth2", "api_key"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend.url("/")}},
                "operations": [
                    {"target": "/menu", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited"},
                    {"target": "/res", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Res3"},
                    {"target": "/open", "verb": "GET", "authType": "None", "throttlingPolicy": "Unlimited"}
                ]
            }),
        )
        .await;
    let api_id = id(&api, "id");
    admin.deploy_and_publish(&api_id).await;
    api_id
}

/// An application of `tier` subscribed to each of `subscriptions` (API id, tier); its bearer
/// token.
async fn application(admin: &Admin<'_>, name: &str, tier: &str, subscriptions: &[(&str, &str)]) -> String {
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": name, "throttlingPolicy": tier, "description": "throttling", "tokenType": "JWT"}),
        )
        .await;
    let app_id = id(&app, "applicationId");
    for (api_id, sub_tier) in subscriptions {
        admin
            .post(
                &format!("{D}/subscriptions"),
                &json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": sub_tier}),
            )
            .await;
    }
    let keys = admin
        .post(
            &format!("{D}/applications/{app_id}/generate-keys"),
            &json!({"keyType": "PRODUCTION", "keyManager": "Resident Key Manager",
                "grantTypesToBeSupported": ["client_credentials"], "callbackUrl": "",
                "scopes": ["default"], "validityTime": 3600, "additionalProperties": {}}),
        )
        .await;
    format!("Bearer {}", keys["token"]["accessToken"].as_str().expect("token"))
}

async fn call(node: &Node, path: &str, bearer: Option<&str>) -> Response {
    let mut request = node.client.get(node.gateway_url(path));
    if let Some(bearer) = bearer {
        request = request.header("authorization", bearer);
    }
    request.send().await.expect("gateway")
}

/// Calls `path` until it is refused; returns how many were admitted and the refusal's code.
async fn admitted_until_refused(node: &Node, path: &str, bearer: Option<&str>) -> (u64, String) {
    for admitted in 0..200 {
        let r = call(node, path, bearer).await;
        if r.status() == 429 {
            return (admitted, refusal_code(r).await);
        }
        assert_eq!(r.status(), 200, "{path}: {}", r.text().await.unwrap_or_default());
        assert!(r.headers().contains_key("ratelimit"), "{path}: {:?}", r.headers());
    }
    panic!("{path} was never refused");
}

/// The WSO2 code of a 429, after checking its `Retry-After` and rate-limit fields.
async fn refusal_code(r: Response) -> String {
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=3600).contains(&retry_after), "Retry-After {retry_after}");
    assert!(r.headers().contains_key("ratelimit-policy"), "{:?}", r.headers());
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["message"], "Message throttled out", "{body}");
    id(&body, "code")
}

async fn each_level_refuses_with_its_code(node: &Node, _database: Option<&PgDatabase>) {
    add_policies(node).await;
    let admin = Admin(node);
    let backend = EchoBackend::start("throttled").await.expect("backend");
    let limited = publish(&admin, &backend, ("/limited", &["Sub5", "Unlimited"], None)).await;
    let whole = publish(&admin, &backend, ("/whole", &["Unlimited"], Some("Api6"))).await;
    let subscriber = application(
        &admin,
        "Subscriber",
        "Unlimited",
        &[(&limited, "Sub5"), (&whole, "Unlimited")],
    )
    .await;
    let small_app = application(&admin, "SmallApp", "App4", &[(&limited, "Unlimited")]).await;
    room_in_the_hour().await;
    let (subscriber, small_app) = (Some(subscriber.as_str()), Some(small_app.as_str()));
    // (path, caller, admitted, then refused with), in this order.
    let cases = [
        // The subscription tier: exactly 5, then 900804.
        ("/limited/1.0.0/menu", subscriber, 5, "900804"),
        // The resource's advanced policy (3) before the application's tier (4).
        ("/limited/1.0.0/res", small_app, 3, "900802"),
        // The application's tier: 3 counted above, one more, then 900803.
        ("/limited/1.0.0/menu", small_app, 1, "900803"),
        // The API-level policy (6) replaces the resource's own (3).
        ("/whole/1.0.0/res", subscriber, 6, "900800"),
        // Unauthenticated requests: the Unauthenticated tier (4) per client IP and API.
        ("/limited/1.0.0/open", None, 4, "900804"),
    ];
    for (path, caller, admitted, code) in cases {
        assert_eq!(
            admitted_until_refused(node, path, caller).await,
            (admitted, code.to_owned()),
            "{path}"
        );
    }
    // The API-level policy covers the API's unsecured resources too.
    let r = call(node, "/whole/1.0.0/open", None).await;
    assert_eq!(r.status(), 429);
    assert_eq!(refusal_code(r).await, "900800");
}

portico_testkit::node_on_both_backends!(
    sqlite_each_level_refuses_with_its_code,
    postgres_each_level_refuses_with_its_code,
    |node, database| each_level_refuses_with_its_code(node, database)
);

#[tokio::test]
async fn redis_counts_the_same_limits() {
    let options = NodeOptions {
        config_edits: vec![("counter = \"traffic_manager\"".into(), "counter = \"redis\"".into())],
        ..NodeOptions::default()
    };
    let node = Node::start(Path::new(BIN), options).await.expect("node");
    assert!(node.output().contains("counted in Redis"), "{}", node.output());
    add_policies(&node).await;
    let admin = Admin(&node);
    // A context of its own, so that no earlier run's counts in Redis are met.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let context = format!("/redis{}x{nanos}", std::process::id());
    let backend = EchoBackend::start("throttled").await.expect("backend");
    let api_id = publish(&admin, &backend, (&context, &["Sub5"], None)).await;
    let bearer = application(&admin, "RedisApp", "Unlimited", &[(&api_id, "Sub5")]).await;
    room_in_the_hour().await;
    let menu = format!("{context}/1.0.0/menu");
    assert_eq!(
        admitted_until_refused(&node, &menu, Some(&bearer)).await,
        (5, "900804".to_owned())
    );
    let open = format!("{context}/1.0.0/open");
    assert_eq!(
        admitted_until_refused(&node, &open, None).await,
        (4, "900804".to_owned())
    );
    // Redis holds the count of the unauthenticated key (client IP, API context, version).
    let mut redis = redis::Client::open("redis://127.0.0.1:6379")
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let pattern = format!("portico:throttle:127.0.0.1:{context}/1.0.0:1.0.0:*");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut redis)
            .await
            .expect("keys");
        let counts: Vec<u64> = match keys.first() {
            Some(key) => vec![redis::cmd("GET").arg(key).query_async(&mut redis).await.expect("get")],
            None => vec![],
        };
        if counts == [4] {
            break;
        }
        assert!(Instant::now() < deadline, "{pattern}: {keys:?} {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A node home on `db` whose events go to both Traffic Managers (`tms`) and whose tokens carry
/// the cluster's issuer; `keys_from`: another home whose key pair it takes (shared keys).
fn cluster_home(dir: &Path, db: &PgDatabase, keys_from: Option<&Path>) -> NodePorts {
    let ports = init_home(Path::new(BIN), dir, &NodeOptions::on_postgres(db)).expect("init");
    if let Some(other) = keys_from {
        for file in ["node-cert.pem", "node-key.pem"] {
            let from = other.join("conf/security").join(file);
            std::fs::copy(&from, dir.join("conf/security").join(file)).expect("copy key pair");
        }
    }
    ports
}

fn join_cluster(dir: &Path, traffic_managers: &[u16]) {
    let path = dir.join("conf/deployment.toml");
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("\n[oauth]\nissuer = \"https://cluster.portico.test/oauth2/token\"\n");
    for port in traffic_managers {
        text.push_str(&format!(
            "\n[[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://127.0.0.1:{port}\"]\ntype = \"loadbalance\"\n"
        ));
    }
    std::fs::write(&path, text).expect("write");
}

/// Load split evenly across both gateways, with `limited`'s token (a Sub100 subscription):
/// between 100 and 105 admitted in total, then both gateways refuse with 900804.
async fn load_split_across_both_admits_the_limit(node1: &Node, node2: &Node, limited: &str) {
    // Node 2 serves node 1's API to node 1's token once the feed has reached it; that first
    // answer is the first admitted request.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = call(node2, "/shared/1.0.0/menu", Some(limited)).await.status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "node 2 never served the API: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Requests alternate between the gateways, one every 2 ms or so (about 400 a second in all,
    // near WSO2's sizing of a node): how far past the limit they get is the rate times the
    // decision latency, which on a loaded machine with debug builds is a millisecond or two.
    let nodes = [node1, node2];
    let mut admitted = 1;
    let mut refused = [false, false];
    for i in 0..300 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let r = call(nodes[i % 2], "/shared/1.0.0/menu", Some(limited)).await;
        match r.status().as_u16() {
            200 => admitted += 1,
            429 => {
                refused[i % 2] = true;
                assert_eq!(refusal_code(r).await, "900804");
            }
            other => panic!("unexpected {other}"),
        }
        if refused == [true, true] {
            break;
        }
    }
    println!("admitted {admitted} of a 100 per hour tier across two gateways");
    assert!((100..=105).contains(&admitted), "admitted {admitted}");
    for node in nodes {
        let r = call(node, "/shared/1.0.0/menu", Some(limited)).await;
        assert_eq!(r.status(), 429);
        assert_eq!(refusal_code(r).await, "900804");
    }
}

#[tokio::test]
async fn two_nodes_share_one_limit_and_survive_a_lost_traffic_manager() {
    let Some(db) = PgDatabase::create("throttling_two_nodes").await.expect("database") else {
        return;
    };
    let (dir1, dir2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let ports1 = cluster_home(dir1.path(), &db, None);
    let ports2 = cluster_home(dir2.path(), &db, Some(dir1.path()));
    let tms = [ports1.traffic_manager, ports2.traffic_manager];
    join_cluster(dir1.path(), &tms);
    join_cluster(dir2.path(), &tms);
    let on_home = |dir: &Path| NodeOptions {
        home: Some(dir.to_path_buf()),
        ..NodeOptions::on_postgres(&db)
    };
    let node1 = Node::start(Path::new(BIN), on_home(dir1.path())).await.expect("node 1");
    add_policies(&node1).await;
    let node2 = Node::start(Path::new(BIN), on_home(dir2.path())).await.expect("node 2");
    let admin = Admin(&node1);
    let backend = EchoBackend::start("throttled").await.expect("backend");
    let api_id = publish(&admin, &backend, ("/shared", &["Sub100", "Gold"], None)).await;
    let limited = application(&admin, "Limited", "Unlimited", &[(&api_id, "Sub100")]).await;
    let other = application(&admin, "Other", "Unlimited", &[(&api_id, "Gold")]).await;
    room_in_the_hour().await;

    load_split_across_both_admits_the_limit(&node1, &node2, &limited).await;

    // Node 2 (and its Traffic Manager) gone mid-window: node 1 keeps answering at once.
    drop(node2);
    let started = Instant::now();
    for _ in 0..30 {
        let sent = Instant::now();
        let r = call(&node1, "/shared/1.0.0/menu", Some(&other)).await;
        assert_eq!(r.status(), 200);
        assert!(sent.elapsed() < Duration::from_secs(2), "{:?}", sent.elapsed());
    }
    println!("30 requests with a Traffic Manager down: {:?}", started.elapsed());
    let r = call(&node1, "/shared/1.0.0/menu", Some(&limited)).await;
    assert_eq!(r.status(), 429, "the decision holds at the node still up");
}

/// What node 1 logs when its set of Traffic Managers changes.
const TMS_CHANGED: &str = "the cluster's traffic managers changed";

/// Waits until node 1 has logged `changes` changes of its Traffic Managers, the last naming
/// (or, `present` false, no longer naming) `address`.
async fn traffic_managers_changed(node: &Node, changes: usize, address: &str, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let output = node.output();
        let last = output.lines().rfind(|l| l.contains(TMS_CHANGED)).unwrap_or_default();
        // The set now comes before the `before` field (whatever colours the log has).
        let listed = last.split("before").next().unwrap_or_default().contains(address);
        if output.matches(TMS_CHANGED).count() == changes && listed == present {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no change naming {address} ({present}):\n{output}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn with_no_url_group_each_node_finds_every_live_traffic_manager_in_the_registry() {
    let Some(db) = PgDatabase::create("throttling_discovery").await.expect("database") else {
        return;
    };
    // Heartbeats (and so the registry's reads) every second; a node silent for 3 s is down.
    let fast_heartbeats = vec![
        ("heartbeat_seconds = 5".into(), "heartbeat_seconds = 1".into()),
        ("node_timeout_seconds = 15".into(), "node_timeout_seconds = 3".into()),
    ];
    let node1 = Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: fast_heartbeats.clone(),
            ..NodeOptions::on_postgres(&db)
        },
    )
    .await
    .expect("node 1");
    add_policies(&node1).await;
    let security = node1.home.join("conf/security");
    let node2 = Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: fast_heartbeats,
            init_args: vec!["--join".into(), security.display().to_string()],
            ..NodeOptions::on_postgres(&db)
        },
    )
    .await
    .expect("node 2");
    // Node 2 found node 1's Traffic Manager at start; node 1 finds node 2's at a heartbeat.
    let tm1 = format!("localhost:{}", node1.ports.traffic_manager);
    let tm2 = format!("localhost:{}", node2.ports.traffic_manager);
    assert!(node2.output().contains(&tm1), "{}", node2.output());
    traffic_managers_changed(&node1, 1, &tm2, true).await;

    let admin = Admin(&node1);
    let backend = EchoBackend::start("throttled").await.expect("backend");
    let api_id = publish(&admin, &backend, ("/shared", &["Sub100"], None)).await;
    let limited = application(&admin, "Found", "Unlimited", &[(&api_id, "Sub100")]).await;
    room_in_the_hour().await;
    load_split_across_both_admits_the_limit(&node1, &node2, &limited).await;

    // Node 2 dies: once the registry shows it down, node 1 stops sending to it.
    drop(node2);
    traffic_managers_changed(&node1, 2, &tm2, false).await;
}

/// Waits, if needed, until at least `need` of the current minute window remains.
async fn room_in_the_minute(need: Duration) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let left = Duration::from_millis(u64::try_from(60_000 - now % 60_000).unwrap_or(0));
    if left < need {
        println!("waiting {left:?} for the next minute window");
        tokio::time::sleep(left + Duration::from_millis(50)).await;
    }
}

/// Sends one request to `node` and notes it: admitted (200) or refused with 900804.
async fn counted(node: &Node, bearer: &str, admitted: &mut u64) -> bool {
    let r = call(node, "/drill/1.0.0/menu", Some(bearer)).await;
    match r.status().as_u16() {
        200 => {
            *admitted += 1;
            true
        }
        429 => {
            assert_eq!(refusal_code(r).await, "900804");
            false
        }
        other => panic!("unexpected {other}: {}", r.text().await.unwrap_or_default()),
    }
}

/// Issue 19's restart drill with two real nodes on PostgreSQL, node 2 made by `init --join`,
/// each finding the other's Traffic Manager in the node registry. A 100 per minute
/// subscription tier, load split evenly across both gateways; mid-window node 2 (and so its
/// Traffic Manager, which runs inside it) is killed with SIGKILL while node 1 keeps serving,
/// then started again on its home. Its Traffic Manager takes node 1's counts for the current
/// window, so the restart resets nothing: between 100 and 105 are admitted in the window in
/// total, then both gateways refuse with 900804 and `Retry-After`.
#[tokio::test]
async fn a_traffic_manager_killed_and_restarted_mid_window_keeps_the_limit() {
    let Some(db) = PgDatabase::create("throttling_tm_restart").await.expect("database") else {
        return;
    };
    let fast_heartbeats = vec![
        ("heartbeat_seconds = 5".into(), "heartbeat_seconds = 1".into()),
        ("node_timeout_seconds = 15".into(), "node_timeout_seconds = 3".into()),
    ];
    let node1 = Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: fast_heartbeats.clone(),
            ..NodeOptions::on_postgres(&db)
        },
    )
    .await
    .expect("node 1");
    let admin = Admin(&node1);
    let reloads = |node: &Node| node.output().matches("throttling policies reloaded").count();
    let before = reloads(&node1);
    admin
        .post(
            "/api/am/admin/v4/throttling/policies/subscription",
            &json!({"policyName": "Sub100PerMinute", "displayName": "Sub100PerMinute", "description": "drill",
                    "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                                     "requestCount": {"requestCount": 100, "unitTime": 1, "timeUnit": "min"}},
                    "stopOnQuotaReach": true}),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while reloads(&node1) == before {
        assert!(Instant::now() < deadline, "policy not reloaded:\n{}", node1.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Node 2's home outlives its process, so that it can start again on it.
    let dir2 = tempfile::tempdir().expect("dir");
    let security = node1.home.join("conf/security");
    let join = NodeOptions {
        config_edits: fast_heartbeats,
        init_args: vec!["--join".into(), security.display().to_string()],
        ..NodeOptions::on_postgres(&db)
    };
    init_home(Path::new(BIN), dir2.path(), &join).expect("init --join");
    let on_home2 = || NodeOptions {
        home: Some(dir2.path().to_path_buf()),
        ..NodeOptions::on_postgres(&db)
    };
    let node2 = Node::start(Path::new(BIN), on_home2()).await.expect("node 2");
    let tm2 = format!("localhost:{}", node2.ports.traffic_manager);
    traffic_managers_changed(&node1, 1, &tm2, true).await;

    let backend = EchoBackend::start("throttled").await.expect("backend");
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": "drill", "context": "/drill", "version": "1.0.0", "policies": ["Sub100PerMinute"],
                "securityScheme": ["oauth2"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend.url("/")}},
                "operations": [
                    {"target": "/menu", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited"},
                    {"target": "/open", "verb": "GET", "authType": "None", "throttlingPolicy": "Unlimited"}
                ]
            }),
        )
        .await;
    let api_id = id(&api, "id");
    admin.deploy_and_publish(&api_id).await;
    let bearer = application(&admin, "Drill", "Unlimited", &[(&api_id, "Sub100PerMinute")]).await;
    // Both gateways serve the API (node 2 once the feed has reached it); its open resource does
    // not count against the subscription.
    for node in [&node1, &node2] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while call(node, "/drill/1.0.0/open", None).await.status() != 200 {
            assert!(Instant::now() < deadline, "a gateway never served the API");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The whole drill (a restart takes a few seconds) fits in one minute window.
    room_in_the_minute(Duration::from_secs(45)).await;
    let window = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / 60;

    let mut admitted = 0;
    // 60 requests split evenly: all admitted.
    for i in 0..60 {
        let node = if i % 2 == 0 { &node1 } else { &node2 };
        assert!(counted(node, &bearer, &mut admitted).await, "request {i} refused");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Node 2 and its Traffic Manager die at once; node 1 keeps serving meanwhile.
    drop(node2);
    for i in 0..10 {
        assert!(
            counted(&node1, &bearer, &mut admitted).await,
            "request {i} with node 2 down refused"
        );
    }
    let node2 = Node::start(Path::new(BIN), on_home2()).await.expect("node 2 restarted");
    // Split evenly again until both gateways refuse.
    let nodes = [&node1, &node2];
    let mut refused = [false, false];
    for i in 0..300 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        if !counted(nodes[i % 2], &bearer, &mut admitted).await {
            refused[i % 2] = true;
        }
        if refused == [true, true] {
            break;
        }
    }
    let same_window = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / 60
        == window;
    assert!(same_window, "the drill outlasted its minute window");
    println!("admitted {admitted} of a 100 per minute tier across a traffic manager restart");
    assert!(
        node2.output().contains("took a peer's current windows"),
        "the restarted traffic manager synced no counts:\n{}",
        node2.output()
    );
    assert!((100..=105).contains(&admitted), "admitted {admitted}");
    for node in nodes {
        let r = call(node, "/drill/1.0.0/menu", Some(&bearer)).await;
        assert_eq!(r.status(), 429);
        assert_eq!(refusal_code(r).await, "900804");
    }
}
