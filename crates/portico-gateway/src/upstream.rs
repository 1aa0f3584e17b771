//! Connections to backends: HTTP/1.1 over TCP or TLS, kept alive in a pool per I/O thread.
//!
//! The gateway's I/O threads each run their own single-threaded runtime, so each thread keeps its
//! own idle connections in a thread-local pool: taking and returning a connection touches no lock
//! and no shared map. A request is written and its response read by the task that serves the
//! consumer's request, through the codec in [`codec`]: no second task per connection and no
//! channel between the two (hyper's client connection, used before, drove each backend
//! connection in its own task and handed every request and response across a channel, which
//! under callgrind cost more than all of the gateway's own phases). A connection goes back to the
//! pool when its response body has been read to the end; one whose body is dropped half-read is
//! closed.

pub(crate) mod codec;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::Method;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use codec::{BodyFraming, ChunkedDecoder, CodecError, Decoded, RequestFraming};
pub(crate) use codec::{RequestFields, RequestTarget};

use crate::endpoint::Target;
use crate::fields::FieldSpans;
use crate::response::BackendResponse;
use crate::{BoxError, GatewayBody};

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

/// Read buffer of a backend connection: its first allocation and the least free space before a
/// read.
const READ_BUFFER_BYTES: usize = 16 * 1024;

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

/// The byte stream to one backend.
type Stream = portico_net::MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>;

/// One HTTP/1.1 connection to a backend with its buffers.
struct Connection {
    stream: Stream,
    read_buf: BytesMut,
    write_buf: Vec<u8>,
    /// Whether it has carried a request before (a reused connection the backend closed while it
    /// idled fails without an answer; the request is then resent on another).
    reused: bool,
    /// The response timeout's timer, kept for the connection's life: it is re-armed only when
    /// it fires before the current request's deadline, so a request pays no timer-wheel
    /// insertion and removal (a `tokio::time::timeout` per request did).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The field list of an earlier response head, emptied and handed back by the consumer's
    /// writer once written: the next head fills it in place of allocating its own.
    spare_fields: FieldSpans,
}

impl Connection {
    fn new(stream: Stream) -> Connection {
        Connection {
            stream,
            read_buf: BytesMut::with_capacity(READ_BUFFER_BYTES),
            write_buf: Vec::with_capacity(1024),
            reused: false,
            timer: None,
            spare_fields: FieldSpans::new(),
        }
    }

    /// Whether an idle connection is still usable: the backend has neither closed it nor sent
    /// anything unasked. Polls once without waiting (no system call unless the socket has
    /// become readable since it was last read).
    fn still_open(&mut self) -> bool {
        if !self.read_buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut probe = [0u8; 1];
        let mut buf = ReadBuf::new(&mut probe);
        matches!(Pin::new(&mut self.stream).poll_read(&mut cx, &mut buf), Poll::Pending)
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>, wanted: usize) -> Poll<io::Result<usize>> {
        if self.read_buf.is_empty() {
            // As the client side: responses land at the front of the buffer, in cached lines.
            let _ = self.read_buf.try_reclaim(READ_BUFFER_BYTES);
        }
        if self.read_buf.capacity() - self.read_buf.len() < wanted {
            self.read_buf.reserve(wanted.max(READ_BUFFER_BYTES));
        }
        self.stream.poll_read_buf(cx, &mut self.read_buf)
    }

