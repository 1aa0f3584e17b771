//! Connections to backends: HTTP/1.1 over TCP or TLS, kept alive in a pool per I/O thread.
//!
//! The gateway's I/O threads each run their own single-threaded runtime, so each thread keeps its
//! own idle connections in a thread-local pool: taking and returning a connection touches no lock
//! and no shared map. A request is written and its response read by the task that serves the
//! consumer's request, through the codec in [`crate::http1::client`]: no second task per connection
//! and no channel between the two (hyper's client connection, used before, drove each backend
//! connection in its own task and handed every request and response across a channel, which under
//! callgrind cost more than all of the gateway's own phases). A connection goes back to the pool
//! when its response body has been read to the end; one whose body is dropped half-read is closed.

mod body;
mod connection;
pub(crate) mod endpoint;
mod pool;
pub(crate) mod tls;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::error::error_chain;
use crate::http1::client::CodecError;
pub(crate) use crate::http1::client::{RequestFields, RequestTarget};
use crate::http1::fields::RawHeaders;
use crate::{BoxError, GatewayBody};
pub(crate) use body::UpstreamBody;
use connection::{Connection, Outgoing, Stream};
use endpoint::Target;
use pool::{PoolKey, PoolLimits};

/// Why a backend could not be reached or did not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no connection within {0} ms")]
    ConnectTimeout(u128),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Protocol(#[from] CodecError),
    #[error("the backend closed the connection before answering")]
    ClosedBeforeAnswer,
    #[error("no response within the endpoint's response timeout")]
    Timeout,
    /// The consumer's request body failed while it was being sent (the consumer went away, or
    /// the body went over the API's limit).
    #[error("the request body could not be read: {0}")]
    RequestBody(BoxError),
}

impl UpstreamError {
    /// Whether the error is what a backend that closed an idle keep-alive connection causes:
    /// the write fails, or the read ends, before any byte of an answer.
    fn is_stale_connection(&self) -> bool {
        match self {
            UpstreamError::ClosedBeforeAnswer => true,
            UpstreamError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }
}

/// A request body as the gateway hands it over: held in memory (and so resendable), or streamed
/// from the consumer.
pub(crate) enum RequestBody {
    Buffered(Bytes),
    Streamed(GatewayBody),
}

/// What goes to a backend: the request line's method and target (origin form: the connection
/// is to the backend already, which learns its name from `Host`), headers and body.
pub(crate) struct UpstreamRequest<'a> {
    pub method: &'a Method,
    pub target: RequestTarget<'a>,
    /// Header fields in the order they are written (the consumer's that pass, then the
    /// proxy's own).
    pub fields: &'a dyn RequestFields,
    pub body: RequestBody,
}

/// A backend's answer: its status and header fields (hop-by-hop ones left out), and the body,
/// which streams from the connection as it is read.
pub(crate) struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: RawHeaders,
    pub body: UpstreamBody,
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

    /// Sends `request` to `target` on an idle connection of this thread, or a new one, and
    /// answers with the response head; the body streams from the connection as it is read.
    /// A reused connection that the backend closed before answering (it timed the connection
    /// out as the request went out) costs no failure: the request is sent again on a new
    /// connection when its body is in memory.
    pub(crate) async fn send(
        &self,
        target: &Target,
        request: UpstreamRequest<'_>,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let key = PoolKey {
            gateway: self.id,
            verify_tls: target.def.verify_tls,
            origin: target.origin.clone(),
        };
        let UpstreamRequest {
            method,
            target: request_target,
            fields,
            body,
        } = request;
        if !request_target.is_writable() {
            return Err(CodecError::BadRequestTarget.into());
        }
        let deadline = tokio::time::Instant::now() + target.def.response_timeout;
        let (mut outgoing, resend) = match body {
            RequestBody::Buffered(bytes) => (Outgoing::Buffered(Some(bytes.clone())), Some(bytes)),
            RequestBody::Streamed(body) => (Outgoing::Streamed(body), None),
        };
        let mut connection = match pool::checkout(&key) {
            Some(connection) => connection,
            None => self.connect(target).await?,
        };
        let mut attempt = connection
            .exchange(method, &request_target, fields, &mut outgoing, deadline)
            .await;
        if let (Err(e), Some(bytes)) = (&attempt, resend)
            && connection.reused
            && e.is_stale_connection()
        {
            tracing::debug!(endpoint = %target.url, error = %e, "reused backend connection was closed; resending");
            connection = self.connect(target).await?;
            outgoing = Outgoing::Buffered(Some(bytes));
            attempt = connection
                .exchange(method, &request_target, fields, &mut outgoing, deadline)
                .await;
        }
        let head = attempt?;
        let reuse = head.keep_alive.then_some((key, self.limits));
        let mut body = UpstreamBody::new(connection, head.framing, reuse);
        if *method == Method::HEAD {
            body.answer_head();
        }
        Ok(UpstreamResponse {
            status: head.status,
            body,
            headers: head.headers,
        })
    }

    async fn connect(&self, target: &Target) -> Result<Box<Connection>, UpstreamError> {
        let timeout = target.def.connect_timeout;
        match tokio::time::timeout(timeout, self.open(target)).await {
            Ok(result) => result.map(|stream| Box::new(Connection::new(stream))),
            Err(_) => Err(UpstreamError::ConnectTimeout(timeout.as_millis())),
        }
    }

    async fn open(&self, target: &Target) -> Result<Stream, UpstreamError> {
        let connect_error = |e: &dyn std::error::Error| UpstreamError::Connect(error_chain(e));
        let https = target.scheme == http::uri::Scheme::HTTPS;
        // `Authority::host` keeps the brackets of an IPv6 literal.
        let host = target.authority.host().trim_start_matches('[').trim_end_matches(']');
        let port = target.authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let stream = TcpStream::connect((host, port)).await.map_err(|e| connect_error(&e))?;
        stream.set_nodelay(true).map_err(|e| connect_error(&e))?;
        if !https {
            return Ok(Stream::Tcp(stream));
        }
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
        Ok(Stream::Tls(Box::new(tls)))
    }
}
