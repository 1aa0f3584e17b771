//! A backend service for the gateway to call in tests: it answers every request with a JSON echo
//! of what it received (method, URI, headers, body length counted while streaming, so large
//! bodies are never held in memory).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running echo backend; stops when dropped.
pub struct EchoBackend {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl EchoBackend {
    /// Starts on a free loopback port; `name` is echoed as `backend`.
    pub async fn start(name: &'static str) -> anyhow::Result<EchoBackend> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
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
        Ok(EchoBackend { addr, stop: Some(stop) })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
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
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let mut body = request.into_body();
    let mut length: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => length += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => break,
        }
    }
    let answer =
        serde_json::json!({ "backend": name, "method": method, "uri": uri, "headers": headers, "bodyLength": length });
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    if let Ok(v) = "application/json".parse() {
        response.headers_mut().insert("content-type", v);
    }
    response
}