    async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx, READ_BUFFER_BYTES / 4)).await
    }

    /// Writes the request: head and (small) body in one write, larger bodies as they come.
    async fn write_request(
        &mut self,
        method: &Method,
        target: &RequestTarget<'_>,
        fields: &dyn RequestFields,
        body: &mut Outgoing,
    ) -> Result<(), UpstreamError> {
        let framing = RequestFraming::choose(method, fields, body.known_size())?;
        self.write_buf.clear();
        codec::encode_request_head(&mut self.write_buf, method, target, fields, framing);
        let expected = match framing {
            RequestFraming::Length { bytes, .. } => Some(bytes),
            _ => None,
        };
        let chunked = framing == RequestFraming::Chunked;
        let mut sent: u64 = 0;
        loop {
            let Some(data) = body.next_data().await? else { break };
            if data.is_empty() {
                continue;
            }
            sent += data.len() as u64;
            if expected.is_some_and(|n| sent > n) {
                return Err(UpstreamError::RequestBody(
                    "the body is longer than its Content-Length".into(),
                ));
            }
            codec::put_body_data(&mut self.stream, &mut self.write_buf, &data, chunked).await?;
        }
        if expected.is_some_and(|n| sent != n) {
            return Err(UpstreamError::RequestBody(
                "the body is shorter than its Content-Length".into(),
            ));
        }
        if chunked {
            self.write_buf.extend_from_slice(b"0\r\n\r\n");
        }
        if !self.write_buf.is_empty() {
            self.stream.write_all(&self.write_buf).await?;
        }
        if self.stream.is_tls() {
            self.stream.flush().await?;
        }
        Ok(())
    }

    async fn read_head(&mut self, method: &Method) -> Result<codec::ResponseHead, UpstreamError> {
        loop {
            if !self.read_buf.is_empty()
                && let Some(head) = codec::parse_response_head(&mut self.read_buf, method, &mut self.spare_fields)?
            {
                return Ok(head);
            }
            if self.fill().await? == 0 {
                return Err(if self.read_buf.is_empty() {
                    UpstreamError::ClosedBeforeAnswer
                } else {
                    UpstreamError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the backend closed the connection in the middle of its response head",
                    ))
                });
            }
        }
    }
}

/// The request body being sent: frames of a streamed body, or the one buffer.
enum Outgoing {
    Buffered(Option<Bytes>),
    Streamed(GatewayBody),
}

impl Outgoing {
    fn known_size(&self) -> Option<u64> {
        match self {
            Outgoing::Buffered(bytes) => Some(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Outgoing::Streamed(body) => body.size_hint().exact(),
        }
    }

    async fn next_data(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        match self {
            Outgoing::Buffered(bytes) => Ok(bytes.take()),
            Outgoing::Streamed(body) => loop {
                match body.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(UpstreamError::RequestBody(e)),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                        // Trailers of the consumer's request are not forwarded.
                    }
                }
            },
        }
    }
}

struct IdleConnection {
    connection: Box<Connection>,
    /// When it is closed if still unused.
    expires: Instant,
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
                    idle.retain(|c| now < c.expires);
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

