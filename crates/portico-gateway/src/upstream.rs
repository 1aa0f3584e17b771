//! Connections to backends: HTTP/1.1 over TCP or TLS, kept alive in a pool per I/O thread.
//!
//! The gateway's I/O threads each run their own single-threaded runtime, so each thread keeps its
//! own idle connections in a thread-local pool: taking and returning a connection touches no lock
//! and no shared map, and a connection is driven by the thread that uses it. A connection goes
//! back to the pool when its response body has been read to the end; one whose body is dropped
//! half-read is closed. (hyper-util's pooled client, used before, cost about 8,500 instructions
//! per request in its pool alone under callgrind: SipHash over the key several times, a mutex,
//! and a task spawned per request to wait for the connection to be reusable.)

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::endpoint::Target;
use crate::{BoxError, GatewayBody};

/// Why a backend could not be reached or did not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no connection within {0} ms")]
    ConnectTimeout(u128),
    #[error("{}", crate::phases::error_chain(.0))]
    Exchange(hyper::Error),
}

/// Which pool a connection belongs to. The gateway id keeps apart gateways that share a thread
/// (tests run several in one process) and may trust different certificates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    gateway: u64,
    verify_tls: bool,
    /// `scheme://authority`, lower-case (hashing a `str` is much cheaper than `Authority`'s
    /// case-insensitive hash).
    origin: Arc<str>,
}

struct IdleConnection {
    sender: SendRequest<GatewayBody>,
    /// When it is closed if still unused.
    expires: Instant,
}

impl IdleConnection {
    fn usable(&self, now: Instant) -> bool {
        now < self.expires && !self.sender.is_closed()
    }
}

#[derive(Clone, Copy)]
struct PoolLimits {
    max_idle: usize,
    idle_timeout: Duration,
}

type IdlePools = HashMap<PoolKey, VecDeque<IdleConnection>, foldhash::fast::RandomState>;

thread_local! {
    static IDLE: RefCell<IdlePools> = RefCell::new(HashMap::default());
    /// Whether this thread runs a task that closes expired idle connections.
    static SWEEPING: Cell<bool> = const { Cell::new(false) };
}

/// How often a thread's idle connections are checked for expiry.
const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// Closes this thread's expired idle connections every [`SWEEP_EVERY`] while it has any, so an
/// idle connection outlives `upstream_idle_timeout` by half a second at most even when its pool
/// is never used again. Started on the first connection returned to a thread's pool; ends once
/// the thread has none left.
fn start_sweeping() {
    if SWEEPING.get() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    SWEEPING.set(true);
    runtime.spawn(async {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let now = Instant::now();
            let empty = IDLE.with_borrow_mut(|pools| {
                pools.retain(|_, idle| {
                    idle.retain(|c| c.usable(now));
                    !idle.is_empty()
                });
                pools.is_empty()
            });
            if empty {
                SWEEPING.set(false);
                return;
            }
        }
    });
}

static NEXT_GATEWAY_ID: AtomicU64 = AtomicU64::new(1);

/// The gateway's way to backends: TLS settings, pool limits, and the send itself.
pub(crate) struct Upstreams {
    id: u64,
    tls_verified: Arc<rustls::ClientConfig>,
    tls_unverified: Arc<rustls::ClientConfig>,
    limits: PoolLimits,
}

impl Upstreams {
    pub(crate) fn new(
        tls_verified: Arc<rustls::ClientConfig>,
        tls_unverified: Arc<rustls::ClientConfig>,
        max_idle: usize,
        idle_timeout: Duration,
    ) -> Upstreams {
        Upstreams {
            id: NEXT_GATEWAY_ID.fetch_add(1, Ordering::Relaxed),
            tls_verified,
            tls_unverified,
            limits: PoolLimits { max_idle, idle_timeout },
        }
    }

