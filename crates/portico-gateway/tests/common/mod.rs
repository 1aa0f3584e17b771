//! Shared by the gateway's integration tests: an echoing backend and an in-process gateway on
//! real sockets.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use portico_gateway::model::{ApiDef, ApiStatus, EndpointDef, ResourceDef, SuspendPolicy, TargetDef};
use portico_gateway::{Gateway, GatewaySettings};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A backend that echoes what it received as JSON; `/slow` waits 2 s first.
pub struct Backend {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    pub async fn start(name: &'static str) -> Backend {
        Backend::start_on(name, "127.0.0.1:0".parse().expect("addr")).await
    }

    pub async fn start_on(name: &'static str, addr: SocketAddr) -> Backend {
        let listener = TcpListener::bind(addr).await.expect("bind backend");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let service = tower::service_fn(move |request: Request<Incoming>| async move {
                Ok::<_, Infallible>(echo(name, request).await)
            });
            let stopped = async {
                let _ = stopped.await;
            };
            portico_net::serve(
                listener,
                None,
                service,
                Default::default(),
                stopped,
                Duration::from_millis(100),
            )
            .await;
        });
        Backend {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, base: &str) -> String {
        format!("http://{}{base}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

async fn echo(name: &str, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path().ends_with("/slow") {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let headers: serde_json::Map<String, Value> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap_or("?").to_owned())))
        .collect();
    let peer = request
        .extensions()
        .get::<portico_net::ConnectionInfo>()
        .map(|c| c.peer.to_string());
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    let answer =
        json!({ "backend": name, "peer": peer, "method": method, "uri": uri, "headers": headers, "bodyLength": body });
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("value"));
    response
        .headers_mut()
        .insert("connection", "keep-alive".parse().expect("value"));
    response
}

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

    async fn start_full(
        settings: GatewaySettings,
        analytics: Option<tokio::sync::mpsc::Sender<portico_gateway::AnalyticsRecord>>,
        limits: portico_net::ListenerLimits,
    ) -> TestGateway {
        let gateway = Gateway::new(settings, analytics);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gateway");
        let addr = listener.local_addr().expect("addr");
        let server = portico_gateway::ConsumerServer::new(gateway.clone(), limits.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            portico_net::serve_accepted(
                listener,
                None,
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
