//! HTTP/1.1 framing towards backends (RFC 9112): the request head written straight from the
//! gateway's method, path and headers, the response head parsed with `httparse` into header
//! values that share the read buffer, and the decoders for the three ways a response body ends
//! (a length, chunked coding, the connection closing).

use std::io::Write as _;
use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, StatusCode, Version};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::fields::{FieldSpan, FieldSpans, RawHeaders};

/// The largest response head accepted from a backend (the same bound as client request heads).
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most response header fields accepted from a backend.
const MAX_HEADERS: usize = 128;
/// The longest chunk-size line or trailer field accepted.
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// The most trailer bytes accepted (trailers are read and dropped).
const MAX_TRAILERS: usize = 16 * 1024;

/// What went wrong in a backend message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("the backend's response head is over {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("the backend's response head is malformed: {0}")]
    BadHead(httparse::Error),
    #[error("the backend's response has an invalid header {0}")]
    BadHeader(String),
    #[error("the backend answered 101 Switching Protocols, which the gateway does not proxy")]
    Upgrade,
    #[error("the backend's chunked body is malformed: {0}")]
    BadChunk(&'static str),
    #[error("the backend request target has a space or control character")]
    BadRequestTarget,
    #[error("the request has an invalid Content-Length")]
    BadRequestLength,
}

/// How the request body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestFraming {
    /// No body and no length header needed.
    None,
    /// `Content-Length: n` (from the consumer's header or the known body size).
    Length {
        bytes: u64,
        add_header: bool,
    },
    Chunked,
}

/// The header fields of a backend request, handed out in the order they are written: the
/// caller works them out as they are written instead of collecting them first.
pub(crate) trait RequestFields: Sync {
    fn for_each(&self, each: &mut dyn FnMut(&[u8], &[u8]));
    /// The value of the `Content-Length` field among them, if there is one (found without a
    /// pass over all of them).
    fn content_length(&self) -> Option<&[u8]>;
}

#[cfg(test)]
impl<const N: usize> RequestFields for [(&[u8], &[u8]); N] {
    fn for_each(&self, each: &mut dyn FnMut(&[u8], &[u8])) {
        for (name, value) in self {
            each(name, value);
        }
    }

    fn content_length(&self) -> Option<&[u8]> {
        self.iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(b"content-length"))
            .map(|(_, value)| *value)
    }
}

impl RequestFraming {
    /// Picks the framing: the consumer's `Content-Length` when present (its body is checked
    /// against it as it is sent), else the body's known size, else chunked coding.
    pub(crate) fn choose(
        method: &Method,
        fields: &dyn RequestFields,
        known_size: Option<u64>,
    ) -> Result<RequestFraming, CodecError> {
        if let Some(value) = fields.content_length() {
            let bytes = parse_length(value.trim_ascii()).ok_or(CodecError::BadRequestLength)?;
            return Ok(RequestFraming::Length {
                bytes,
                add_header: false,
            });
        }
        match known_size {
            // GET, HEAD, DELETE, OPTIONS and TRACE without a body carry no length (as clients
            // send them); methods that define a body say it is empty.
            Some(0) if !expects_body(method) => Ok(RequestFraming::None),
            Some(bytes) => Ok(RequestFraming::Length {
                bytes,
                add_header: true,
            }),
            None => Ok(RequestFraming::Chunked),
        }
    }
}

fn expects_body(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE | Method::CONNECT
    )
}

/// The request target sent to a backend (origin form), as the pieces it is made of: the
/// endpoint's base path, the path after the API's context and the query. They are written into
/// the request line one after the other, never joined into a string first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestTarget<'a> {
    pub base_path: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

impl RequestTarget<'_> {
    fn pieces(&self) -> [&str; 4] {
        let (mark, query) = self.query.map_or(("", ""), |q| ("?", q));
        [self.base_path, self.path, mark, query]
    }

    /// Whether every byte can go into a request line (no whitespace, no control characters).
    pub(crate) fn is_writable(&self) -> bool {
        self.pieces()
            .iter()
            .all(|piece| piece.bytes().all(|b| b > b' ' && b != 0x7f))
    }
}

