//! Listeners: accept TCP (optionally TLS) connections, serve HTTP/1.1 and HTTP/2 on them with
//! hyper, and drain in-flight requests on shutdown. The management server and the gateway both
//! serve through this, so connection limits and timeouts are set in one place.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Facts about the connection a request arrived on, inserted into every request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The connection is TLS.
    pub tls: bool,
}

/// Connection-level limits of a listener.
#[derive(Debug, Clone)]
pub struct ListenerLimits {
    /// Time allowed for the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Time allowed to receive a request's headers (slowloris guard).
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Largest request header block, in bytes (HTTP/1.1 answers 431 above it).
    pub max_header_bytes: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_header_bytes: 64 * 1024,
        }
    }
}

/// Binds a listener with `SO_REUSEPORT`, so that several threads can each accept on their own
/// socket for the same address and the kernel spreads connections between them.
pub fn bind_reuseport(addr: SocketAddr) -> Result<TcpListener, NetError> {
    let bind_err = |source| NetError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(bind_err)?;
    socket.set_reuseaddr(true).map_err(bind_err)?;
    #[cfg(unix)]
    socket.set_reuseport(true).map_err(bind_err)?;
    socket.set_nodelay(true).map_err(bind_err)?;
    socket.bind(addr).map_err(bind_err)?;
    socket.listen(4096).map_err(bind_err)
}

/// Serves one address from `threads` OS threads, each with its own single-threaded runtime and
/// its own `SO_REUSEPORT` socket: no work stealing and no cross-thread wake-ups on the hot path,
/// which measured faster than a multi-threaded runtime for a proxy on this kind of machine.
/// `make_service` makes the service of each accepted connection (see [`serve_connections`]).
/// Returns once every thread is listening (or the first bind error); the threads stop when
/// `shutdown` turns true, after draining.
pub fn serve_on_threads<S, B, F>(
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    make_service: F,
    limits: ListenerLimits,
    shutdown: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
    threads: usize,
) -> Result<Vec<std::thread::JoinHandle<()>>, NetError>
where
    F: Fn(ConnectionInfo) -> S + Send + Sync + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let make_service = Arc::new(make_service);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), NetError>>();
    let mut handles = Vec::new();
    for index in 0..threads.max(1) {
        let make_service = make_service.clone();
        let tls = tls.clone();
        let limits = limits.clone();
        let mut shutdown = shutdown.clone();
        let ready = ready_tx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("portico-io-{index}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(source) => {
                        let _ = ready.send(Err(NetError::Bind { addr, source }));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match bind_reuseport(addr) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready.send(Ok(()));
                    let stop = async move {
                        let _ = shutdown.wait_for(|stop| *stop).await;
                    };
                    serve_connections(listener, tls, move |info| make_service(info), limits, stop, grace).await;
                });
            });
        match handle {
            Ok(h) => handles.push(h),
            Err(source) => return Err(NetError::Bind { addr, source }),
        }
    }
    drop(ready_tx);
    for _ in 0..handles.len() {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => break,
        }
    }
    Ok(handles)
}

/// Binds a TCP listener, naming the address on failure.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, NetError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NetError::Bind { addr, source })
}

/// Serves the tower `service` on `listener` until `shutdown` resolves, then stops accepting and
/// gives in-flight requests up to `grace` to finish. Every request carries the
/// [`ConnectionInfo`] of its connection in its extensions. With `tls`, connections are TLS and
/// the protocol follows ALPN; without, HTTP/1.1 or HTTP/2 prior knowledge is detected.
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    service: S,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let make = move |info: ConnectionInfo| {
        let service = tower::ServiceExt::map_request(service.clone(), move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(info);
            request
        });
        hyper_util::service::TowerToHyperService::new(service)
    };
    serve_connections(listener, tls, make, limits, shutdown, grace).await;
}

/// [`serve`] for a hyper service made per connection by `make_service`, which learns the
/// connection's facts once instead of finding them in every request (the gateway's hot path:
/// no per-request extension map, no tower `Oneshot`, no service clone per request).
pub async fn serve_connections<M, S, B>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    make_service: M,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    M: Fn(ConnectionInfo) -> S,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // The protocol is known before the first byte: HTTP/1.1 on plain TCP, and on TLS what ALPN
    // chose. (hyper-util's auto builder sniffed every plain connection for an HTTP/2 preface
    // and wrapped its reads, which showed up on the gateway's per-request cost.)
    let mut http1 = http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let builders = Arc::new((http1, http2));
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let info = ConnectionInfo {
            peer,
            local: stream.local_addr().unwrap_or(peer),
            tls: acceptor.is_some(),
        };
        let hyper_service = make_service(info);
        let builders = builders.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let handshake_timeout = limits.tls_handshake_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let (http1, http2) = &*builders;
            let result = match acceptor {
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                        watcher
                            .watch(http2.serve_connection(TokioIo::new(tls), hyper_service))
                            .await
                    } else {
                        watcher
                            .watch(http1.serve_connection(TokioIo::new(tls), hyper_service))
                            .await
                    }
                }
                None => {
                    watcher
                        .watch(http1.serve_connection(TokioIo::new(stream), hyper_service))
                        .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            grace_seconds = grace.as_secs(),
            "in-flight requests did not finish in time; closing them"
        );
    }
}
