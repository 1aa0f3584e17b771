//! A started node over HTTPS: health, authentication, error bodies, body limits, shutdown, and
//! the same checks on PostgreSQL.

use std::process::Command;

use portico_testkit::{Node, NodeOptions, PgDatabase};
use reqwest::StatusCode;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portico");

fn bin() -> &'static std::path::Path {
    std::path::Path::new(BIN)
}

async fn json(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

/// Health, authentication and the environments list: the checks every backend must pass.
async fn check_serving_node(node: &Node, backend: &str) {
    let live = node.client.get(node.url("/health/live")).send().await.expect("live");
    assert_eq!(live.status(), StatusCode::OK);

    let ready = node.client.get(node.url("/health/ready")).send().await.expect("ready");
    assert_eq!(ready.status(), StatusCode::OK);
    let body = json(ready).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["store"], backend);
    assert_eq!(
        body["keys"]["tls"].as_str().map(str::len),
        Some(95),
        "SHA-256 fingerprint: {body}"
    );

    // The gateway listeners answer /health (for load balancers) on HTTP and HTTPS.
    for url in [
        format!("http://localhost:{}/health", node.ports.gateway_http),
        format!("https://localhost:{}/health", node.ports.gateway_https),
    ] {
        let r = node.client.get(&url).send().await.expect("gateway health");
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert_eq!(json(r).await["status"], "healthy");
    }
    let r = node
        .client
        .get(format!("http://localhost:{}/nothing/1.0.0/x", node.ports.gateway_http))
        .send()
        .await
        .expect("gw");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(r).await["code"], "900906");

    // No credentials: 401, WSO2's 900902, a challenge naming both schemes.
    let r = node
        .client
        .get(node.url("/api/am/admin/v4/environments"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.contains("Basic") && challenge.contains("Bearer"),
        "{challenge}"
    );
    let body = json(r).await;
    assert_eq!(body["code"], 900902);
    assert_eq!(body["moreInfo"], "");
    assert!(body["error"].is_array());

    // Wrong password and unknown user: 401 900901, the same answer for both.
    for (user, pw) in [("admin", "nope"), ("ghost", node.admin_password.as_str())] {
        let r = node
            .client
            .get(node.url("/api/am/admin/v4/environments"))
            .basic_auth(user, Some(pw))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{user}");
        assert_eq!(json(r).await["code"], 900901);
    }

    // Garbage in the header: 401, never a 500.
    let r = node
        .client
        .get(node.url("/api/am/admin/v4/environments"))
        .header("Authorization", "Basic !!!not-base64")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A bearer token that is not one of ours is refused as invalid.
    let r = node
        .client
        .get(node.url("/api/am/admin/v4/environments"))
        .bearer_auth("abc.def.ghi")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Correct Basic credentials: 200 and the Default environment.
    let (user, pw) = node.admin();
    let r = node
        .client
        .get(node.url("/api/am/admin/v4/environments"))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert_eq!(body["count"], 1);
    assert_eq!(body["list"][0]["name"], "Default");
    assert_eq!(body["list"][0]["type"], "hybrid");
    assert_eq!(body["list"][0]["vhosts"][0]["host"], "localhost");
    assert_eq!(body["list"][0]["vhosts"][0]["httpsPort"], node.ports.gateway_https);
}

portico_testkit::node_on_both_backends!(
    sqlite_node_serves_health_and_requires_auth,
    postgres_node_serves_health_and_requires_auth,
    |node, database| check_serving_node(node, if database.is_some() { "postgres" } else { "sqlite" })
);

#[tokio::test]
async fn two_nodes_share_one_postgres_database() {
    let Some(db) = PgDatabase::create("two_nodes").await.expect("database") else {
        return;
    };
    let options = NodeOptions::on_postgres(&db);
    let (a, b) = tokio::join!(Node::start(bin(), options.clone()), Node::start(bin(), options));
    let (a, b) = (a.expect("node a"), b.expect("node b"));
    for node in [&a, &b] {
        check_serving_node(node, "postgres").await;
    }
}

#[tokio::test]
async fn readiness_follows_the_database() {
    let Some(db) = PgDatabase::create("readiness").await.expect("database") else {
        return;
    };
    let node = Node::start(bin(), NodeOptions::on_postgres(&db)).await.expect("node");
    let name = db.name.clone();
    let admin = std::env::var(portico_testkit::PG_URL_VAR).expect("pg url");
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .arg(&admin)
            .args(["-v", "ON_ERROR_STOP=1", "-Atc", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"));
    psql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    let r = node.client.get(node.url("/health/ready")).send().await.expect("ready");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json(r).await;
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reason"].as_str().unwrap_or_default().starts_with("store:"),
        "{body}"
    );
    // Liveness does not depend on the database.
    assert_eq!(
        node.client
            .get(node.url("/health/live"))
            .send()
            .await
            .expect("live")
            .status(),
        StatusCode::OK
    );

    psql(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
    let mut recovered = false;
    for _ in 0..100 {
        if node
            .client
            .get(node.url("/health/ready"))
            .send()
            .await
            .expect("ready")
            .status()
            == StatusCode::OK
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "node did not become ready again");
}

#[tokio::test]
async fn error_bodies_are_wso2_shaped() {
    let node = Node::start(
        bin(),
        NodeOptions {
            config_edits: vec![("max_request_body = 10485760".into(), "max_request_body = 1024".into())],
            ..Default::default()
        },
    )
    .await
    .expect("node");
    let (user, pw) = node.admin();

    let r = node.client.get(node.url("/no/such/path")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body = json(r).await;
    assert_eq!(body["code"], 404);
    assert!(
        body["description"]
            .as_str()
            .unwrap_or_default()
            .contains("/no/such/path")
    );

    let r = node
        .client
        .delete(node.url("/api/am/admin/v4/environments"))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers().contains_key("allow"));
    assert_eq!(json(r).await["code"], 405);

    // Over the configured limit: 413 before anything is read or authenticated.
    let r = node
        .client
        .post(node.url("/api/am/admin/v4/environments"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = json(r).await;
    assert_eq!(body["code"], 413);
    assert!(
        body["description"].as_str().unwrap_or_default().contains("1024"),
        "{body}"
    );
}

#[tokio::test]
async fn sigterm_stops_the_node_cleanly() {
    let mut node = Node::start(bin(), NodeOptions::default()).await.expect("node");
    let status = node.stop().await.expect("stop");
    assert!(status.success(), "exit status {status}: {}", node.output());
    assert!(node.output().contains("Stopped."), "{}", node.output());
    // The home is intact: the node starts again on it.
    let node = node.restart().await.expect("restart");
    check_serving_node(&node, "sqlite").await;
}