/// Writes the request line and headers into `out`.
pub(crate) fn encode_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &RequestTarget<'_>,
    fields: &dyn RequestFields,
    framing: RequestFraming,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let pieces = target.pieces();
    // Origin form always starts with `/` (an API whose backend URL has no path, called at its
    // root, yields an empty path).
    if !pieces
        .iter()
        .find(|p| !p.is_empty())
        .is_some_and(|p| p.starts_with('/'))
    {
        out.push(b'/');
    }
    for piece in pieces {
        out.extend_from_slice(piece.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    fields.for_each(&mut |name, value| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    });
    match framing {
        RequestFraming::None | RequestFraming::Length { add_header: false, .. } => {}
        RequestFraming::Length {
            bytes,
            add_header: true,
        } => {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "content-length: {bytes}\r\n");
        }
        RequestFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the framing of one chunk (`size CRLF`) before its data.
pub(crate) fn encode_chunk_size(out: &mut Vec<u8>, size: usize) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{size:x}\r\n");
}

/// Body bytes up to this much are gathered with the head (or earlier data) into one write.
pub(crate) const COALESCE_BYTES: usize = 16 * 1024;

/// Adds one piece of a message body to `buf` (as one chunk when `chunked`); when it would grow
/// `buf` past [`COALESCE_BYTES`], `buf` and the piece are written to `io` instead of copied.
/// Shared by the backend client (request bodies) and the consumer server (response bodies).
pub(crate) async fn put_body_data<W: AsyncWrite + Unpin>(
    io: &mut W,
    buf: &mut Vec<u8>,
    data: &[u8],
    chunked: bool,
) -> std::io::Result<()> {
    if chunked {
        encode_chunk_size(buf, data.len());
    }
    if buf.len() + data.len() <= COALESCE_BYTES {
        buf.extend_from_slice(data);
    } else {
        io.write_all(buf).await?;
        buf.clear();
        io.write_all(data).await?;
    }
    if chunked {
        buf.extend_from_slice(b"\r\n");
    }
    Ok(())
}

/// Where `part`, a slice of `base`, lies in it (for header fields parsed out of a buffer that
/// is then frozen and sliced).
pub(crate) fn span(base: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    start..start + part.len()
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    Length(u64),
    Chunked,
    /// Read until the backend closes the connection (which then cannot be reused).
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub status: StatusCode,
    pub headers: RawHeaders,
    pub framing: BodyFraming,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
}

