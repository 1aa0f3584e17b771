//! One HTTP/1.1 connection to a backend with its buffers: a request written and its response
//! head read on it (through [`crate::http1::client`]), under the endpoint's response timeout.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::Method;
use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::UpstreamError;
use crate::GatewayBody;
use crate::http1::client::{self, RequestFields, RequestFraming, RequestTarget, ResponseHead};
use crate::http1::common::put_body_data;
use crate::http1::fields::FieldSpans;

/// Read buffer of a backend connection: its first allocation and the least free space before a
/// read.
pub(super) const READ_BUFFER_BYTES: usize = 16 * 1024;

/// The byte stream to one backend.
pub(super) type Stream = portico_net::MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>;

/// One HTTP/1.1 connection to a backend with its buffers.
pub(super) struct Connection {
    stream: Stream,
    pub read_buf: BytesMut,
    write_buf: Vec<u8>,
    /// Whether it has carried a request before (a reused connection the backend closed while it
    /// idled fails without an answer; the request is then resent on another).
    pub reused: bool,
    /// The response timeout's timer, kept for the connection's life: it is re-armed only when
    /// it fires before the current request's deadline, so a request pays no timer-wheel
    /// insertion and removal (a `tokio::time::timeout` per request did).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The field list of an earlier response head, emptied and handed back by the consumer's
    /// writer once written: the next head fills it in place of allocating its own.
    pub spare_fields: FieldSpans,
}

impl Connection {
    pub(super) fn new(stream: Stream) -> Connection {
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
    pub(super) fn still_open(&mut self) -> bool {
        if !self.read_buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut probe = [0u8; 1];
        let mut buf = ReadBuf::new(&mut probe);
        matches!(Pin::new(&mut self.stream).poll_read(&mut cx, &mut buf), Poll::Pending)
    }

    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>, wanted: usize) -> Poll<io::Result<usize>> {
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
        client::encode_request_head(&mut self.write_buf, method, target, fields, framing);
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
            put_body_data(&mut self.stream, &mut self.write_buf, &data, chunked).await?;
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

    async fn read_head(&mut self, method: &Method) -> Result<ResponseHead, UpstreamError> {
        loop {
            if !self.read_buf.is_empty()
                && let Some(head) = client::parse_response_head(&mut self.read_buf, method, &mut self.spare_fields)?
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

    /// One request and its response head on this connection, by `deadline`.
    pub(super) async fn exchange(
        &mut self,
        method: &Method,
        target: &RequestTarget<'_>,
        fields: &dyn RequestFields,
        body: &mut Outgoing,
        deadline: tokio::time::Instant,
    ) -> Result<ResponseHead, UpstreamError> {
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

/// The request body being sent: frames of a streamed body, or the one buffer.
pub(super) enum Outgoing {
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