    /// Sends `request` to `target` on an idle connection of this thread, or a new one, and
    /// answers with the response head; the body streams from the connection as it is read.
    /// A reused connection that the backend closed before answering (it timed the connection
    /// out as the request went out) costs no failure: the request is sent again on a new
    /// connection when its body is in memory.
    pub(crate) async fn send(
        &self,
        target: &Target,
        request: UpstreamRequest<'_>,
    ) -> Result<BackendResponse, UpstreamError> {
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
        let mut connection = match self.checkout(&key) {
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
        let state = match head.framing {
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => BodyState::Chunked(ChunkedDecoder::new()),
            BodyFraming::UntilClose => BodyState::UntilClose,
        };
        let mut body = UpstreamBody {
            connection: Some(connection),
            state,
            reuse,
        };
        if body.is_end_stream() {
            body.finish();
        }
        Ok(BackendResponse {
            status: head.status,
            headers: head.headers,
            extra: http::HeaderMap::new(),
            body,
        })
    }

    /// The most recently used idle connection of this thread for `key` that is still open;
    /// closed and expired ones are dropped on the way.
    fn checkout(&self, key: &PoolKey) -> Option<Box<Connection>> {
        IDLE.with_borrow_mut(|pools| {
            let idle = pools.get_mut(key)?;
            let now = Instant::now();
            while let Some(mut idle_connection) = idle.pop_back() {
                if now < idle_connection.expires && idle_connection.connection.still_open() {
                    return Some(idle_connection.connection);
                }
            }
            None
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
        let connect_error = |e: &dyn std::error::Error| UpstreamError::Connect(crate::phases::error_chain(e));
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

impl Connection {
    /// One request and its response head on this connection, by `deadline`.
    async fn exchange(
        &mut self,
        method: &Method,
        target: &RequestTarget<'_>,
        fields: &dyn RequestFields,
        body: &mut Outgoing,
        deadline: tokio::time::Instant,
    ) -> Result<codec::ResponseHead, UpstreamError> {
        let mut timer = self
            .timer
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        let result = {
            let work = async {
                self.write_request(method, target, fields, body).await?;
                self.read_head(method).await
            };
            tokio::pin!(work);
            std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = work.as_mut().poll(cx) {
                    return Poll::Ready(result);
                }
                // The timer may have fired for an earlier request's deadline: re-arm it.
                while timer.as_mut().poll(cx).is_ready() {
                    if tokio::time::Instant::now() >= deadline {
                        return Poll::Ready(Err(UpstreamError::Timeout));
                    }
                    timer.as_mut().reset(deadline);
                }
                Poll::Pending
            })
            .await
        };
        self.timer = Some(timer);
        result
    }
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

enum BodyState {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    Done,
}

/// A backend response body read from its connection; the connection returns to this thread's
/// pool once the body has been read to the end (and is closed when the body is dropped before).
/// It reaches the consumer's HTTP/1.1 writer as it is (boxing it as a `GatewayBody` cost an
/// allocation per request); only HTTP/2 boxes it.
pub(crate) struct UpstreamBody {
    connection: Option<Box<Connection>>,
    state: BodyState,
    /// The pool to return to, when the response allows reuse.
    reuse: Option<(PoolKey, PoolLimits)>,
}

impl UpstreamBody {
    /// Gives the connection back the (emptied) field list of its response head, once the head
    /// has been written, for its next response to reuse. A body that has already ended has
    /// returned its connection to the pool; the list is then dropped.
    pub(crate) fn recycle_fields(&mut self, fields: FieldSpans) {
        if let Some(connection) = &mut self.connection {
            connection.spare_fields = fields;
        }
    }

    /// The body has ended: the connection goes back to the pool when reusable and nothing
    /// follows the body in its buffer.
    fn finish(&mut self) {
        self.state = BodyState::Done;
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        let Some((key, limits)) = self.reuse.take() else {
            return;
        };
        if limits.max_idle == 0 || !connection.read_buf.is_empty() {
            return;
        }
        connection.reused = true;
        let now = Instant::now();
        IDLE.with_borrow_mut(|pools| {
            let idle = pools.entry(key).or_default();
            // Oldest first out: the front has idled longest.
            while idle.len() >= limits.max_idle || idle.front().is_some_and(|c| now >= c.expires) {
                idle.pop_front();
            }
            idle.push_back(IdleConnection {
                connection,
                expires: now + limits.idle_timeout,
            });
        });
        start_sweeping();
    }

    fn fail(&mut self, error: impl Into<BoxError>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state = BodyState::Done;
        self.connection = None;
        Poll::Ready(Some(Err(error.into())))
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let Some(connection) = this.connection.as_mut() else {
                return Poll::Ready(None);
            };
            let buf = &mut connection.read_buf;
            let wanted = match &mut this.state {
                BodyState::Done => return Poll::Ready(None),
                BodyState::Length(0) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                BodyState::Length(remaining) => {
                    if !buf.is_empty() {
                        let take = usize::try_from(*remaining).unwrap_or(usize::MAX).min(buf.len());
                        let data = buf.split_to(take).freeze();
                        *remaining -= take as u64;
                        if *remaining == 0 {
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(4 * READ_BUFFER_BYTES)
                }
                BodyState::Chunked(decoder) => match decoder.decode(buf) {
                    Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Decoded::Done) => {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::NeedMore) => READ_BUFFER_BYTES / 4,
                    Err(e) => return this.fail(e),
                },
                BodyState::UntilClose => {
                    if !buf.is_empty() {
                        let data = buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    READ_BUFFER_BYTES / 4
                }
            };
            match ready!(connection.poll_fill(cx, wanted)) {
                Ok(0) if matches!(this.state, BodyState::UntilClose) => {
                    this.state = BodyState::Done;
                    this.connection = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    return this.fail(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the backend closed the connection before the end of the body",
                    ));
                }
                Ok(_) => {}
                Err(e) => return this.fail(e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, BodyState::Done | BodyState::Length(0))
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            BodyState::Length(n) => SizeHint::with_exact(n),
            BodyState::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
