//! Analytics through real nodes: a known mix of traffic across two nodes on PostgreSQL, then
//! every count checked exactly, as the analytics REST API, `/metrics` and the ELK log answer it.
//!
//! - The mix: successes, 401 (missing and invalid credentials), 403 (not subscribed), 404 (no
//!   API), a backend's 500, an unreachable backend (502, 101503), two applications, and
//!   throttled requests (429, 900804) of a 3-per-hour subscription; on both nodes. Every answer
//!   the test gets is recorded in what it expects (including the requests that waited for node 2
//!   to learn the APIs), so the expectations are exact.
//! - REST (`/api/am/analytics/v1`): totals, status classes and throttled counts, per node and per
//!   status class, errors by code, top applications and nodes, and, after folding, the same from
//!   the hour rollups; latency percentiles within the sketch's 1 % of the exact ones computed
//!   from the raw rows.
//! - `/metrics` on each node: its requests by status class, throttled requests, upstream errors.
//! - Who sees what: a publisher only its own API's traffic, a DevPortal user only its
//!   application's; bad queries are 400 naming the parameter.
//! - The ELK log of node 1 (`type = "elk"`) read by tests/analytics/elk_counts.py with WSO2's
//!   grok pattern: the same counts, and the correlation ids the backend received.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use portico_testkit::{Admin, EchoBackend, Node, NodeOptions, PgDatabase};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const D: &str = "/api/am/devportal/v3";
const P: &str = "/api/am/publisher/v4";
const A: &str = "/api/am/analytics/v1";
const HOUR_MS: u128 = 3_600_000;

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}")).to_owned()
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

/// Records written every 100 ms, folded every second; node 1 also writes the ELK log.
fn analytics_config(elk: bool) -> Vec<(String, String)> {
    let kind = if elk { "elk" } else { "builtin" };
    vec![(
        "# [apim.analytics]".to_owned(),
        format!("[apim.analytics]\ntype = \"{kind}\"\nflush_interval_ms = 100\nfold_interval_seconds = 1"),
    )]
}

/// A caller of a node's REST APIs with HTTP Basic.
struct User<'a> {
    node: &'a Node,
    name: &'a str,
    password: &'a str,
}

impl User<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request = self
            .node
            .client
            .request(method, self.node.url(path))
            .basic_auth(self.name, Some(self.password));
        if let Some(body) = body {
            request = request.json(body);
        }
        let r = request.send().await.expect("send");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn ok(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let (status, answer) = self.call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    }
}

/// What the test expects analytics to have counted.
#[derive(Debug, Default)]
struct Expected {
    total: u64,
    /// By node index, then by status class ("2xx", ...).
    classes: BTreeMap<(usize, String), u64>,
    per_node: BTreeMap<usize, u64>,
    /// WSO2 code, or the status of a backend's error answer.
    errors: BTreeMap<String, u64>,
    /// The same per node.
    errors_per_node: BTreeMap<(usize, String), u64>,
    /// Requests per application id ("" for none).
    applications: BTreeMap<String, u64>,
    throttled: u64,
    /// Per node: throttled requests, and upstream errors by code.
    throttled_per_node: BTreeMap<usize, u64>,
    upstream: BTreeMap<(usize, String), u64>,
}

/// The traffic's side of the test: sends requests and records what it got.
struct Traffic<'a> {
    nodes: [&'a Node; 2],
    expected: Expected,
    /// Correlation ids the backend received, per node.
    correlation_ids: BTreeMap<usize, Vec<String>>,
}