/// Parses a response head from the front of `buf`, consuming it (and any 1xx interim responses
/// before it). `Ok(None)`: more bytes are needed. A complete head takes `spare_fields` (empty)
/// for its field list.
pub(crate) fn parse_response_head(
    buf: &mut BytesMut,
    method: &Method,
    spare_fields: &mut FieldSpans,
) -> Result<Option<ResponseHead>, CodecError> {
    loop {
        // Uninitialised slots: initialising 128 of them cost more than parsing a typical head.
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed =
            httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, &mut fields);
        let head_len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => return Err(CodecError::HeadTooLarge),
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(CodecError::HeadTooLarge),
            Err(e) => return Err(CodecError::BadHead(e)),
        };
        if head_len > MAX_HEAD_BYTES {
            return Err(CodecError::HeadTooLarge);
        }
        let code = response.code.unwrap_or_default();
        let status = StatusCode::from_u16(code).map_err(|_| CodecError::BadHead(httparse::Error::Status))?;
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(CodecError::Upgrade);
        }
        if status.is_informational() {
            // 100 Continue and other interim answers: the final response follows.
            buf.advance(head_len);
            continue;
        }
        let version = if response.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        // Fields are kept as ranges of the head's bytes (see `RawHeaders`); hop-by-hop fields
        // are read for framing here and left out.
        let mut facts = FramingFacts::default();
        let mut fields = std::mem::take(spare_fields);
        fields.reserve(response.headers.len());
        let mut connection_values: Vec<&[u8]> = Vec::new();
        for field in response.headers.iter() {
            match hop_by_hop(field.name.as_bytes()) {
                Some(HopByHop::Connection) => {
                    if facts.connection(field.value) {
                        connection_values.push(field.value);
                    }
                    continue;
                }
                Some(HopByHop::TransferEncoding) => {
                    facts.transfer_encoding(field.value);
                    continue;
                }
                Some(HopByHop::Other) => continue,
                None => {}
            }
            if field.name.eq_ignore_ascii_case("content-length") {
                facts.content_length(field.value)?;
            }
            fields.push(FieldSpan::of(buf, field.name.as_bytes(), field.value).ok_or(CodecError::HeadTooLarge)?);
        }
        // Headers that `Connection` names are hop-by-hop too (RFC 9110 §7.6.1).
        let named: Vec<Vec<u8>> = connection_values
            .iter()
            .flat_map(|value| value.split(|&b| b == b','))
            .map(|name| name.trim_ascii().to_ascii_lowercase())
            .collect();
        let head = buf.split_to(head_len).freeze();
        let mut headers = RawHeaders::new(head, fields);
        // With a transfer coding, a length would mislead the consumer (the coding frames the body).
        if !named.is_empty() || facts.transfer_encoding {
            headers.retain(|name| {
                !(named.iter().any(|n| n.eq_ignore_ascii_case(name))
                    || (facts.transfer_encoding && name.eq_ignore_ascii_case(b"content-length")))
            });
        }
        let (framing, reusable_framing) = facts.framing(method, status);
        let keep_alive = reusable_framing && !facts.close && (version == Version::HTTP_11 || facts.keep_alive);
        return Ok(Some(ResponseHead {
            status,
            headers,
            framing,
            keep_alive,
        }));
    }
}

/// The hop-by-hop fields of RFC 9110 §7.6.1 (and `Proxy-Connection`), by how the parser
/// treats them. Requests' fields are left out of what is forwarded by the same list.
pub(crate) enum HopByHop {
    Connection,
    TransferEncoding,
    Other,
}

pub(crate) fn hop_by_hop(name: &[u8]) -> Option<HopByHop> {
    let is = |candidate: &str| name.eq_ignore_ascii_case(candidate.as_bytes());
    match name.len() {
        10 if is("connection") => Some(HopByHop::Connection),
        17 if is("transfer-encoding") => Some(HopByHop::TransferEncoding),
        2 if is("te") => Some(HopByHop::Other),
        7 if is("trailer") || is("upgrade") => Some(HopByHop::Other),
        10 if is("keep-alive") => Some(HopByHop::Other),
        16 if is("proxy-connection") => Some(HopByHop::Other),
        18 if is("proxy-authenticate") => Some(HopByHop::Other),
        19 if is("proxy-authorization") => Some(HopByHop::Other),
        _ => None,
    }
}

/// What the framing and reuse of a message depend on, gathered from its raw fields (the
/// consumer server reads requests' `Connection` and `Transfer-Encoding` with it too).
#[derive(Default)]
pub(crate) struct FramingFacts {
    pub transfer_encoding: bool,
    /// The last coding of the last `Transfer-Encoding` field is `chunked`.
    pub chunked: bool,
    content_length: Option<u64>,
    pub close: bool,
    pub keep_alive: bool,
}

