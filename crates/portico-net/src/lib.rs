//! Listeners: accept TCP (optionally TLS) connections, serve HTTP/1.1 and HTTP/2 on them with
//! hyper, and drain in-flight requests on shutdown. The management server and the gateway both
//! serve through this, so connection limits and timeouts are set in one place.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
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
/// `handle` serves each accepted connection (see [`serve_accepted`]). Returns once every thread
/// is listening (or the first bind error); the threads stop when `shutdown` turns true, after
/// draining.
pub fn serve_on_threads<H, C, F>(
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    handle: H,
    limits: ListenerLimits,
    shutdown: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
    threads: usize,
) -> Result<Vec<std::thread::JoinHandle<()>>, NetError>
where
    H: Fn(ConnectionInfo) -> C + Send + Sync + 'static,
    C: FnOnce(Accepted) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let handle = Arc::new(handle);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), NetError>>();
    let mut handles = Vec::new();
    for index in 0..threads.max(1) {
        let handle = handle.clone();
        let tls = tls.clone();
        let limits = limits.clone();
        let mut shutdown = shutdown.clone();
        let ready = ready_tx.clone();
        let thread = std::thread::Builder::new()
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
                    serve_accepted(listener, tls, move |info| handle(info), limits, stop, grace).await;
                });
            });
        match thread {
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
/// connection's facts once instead of finding them in every request (no per-request extension
/// map, no tower `Oneshot`, no service clone per request).
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
    let builders = Arc::new(HyperBuilders::new(&limits));
    let handle = move |info: ConnectionInfo| {
        let service = make_service(info);
        let builders = builders.clone();
        move |accepted: Accepted| serve_with_hyper(builders, accepted, service)
    };
    serve_accepted(listener, tls, handle, limits, shutdown, grace).await;
}

/// hyper's HTTP/1.1 and HTTP/2 servers, set up with a listener's limits.
pub struct HyperBuilders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl HyperBuilders {
    pub fn new(limits: &ListenerLimits) -> HyperBuilders {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(limits.max_header_bytes.max(8192))
            .keep_alive(true);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
        HyperBuilders { http1, http2 }
    }
}

/// Serves an accepted connection with hyper: HTTP/2 when ALPN chose it, else HTTP/1.1. When
/// the listener drains, the connection finishes its requests in flight and closes.
pub async fn serve_with_hyper<S, B>(builders: Arc<HyperBuilders>, accepted: Accepted, service: S)
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Accepted { info, io, mut drain } = accepted;
    let result = if io.is_http2() {
        let connection = builders.http2.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => result,
            () = drain.draining() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        }
    } else {
        let connection = builders.http1.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => result,
            () = drain.draining() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(peer = %info.peer, error = %e, "connection ended with an error");
    }
}

/// An accepted connection (TLS already negotiated), for the code that serves it.
pub struct Accepted {
    pub info: ConnectionInfo,
    pub io: Io,
    /// Flips when the listener stops: finish the request in flight, then close.
    pub drain: Drain,
}

/// A TCP connection, plain or under TLS (`T`: rustls' server or client stream). The gateway's
/// consumer connections and its backend connections both read and write through this.
pub enum MaybeTls<T> {
    Tcp(TcpStream),
    Tls(Box<T>),
}

/// The byte stream of an accepted connection.
pub type Io = MaybeTls<tokio_rustls::server::TlsStream<TcpStream>>;

impl Io {
    /// Whether ALPN chose HTTP/2.
    pub fn is_http2(&self) -> bool {
        match self {
            MaybeTls::Tcp(_) => false,
            MaybeTls::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

impl<T> MaybeTls<T> {
    /// Whether the stream is TLS (whose writes need a flush to leave rustls' buffer).
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }

    /// Forgets that the socket is readable, after a read that returned less than it asked for
    /// (the kernel had no more): the next read then waits for the socket to become readable
    /// instead of first making a system call that fails with EAGAIN, which is how tokio learns
    /// it otherwise. Bytes that arrive later wake the reader as usual (tokio clears only
    /// readiness it has not seen renewed since). TLS streams keep theirs: rustls may hold
    /// bytes already read.
    fn clear_read_readiness(&self) {
        if let MaybeTls::Tcp(stream) = self {
            let _ = stream.try_io(tokio::io::Interest::READABLE, || {
                Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
            });
        }
    }
}

impl<T: AsyncRead + Unpin> MaybeTls<T> {
    /// Reads into `buf`'s spare capacity (the caller sees to it that there is some). After a
    /// short read the read readiness is cleared (see `clear_read_readiness`).
    pub fn poll_read_buf(&mut self, cx: &mut Context<'_>, buf: &mut bytes::BytesMut) -> Poll<std::io::Result<usize>> {
        let offered = buf.capacity() - buf.len();
        let read = std::task::ready!(tokio_util::io::poll_read_buf(Pin::new(&mut *self), cx, buf));
        if let Ok(n) = read
            && n > 0
            && n < offered
        {
            self.clear_read_readiness();
        }
        Poll::Ready(read)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for MaybeTls<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for MaybeTls<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Tcp(s) => s.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Tells a connection that its listener is stopping. Each connection holds one; the listener
/// waits (up to its grace period) until all are dropped.
#[derive(Clone)]
pub struct Drain {
    stop: tokio::sync::watch::Receiver<bool>,
    _live: tokio::sync::mpsc::Sender<()>,
}

impl Drain {
    /// Whether the listener is stopping.
    pub fn is_draining(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once the listener is stopping (at once if it already is).
    pub async fn draining(&mut self) {
        let _ = self.stop.wait_for(|stop| *stop).await;
    }
}

/// Accepts connections on `listener` (at most `limits.max_connections` at once; TLS when
/// `tls`, with ALPN as configured) and serves each in its own task until `shutdown` resolves;
/// then stops accepting, tells every connection to drain, and waits up to `grace` for them to
/// finish. `handle` learns each connection's facts as it is accepted and returns what serves
/// it once its TLS handshake (if any) is done.
pub async fn serve_accepted<H, C, F>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    handle: H,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    H: Fn(ConnectionInfo) -> C,
    C: FnOnce(Accepted) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let acceptor = tls.map(TlsAcceptor::from);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (live, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
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
        let drain = Drain {
            stop: stop_rx.clone(),
            _live: live.clone(),
        };
        let serve = handle(info);
        let acceptor = acceptor.clone();
        let handshake_timeout = limits.tls_handshake_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let io = match acceptor {
                None => MaybeTls::Tcp(stream),
                Some(acceptor) => match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => MaybeTls::Tls(Box::new(tls)),
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            serve(Accepted { info, io, drain }).await;
        });
    }
    drop(listener);
    drop(live);
    let _ = stop.send(true);
    if tokio::time::timeout(grace, all_closed.recv()).await.is_err() {
        tracing::warn!(
            grace_seconds = grace.as_secs(),
            "in-flight requests did not finish in time; closing them"
        );
    }
}
