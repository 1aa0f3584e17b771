//! The gateway over real sockets: a gateway listener, a backend HTTP server the test starts, and
//! an HTTP client. Routing, error codes, header rules, failover and suspension, timeouts, path
//! attacks, framing limits and snapshot swaps under load.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestGateway, api, fast_target};
use portico_gateway::model::{ApiStatus, EndpointDef, TargetDef};
use portico_testkit::EchoBackend as Backend;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn health_reflects_the_snapshot() {
    let gw = TestGateway::start().await;
    assert_eq!(gw.get("/health").await.0, 503, "nothing loaded yet");
    gw.gateway.install(vec![]);
    let (status, body) = gw.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["apis"], 0);
}

#[tokio::test]
async fn proxies_with_wso2_url_scheme_and_header_rules() {
    let backend = Backend::start("b1").await.expect("backend");
    let gw = TestGateway::start().await;
    let errors = gw.gateway.install(vec![api(
        "pizza",
        "/pizza",
        EndpointDef::Single(TargetDef::new(backend.url("/api/v1/"))),
    )]);
    assert!(errors.is_empty());

    let r = gw
        .client
        .get(gw.url("/pizza/1.0.0/menu/7?spicy=true"))
        .header("Authorization", "Bearer consumer-token")
        .header("Connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "1")
        .header("x-custom", "kept")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("connection").is_none_or(|v| v != "keep-alive"),
        "hop-by-hop response header removed"
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["uri"], "/api/v1/menu/7?spicy=true",
        "backend base path + resource path + query"
    );
    let headers = &body["headers"];
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], gw.addr.to_string());
    assert_eq!(headers["host"], backend.addr.to_string());
    assert_eq!(headers["x-custom"], "kept");
    assert!(
        headers.get("authorization").is_none(),
        "consumer's Authorization not forwarded"
    );
    assert!(
        headers.get("x-drop-me").is_none(),
        "headers named in Connection are hop-by-hop"
    );

    // A POST body arrives whole.
    let r = gw
        .client
        .post(gw.url("/pizza/1.0.0/orders"))
        .body(vec![b'x'; 5000])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["bodyLength"], 5000);

    // A `Connection` header that names Content-Length makes that field hop-by-hop: the proxy
    // then frames the body itself, and it still arrives whole.
    let r = gw
        .client
        .post(gw.url("/pizza/1.0.0/orders"))
        .header("Connection", "keep-alive, content-length")
        .body(vec![b'y'; 300])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let echoed = r.json::<Value>().await.expect("json");
    assert_eq!(echoed["bodyLength"], 300);
    assert_eq!(echoed["headers"]["content-length"], "300", "set by the proxy");

    // With pass-through enabled the Authorization header reaches the backend.
    let mut passing = api(
        "pizza",
        "/pizza",
        EndpointDef::Single(TargetDef::new(backend.url("/api/v1/"))),
    );
    passing.pass_authorization_header = true;
    gw.gateway.install(vec![passing]);
    let r = gw
        .client
        .get(gw.url("/pizza/1.0.0/menu"))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.json::<Value>().await.expect("json")["headers"]["authorization"],
        "Basic abc"
    );
    backend.stop().await;
}

#[tokio::test]
async fn error_codes_for_routing_auth_and_lifecycle() {
    let backend = Backend::start("b1").await.expect("backend");
    let gw = TestGateway::start().await;
    let mut blocked = api(
        "blocked",
        "/blocked",
        EndpointDef::Single(TargetDef::new(backend.url("/"))),
    );
    blocked.status = ApiStatus::Blocked;
    gw.gateway.install(vec![
        api("pizza", "/pizza", EndpointDef::Single(TargetDef::new(backend.url("/")))),
        blocked,
    ]);

    let (status, body) = gw.get("/nothing/here").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("900906")));
    let (status, body) = gw.get("/pizza/1.0.0/unknown").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("900906")));

    let r = gw
        .client
        .delete(gw.url("/pizza/1.0.0/menu"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET"));

    let r = gw.client.get(gw.url("/pizza/1.0.0/secure")).send().await.expect("send");
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "900902");
    let r = gw
        .client
        .get(gw.url("/pizza/1.0.0/secure"))
        .bearer_auth("not-a-valid-token")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "900901");

    let (status, body) = gw.get("/blocked/1.0.0/menu").await;
    assert_eq!((status, body["code"].as_str()), (503, Some("700700")));
    backend.stop().await;
}

