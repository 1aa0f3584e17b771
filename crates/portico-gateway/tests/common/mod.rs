//! Shared by the gateway's integration tests: an in-process gateway on real sockets and API
//! definitions (the echoing backend is `portico_testkit::EchoBackend`).
#![allow(dead_code)]

pub mod issuer;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_gateway::model::{ApiDef, ApiStatus, EndpointDef, ResourceDef, SuspendPolicy, TargetDef};
use portico_gateway::{Gateway, GatewaySettings};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestGateway {
    pub gateway: Arc<Gateway>,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl TestGateway {
    pub async fn start() -> TestGateway {
        TestGateway::start_with(GatewaySettings::default()).await
    }

    pub async fn start_with(settings: GatewaySettings) -> TestGateway {
        TestGateway::start_with_analytics(settings, None).await
    }

    /// A gateway that hands its analytics records to `analytics`.
    pub async fn start_with_analytics(
        settings: GatewaySettings,
        analytics: Option<tokio::sync::mpsc::Sender<portico_gateway::AnalyticsRecord>>,
    ) -> TestGateway {
        TestGateway::start_full(settings, analytics, Default::default()).await
    }

    /// A gateway whose listener has `limits`.
    pub async fn start_with_limits(limits: portico_net::ListenerLimits) -> TestGateway {
        TestGateway::start_full(Default::default(), None, limits).await
    }

    /// A gateway on a TLS listener (ALPN as `tls` offers it: HTTP/2 and HTTP/1.1).
    pub async fn start_tls(settings: GatewaySettings, tls: Arc<rustls::ServerConfig>) -> TestGateway {
        TestGateway::start_on(settings, None, Default::default(), Some(tls)).await
    }

    async fn start_full(
        settings: GatewaySettings,
        analytics: Option<tokio::sync::mpsc::Sender<portico_gateway::AnalyticsRecord>>,
        limits: portico_net::ListenerLimits,
    ) -> TestGateway {
        TestGateway::start_on(settings, analytics, limits, None).await
    }

    async fn start_on(
        settings: GatewaySettings,
        analytics: Option<tokio::sync::mpsc::Sender<portico_gateway::AnalyticsRecord>>,
        limits: portico_net::ListenerLimits,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> TestGateway {
        let gateway = Gateway::new(settings, analytics);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gateway");
        let addr = listener.local_addr().expect("addr");
        let server = portico_gateway::ConsumerServer::new(gateway.clone(), limits.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            portico_net::serve_accepted(
                listener,
                tls,
                move |_info| {
                    let server = server.clone();
                    move |accepted| server.serve(accepted)
                },
                limits,
                async {
                    let _ = stopped.await;
                },
                Duration::from_secs(5),
            )
            .await;
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        TestGateway {
            gateway,
            addr,
            client,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Starts the listener's drain; the returned task ends once every connection has closed.
    pub fn shut_down(&mut self) -> tokio::task::JoinHandle<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.served.take().expect("not shut down yet")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

pub fn resource(verb: &str, template: &str, secured: bool) -> ResourceDef {
    ResourceDef {
        verb: verb.into(),
        template: template.into(),
        secured,
        scopes: vec![],
        throttling_policy: "Unlimited".into(),
        backend: None,
    }
}

pub fn api(id: &str, context: &str, endpoint: EndpointDef) -> ApiDef {
    ApiDef {
        id: id.into(),
        name: id.into(),
        version: "1.0.0".into(),
        context: context.into(),
        is_default_version: false,
        status: ApiStatus::Published,
        resources: vec![
            resource("GET", "/menu", false),
            resource("GET", "/menu/{id}", false),
            resource("POST", "/orders", false),
            resource("GET", "/slow", false),
            resource("GET", "/secure", true),
        ],
        production: Some(endpoint),
        sandbox: None,
        pass_authorization_header: false,
        max_request_body: None,
        cors: None,
        security: Default::default(),
        backends: Vec::new(),
        audiences: Vec::new(),
        api_throttling_policy: None,
    }
}

/// An API at `context` whose one resource, `/*`, takes GET, HEAD and POST (the raw-wire tests
/// send anything anywhere).
pub fn wildcard_api(id: &str, context: &str, endpoint: EndpointDef) -> ApiDef {
    ApiDef {
        resources: vec![
            resource("GET", "/*", false),
            resource("HEAD", "/*", false),
            resource("POST", "/*", false),
        ],
        ..api(id, context, endpoint)
    }
}

pub fn fast_target(url: String) -> TargetDef {
    TargetDef {
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(800),
        suspend: SuspendPolicy {
            initial: Duration::from_millis(300),
            progression_factor: 2.0,
            maximum: Duration::from_millis(1000),
        },
        ..TargetDef::new(url)
    }
}