impl FramingFacts {
    /// Reads a `Connection` value; true when it names other headers (to remove).
    pub fn connection(&mut self, value: &[u8]) -> bool {
        // The usual single token first: splitting and trimming cost more than the rest of
        // reading the field.
        if value.eq_ignore_ascii_case(b"keep-alive") {
            self.keep_alive = true;
            return false;
        }
        if value.eq_ignore_ascii_case(b"close") {
            self.close = true;
            return false;
        }
        let mut names_others = false;
        for token in value.split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if !token.is_empty() {
                names_others = true;
            }
        }
        names_others
    }

    pub fn transfer_encoding(&mut self, value: &[u8]) {
        self.transfer_encoding = true;
        self.chunked = value
            .rsplit(|&b| b == b',')
            .next()
            .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
    }

    /// A list of equal values (`5, 5`) is the same length; different or invalid ones are an
    /// error.
    fn content_length(&mut self, value: &[u8]) -> Result<(), CodecError> {
        for part in value.split(|&b| b == b',') {
            let n =
                parse_length(part.trim_ascii()).ok_or_else(|| CodecError::BadHeader("content-length".to_owned()))?;
            if self.content_length.is_some_and(|previous| previous != n) {
                return Err(CodecError::BadHeader("content-length".to_owned()));
            }
            self.content_length = Some(n);
        }
        Ok(())
    }

    /// RFC 9112 §6.3: how the body ends, and whether that leaves the connection reusable.
    fn framing(&self, method: &Method, status: StatusCode) -> (BodyFraming, bool) {
        if *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            return (BodyFraming::Length(0), true);
        }
        if self.transfer_encoding {
            // A length beside a transfer coding may be a smuggling attempt: the coding wins and
            // the connection is not reused.
            return if self.chunked {
                (BodyFraming::Chunked, self.content_length.is_none())
            } else {
                (BodyFraming::UntilClose, false)
            };
        }
        match self.content_length {
            Some(n) => (BodyFraming::Length(n), true),
            None => (BodyFraming::UntilClose, false),
        }
    }
}

/// A decimal length of at most 19 digits (no sign, no spaces).
pub(crate) fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits
        .iter()
        .try_fold(0u64, |n, &d| d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0')))
}

/// What the chunked decoder produced from the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Data(Bytes),
    /// More bytes are needed.
    NeedMore,
    /// The last chunk and the trailers have been read.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers { seen: usize },
    Done,
}

/// Decodes `Transfer-Encoding: chunked`; chunk extensions and trailers are dropped.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: ChunkState,
}

impl ChunkedDecoder {
    pub(crate) fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkState::Size,
        }
    }

    /// Consumes what it can from `buf` and returns the next piece of body data, if any.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, CodecError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) = take_line(buf, MAX_CHUNK_LINE)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let size = parse_chunk_size(&line)?;
                    self.state = if size == 0 {
                        ChunkState::Trailers { seen: 0 }
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let take = usize::try_from(remaining).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(take).freeze();
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(Decoded::Data(data));
                }
                ChunkState::DataEnd => {
                    let Some(line) = take_line(buf, 2)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if !line.is_empty() {
                        return Err(CodecError::BadChunk("chunk data is longer than its size"));
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers { seen } => {
                    let Some(line) = take_line(buf, MAX_CHUNK_LINE)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                        return Ok(Decoded::Done);
                    }
                    let seen = seen + line.len() + 2;
                    if seen > MAX_TRAILERS {
                        return Err(CodecError::BadChunk("trailers are too large"));
                    }
                    self.state = ChunkState::Trailers { seen };
                }
                ChunkState::Done => return Ok(Decoded::Done),
            }
        }
    }
}

