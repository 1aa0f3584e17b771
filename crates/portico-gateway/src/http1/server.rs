//! The gateway's own HTTP/1.1 server for consumer connections (HTTP/2 connections, chosen by ALPN,
//! go to hyper: see `crate::consumer`). It reads a request head with `httparse` into header values
//! that share the read buffer, runs the gateway's phases in the connection's task, and writes the
//! response head and (usually) the whole body in one write. hyper's server did the same work
//! through a generic dispatcher, a timer allocated per request and several buffer copies; under
//! callgrind that machinery cost more than all of the gateway's own phases.
//!
//! What it enforces, as the listener's limits say: the request head must fit in
//! `max_header_bytes` (431 otherwise) and arrive within `header_read_timeout` of the previous
//! response (an idle keep-alive connection is closed then too); heads that break the rules of
//! [`super::request_head`] (framing, transfer codings, `Host`) are refused with 400 (501 for an
//! unknown transfer coding), a body saying why, and their connection closed. `Expect: 100-continue` is answered when
//! the body is first read. Pipelined requests are served in order. A drain closes idle
//! connections at once and busy ones after their response. A response whose length is unknown
//! goes out chunked (to HTTP/1.0 clients, until the connection closes); a HEAD response is framed
//! as the GET would be, without the body.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use portico_net::{Drain, Io, ListenerLimits};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::body::Decoded;
use super::common::{Decimal, parse_length, put_body_data};
use super::fields::FieldSpans;
use super::request_head::{BodyProgress, HeadError, ParsedHead, parse_head};
use crate::pipeline::ConnectionState;
use crate::response::GatewayResponse;
use crate::upstream::UpstreamBody;
use crate::{BoxError, GatewayBody};

/// A client connection's read buffer: request heads, and bodies on their way through.
const CLIENT_READ_BUFFER_BYTES: usize = 8 * 1024;

/// Input read and thrown away, at most, before closing a connection whose request was not read
/// to the end (so the client sees the answer rather than a reset).
const LINGER_BYTES: usize = 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Serves one HTTP/1.1 consumer connection to its end.
pub(crate) async fn serve(limits: &ListenerLimits, state: &Arc<ConnectionState>, io: Io, drain: Drain) {
    let connection = Box::new(ClientConnection {
        io,
        read_buf: BytesMut::with_capacity(CLIENT_READ_BUFFER_BYTES),
        write_buf: Vec::with_capacity(8 * 1024),
        body: BodyProgress::None,
        continue_pending: 0,
    });
    if let Err(e) = serve_http1(limits, state, connection, drain).await {
        tracing::debug!(peer = %state.peer(), error = %e, "consumer connection ended with an error");
    }
}

/// One consumer connection's stream, buffers and request-body progress.
struct ClientConnection {
    io: Io,
    read_buf: BytesMut,
    write_buf: Vec<u8>,
    body: BodyProgress,
    /// Bytes of the `100 Continue` answer still to write before the body is read.
    continue_pending: usize,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl ClientConnection {
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read_buf.is_empty() {
            // Back to the front of the buffer when nothing is pending (free once the last
            // head is dropped): each request then lands in the same few, cached lines instead
            // of walking through 8 KiB per connection, which cost the kernel's copy cache misses.
            // When the last head is still held, this fails and the read goes after it.
            let _ = self.read_buf.try_reclaim(CLIENT_READ_BUFFER_BYTES);
        }
        if self.read_buf.capacity() - self.read_buf.len() < 2048 {
            self.read_buf.reserve(CLIENT_READ_BUFFER_BYTES);
        }
        self.io.poll_read_buf(cx, &mut self.read_buf)
    }

    fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.continue_pending > 0 {
            let sent = CONTINUE.len() - self.continue_pending;
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &CONTINUE[sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.continue_pending -= n;
        }
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    /// Whether the request body has been read to its end.
    fn body_done(&self) -> bool {
        matches!(self.body, BodyProgress::None)
    }
}

async fn serve_http1(
    limits: &ListenerLimits,
    state: &Arc<ConnectionState>,
    mut connection: Box<ClientConnection>,
    drain: Drain,
) -> io::Result<()> {
    // Where a request body hands the connection back when it is dropped.
    let slot: Arc<Mutex<Option<Box<ClientConnection>>>> = Arc::new(Mutex::new(None));
    // One timer per connection: it is re-armed only when it fires early, not per request.
    let head_timer = tokio::time::sleep(limits.header_read_timeout);
    tokio::pin!(head_timer);
    // One wait for the drain per connection too (registered once, not per request).
    let mut drain_signal = drain.clone();
    let drained = drain_signal.draining();
    tokio::pin!(drained);
    let mut waits = IdleWaits {
        timer: head_timer.as_mut(),
        timer_armed: false,
        drained: drained.as_mut(),
        drain: &drain,
        drain_armed: false,
    };
    // The field list of the previous request head, emptied: the next one fills it in place of
    // allocating its own.
    let mut spare_fields = FieldSpans::new();
    loop {
        let head = read_head(&mut connection, limits, &mut waits, &mut spare_fields).await;
        let head = match head {
            Ok(Some(head)) => head,
            Ok(None) => return close(&mut connection, false).await,
            Err(HeadError::Io(e)) => return Err(e),
            Err(HeadError::Timeout) => {
                tracing::debug!(peer = %state.peer(), "request head not received in time; closing");
                return close(&mut connection, false).await;
            }
            Err(HeadError::TooLarge) => {
                let why = "the request head is too large or has too many fields";
                return refuse(&mut connection, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, why).await;
            }
            Err(HeadError::Bad(why)) => {
                tracing::debug!(peer = %state.peer(), why, "malformed request head");
                return refuse(&mut connection, StatusCode::BAD_REQUEST, why).await;
            }
            Err(HeadError::NotImplemented(why)) => {
                tracing::debug!(peer = %state.peer(), why, "request head refused");
                return refuse(&mut connection, StatusCode::NOT_IMPLEMENTED, why).await;
            }
        };
        let ParsedHead {
            request,
            body,
            mut keep_alive,
            expect_continue,
            http10,
        } = head;
        let head_request = request.method == Method::HEAD;
        let response = if matches!(body, BodyProgress::None) {
            state.gateway().handle(&request, ConsumerBody::empty(), state).await
        } else {
            connection.body = body;
            connection.continue_pending = if expect_continue { CONTINUE.len() } else { 0 };
            let request_body = ConsumerBody {
                connection: Some(connection),
                slot: Some(slot.clone()),
            };
            let response = state.gateway().handle(&request, request_body, state).await;
            // The body has been dropped with the request by now and handed the connection back.
            match lock(&slot).take() {
                Some(back) => connection = back,
                None => return Ok(()),
            }
            response
        };
        spare_fields = request.headers.into_spare();
        if !connection.body_done() && !discard_buffered_body(&mut connection) {
            keep_alive = false;
        }
        connection.continue_pending = 0;
        keep_alive &= !drain.is_draining();
        write_response(&mut connection, response, head_request, keep_alive, http10).await?;
        if !keep_alive {
            let unread_input = !connection.body_done() || !connection.read_buf.is_empty();
            return close(&mut connection, unread_input).await;
        }
    }
}

fn lock(slot: &Mutex<Option<Box<ClientConnection>>>) -> std::sync::MutexGuard<'_, Option<Box<ClientConnection>>> {
    slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An unread request body that has fully arrived already is skipped, keeping the connection
/// usable; otherwise the connection will close after the response.
fn discard_buffered_body(connection: &mut ClientConnection) -> bool {
    match &connection.body {
        BodyProgress::Length(n) if *n <= connection.read_buf.len() as u64 => {
            connection.read_buf.advance(*n as usize);
            connection.body = BodyProgress::None;
            true
        }
        _ => false,
    }
}

/// What a connection waits for besides its next bytes: the head timer and the listener's drain.
/// Each is polled once to register the connection's task with it; the registration then stands
/// (the task's waker does not change), so later waits read a flag instead of polling again,
/// which cost 300 instructions per request.
struct IdleWaits<'a, D> {
    timer: Pin<&'a mut tokio::time::Sleep>,
    timer_armed: bool,
    drained: Pin<&'a mut D>,
    drain: &'a Drain,
    drain_armed: bool,
}

