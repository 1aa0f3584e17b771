//! HTTP/1.1 framing towards backends (RFC 9112): the request head written straight from the
//! gateway's method, path and headers, the response head parsed with `httparse` into header
//! values that share the read buffer, and the decoders for the three ways a response body ends
//! (a length, chunked coding, the connection closing).

use std::io::Write as _;
use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};

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

impl RequestFraming {
    /// Picks the framing: the consumer's `Content-Length` when present (its body is checked
    /// against it as it is sent), else the body's known size, else chunked coding.
    pub(crate) fn choose(
        method: &Method,
        headers: &HeaderMap,
        known_size: Option<u64>,
    ) -> Result<RequestFraming, CodecError> {
        if let Some(value) = headers.get(header::CONTENT_LENGTH) {
            let bytes = parse_length(value.as_bytes()).ok_or(CodecError::BadRequestLength)?;
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

/// Writes the request line and headers into `out`.
pub(crate) fn encode_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    framing: RequestFraming,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    // Origin form always starts with `/` (an API whose backend URL has no path, called at its
    // root, yields an empty path).
    if !path_and_query.starts_with('/') {
        out.push(b'/');
    }
    out.extend_from_slice(path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
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
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: BodyFraming,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
}

/// Parses a response head from the front of `buf`, consuming it (and any 1xx interim responses
/// before it). `Ok(None)`: more bytes are needed.
pub(crate) fn parse_response_head(buf: &mut BytesMut, method: &Method) -> Result<Option<ResponseHead>, CodecError> {
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
        // Header values become slices of the head's bytes (no copy); names of standard headers
        // are static.
        let base = buf.as_ptr() as usize;
        let mut ranges: Vec<(Range<usize>, Range<usize>)> = Vec::with_capacity(response.headers.len());
        for field in response.headers.iter() {
            let name_start = field.name.as_ptr() as usize - base;
            let value_start = field.value.as_ptr() as usize - base;
            ranges.push((
                name_start..name_start + field.name.len(),
                value_start..value_start + field.value.len(),
            ));
        }
        let head = buf.split_to(head_len).freeze();
        let mut headers = HeaderMap::with_capacity(ranges.len());
        for (name, value) in ranges {
            let name = HeaderName::from_bytes(&head[name.clone()])
                .map_err(|_| CodecError::BadHeader(String::from_utf8_lossy(&head[name]).into_owned()))?;
            let value = HeaderValue::from_maybe_shared(head.slice(value))
                .map_err(|_| CodecError::BadHeader(name.as_str().to_owned()))?;
            headers.append(name, value);
        }
        let (framing, reusable_framing) = response_framing(method, status, &headers)?;
        let keep_alive = reusable_framing && keeps_alive(version, &headers);
        return Ok(Some(ResponseHead {
            status,
            version,
            headers,
            framing,
            keep_alive,
        }));
    }
}

/// RFC 9112 §6.3: how the body of this response ends, and whether that leaves the connection
/// reusable.
fn response_framing(
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<(BodyFraming, bool), CodecError> {
    if *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok((BodyFraming::Length(0), true));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        let chunked = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        // A length beside a transfer coding may be a smuggling attempt: the coding wins and the
        // connection is not reused.
        let reusable = chunked && !headers.contains_key(header::CONTENT_LENGTH);
        let framing = if chunked {
            BodyFraming::Chunked
        } else {
            BodyFraming::UntilClose
        };
        return Ok((framing, reusable));
    }
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        // A list of equal values (`5, 5`) is the same length; different ones are an error.
        for part in value.as_bytes().split(|&b| b == b',') {
            let n =
                parse_length(part.trim_ascii()).ok_or_else(|| CodecError::BadHeader("content-length".to_owned()))?;
            if length.is_some_and(|previous| previous != n) {
                return Err(CodecError::BadHeader("content-length".to_owned()));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(n) => (BodyFraming::Length(n), true),
        None => (BodyFraming::UntilClose, false),
    })
}

fn keeps_alive(version: Version, headers: &HeaderMap) -> bool {
    let mut close = false;
    let mut keep_alive = false;
    for value in headers.get_all(header::CONNECTION) {
        for token in value.as_bytes().split(|&b| b == b',') {
            let token = token.trim_ascii();
            close |= token.eq_ignore_ascii_case(b"close");
            keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    !close && (version == Version::HTTP_11 || keep_alive)
}

/// A decimal length of at most 19 digits (no sign, no spaces).
fn parse_length(digits: &[u8]) -> Option<u64> {
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
        parse_response_head(&mut buf, &method)
    }

    #[test]
    fn response_heads_pick_the_body_framing() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: b\r\n\r\n", Method::GET)
            .expect("parse")
            .expect("complete");
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, BodyFraming::Length(12));
        assert!(h.keep_alive);
        assert_eq!(h.headers["x-a"], "b");

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
        let h = parse_response_head(&mut buf, &Method::POST)
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
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("backend:8080"));
        let mut out = Vec::new();
        let framing = RequestFraming::choose(&Method::GET, &headers, Some(0)).expect("framing");
        encode_request_head(&mut out, &Method::GET, "/a?b=1", &headers, framing);
        assert_eq!(out, b"GET /a?b=1 HTTP/1.1\r\nhost: backend:8080\r\n\r\n");
        out.clear();
        encode_request_head(&mut out, &Method::GET, "?b=1", &headers, framing);
        assert!(out.starts_with(b"GET /?b=1 HTTP/1.1\r\n"));

        out.clear();
        let framing = RequestFraming::choose(&Method::POST, &headers, Some(0)).expect("framing");
        encode_request_head(&mut out, &Method::POST, "/", &headers, framing);
        assert!(out.ends_with(b"content-length: 0\r\n\r\n"));

        out.clear();
        let framing = RequestFraming::choose(&Method::PUT, &headers, None).expect("framing");
        assert_eq!(framing, RequestFraming::Chunked);
        encode_request_head(&mut out, &Method::PUT, "/", &headers, framing);
        assert!(out.ends_with(b"transfer-encoding: chunked\r\n\r\n"));

        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
        assert_eq!(
            RequestFraming::choose(&Method::PUT, &headers, None).expect("framing"),
            RequestFraming::Length {
                bytes: 10,
                add_header: false
            }
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1x"));
        assert!(RequestFraming::choose(&Method::PUT, &headers, None).is_err());
    }
}
