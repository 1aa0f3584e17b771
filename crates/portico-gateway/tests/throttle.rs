//! The `throttle` phase in an in-process gateway on real sockets: advanced policies at API and
//! resource level, the `Unauthenticated` tier per client IP (and per `X-Forwarded-For` hop only
//! when trusted), WSO2's codes with `Retry-After` and the IETF rate-limit fields, and a gateway
//! without throttling. Counting across a cluster is portico-throttle's (its own tests) and
//! the node's (crates/portico/tests/throttling.rs); here the gateway's own count decides.

mod common;

use std::sync::Arc;

use common::{TestGateway, api};
use portico_gateway::model::EndpointDef;
use portico_gateway::{GatewaySettings, GatewayThrottling};
use portico_testkit::EchoBackend;
use portico_throttle::policy::Quota;
use portico_throttle::{
    Counter, CounterStats, DecisionTable, FailureMode, Policy, PolicyLevel, RequestEvent, Throttler, TimeUnit,
};

/// A cluster counter that is always reachable and counts nothing (the local count decides).
struct NoCluster;

impl Counter for NoCluster {
    fn record(&self, _event: RequestEvent) -> bool {
        true
    }
    fn is_reachable(&self) -> bool {
        true
    }
    fn stats(&self) -> CounterStats {
        CounterStats::default()
    }
}

fn per_hour(level: PolicyLevel, name: &str, count: u64) -> Policy {
    Policy {
        level,
        name: name.into(),
        display_name: name.into(),
        description: String::new(),
        quota: Quota::per(count, TimeUnit::Hour),
        burst: None,
        stop_on_quota_reach: true,
    }
}

async fn gateway(trust_forwarded_for: bool) -> (TestGateway, EchoBackend) {
    let throttler = Throttler::new(
        Arc::new(DecisionTable::new()),
        Arc::new(NoCluster),
        FailureMode::FailOpen,
    );
    let settings = GatewaySettings {
        throttling: Some(GatewayThrottling {
            throttler: Arc::new(throttler),
            trust_forwarded_for,
        }),
        ..GatewaySettings::default()
    };
    let gw = TestGateway::start_with(settings).await;
    let backend = EchoBackend::start("throttled").await.expect("backend");
    let endpoint = EndpointDef::Single(common::fast_target(backend.url("/")));
    let mut resource_limited = api("resource-limited", "/res", endpoint.clone());
    resource_limited.resources[0].throttling_policy = "Two".into();
    let mut api_limited = api("api-limited", "/whole", endpoint.clone());
    api_limited.resources[0].throttling_policy = "Two".into();
    api_limited.api_throttling_policy = Some("Three".into());
    let unlimited = api("unlimited", "/free", endpoint);
    assert!(
        gw.gateway
            .install(vec![resource_limited, api_limited, unlimited])
            .is_empty()
    );
    gw.gateway.install_throttle_policies(&[
        per_hour(PolicyLevel::Advanced, "Two", 2),
        per_hour(PolicyLevel::Advanced, "Three", 3),
        per_hour(
            PolicyLevel::Advanced,
            "Unlimited",
            portico_throttle::policy::UNLIMITED_REQUEST_COUNT,
        ),
        per_hour(PolicyLevel::Subscription, "Unauthenticated", 4),
    ]);
    (gw, backend)
}

/// Calls `path` until it is refused; returns how many were admitted and the refusal.
async fn until_refused(gw: &TestGateway, path: &str, forwarded_for: Option<&str>) -> (u64, reqwest::Response) {
    for admitted in 0..50 {
        let mut request = gw.client.get(gw.url(path));
        if let Some(xff) = forwarded_for {
            request = request.header("x-forwarded-for", xff);
        }
        let r = request.send().await.expect("send");
        if r.status() == 429 {
            return (admitted, r);
        }
        assert_eq!(r.status(), 200, "{path}");
    }
    panic!("{path} was never refused");
}

async fn code_of(r: reqwest::Response) -> String {
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["message"], "Message throttled out", "{body}");
    assert!(
        body["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("You have exceeded your quota .You can access API after ")),
        "{body}"
    );
    body["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn resource_and_api_level_policies_refuse_with_their_codes() {
    let (gw, _backend) = gateway(false).await;
    // The resource's own policy (2/hour) holds first, before the Unauthenticated tier's 4.
    let (admitted, refused) = until_refused(&gw, "/res/1.0.0/menu", None).await;
    assert_eq!(admitted, 2);
    let headers = refused.headers().clone();
    let retry_after: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["ratelimit-policy"], "\"Two\";q=2;w=3600");
    assert_eq!(
        headers["ratelimit"].to_str().expect("ascii"),
        format!("\"Two\";r=0;t={retry_after}")
    );
    assert_eq!(code_of(refused).await, "900802");
    // The API-level policy replaces the resource's: 3 admitted, then 900800.
    let (admitted, refused) = until_refused(&gw, "/whole/1.0.0/menu", None).await;
    assert_eq!(admitted, 3);
    assert_eq!(code_of(refused).await, "900800");
}

#[tokio::test]
async fn unauthenticated_requests_count_per_client_ip_across_resources() {
    let (gw, _backend) = gateway(false).await;
    // Two resources of an API with no other limit: the Unauthenticated tier (4/hour) is per API
    // and client, across its resources.
    let first = gw.client.get(gw.url("/free/1.0.0/menu")).send().await.expect("send");
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["ratelimit-policy"], "\"Unauthenticated\";q=4;w=3600");
    assert!(
        first.headers()["ratelimit"]
            .to_str()
            .expect("ascii")
            .starts_with("\"Unauthenticated\";r=3;t="),
        "{:?}",
        first.headers()
    );
    let (admitted, refused) = until_refused(&gw, "/free/1.0.0/menu/7", None).await;
    assert_eq!(admitted, 3);
    assert_eq!(code_of(refused).await, "900804");
    // An untrusted X-Forwarded-For does not make another client.
    let (admitted, _) = until_refused(&gw, "/free/1.0.0/menu", Some("198.51.100.9")).await;
    assert_eq!(admitted, 0);
}

#[tokio::test]
async fn a_trusted_forwarded_for_keys_each_client_apart() {
    let (gw, _backend) = gateway(true).await;
    for client in ["198.51.100.1", "198.51.100.2, 10.0.0.1"] {
        let (admitted, refused) = until_refused(&gw, "/free/1.0.0/menu", Some(client)).await;
        assert_eq!(admitted, 4, "{client}");
        assert_eq!(code_of(refused).await, "900804");
    }
}

#[tokio::test]
async fn without_throttling_nothing_is_counted() {
    let gw = TestGateway::start().await;
    let backend = EchoBackend::start("free").await.expect("backend");
    let mut limited = api(
        "limited",
        "/res",
        EndpointDef::Single(common::fast_target(backend.url("/"))),
    );
    limited.resources[0].throttling_policy = "Two".into();
    assert!(gw.gateway.install(vec![limited]).is_empty());
    gw.gateway
        .install_throttle_policies(&[per_hour(PolicyLevel::Advanced, "Two", 2)]);
    for _ in 0..5 {
        let r = gw.client.get(gw.url("/res/1.0.0/menu")).send().await.expect("send");
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("ratelimit").is_none());
    }
}