impl Traffic<'_> {
    /// Sends GET `path` to node `n` with `bearer`; `app` is the application the bearer is of.
    /// Returns the status and, for gateway errors, WSO2's code.
    async fn send(&mut self, n: usize, path: &str, bearer: Option<&str>, app: Option<&str>) -> (u16, Option<String>) {
        let node = self.nodes[n];
        let mut request = node.client.get(node.gateway_url(path));
        if let Some(bearer) = bearer {
            request = request.header("authorization", format!("Bearer {bearer}"));
        }
        let r = request.send().await.expect("gateway");
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        // Gateway errors carry WSO2's code as a string; the echo backend's body has none.
        let code = body["code"].as_str().map(str::to_owned);
        if let Some(id) = body["headers"]["x-correlation-id"].as_str() {
            self.correlation_ids.entry(n).or_default().push(id.to_owned());
        }
        let e = &mut self.expected;
        e.total += 1;
        *e.per_node.entry(n).or_default() += 1;
        *e.classes.entry((n, format!("{}xx", status / 100))).or_default() += 1;
        if status >= 400 {
            let key = code.clone().unwrap_or_else(|| status.to_string());
            *e.errors.entry(key.clone()).or_default() += 1;
            *e.errors_per_node.entry((n, key.clone())).or_default() += 1;
            if key == "101503" || (code.is_none() && status >= 500) {
                *e.upstream.entry((n, key)).or_default() += 1;
            }
        }
        let unattributed = matches!(code.as_deref(), Some("900901" | "900902" | "900906"));
        let app = app.filter(|_| !unattributed).unwrap_or_default();
        *e.applications.entry(app.to_owned()).or_default() += 1;
        if code.as_deref().is_some_and(|c| c.starts_with("9008") && c != "900805") {
            e.throttled += 1;
            *e.throttled_per_node.entry(n).or_default() += 1;
        }
        (status, code)
    }
}

async fn publish(admin: &User<'_>, name: &str, policies: &[&str], endpoint: &str, open: bool) -> String {
    let auth = if open { "None" } else { "Application & Application User" };
    let api = admin
        .ok(
            Method::POST,
            &format!("{P}/apis"),
            Some(&json!({
                "name": name, "context": format!("/{}", name.to_lowercase()), "version": "1.0.0",
                "policies": policies, "securityScheme": ["oauth2"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": endpoint}},
                "operations": [
                    {"target": "/menu", "verb": "GET", "authType": auth, "throttlingPolicy": "Unlimited"},
                    {"target": "/fail", "verb": "GET", "authType": auth, "throttlingPolicy": "Unlimited"}
                ]
            })),
        )
        .await;
    id(&api, "id")
}

/// An application of `owner` subscribed to `subscriptions` (API id, tier); its id and token.
async fn application(owner: &User<'_>, name: &str, subscriptions: &[(&str, &str)]) -> (String, String) {
    let app = owner
        .ok(
            Method::POST,
            &format!("{D}/applications"),
            Some(&json!({"name": name, "throttlingPolicy": "Unlimited", "tokenType": "JWT"})),
        )
        .await;
    let app_id = id(&app, "applicationId");
    for (api_id, tier) in subscriptions {
        owner
            .ok(
                Method::POST,
                &format!("{D}/subscriptions"),
                Some(&json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": tier})),
            )
            .await;
    }
    let keys = owner
        .ok(
            Method::POST,
            &format!("{D}/applications/{app_id}/generate-keys"),
            Some(
                &json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"],
                         "scopes": ["default"], "validityTime": 3600}),
            ),
        )
        .await;
    (app_id, keys["token"]["accessToken"].as_str().expect("token").to_owned())
}

