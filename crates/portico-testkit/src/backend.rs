//! A backend service for the gateway to call in tests: it answers every request with a JSON echo
//! of what it received (method, URI, headers, the caller's address as `peer`, body length
//! counted while streaming, so large bodies are never held in memory). A path ending in `/slow`
//! is answered after 2 s, and one ending in `/fail` with status 500 (a failing backend). Its answers say `Connection: keep-alive`, as many backends do (a
//! hop-by-hop field the gateway must not pass on).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How long a request to a path ending in `/slow` waits before its answer.
const SLOW: Duration = Duration::from_secs(2);

/// A running echo backend; stops when dropped (or, waiting until it has, with [`EchoBackend::stop`]).
pub struct EchoBackend {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl EchoBackend {
    /// Starts on a free loopback port; `name` is echoed as `backend`.
    pub async fn start(name: &'static str) -> anyhow::Result<EchoBackend> {
        EchoBackend::start_on(name, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `addr` (a port an earlier backend was stopped on, to bring it back).
    pub async fn start_on(name: &'static str, addr: SocketAddr) -> anyhow::Result<EchoBackend> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
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
        Ok(EchoBackend {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the backend and waits until its connections are closed and its port is free.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EchoBackend {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn echo(name: &str, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path().ends_with("/slow") {
        tokio::time::sleep(SLOW).await;
    }
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::Value::String(v.to_str().unwrap_or("?").to_owned()),
            )
        })
        .collect();
    let peer = request
        .extensions()
        .get::<portico_net::ConnectionInfo>()
        .map(|c| c.peer.to_string());
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let fail = request.uri().path().ends_with("/fail");
    let mut body = request.into_body();
    let mut length: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => length += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => break,
        }
    }
    let answer = serde_json::json!({
        "backend": name, "peer": peer, "method": method, "uri": uri, "headers": headers, "bodyLength": length
    });
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    if fail {
        *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    }
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("keep-alive"),
    );
    response
}
