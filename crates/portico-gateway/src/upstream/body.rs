//! A backend's response body, read from its connection as the consumer's side pulls it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::connection::{Connection, READ_BUFFER_BYTES};
use super::pool::{self, PoolKey, PoolLimits};
use crate::BoxError;
use crate::http1::body::{ChunkedDecoder, Decoded, Sender};
use crate::http1::common::BodyFraming;
use crate::http1::fields::FieldSpans;

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
    /// The answer to a HEAD request: no body follows, but the size the response stands for is
    /// not zero (its fields say what it is, if anything).
    answers_head: bool,
}

impl UpstreamBody {
    /// The body of a response framed as `framing` on `connection`, which goes back to the pool
    /// named by `reuse` (if any) once the body has been read; a body that is empty already
    /// returns it at once.
    pub(super) fn new(
        connection: Box<Connection>,
        framing: BodyFraming,
        reuse: Option<(PoolKey, PoolLimits)>,
    ) -> UpstreamBody {
        let state = match framing {
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => BodyState::Chunked(ChunkedDecoder::new(Sender::Backend)),
            BodyFraming::UntilClose => BodyState::UntilClose,
        };
        let mut body = UpstreamBody {
            connection: Some(connection),
            state,
            reuse,
            answers_head: false,
        };
        if body.is_end_stream() {
            body.finish();
        }
        body
    }

    /// Marks the body as a HEAD response's: its size hint is then unknown rather than zero, so
    /// that the consumer's side frames the head as the fields (or the GET) would, never with a
    /// `content-length: 0` of its own.
    pub(super) fn answer_head(&mut self) {
        self.answers_head = true;
    }

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
        pool::put_back(connection, key, limits);
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
        if self.answers_head {
            return SizeHint::default();
        }
        match self.state {
            BodyState::Length(n) => SizeHint::with_exact(n),
            BodyState::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
