//! The `throttle` phase in an in-process gateway on real sockets: advanced policies at API and
//! resource level, burst control of subscriptions and applications (bearer tokens of an
//! in-test issuer), the `Unauthenticated` tier per client IP (and per `X-Forwarded-For` hop only
//! when trusted), WSO2's codes with `Retry-After` and the IETF rate-limit fields, and a gateway
//! without throttling; deny policies (900805), enforced with or without throttling. Counting across a cluster is portico-throttle's (its own tests) and
//! the node's (crates/portico/tests/throttling.rs); here the gateway's own count decides.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::issuer::{Issuer, claims, now};
use common::{TestGateway, api};
use portico_gateway::identity::{
    AppInfo, ClientInfo, Identity, KeyType, SubscriptionInfo, SubscriptionStatus, VerificationKey,
};
use portico_gateway::model::EndpointDef;
use portico_gateway::{GatewaySettings, GatewayThrottling};
use portico_testkit::EchoBackend;
use portico_throttle::policy::{Burst, Quota};
use portico_throttle::{
    BurstUnit, Counter, CounterStats, DecisionTable, DenyCondition, DenyPolicies, FailureMode, Policy, PolicyLevel,
    RequestEvent, Throttler, TimeUnit,
};

/// A cluster counter that is always reachable and counts nothing (the local count decides).
struct NoCluster;

impl Counter for NoCluster {
    fn record(&self, _event: &RequestEvent) -> bool {
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

/// A tier of `level` with a large hourly quota and burst control of `burst` per minute.
fn bursting(level: PolicyLevel, name: &str, burst: u64) -> Policy {
    Policy {
        burst: Some(Burst {
            rate_limit_count: burst,
            rate_limit_time_unit: BurstUnit::Min,
        }),
        ..per_hour(level, name, 1_000)
    }
}

async fn throttling_gateway(trust_forwarded_for: bool) -> TestGateway {
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
    TestGateway::start_with(settings).await
}

async fn gateway(trust_forwarded_for: bool) -> (TestGateway, EchoBackend) {
    let gw = throttling_gateway(trust_forwarded_for).await;
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
    until_refused_as(gw, path, ("x-forwarded-for", forwarded_for)).await
}

/// [`until_refused`] with a request header (`name`, value) when the value is given.
async fn until_refused_as(gw: &TestGateway, path: &str, header: (&str, Option<&str>)) -> (u64, reqwest::Response) {
    for admitted in 0..50 {
        let mut request = gw.client.get(gw.url(path));
        if let (name, Some(value)) = header {
            request = request.header(name, value);
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

/// Two applications with their production clients: `steady` (Unlimited tier) subscribed to
/// `/sb` under a tier with burst control, `bursty` (a tier with burst control) subscribed to
/// `/ab` under Unlimited.
fn bursting_identity(issuer: &Issuer) -> Identity {
    let mut clients = HashMap::default();
    let mut subscriptions = HashMap::default();
    for (app, tier, api, sub_tier) in [
        ("steady", "Unlimited", "sub-burst", "SubBurst"),
        ("bursty", "AppBurst", "app-burst", "Unlimited"),
    ] {
        let info = Arc::new(AppInfo {
            id: app.into(),
            name: app.into(),
            owner: "alice".into(),
            tier: tier.into(),
        });
        clients.insert(
            format!("{app}-client"),
            ClientInfo {
                app: info,
                key_type: KeyType::Production,
            },
        );
        subscriptions.insert(
            (app.to_owned(), api.to_owned()),
            SubscriptionInfo {
                id: format!("{app}-{api}"),
                tier: sub_tier.into(),
                status: SubscriptionStatus::Unblocked,
            },
        );
    }
    Identity {
        keys: vec![VerificationKey::from_public_pem("node-key", &issuer.public_pem, false).expect("key")],
        issuers: vec!["https://localhost:9443/oauth2/token".into()],
        clients,
        subscriptions,
        ..Identity::default()
    }
}

#[tokio::test]
async fn burst_control_of_subscriptions_and_applications_refuses_with_its_codes() {
    let gw = throttling_gateway(false).await;
    let backend = EchoBackend::start("bursting").await.expect("backend");
    let endpoint = EndpointDef::Single(common::fast_target(backend.url("/")));
    let mut apis = vec![
        api("sub-burst", "/sb", endpoint.clone()),
        api("app-burst", "/ab", endpoint),
    ];
    for def in &mut apis {
        def.resources[0].secured = true;
    }
    assert!(gw.gateway.install(apis).is_empty());
    let issuer = Issuer::new();
    gw.gateway.install_identity(bursting_identity(&issuer));
    gw.gateway.install_throttle_policies(&[
        bursting(PolicyLevel::Subscription, "SubBurst", 3),
        bursting(PolicyLevel::Application, "AppBurst", 2),
    ]);
    // Burst windows are minutes: keep clear of a minute's end.
    if 60 - now() % 60 < 3 {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let steady = format!(
        "Bearer {}",
        issuer.token(claims("t1", "steady-client", "PRODUCTION", "", 3600))
    );
    let (admitted, refused) = until_refused_as(&gw, "/sb/1.0.0/menu", ("authorization", Some(&steady))).await;
    assert_eq!(admitted, 3);
    assert_eq!(refused.headers()["ratelimit-policy"], "\"SubBurst-burst\";q=3;w=60");
    assert_eq!(code_of(refused).await, "900807");
    let bursty = format!(
        "Bearer {}",
        issuer.token(claims("t2", "bursty-client", "PRODUCTION", "", 3600))
    );
    let (admitted, refused) = until_refused_as(&gw, "/ab/1.0.0/menu", ("authorization", Some(&bursty))).await;
    assert_eq!(admitted, 2);
    assert_eq!(code_of(refused).await, "900809");
}

#[tokio::test]
async fn deny_policies_refuse_with_900805_even_without_throttling() {
    let gw = TestGateway::start_with(GatewaySettings::default()).await;
    let backend = EchoBackend::start("denied").await.expect("backend");
    let endpoint = EndpointDef::Single(common::fast_target(backend.url("/")));
    let apis = vec![
        api("denied", "/denied", endpoint.clone()),
        api("free", "/free", endpoint),
    ];
    assert!(gw.gateway.install(apis).is_empty());
    let status = async |path: &str| gw.client.get(gw.url(path)).send().await.expect("send");

    let denied_api = DenyCondition::Api {
        context: "/denied/1.0.0".into(),
    };
    gw.gateway.install_deny_policies(DenyPolicies::new([&denied_api]));
    let refused = status("/denied/1.0.0/menu").await;
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(
        (&body["code"], &body["message"]),
        (&serde_json::json!("900805"), &serde_json::json!("Message blocked")),
        "{body}"
    );
    assert_eq!(status("/free/1.0.0/menu").await.status(), 200);

    let this_client = DenyCondition::Ip {
        ip: "127.0.0.1".parse().expect("ip"),
        invert: false,
    };
    gw.gateway.install_deny_policies(DenyPolicies::new([&this_client]));
    assert_eq!(status("/free/1.0.0/menu").await.status(), 403);
    gw.gateway.install_deny_policies(DenyPolicies::default());
    assert_eq!(status("/denied/1.0.0/menu").await.status(), 200);
}