impl<D: Future<Output = ()>> IdleWaits<'_, D> {
    /// Whether the listener drains (registering for the news on the first call).
    fn poll_drained(&mut self, cx: &mut Context<'_>) -> bool {
        if self.drain_armed && !self.drain.is_draining() {
            return false;
        }
        self.drain_armed = true;
        self.drained.as_mut().poll(cx).is_ready()
    }

    /// Whether the head timer has run out for a wait that began at `started`; a timer that fires
    /// early (it was set for an earlier request) is re-armed for this one.
    fn poll_timed_out(&mut self, cx: &mut Context<'_>, started: Instant, timeout: Duration) -> bool {
        if self.timer_armed && !self.timer.is_elapsed() {
            return false;
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            let deadline = started + timeout;
            if Instant::now() >= deadline {
                return true;
            }
            self.timer.as_mut().reset(deadline.into());
        }
        self.timer_armed = true;
        false
    }
}

/// Reads and parses the next request head. `Ok(None)`: the client closed the connection (or the
/// listener drains) between requests.
async fn read_head<D: Future<Output = ()>>(
    connection: &mut ClientConnection,
    limits: &ListenerLimits,
    waits: &mut IdleWaits<'_, D>,
    spare_fields: &mut FieldSpans,
) -> Result<Option<ParsedHead>, HeadError> {
    let started = Instant::now();
    loop {
        if !connection.read_buf.is_empty()
            && let Some(head) = parse_head(&mut connection.read_buf, limits.max_header_bytes, spare_fields)?
        {
            head.check_host()?;
            return Ok(Some(head));
        }
        enum Event {
            Read(io::Result<usize>),
            Drain,
            Timeout,
        }
        let idle = connection.read_buf.is_empty();
        let event = std::future::poll_fn(|cx| {
            if let Poll::Ready(read) = connection.poll_fill(cx) {
                return Poll::Ready(Event::Read(read));
            }
            if idle && waits.poll_drained(cx) {
                return Poll::Ready(Event::Drain);
            }
            if waits.poll_timed_out(cx, started, limits.header_read_timeout) {
                return Poll::Ready(Event::Timeout);
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Read(Ok(0)) if idle => return Ok(None),
            Event::Read(Ok(0)) => return Err(HeadError::Bad("the connection closed in the middle of a request head")),
            Event::Read(Ok(_)) => {}
            Event::Read(Err(e)) => return Err(HeadError::Io(e)),
            Event::Drain => return Ok(None),
            Event::Timeout => return Err(HeadError::Timeout),
        }
    }
}

/// A request body read from the consumer's connection as the phases pull it. It owns the
/// connection meanwhile and hands it back when dropped.
pub(crate) struct ConsumerBody {
    connection: Option<Box<ClientConnection>>,
    slot: Option<Arc<Mutex<Option<Box<ClientConnection>>>>>,
}

impl ConsumerBody {
    fn empty() -> ConsumerBody {
        ConsumerBody {
            connection: None,
            slot: None,
        }
    }
}

impl Drop for ConsumerBody {
    fn drop(&mut self) {
        if let (Some(connection), Some(slot)) = (self.connection.take(), &self.slot) {
            *lock(slot) = Some(connection);
        }
    }
}

fn body_error(message: &'static str) -> BoxError {
    Box::new(io::Error::new(io::ErrorKind::InvalidData, message))
}

impl Body for ConsumerBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(connection) = self.connection.as_mut() else {
            return Poll::Ready(None);
        };
        if connection.continue_pending > 0
            && let Err(e) = ready!(connection.poll_continue(cx))
        {
            connection.body = BodyProgress::Broken;
            return Poll::Ready(Some(Err(Box::new(e))));
        }
        loop {
            match &mut connection.body {
                BodyProgress::None => return Poll::Ready(None),
                BodyProgress::Broken => return Poll::Ready(Some(Err(body_error("the request body failed earlier")))),
                BodyProgress::Length(remaining) => {
                    if !connection.read_buf.is_empty() {
                        let take = usize::try_from(*remaining)
                            .unwrap_or(usize::MAX)
                            .min(connection.read_buf.len());
                        let data = connection.read_buf.split_to(take).freeze();
                        *remaining -= take as u64;
                        if *remaining == 0 {
                            connection.body = BodyProgress::None;
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                BodyProgress::Chunked(decoder) => match decoder.decode(&mut connection.read_buf) {
                    Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Decoded::Done) => {
                        connection.body = BodyProgress::None;
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(e) => {
                        connection.body = BodyProgress::Broken;
                        return Poll::Ready(Some(Err(Box::new(e))));
                    }
                },
            }
            match ready!(connection.poll_fill(cx)) {
                Ok(0) => {
                    connection.body = BodyProgress::Broken;
                    return Poll::Ready(Some(Err(body_error(
                        "the client closed the connection before the end of the request body",
                    ))));
                }
                Ok(_) => {}
                Err(e) => {
                    connection.body = BodyProgress::Broken;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.connection
            .as_ref()
            .is_none_or(|c| matches!(c.body, BodyProgress::None))
    }

    fn size_hint(&self) -> SizeHint {
        match self.connection.as_ref().map(|c| &c.body) {
            None | Some(BodyProgress::None) => SizeHint::with_exact(0),
            Some(BodyProgress::Length(n)) => SizeHint::with_exact(*n),
            Some(_) => SizeHint::default(),
        }
    }
}

/// A response body as the writer takes it: the gateway's own, or a backend's straight from its
/// connection (not boxed: that would cost an allocation per proxied request).
enum OutgoingBody {
    Local(GatewayBody),
    Backend(UpstreamBody),
}

impl Body for OutgoingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            OutgoingBody::Local(body) => Pin::new(body).poll_frame(cx),
            OutgoingBody::Backend(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutgoingBody::Local(body) => body.is_end_stream(),
            OutgoingBody::Backend(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutgoingBody::Local(body) => body.size_hint(),
            OutgoingBody::Backend(body) => body.size_hint(),
        }
    }
}

/// How the response body goes on the wire.
enum ResponseFraming {
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes (an HTTP/1.0 client and a body of unknown length).
    Close,
}

/// Writes `response`: head and body, the body streamed frame by frame (a frame that is not the
/// last goes out at once, so slow bodies reach the client as they come).
async fn write_response(
    connection: &mut ClientConnection,
    response: GatewayResponse,
    head_request: bool,
    keep_alive: bool,
    http10: bool,
) -> io::Result<()> {
    let status = response.status();
    let bodiless_status =
        status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED || status.is_informational();
    let out = &mut connection.write_buf;
    out.clear();
    write_status_line(out, status);
    // One pass over the headers writes them and notes what the framing needs; the framing
    // headers follow.
    let mut fields = FieldWriter {
        out,
        bodiless_status,
        has_date: false,
        declared: None,
    };
    let mut body = match response {
        GatewayResponse::Local(response) => {
            let (parts, body) = response.into_parts();
            for (name, value) in &parts.headers {
                fields.field(name.as_str().as_bytes(), value.as_bytes());
            }
            OutgoingBody::Local(body)
        }
        GatewayResponse::Backend(response) => {
            // The backend's fields as they came, but for those the gateway replaces.
            let replaced = |name: &[u8]| {
                !response.extra.is_empty()
                    && !name.eq_ignore_ascii_case(b"vary")
                    && response
                        .extra
                        .keys()
                        .any(|n| name.eq_ignore_ascii_case(n.as_str().as_bytes()))
            };
            for (name, value) in response.headers.iter() {
                if !replaced(name) {
                    fields.field(name, value);
                }
            }
            for (name, value) in &response.extra {
                fields.field(name.as_str().as_bytes(), value.as_bytes());
            }
            let mut body = response.body;
            body.recycle_fields(response.headers.into_spare());
            OutgoingBody::Backend(body)
        }
    };
    let FieldWriter {
        out,
        has_date,
        declared,
        ..
    } = fields;
    let mut keep_alive = keep_alive;
    let framing = if bodiless_status {
        ResponseFraming::None
    } else if let Some(n) = declared {
        ResponseFraming::Length(n)
    } else if let Some(n) = body.size_hint().exact() {
        // Writing to a Vec cannot fail.
        let _ = std::io::Write::write_fmt(out, format_args!("content-length: {n}\r\n"));
        ResponseFraming::Length(n)
    } else if http10 {
        keep_alive = false;
        ResponseFraming::Close
    } else {
        // A HEAD response too: it says what the GET's would (RFC 9110 §9.3.2).
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        ResponseFraming::Chunked
    };
    if !has_date {
        DATE.with_borrow_mut(|date| write_header(out, b"date", date.now().as_bytes()));
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if head_request || matches!(framing, ResponseFraming::None) {
        return flush_all(connection).await;
    }
    let chunked = matches!(framing, ResponseFraming::Chunked);
    let mut sent: u64 = 0;
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                // The head may be out already: the only way to tell the client is to close.
                flush_all(connection).await?;
                return Err(io::Error::other(format!("response body failed: {e}")));
            }
        };
        let Ok(data) = frame.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        sent += data.len() as u64;
        if let ResponseFraming::Length(n) = framing
            && sent > n
        {
            flush_all(connection).await?;
            return Err(io::Error::other("response body longer than its Content-Length"));
        }
        put_body_data(&mut connection.io, &mut connection.write_buf, &data, chunked).await?;
        if !body.is_end_stream() {
            flush_all(connection).await?;
        }
    }
    if let ResponseFraming::Length(n) = framing
        && sent != n
    {
        flush_all(connection).await?;
        return Err(io::Error::other("response body shorter than its Content-Length"));
    }
    if chunked {
        connection.write_buf.extend_from_slice(b"0\r\n\r\n");
    }
    flush_all(connection).await
}

/// Writes response header fields, leaving out the framing ones (the server sets those) and
/// noting what the framing decision needs.
struct FieldWriter<'a> {
    out: &'a mut Vec<u8>,
    bodiless_status: bool,
    has_date: bool,
    declared: Option<u64>,
}

impl FieldWriter<'_> {
    fn field(&mut self, name: &[u8], value: &[u8]) {
        // By length first: most names have a length none of these has.
        match name.len() {
            10 | 17 if name.eq_ignore_ascii_case(b"connection") || name.eq_ignore_ascii_case(b"transfer-encoding") => {
                return;
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                if self.bodiless_status {
                    return;
                }
                self.declared = parse_length(value.trim_ascii());
            }
            4 => self.has_date |= name.eq_ignore_ascii_case(b"date"),
            _ => {}
        }
        write_header(self.out, name, value);
    }
}

fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes out what is buffered.
async fn flush_all(connection: &mut ClientConnection) -> io::Result<()> {
    if !connection.write_buf.is_empty() {
        connection.io.write_all(&connection.write_buf).await?;
        connection.write_buf.clear();
    }
    if connection.io.is_tls() {
        connection.io.flush().await?;
    }
    Ok(())
}

/// Answers a request the server refuses before the phases see it, saying why in the gateway's
/// error format, and closes.
async fn refuse(connection: &mut ClientConnection, status: StatusCode, why: &str) -> io::Result<()> {
    let body = serde_json::json!({
        "code": status.as_str(),
        "message": status.canonical_reason().unwrap_or("Bad Request"),
        "description": format!("The request head was refused: {why}"),
    })
    .to_string();
    let out = &mut connection.write_buf;
    out.clear();
    write_status_line(out, status);
    out.extend_from_slice(b"content-type: application/json; charset=UTF-8\r\nconnection: close\r\n");
    write_header(out, b"content-length", Decimal::new(body.len() as u64).as_bytes());
    DATE.with_borrow_mut(|date| write_header(out, b"date", date.now().as_bytes()));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    flush_all(connection).await?;
    close(connection, true).await
}

/// Closes the connection. With input left unread, the write side closes first and input is
/// read and dropped for a moment: closing a socket with unread input makes the kernel reset
/// it, which can destroy the response before the client reads it.
async fn close(connection: &mut ClientConnection, unread_input: bool) -> io::Result<()> {
    let _ = connection.io.shutdown().await;
    if !unread_input {
        return Ok(());
    }
    let linger = async {
        let mut discarded = 0;
        let mut scratch = [0u8; 8192];
        while discarded < LINGER_BYTES {
            let mut buf = ReadBuf::new(&mut scratch);
            match std::future::poll_fn(|cx| Pin::new(&mut connection.io).poll_read(cx, &mut buf)).await {
                Ok(()) if buf.filled().is_empty() => break,
                Ok(()) => discarded += buf.filled().len(),
                Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, linger).await;
    Ok(())
}

thread_local! {
    static DATE: std::cell::RefCell<CachedDate> = const { std::cell::RefCell::new(CachedDate { second: 0, text: String::new() }) };
}

/// The `Date` header's text, formatted once per second per thread.
struct CachedDate {
    second: u64,
    text: String,
}

impl CachedDate {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        &self.text
    }
}
