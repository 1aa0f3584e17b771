//! The golden runtime artifacts of `portico-artifact` (as the Publisher writes them with schema
//! 1, and one written by hand) compile into the gateway's model and routes as expected.

mod common;

use std::time::Duration;

use portico_gateway::Gateway;
use portico_gateway::artifact::api_from_json;
use portico_gateway::model::{
    ApiDef, ApiStatus, BackendDef, CorsDef, EndpointDef, ResourceDef, SecurityDef, SuspendPolicy, TargetDef,
};

const API: &str = include_str!("../../portico-artifact/tests/fixtures/api-schema1.json");
const PRODUCT: &str = include_str!("../../portico-artifact/tests/fixtures/product-schema1.json");
const HAND_WRITTEN: &str = include_str!("../../portico-artifact/tests/fixtures/api-hand-written-schema1.json");

fn compile(text: &str) -> ApiDef {
    api_from_json(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn resource(verb: &str, template: &str, secured: bool, scopes: &[&str], policy: &str) -> ResourceDef {
    ResourceDef {
        verb: verb.into(),
        template: template.into(),
        secured,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        throttling_policy: policy.into(),
        backend: None,
    }
}

fn served_by(backend: usize, resource: ResourceDef) -> ResourceDef {
    ResourceDef {
        backend: Some(backend),
        ..resource
    }
}

fn single(url: &str) -> Option<EndpointDef> {
    Some(EndpointDef::Single(TargetDef::new(url)))
}

#[test]
fn the_api_artifact_compiles_to_its_model() {
    let first = TargetDef {
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_secs(3),
        suspend: SuspendPolicy {
            initial: Duration::from_secs(1),
            progression_factor: 2.0,
            maximum: Duration::from_secs(8),
        },
        ..TargetDef::new("http://backend-1:8080/pizza")
    };
    let second = TargetDef {
        verify_tls: false,
        ..TargetDef::new("https://backend-2:8443/pizza")
    };
    let defaults = CorsDef::wso2_default();
    let expected = ApiDef {
        id: "6b3c3f1e-pizza".into(),
        name: "PizzaShack".into(),
        version: "1.0.0".into(),
        context: "/pizzashack".into(),
        is_default_version: true,
        status: ApiStatus::Published,
        resources: vec![
            resource("GET", "/menu", false, &[], "Unlimited"),
            resource("POST", "/order", true, &["order"], "Gold"),
            resource("GET", "/order/{orderId}", true, &[], "Unlimited"),
        ],
        production: Some(EndpointDef::LoadBalance(vec![first, second])),
        // A side's endpoints follow the config's `endpoint_type`, one object or many.
        sandbox: Some(EndpointDef::LoadBalance(vec![TargetDef::new(
            "http://sandbox:8080/pizza",
        )])),
        pass_authorization_header: false,
        max_request_body: None,
        cors: Some(CorsDef {
            allow_origins: vec!["https://app.example".into()],
            allow_credentials: true,
            ..defaults
        }),
        security: SecurityDef {
            oauth2: true,
            api_key: true,
        },
        backends: Vec::new(),
        audiences: vec!["pizza-clients".into()],
        api_throttling_policy: Some("10KPerMin".into()),
    };
    assert_eq!(compile(API), expected);
}

#[test]
fn the_product_artifact_compiles_to_its_model() {
    let expected = ApiDef {
        id: "prod-shop".into(),
        name: "Shop".into(),
        version: "1.0.0".into(),
        context: "/shop".into(),
        is_default_version: true,
        status: ApiStatus::Published,
        resources: vec![
            served_by(0, resource("GET", "/items", false, &[], "Unlimited")),
            served_by(0, resource("GET", "/items/{id}", true, &["read"], "Unlimited")),
            served_by(1, resource("POST", "/orders", true, &[], "10KPerMin")),
        ],
        production: None,
        sandbox: None,
        pass_authorization_header: false,
        max_request_body: None,
        cors: None,
        security: SecurityDef::default(),
        backends: vec![
            BackendDef {
                api_id: "api-menu".into(),
                production: single("http://menu:8080"),
                sandbox: None,
            },
            BackendDef {
                api_id: "api-orders".into(),
                production: Some(EndpointDef::Failover(vec![
                    TargetDef::new("http://orders-a:8080"),
                    TargetDef::new("http://orders-b:8080"),
                ])),
                sandbox: Some(EndpointDef::Failover(vec![TargetDef::new(
                    "http://orders-sandbox:8080",
                )])),
            },
        ],
        audiences: Vec::new(),
        api_throttling_policy: None,
    };
    assert_eq!(compile(PRODUCT), expected);
}

#[test]
fn a_hand_written_artifact_compiles_with_the_defaults() {
    let expected = ApiDef {
        id: "hand-written".into(),
        name: "Weather".into(),
        version: "v2".into(),
        context: "/weather/{version}".into(),
        is_default_version: false,
        status: ApiStatus::Prototyped,
        resources: vec![
            resource("GET", "/today", false, &[], "Unlimited"),
            resource("GET", "/forecast/{days}", true, &["forecast", "premium"], "Unlimited"),
            resource("OPTIONS", "/*", true, &[], "Unlimited"),
        ],
        // `address` with an array of one is a single endpoint; `"0"` switches suspension off;
        // `tlsVerification: "yes"` is no boolean and leaves verification on.
        production: Some(EndpointDef::Single(TargetDef {
            response_timeout: Duration::from_millis(2500),
            suspend: SuspendPolicy {
                initial: Duration::ZERO,
                ..SuspendPolicy::default()
            },
            ..TargetDef::new("http://weather:9000/")
        })),
        sandbox: None,
        pass_authorization_header: false,
        max_request_body: None,
        cors: Some(CorsDef {
            allow_origins: vec!["*".into()],
            ..CorsDef::default()
        }),
        security: SecurityDef {
            oauth2: false,
            api_key: true,
        },
        backends: Vec::new(),
        audiences: Vec::new(),
        api_throttling_policy: None,
    };
    assert_eq!(compile(HAND_WRITTEN), expected);
}

#[tokio::test]
async fn the_golden_artifacts_route_as_deployed() {
    let gateway = common::TestGateway::start().await;
    let errors = Gateway::install(&gateway.gateway, [API, PRODUCT, HAND_WRITTEN].map(compile).to_vec());
    assert!(errors.is_empty(), "{errors:?}");
    // Secured resources answer 900902 without credentials, before any backend is called: the
    // route was found. Default versions are reachable without the version segment.
    for path in [
        "/pizzashack/1.0.0/order/42",
        "/pizzashack/order/42",
        "/shop/1.0.0/items/7",
        "/shop/items/7",
    ] {
        let (status, body) = gateway.get(path).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("900902")), "{path}: {body}");
    }
    for path in ["/pizzashack/1.0.0/nope", "/shop/1.0.0/menu", "/weather/today"] {
        let (status, body) = gateway.get(path).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("900906")), "{path}: {body}");
    }
}