/// Takes one line (without its CRLF or LF) from the front of `buf`; `Ok(None)` when no line end
/// has arrived yet.
fn take_line(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, CodecError> {
    let Some(end) = buf.iter().take(max + 2).position(|&b| b == b'\n') else {
        if buf.len() > max + 1 {
            return Err(CodecError::BadChunk("line too long"));
        }
        return Ok(None);
    };
    let mut line = buf.split_to(end + 1);
    line.truncate(end);
    if line.last() == Some(&b'\r') {
        line.truncate(end - 1);
    }
    Ok(Some(line))
}

/// `1a3f` or `1a3f;ext=value`: the size in hexadecimal, at most 15 digits.
fn parse_chunk_size(line: &[u8]) -> Result<u64, CodecError> {
    let digits_end = line
        .iter()
        .position(|&b| b == b';' || b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    let digits = &line[..digits_end];
    if digits.is_empty() || digits.len() > 15 {
        return Err(CodecError::BadChunk("invalid chunk size"));
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(CodecError::BadChunk("invalid chunk size")),
        };
        Ok(n * 16 + u64::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str, method: Method) -> Result<Option<ResponseHead>, CodecError> {
        let mut buf = BytesMut::from(text.as_bytes());
        parse_response_head(&mut buf, &method, &mut FieldSpans::new())
    }

    #[test]
    fn response_heads_pick_the_body_framing() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: b\r\n\r\n", Method::GET)
            .expect("parse")
            .expect("complete");
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, BodyFraming::Length(12));
        assert!(h.keep_alive);
        assert_eq!(h.headers.get("x-a"), Some(&b"b"[..]));
        assert_eq!(h.headers.to_header_map()["x-a"], "b");

        let h = head(
            "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: timeout=5\r\nX-Private: 1\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: x\r\nContent-Length: 0\r\nX-Kept: 1\r\n\r\n",
            Method::GET,
        )
        .expect("parse")
        .expect("complete");
        let mut names: Vec<String> = h
            .headers
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).to_ascii_lowercase())
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["content-length", "x-kept"],
            "hop-by-hop fields and those Connection names are dropped"
        );

        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Method::GET,
        )
        .expect("parse")
        .expect("complete");
        assert_eq!(h.framing, BodyFraming::Chunked);
        assert!(h.keep_alive);

        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            Method::GET,
        )
        .expect("parse")
        .expect("complete");
        assert_eq!(h.framing, BodyFraming::Chunked);
        assert!(!h.keep_alive, "TE beside CL: not reused");
        assert!(
            h.headers.get("content-length").is_none(),
            "the length beside a coding is dropped"
        );

        let h = head("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", Method::GET)
            .expect("parse")
            .expect("complete");
        assert_eq!(h.framing, BodyFraming::UntilClose);
        assert!(!h.keep_alive);

        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Method::HEAD)
            .expect("parse")
            .expect("complete");
        assert_eq!(h.framing, BodyFraming::Length(0));

        let h = head("HTTP/1.1 204 No Content\r\n\r\n", Method::GET)
            .expect("parse")
            .expect("complete");
        assert_eq!(h.framing, BodyFraming::Length(0));
        assert!(h.keep_alive);

        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", Method::GET)
            .expect("parse")
            .expect("complete");
        assert!(!h.keep_alive, "HTTP/1.0 closes by default");
        let h = head(
            "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
            Method::GET,
        )
        .expect("parse")
        .expect("complete");
        assert!(h.keep_alive);
        let h = head(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: Close\r\n\r\n",
            Method::GET,
        )
        .expect("parse")
        .expect("complete");
        assert!(!h.keep_alive);
    }

    #[test]
    fn interim_responses_are_skipped_and_partial_heads_wait() {
        let mut buf =
            BytesMut::from(&b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"[..]);
        let h = parse_response_head(&mut buf, &Method::POST, &mut FieldSpans::new())
            .expect("parse")
            .expect("complete");
        assert_eq!(h.status, 201);
        assert_eq!(&buf[..], b"ok", "the body stays in the buffer");

        assert!(
            head("HTTP/1.1 200 OK\r\nContent-Le", Method::GET)
                .expect("parse")
                .is_none()
        );
    }

    #[test]
    fn bad_heads_are_refused() {
        assert!(matches!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", Method::GET),
            Err(CodecError::BadHeader(_))
        ));
        assert!(matches!(
            head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Method::GET),
            Err(CodecError::BadHeader(_))
        ));
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\n", Method::GET).is_ok());
        assert!(matches!(
            head("HTTP/1.1 101 Switching Protocols\r\n\r\n", Method::GET),
            Err(CodecError::Upgrade)
        ));
        assert!(matches!(
            head("HTTX/1.1 200 OK\r\n\r\n", Method::GET),
            Err(CodecError::BadHead(_))
        ));
        let huge = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "a".repeat(MAX_HEAD_BYTES + 1));
        assert!(matches!(head(&huge, Method::GET), Err(CodecError::HeadTooLarge)));
        let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(matches!(
            head(&format!("HTTP/1.1 200 OK\r\n{many}\r\n"), Method::GET),
            Err(CodecError::HeadTooLarge)
        ));
    }

    fn decode_all(input: &[u8], split: usize) -> Result<(Vec<u8>, bool), CodecError> {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(split.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf)? {
                    Decoded::Data(d) => out.extend_from_slice(&d),
                    Decoded::NeedMore => break,
                    Decoded::Done => return Ok((out, buf.is_empty())),
                }
            }
        }
        Ok((out, false))
    }

    #[test]
    fn chunked_bodies_decode_however_they_are_split() {
        let wire = b"5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n";
        for split in [1, 2, 3, 7, 64, wire.len()] {
            let (data, done) = decode_all(wire, split).expect("decodes");
            assert_eq!(data, b"helloabcdefghijklmnopqrstuvwxyz", "split {split}");
            assert!(done, "split {split}");
        }
        let (data, done) = decode_all(b"3\nabc\n0\n\n", 1).expect("bare LF");
        assert_eq!(data, b"abc");
        assert!(done);
    }

    #[test]
    fn malformed_chunks_are_refused() {
        assert!(decode_all(b"zz\r\n", 64).is_err());
        assert!(decode_all(b"3\r\nabcd\r\n", 64).is_err(), "data longer than its size");
        assert!(decode_all(b"1234567890abcdef0\r\n", 64).is_err(), "size too large");
        let long = format!("1;{}\r\n", "e".repeat(MAX_CHUNK_LINE + 10));
        assert!(decode_all(long.as_bytes(), 64).is_err());
    }

    #[test]
    fn request_heads_carry_the_chosen_framing() {
        let headers: [(&[u8], &[u8]); 1] = [(b"host", b"backend:8080")];
        let mut out = Vec::new();
        let framing = RequestFraming::choose(&Method::GET, &headers, Some(0)).expect("framing");
        let target = |base_path, path, query| RequestTarget { base_path, path, query };
        encode_request_head(
            &mut out,
            &Method::GET,
            &target("/v2", "/a", Some("b=1")),
            &headers,
            framing,
        );
        assert_eq!(out, b"GET /v2/a?b=1 HTTP/1.1\r\nhost: backend:8080\r\n\r\n");
        out.clear();
        encode_request_head(&mut out, &Method::GET, &target("", "", Some("b=1")), &headers, framing);
        assert!(out.starts_with(b"GET /?b=1 HTTP/1.1\r\n"));
        out.clear();
        encode_request_head(&mut out, &Method::GET, &target("", "/", Some("")), &headers, framing);
        assert!(out.starts_with(b"GET /? HTTP/1.1\r\n"), "an empty query keeps its `?`");
        assert!(!target("/v2", "/a b", None).is_writable());
        assert!(!target("/v2", "/a", Some("x=\x7f")).is_writable());
        assert!(target("/v2", "/a%20b", Some("x=1&y")).is_writable());

        out.clear();
        let framing = RequestFraming::choose(&Method::POST, &headers, Some(0)).expect("framing");
        encode_request_head(&mut out, &Method::POST, &target("", "/", None), &headers, framing);
        assert!(out.ends_with(b"content-length: 0\r\n\r\n"));

        out.clear();
        let framing = RequestFraming::choose(&Method::PUT, &headers, None).expect("framing");
        assert_eq!(framing, RequestFraming::Chunked);
        encode_request_head(&mut out, &Method::PUT, &target("", "/", None), &headers, framing);
        assert!(out.ends_with(b"transfer-encoding: chunked\r\n\r\n"));

        let with_length: [(&[u8], &[u8]); 2] = [(b"host", b"backend:8080"), (b"Content-Length", b"10")];
        assert_eq!(
            RequestFraming::choose(&Method::PUT, &with_length, None).expect("framing"),
            RequestFraming::Length {
                bytes: 10,
                add_header: false
            }
        );
        let bad_length: [(&[u8], &[u8]); 1] = [(b"content-length", b"1x")];
        assert!(RequestFraming::choose(&Method::PUT, &bad_length, None).is_err());
    }
}