    /// Sends `request` to `target` on an idle connection of this thread, or a new one. A pooled
    /// connection the backend has closed meanwhile hands the unsent request back, and the next
    /// connection is tried, so a stale connection never fails a request.
    pub(crate) async fn send(
        &self,
        target: &Target,
        mut request: Request<GatewayBody>,
    ) -> Result<Response<GatewayBody>, UpstreamError> {
        let key = PoolKey {
            gateway: self.id,
            verify_tls: target.def.verify_tls,
            origin: target.origin.clone(),
        };
        while let Some(mut sender) = self.checkout(&key) {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.pooled_response(key, sender, response)),
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(UpstreamError::Exchange(failed.into_error())),
                },
            }
        }
        let mut sender = self.connect(target).await?;
        match sender.try_send_request(request).await {
            Ok(response) => Ok(self.pooled_response(key, sender, response)),
            Err(failed) => Err(UpstreamError::Exchange(failed.into_error())),
        }
    }

    /// The most recently used idle connection of this thread for `key` that is still open;
    /// closed and expired ones are dropped on the way.
    fn checkout(&self, key: &PoolKey) -> Option<SendRequest<GatewayBody>> {
        IDLE.with_borrow_mut(|pools| {
            let idle = pools.get_mut(key)?;
            let now = Instant::now();
            while let Some(connection) = idle.pop_back() {
                if connection.usable(now) {
                    return Some(connection.sender);
                }
            }
            None
        })
    }

    fn pooled_response(
        &self,
        key: PoolKey,
        sender: SendRequest<GatewayBody>,
        response: Response<Incoming>,
    ) -> Response<GatewayBody> {
        let (parts, body) = response.into_parts();
        let mut body = PooledBody {
            body,
            connection: Some((key, sender, self.limits)),
        };
        if body.body.is_end_stream() {
            body.give_back();
        }
        Response::from_parts(parts, http_body_util::BodyExt::boxed_unsync(body))
    }

    async fn connect(&self, target: &Target) -> Result<SendRequest<GatewayBody>, UpstreamError> {
        let timeout = target.def.connect_timeout;
        match tokio::time::timeout(timeout, self.open(target)).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::ConnectTimeout(timeout.as_millis())),
        }
    }

    async fn open(&self, target: &Target) -> Result<SendRequest<GatewayBody>, UpstreamError> {
        let connect_error = |e: &dyn std::error::Error| UpstreamError::Connect(crate::phases::error_chain(e));
        let https = target.scheme == http::uri::Scheme::HTTPS;
        // `Authority::host` keeps the brackets of an IPv6 literal.
        let host = target.authority.host().trim_start_matches('[').trim_end_matches(']');
        let port = target.authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let stream = TcpStream::connect((host, port)).await.map_err(|e| connect_error(&e))?;
        stream.set_nodelay(true).map_err(|e| connect_error(&e))?;
        let handshake = http1::Builder::new();
        if https {
            let config = if target.def.verify_tls {
                self.tls_verified.clone()
            } else {
                self.tls_unverified.clone()
            };
            let name = ServerName::try_from(host.to_owned()).map_err(|e| connect_error(&e))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|e| connect_error(&e))?;
            let (sender, connection) = handshake
                .handshake(TokioIo::new(tls))
                .await
                .map_err(|e| connect_error(&e))?;
            tokio::spawn(drive(connection, target.url.clone()));
            Ok(sender)
        } else {
            let (sender, connection) = handshake
                .handshake(TokioIo::new(stream))
                .await
                .map_err(|e| connect_error(&e))?;
            tokio::spawn(drive(connection, target.url.clone()));
            Ok(sender)
        }
    }
}

/// Runs one backend connection until either side closes it.
async fn drive<T>(connection: http1::Connection<T, GatewayBody>, url: Arc<str>)
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    if let Err(e) = connection.await {
        tracing::debug!(endpoint = %url, error = %e, "backend connection ended with an error");
    }
}

/// A backend response body that returns its connection to this thread's pool once read to the
/// end (and closes it when dropped before).
struct PooledBody {
    body: Incoming,
    connection: Option<(PoolKey, SendRequest<GatewayBody>, PoolLimits)>,
}

impl PooledBody {
    fn give_back(&mut self) {
        let Some((key, sender, limits)) = self.connection.take() else {
            return;
        };
        if sender.is_closed() || limits.max_idle == 0 {
            return;
        }
        let now = Instant::now();
        IDLE.with_borrow_mut(|pools| {
            let idle = pools.entry(key).or_default();
            // Oldest first out: the front has idled longest.
            while idle.len() >= limits.max_idle || idle.front().is_some_and(|c| !c.usable(now)) {
                idle.pop_front();
            }
            idle.push_back(IdleConnection {
                sender,
                expires: now + limits.idle_timeout,
            });
        });
        start_sweeping();
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {
                this.give_back();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.body.is_end_stream() {
                    this.give_back();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.connection = None;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