/// A 3-per-hour subscription tier (refusing at its quota), then waits for node 1's reload.
async fn add_tier(node: &Node) {
    let reloads = |node: &Node| node.output().matches("throttling policies reloaded").count();
    let before = reloads(node);
    Admin(node)
        .post(
            "/api/am/admin/v4/throttling/policies/subscription",
            &json!({"policyName": "Sub3", "displayName": "Sub3", "description": "analytics test",
                    "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"requestCount": 3, "unitTime": 1, "timeUnit": "hour"}},
                    "stopOnQuotaReach": true}),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while reloads(node) == before {
        assert!(Instant::now() < deadline, "policies not reloaded:\n{}", node.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits, if needed, until at least two minutes of the current hour remain (one throttling
/// window for the whole test).
async fn room_in_the_hour() {
    let now = u128::try_from(now_ms()).expect("ms");
    let left = HOUR_MS - now % HOUR_MS;
    if left < 120_000 {
        tokio::time::sleep(Duration::from_millis(u64::try_from(left).unwrap_or(120_000) + 50)).await;
    }
}

/// `GET` of the analytics API as `user`, which must answer 200.
async fn query(user: &User<'_>, what: &str, params: &str) -> Value {
    user.ok(Method::GET, &format!("{A}/{what}?{params}"), None).await
}

/// Polls `check` (at most 20 s) until it passes; the last failure otherwise.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match check().await {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The `portico_gateway_*` counters of a `/metrics` text summed per label value of interest.
fn scrape(text: &str) -> (BTreeMap<String, u64>, u64, BTreeMap<String, u64>) {
    let mut classes = BTreeMap::new();
    let mut throttled = 0;
    let mut upstream = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value: u64 = value.parse().unwrap_or(0);
        let label = |name: &str| {
            series
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_owned()
        };
        if series.starts_with("portico_gateway_requests_total{") {
            *classes.entry(label("status_class")).or_default() += value;
        } else if series.starts_with("portico_gateway_throttled_requests_total{") {
            throttled += value;
        } else if series.starts_with("portico_gateway_upstream_errors_total{") {
            *upstream.entry(label("code")).or_default() += value;
        }
    }
    (classes, throttled, upstream)
}

/// The exact `q` quantile (lower rank) of `values`, in ms.
fn exact_quantile(values: &mut [i64], q: f64) -> f64 {
    values.sort_unstable();
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = (q * (values.len() - 1) as f64).floor() as usize;
    #[allow(clippy::cast_precision_loss)]
    let ms = values[rank] as f64 / 1000.0;
    ms
}

#[tokio::test]
async fn two_nodes_count_a_known_traffic_mix_exactly() {
    let Some(db) = PgDatabase::create("analytics_two_nodes").await.expect("database") else {
        return;
    };
    let node1 = Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: analytics_config(true),
            ..NodeOptions::on_postgres(&db)
        },
    )
    .await
    .expect("node 1");
    let security = node1.home.join("conf/security");
    let node2 = Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: analytics_config(false),
            init_args: vec!["--join".into(), security.display().to_string()],
            ..NodeOptions::on_postgres(&db)
        },
    )
    .await
    .expect("node 2");
    add_tier(&node1).await;
    let (admin_name, admin_pw) = node1.admin();
    let admin = User {
        node: &node1,
        name: admin_name,
        password: admin_pw,
    };
    for (name, roles) in [
        ("pub", json!(["Internal/creator", "Internal/publisher"])),
        ("dev", json!(["Internal/subscriber"])),
    ] {
        admin
            .ok(
                Method::POST,
                "/scim2/Users",
                Some(&json!({"userName": name, "password": format!("{name}-pw-1"), "roles": roles})),
            )
            .await;
    }
    let publisher = User {
        node: &node1,
        name: "pub",
        password: "pub-pw-1",
    };
    let developer = User {
        node: &node1,
        name: "dev",
        password: "dev-pw-1",
    };

    let backend = EchoBackend::start("analytics").await.expect("backend");
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr");
    let shop = publish(&admin, "Shop", &["Gold", "Sub3"], &backend.url("/"), false).await;
    let other = publish(&admin, "Other", &["Gold"], &backend.url("/"), false).await;
    let unreachable = publish(&admin, "Dead", &["Gold"], &format!("http://{dead}/"), true).await;
    let owned = publish(&publisher, "Owned", &["Gold"], &backend.url("/"), false).await;
    for api in [&shop, &other, &unreachable, &owned] {
        Admin(&node1).deploy_and_publish(api).await;
    }
    let (app1, token1) = application(&admin, "App1", &[(&shop, "Gold"), (&owned, "Gold")]).await;
    let (app2, token2) = application(&admin, "App2", &[(&shop, "Sub3")]).await;
    let (dev_app, dev_token) = application(&developer, "DevApp", &[(&shop, "Gold")]).await;
    room_in_the_hour().await;
    let from = now_ms();

    let mut traffic = Traffic {
        nodes: [&node1, &node2],
        expected: Expected::default(),
        correlation_ids: BTreeMap::new(),
    };
    // Node 2 learns the APIs, applications and keys through the change feed; what it answers
    // meanwhile (404s, 401s) is counted like the rest.
    let deadline = Instant::now() + Duration::from_secs(20);
    while traffic.send(1, "/shop/1.0.0/menu", Some(&token1), Some(&app1)).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "node 2 never served the API:\n{}",
            node2.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in [0, 1] {
        for _ in 0..3 {
            assert_eq!(
                traffic.send(n, "/shop/1.0.0/menu", Some(&token1), Some(&app1)).await.0,
                200
            );
        }
        assert_eq!(
            traffic.send(n, "/shop/1.0.0/fail", Some(&token1), Some(&app1)).await.0,
            500
        );
        assert_eq!(
            traffic.send(n, "/shop/1.0.0/menu", None, None).await,
            (401, Some("900902".into()))
        );
        assert_eq!(
            traffic.send(n, "/shop/1.0.0/menu", Some("not-a-token"), None).await,
            (401, Some("900901".into()))
        );
        assert_eq!(
            traffic.send(n, "/other/1.0.0/menu", Some(&token2), Some(&app2)).await,
            (403, Some("900908".into()))
        );
        assert_eq!(
            traffic.send(n, "/nothing/1.0.0/here", None, None).await,
            (404, Some("900906".into()))
        );
        assert_eq!(
            traffic.send(n, "/dead/1.0.0/menu", None, None).await,
            (502, Some("101503".into()))
        );
        assert_eq!(
            traffic.send(n, "/owned/1.0.0/menu", Some(&token1), Some(&app1)).await.0,
            200
        );
    }
    // App2's 3 per hour, on node 1 alone (its own count refuses at once): 3 admitted, 2 throttled.
    for i in 0..5 {
        let expected = if i < 3 {
            (200, None)
        } else {
            (429, Some("900804".into()))
        };
        assert_eq!(
            traffic.send(0, "/shop/1.0.0/menu", Some(&token2), Some(&app2)).await,
            expected
        );
    }
    for n in [0, 1] {
        assert_eq!(
            traffic
                .send(n, "/shop/1.0.0/menu", Some(&dev_token), Some(&dev_app))
                .await
                .0,
            200
        );
    }
    let to = now_ms() + 1;
    let e = &traffic.expected;
    println!("expected: {e:?}");

    let node_ids: Vec<String> = [&node1, &node2]
        .iter()
        .map(|n| format!("localhost:{}", n.ports.management))
        .collect();
    let window = format!("from={from}&to={to}&granularity=minute");
    // Every record is written within a flush interval; wait until all are there.
    eventually("all records counted", || async {
        let answer = query(&admin, "requests", &window).await;
        let count = u(&answer["total"]["count"]);
        if count == e.total {
            Ok(())
        } else {
            Err(format!("{count} of {} in {answer}", e.total))
        }
    })
    .await;

    // Totals, classes, throttled.
    let total = query(&admin, "requests", &window).await["total"].clone();
    let class = |n: Option<usize>, c: &str| -> u64 {
        e.classes
            .iter()
            .filter(|((node, class), _)| n.is_none_or(|n| *node == n) && class == c)
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(u(&total["success"]), class(None, "2xx"), "{total}");
    assert_eq!(u(&total["clientErrors"]), class(None, "4xx"), "{total}");
    assert_eq!(u(&total["serverErrors"]), class(None, "5xx"), "{total}");
    assert_eq!(u(&total["throttled"]), e.throttled, "{total}");
    assert_eq!(e.throttled, 2);
    for (n, node_id) in node_ids.iter().enumerate() {
        let per_node = query(&admin, "requests", &format!("{window}&node={node_id}")).await["total"].clone();
        assert_eq!(u(&per_node["count"]), e.per_node[&n], "node {node_id}: {per_node}");
        assert_eq!(
            u(&per_node["serverErrors"]),
            class(Some(n), "5xx"),
            "node {node_id}: {per_node}"
        );
        assert_eq!(
            u(&per_node["throttled"]),
            e.throttled_per_node.get(&n).copied().unwrap_or(0)
        );
    }
    let fives = query(&admin, "requests", &format!("{window}&statusClass=5xx")).await;
    assert_eq!(u(&fives["total"]["count"]), class(None, "5xx"), "{fives}");

    // Errors by code.
    let errors = query(&admin, "errors", &window).await;
    let got: BTreeMap<String, u64> = errors["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| (id(x, "code"), u(&x["count"])))
        .collect();
    assert_eq!(got, e.errors, "{errors}");

    // Top applications and nodes.
    let top = query(&admin, "top", &format!("{window}&by=application&limit=100")).await;
    let got: BTreeMap<String, u64> = top["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| (id(x, "id"), u(&x["count"])))
        .collect();
    assert_eq!(got, e.applications, "{top}");
    let top = query(&admin, "top", &format!("{window}&by=node")).await;
    let got: BTreeMap<String, u64> = top["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| (id(x, "id"), u(&x["count"])))
        .collect();
    let want: BTreeMap<String, u64> = node_ids.iter().cloned().zip([e.per_node[&0], e.per_node[&1]]).collect();
    assert_eq!(got, want, "{top}");

    // Folded into hours: the same totals from the hour rollups.
    let hour_window = format!("from={from}&to={to}&granularity=hour");
    eventually("hour rollups", || async {
        let answer = query(&admin, "requests", &hour_window).await;
        if answer["total"] == total {
            Ok(())
        } else {
            Err(format!("{answer} vs {total}"))
        }
    })
    .await;

    // Latency percentiles within the sketch's relative error of the exact ones (raw rows).
    let store = portico_store::Store::connect(&portico_store::StoreOptions {
        backend: portico_store::Backend::Postgres,
        url: db.url.clone(),
        pool_size: 2,
        acquire_timeout: Duration::from_secs(10),
        node_id: "test".into(),
    })
    .await
    .expect("store");
    let raw = store
        .analytics_events(from - 60_000, to + 60_000)
        .await
        .expect("raw rows");
    assert_eq!(raw.len() as u64, e.total, "one raw row per request");
    let mut latencies: Vec<i64> = raw.iter().map(|r| r.total_latency_us).collect();
    let latency = query(&admin, "latency", &window).await;
    let relative = latency["relativeError"].as_f64().expect("relativeError");
    for (q, key) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
        let exact = exact_quantile(&mut latencies, q);
        let estimate = latency["total"][key].as_f64().expect("percentile");
        assert!(
            (estimate - exact).abs() <= exact * relative + 1e-3,
            "{key}: {estimate} ms vs exact {exact} ms ({latency})"
        );
    }
    // Every request carried a correlation id, the one its backend received.
    let ids: Vec<&str> = raw.iter().map(|r| r.correlation_id.as_str()).collect();
    for received in traffic.correlation_ids.values().flatten() {
        assert!(ids.contains(&received.as_str()), "{received} not recorded");
    }

    // /metrics on each node: its own requests, throttled requests, upstream errors.
    for (n, node) in [&node1, &node2].into_iter().enumerate() {
        let text = node.client.get(node.url("/metrics")).send().await.expect("metrics");
        assert_eq!(text.status(), 200);
        assert!(
            text.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with("text/plain; version=0.0.4"),
            "{:?}",
            text.headers()
        );
        let (classes, throttled, upstream) = scrape(&text.text().await.expect("text"));
        for c in ["2xx", "4xx", "5xx"] {
            assert_eq!(classes.get(c).copied().unwrap_or(0), class(Some(n), c), "node {n} {c}");
        }
        assert_eq!(
            throttled,
            e.throttled_per_node.get(&n).copied().unwrap_or(0),
            "node {n}"
        );
        let want: BTreeMap<String, u64> = e
            .upstream
            .iter()
            .filter(|((node, _), _)| *node == n)
            .map(|((_, code), v)| (code.clone(), *v))
            .collect();
        assert_eq!(upstream, want, "node {n}");
    }

    // Who sees what: the publisher its own API only, the developer its application only.
    let seen = query(&publisher, "top", &format!("{window}&by=api")).await;
    let list = seen["list"].as_array().expect("list");
    assert_eq!(list.len(), 1, "{seen}");
    assert_eq!((id(&list[0], "id"), u(&list[0]["count"])), (owned.clone(), 2), "{seen}");
    let seen = query(&developer, "requests", &window).await;
    assert_eq!(u(&seen["total"]["count"]), e.applications[&dev_app], "{seen}");
    let seen = query(&developer, "top", &format!("{window}&by=application")).await;
    assert_eq!(seen["list"].as_array().map(Vec::len), Some(1), "{seen}");

    // Bad queries: 400 naming the parameter.
    for (params, parameter) in [
        (format!("from={to}&to={from}"), "to"),
        (format!("to={to}"), "from"),
        (format!("from={from}"), "to"),
        (format!("{window}&colour=blue"), "colour"),
        (
            format!("from={from}&to={}&granularity=minute", from + 3 * 86_400_000),
            "granularity",
        ),
        (format!("{window}&statusClass=6xx"), "statusClass"),
    ] {
        let (status, body) = admin.call(Method::GET, &format!("{A}/requests?{params}"), None).await;
        assert_eq!(status, 400, "{params}: {body}");
        assert_eq!(body["error"][0]["message"], parameter, "{params}: {body}");
    }

    // Charts: SVG for every chart.
    for chart in [
        "requests",
        "latency",
        "errors",
        "throttled",
        "top-apis",
        "top-applications",
        "nodes",
    ] {
        let r = node1
            .client
            .get(node1.url(&format!("{A}/charts/{chart}.svg?{window}")))
            .basic_auth(admin_name, Some(admin_pw))
            .send()
            .await
            .expect("chart");
        assert_eq!(r.status(), 200, "{chart}");
        assert_eq!(r.headers()["content-type"], "image/svg+xml", "{chart}");
        let svg = r.text().await.expect("svg");
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"), "{chart}: {svg}");
    }

    // The ELK log of node 1, read as Filebeat and Logstash read it.
    elk_log_counts(&node1, &traffic).await;
}

/// Node 1's `logs/apim_metrics.log` parsed by tests/analytics/elk_counts.py: as many events as
/// node 1 answered, the same statuses, fault codes and correlation ids.
async fn elk_log_counts(node: &Node, traffic: &Traffic<'_>) {
    let e = &traffic.expected;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/analytics/elk_counts.py");
    let log = node.home.join("logs/apim_metrics.log");
    let deadline = Instant::now() + Duration::from_secs(20);
    let counts: Value = loop {
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(&log)
            .output()
            .expect("python3");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let counts: Value = serde_json::from_slice(&out.stdout).expect("json");
        if counts["events"].as_u64() == Some(e.per_node[&0]) {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "the ELK log has not every event of node 1: {counts}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let statuses: BTreeMap<String, u64> = e
        .classes
        .iter()
        .filter(|((n, _), _)| *n == 0)
        .map(|((_, class), v)| (class.clone(), *v))
        .collect();
    let mut logged: BTreeMap<String, u64> = BTreeMap::new();
    for (status, n) in counts["statuses"].as_object().expect("statuses") {
        *logged.entry(format!("{}xx", &status[..1])).or_default() += u(n);
    }
    assert_eq!(logged, statuses, "{counts}");
    // Faults are the gateway's own error answers (the backend's 500 is a response event).
    let faults: BTreeMap<String, u64> = e
        .errors_per_node
        .iter()
        .filter(|((n, code), _)| *n == 0 && code.len() == 6)
        .map(|((_, code), v)| (code.clone(), *v))
        .collect();
    let logged: BTreeMap<String, u64> = counts["errorCodes"]
        .as_object()
        .expect("errorCodes")
        .iter()
        .map(|(code, n)| (code.clone(), u(n)))
        .collect();
    assert_eq!(logged, faults, "{counts}");
    assert_eq!(counts["errorTypes"]["THROTTLED"], 2, "{counts}");
    assert_eq!(
        counts["errorTypes"]["TARGET_CONNECTIVITY"], faults["101503"],
        "{counts}"
    );
    let ids: Vec<&str> = counts["correlationIds"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for received in traffic.correlation_ids.get(&0).into_iter().flatten() {
        assert!(ids.contains(&received.as_str()), "{received} not in the ELK log");
    }
}