#[tokio::test]
async fn path_normalisation_never_escapes_a_context() {
    let inside = Backend::start("inside").await.expect("backend");
    let other = Backend::start("other").await.expect("backend");
    let gw = TestGateway::start().await;
    gw.gateway.install(vec![
        api("pizza", "/pizza", EndpointDef::Single(TargetDef::new(inside.url("/")))),
        api("admin", "/admin", EndpointDef::Single(TargetDef::new(other.url("/")))),
    ]);
    // Dot segments resolve before routing: this is /pizza/1.0.0/menu.
    let (status, body) = gw.get("/pizza/1.0.0/x/../menu").await;
    assert_eq!(
        (status, body["backend"].as_str(), body["uri"].as_str()),
        (200, Some("inside"), Some("/menu"))
    );
    // Climbing out of the context routes the normalised path, here to nothing.
    let r = gw
        .client
        .get(gw.url("/pizza/1.0.0/%2e%2e/%2e%2e/secret"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    // An encoded slash is refused outright.
    let r = gw
        .client
        .get(gw.url("/pizza/1.0.0/menu%2F..%2F..%2Fadmin"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    // Reaching another API through dot segments lands on that API as routed, with its rules.
    let (status, body) = gw.get("/pizza/1.0.0/../../admin/1.0.0/menu").await;
    assert_eq!((status, body["backend"].as_str()), (200, Some("other")));
    inside.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn failover_suspends_a_dead_backend_and_returns_to_it() {
    let primary = Backend::start("primary").await.expect("backend");
    let primary_addr = primary.addr;
    let secondary = Backend::start("secondary").await.expect("backend");
    let gw = TestGateway::start().await;
    let endpoint = EndpointDef::Failover(vec![fast_target(primary.url("/")), fast_target(secondary.url("/"))]);
    gw.gateway.install(vec![api("f", "/f", endpoint)]);

    assert_eq!(gw.get("/f/1.0.0/menu").await.1["backend"], "primary");
    primary.stop().await;
    // The failing call is retried on the secondary within the same request.
    let (status, body) = gw.get("/f/1.0.0/menu").await;
    assert_eq!((status, body["backend"].as_str()), (200, Some("secondary")));
    // While suspended, the primary is not tried at all.
    assert_eq!(gw.get("/f/1.0.0/menu").await.1["backend"], "secondary");

    let primary = Backend::start_on("primary", primary_addr).await.expect("backend");
    // Suspension grows (300 ms, then 600 ms); well after it, the primary serves again.
    let mut back = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if gw.get("/f/1.0.0/menu").await.1["backend"] == "primary" {
            back = true;
            break;
        }
    }
    assert!(back, "primary did not come back after its suspension");
    primary.stop().await;
    secondary.stop().await;
}

/// Keep-alive towards backends: one connection serves request after request; when the backend
/// goes away and comes back, the dead pooled connection is skipped, not answered with 502.
#[tokio::test]
async fn backend_connections_are_reused_and_dead_ones_replaced() {
    let backend = Backend::start("first").await.expect("backend");
    let addr = backend.addr;
    let gw = TestGateway::start().await;
    gw.gateway
        .install(vec![api("k", "/k", EndpointDef::Single(fast_target(backend.url("/"))))]);
    let mut peers = Vec::new();
    for _ in 0..5 {
        let (status, body) = gw.get("/k/1.0.0/menu").await;
        assert_eq!(status, 200);
        peers.push(body["peer"].as_str().expect("peer").to_owned());
    }
    peers.dedup();
    assert_eq!(
        peers.len(),
        1,
        "sequential requests share one backend connection: {peers:?}"
    );

    backend.stop().await;
    let backend = Backend::start_on("second", addr).await.expect("backend");
    for _ in 0..3 {
        let (status, body) = gw.get("/k/1.0.0/menu").await;
        assert_eq!((status, body["backend"].as_str()), (200, Some("second")), "{body}");
        assert_ne!(body["peer"].as_str(), Some(peers[0].as_str()), "a new connection");
    }
    backend.stop().await;
}

/// The `logging` phase: one record per request with what throttling and analytics key on,
/// handed off without waiting: a full channel drops records, never delays or fails requests.
#[tokio::test]
async fn analytics_records_are_handed_off_without_waiting() {
    let backend = Backend::start("b").await.expect("backend");
    let (sender, mut records) = tokio::sync::mpsc::channel(2);
    let gw = TestGateway::start_with_analytics(Default::default(), Some(sender)).await;
    gw.gateway.install(vec![api(
        "pizza",
        "/pizza",
        EndpointDef::Single(fast_target(backend.url("/"))),
    )]);

    assert_eq!(gw.get("/pizza/1.0.0/menu/7").await.0, 200);
    assert_eq!(gw.get("/pizza/1.0.0/nothing-here").await.0, 404);
    let ok = records.recv().await.expect("record of the proxied request");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.context.api_id(), Some("pizza"));
    assert_eq!(ok.context.api_version(), Some("1.0.0"));
    assert_eq!(ok.context.resource(), Some("/menu/{id}"));
    assert_eq!(ok.context.method, http::Method::GET);
    assert_eq!(ok.context.client_ip, Some("127.0.0.1".parse().expect("ip")));
    assert_eq!(ok.context.backend.as_deref(), Some(backend.url("/").as_str()));
    assert_eq!(ok.context.error_code, None);
    assert!(
        ok.backend_micros.is_some_and(|b| b > 0 && b <= ok.total_micros),
        "{ok:?}"
    );
    assert!(ok.response_bytes.is_some_and(|n| n > 0), "{ok:?}");
    let refused = records.recv().await.expect("record of the refused request");
    assert_eq!(refused.status, 404);
    assert_eq!(refused.context.error_code, Some("900906"));
    assert_eq!(refused.context.backend, None);
    assert_eq!(refused.backend_micros, None);

    // Nobody reads the channel now: it fills after two records and the rest are dropped.
    for _ in 0..6 {
        assert_eq!(gw.get("/pizza/1.0.0/menu").await.0, 200);
    }
    let mut kept = 0;
    while records.try_recv().is_ok() {
        kept += 1;
    }
    assert_eq!(kept, 2, "a full channel drops records");
    backend.stop().await;
}

/// Idle backend connections are closed once `upstream_idle_timeout` passes, even when nothing
/// uses their pool again (the backend here counts the connections it saw close).
#[tokio::test]
async fn idle_backend_connections_are_closed_after_the_idle_timeout() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let closed = Arc::new(AtomicUsize::new(0));
    let counter = closed.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from_static(b"{}"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                counter.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    let settings = portico_gateway::GatewaySettings {
        upstream_idle_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let gw = TestGateway::start_with(settings).await;
    gw.gateway.install(vec![api(
        "idle",
        "/idle",
        EndpointDef::Single(fast_target(format!("http://{addr}/"))),
    )]);
    assert_eq!(gw.get("/idle/1.0.0/menu").await.0, 200);
    assert_eq!(closed.load(Ordering::SeqCst), 0, "kept alive after the request");
    let mut waited = Duration::ZERO;
    while closed.load(Ordering::SeqCst) == 0 && waited < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    assert_eq!(closed.load(Ordering::SeqCst), 1, "the idle connection was closed");
    assert!(
        waited >= Duration::from_millis(250),
        "not before the idle timeout: {waited:?}"
    );
}

#[tokio::test]
async fn load_balancing_rotates_and_skips_a_dead_member() {
    let a = Backend::start("a").await.expect("backend");
    let b = Backend::start("b").await.expect("backend");
    let gw = TestGateway::start().await;
    gw.gateway.install(vec![api(
        "lb",
        "/lb",
        EndpointDef::LoadBalance(vec![fast_target(a.url("/")), fast_target(b.url("/"))]),
    )]);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(
            gw.get("/lb/1.0.0/menu").await.1["backend"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(seen, ["a", "b", "a", "b"]);
    b.stop().await;
    for _ in 0..6 {
        let (status, body) = gw.get("/lb/1.0.0/menu").await;
        assert_eq!(
            (status, body["backend"].as_str()),
            (200, Some("a")),
            "no request lost to the dead member"
        );
    }
    a.stop().await;
}

#[tokio::test]
async fn unreachable_and_slow_backends_answer_101503_and_101504() {
    let slow = Backend::start("slow").await.expect("backend");
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let gw = TestGateway::start().await;
    gw.gateway.install(vec![
        api(
            "dead",
            "/dead",
            EndpointDef::Single(fast_target(format!("http://127.0.0.1:{dead_port}/"))),
        ),
        api("slow", "/slowapi", EndpointDef::Single(fast_target(slow.url("/")))),
    ]);
    let (status, body) = gw.get("/dead/1.0.0/menu").await;
    assert_eq!((status, body["code"].as_str()), (502, Some("101503")));
    let (status, body) = gw.get("/slowapi/1.0.0/slow").await;
    assert_eq!((status, body["code"].as_str()), (504, Some("101504")));
    slow.stop().await;
}

/// Backend connections keep their response timer between requests: a connection last used by
/// an API with a long timeout still times out at once for an API with a short one, and a
/// timer armed long ago never cuts a later request short.
#[tokio::test]
async fn response_timeouts_hold_on_reused_connections() {
    let backend = Backend::start("b").await.expect("backend");
    let gw = TestGateway::start().await;
    let patient = TargetDef {
        response_timeout: Duration::from_secs(30),
        ..TargetDef::new(backend.url("/"))
    };
    let impatient = TargetDef {
        response_timeout: Duration::from_millis(300),
        ..TargetDef::new(backend.url("/"))
    };
    gw.gateway.install(vec![
        api("patient", "/patient", EndpointDef::Single(patient)),
        api("impatient", "/impatient", EndpointDef::Single(impatient)),
    ]);
    let (status, _) = gw.get("/patient/1.0.0/menu").await;
    assert_eq!(status, 200);
    let started = std::time::Instant::now();
    let (status, body) = gw.get("/impatient/1.0.0/slow").await;
    assert_eq!((status, body["code"].as_str()), (504, Some("101504")));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    // Fast answers well after the short timeout would have fired on an old timer.
    for _ in 0..3 {
        let (status, _) = gw.get("/impatient/1.0.0/menu").await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And the patient API waits out the 2-second backend.
    let (status, _) = gw.get("/patient/1.0.0/slow").await;
    assert_eq!(status, 200);
    backend.stop().await;
}

#[tokio::test]
async fn framing_and_header_limits() {
    let backend = Backend::start("b").await.expect("backend");
    let gw = TestGateway::start().await;
    gw.gateway.install(vec![api(
        "p",
        "/p",
        EndpointDef::Single(TargetDef::new(backend.url("/"))),
    )]);

    // Content-Length and Transfer-Encoding together: hyper's parser drops Content-Length
    // (RFC 9112 §6.3, chunked wins) and closes the connection after the answer, so the bytes
    // smuggled behind the first request are never read as a request.
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.expect("connect");
    stream
        .write_all(b"POST /p/1.0.0/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /p/1.0.0/menu HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "connection left open after a smuggling attempt");
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(
        text.matches("HTTP/1.1 ").count(),
        1,
        "the smuggled second request was not served: {text}"
    );
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");

    // Headers over 64 KiB: 431.
    let r = gw
        .client
        .get(gw.url("/p/1.0.0/menu"))
        .header("x-big", "a".repeat(70 * 1024))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => panic!("expected a 431 answer, got {e}"),
    }
    backend.stop().await;
}

#[tokio::test]
async fn body_limit_per_api() {
    let backend = Backend::start("b").await.expect("backend");
    let gw = TestGateway::start().await;
    let mut limited = api("p", "/p", EndpointDef::Single(TargetDef::new(backend.url("/"))));
    limited.max_request_body = Some(1000);
    gw.gateway.install(vec![limited]);
    let r = gw
        .client
        .post(gw.url("/p/1.0.0/orders"))
        .body(vec![b'x'; 1001])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 413);
    let r = gw
        .client
        .post(gw.url("/p/1.0.0/orders"))
        .body(vec![b'x'; 1000])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    backend.stop().await;
}

#[tokio::test]
async fn snapshot_swaps_under_load_lose_no_request() {
    let backend = Backend::start("b").await.expect("backend");
    let gw = Arc::new(TestGateway::start().await);
    let stable = api(
        "stable",
        "/stable",
        EndpointDef::Single(TargetDef::new(backend.url("/"))),
    );
    gw.gateway.install(vec![stable.clone()]);

    let mut load = Vec::new();
    for _ in 0..8 {
        let gw = gw.clone();
        load.push(tokio::spawn(async move {
            let mut failures = 0;
            for _ in 0..150 {
                let r = gw.client.get(gw.url("/stable/1.0.0/menu")).send().await;
                if !matches!(r, Ok(ref r) if r.status() == 200) {
                    failures += 1;
                }
            }
            failures
        }));
    }
    // Deploy 100 more APIs one at a time while the load runs; each becomes routable at once.
    let mut deployed = vec![stable];
    for i in 0..100 {
        deployed.push(api(
            &format!("api{i}"),
            &format!("/api{i}"),
            EndpointDef::Single(TargetDef::new(backend.url("/"))),
        ));
        gw.gateway.install(deployed.clone());
        let (status, _) = gw.get(&format!("/api{i}/1.0.0/menu")).await;
        assert_eq!(status, 200, "api{i} routable right after install");
    }
    let mut failures = 0;
    for task in load {
        failures += task.await.expect("join");
    }
    assert_eq!(failures, 0);
    backend.stop().await;
}

#[tokio::test]
async fn cors_gateway_wide_and_per_api() {
    let backend = Backend::start("b").await.expect("backend");
    let gw = TestGateway::start().await;
    let open = api("open", "/open", EndpointDef::Single(TargetDef::new(backend.url("/"))));
    let mut strict = api(
        "strict",
        "/strict",
        EndpointDef::Single(TargetDef::new(backend.url("/"))),
    );
    strict.cors = Some(portico_gateway::model::CorsDef {
        allow_origins: vec!["https://app.example".into()],
        allow_headers: vec!["authorization".into()],
        allow_methods: vec!["GET".into()],
        allow_credentials: true,
    });
    gw.gateway.install(vec![open, strict]);

    let acao = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or("").to_owned())
    };
    let r = gw
        .client
        .get(gw.url("/open/1.0.0/menu"))
        .header("Origin", "https://any.example")
        .send()
        .await
        .expect("send");
    assert_eq!(
        acao(&r).as_deref(),
        Some("*"),
        "WSO2's default [apim.cors] allows any origin"
    );

    let r = gw
        .client
        .get(gw.url("/strict/1.0.0/menu"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .expect("send");
    assert_eq!(acao(&r).as_deref(), Some("https://app.example"));
    assert_eq!(
        r.headers()
            .get("access-control-allow-credentials")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let r = gw
        .client
        .get(gw.url("/strict/1.0.0/menu"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(acao(&r), None);

    // Errors carry CORS headers too, so browsers can read them.
    let r = gw
        .client
        .get(gw.url("/open/1.0.0/secure"))
        .header("Origin", "https://any.example")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    assert_eq!(acao(&r).as_deref(), Some("*"));

    // Preflight is answered by the gateway: no credentials needed, no backend call.
    backend.stop().await;
    let r = gw
        .client
        .request(reqwest::Method::OPTIONS, gw.url("/strict/1.0.0/secure"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(acao(&r).as_deref(), Some("https://app.example"));
    assert_eq!(
        r.headers()
            .get("access-control-allow-methods")
            .and_then(|v| v.to_str().ok()),
        Some("GET")
    );
    let r = gw
        .client
        .request(reqwest::Method::OPTIONS, gw.url("/nothing/1.0.0/x"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
}
