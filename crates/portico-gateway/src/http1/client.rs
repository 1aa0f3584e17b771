//! The client side of HTTP/1.1 (RFC 9112), towards backends: the request head written straight
//! from the gateway's method, path and headers, and the response head parsed with `httparse`
//! into header values that share the read buffer. Bodies are framed with [`super::common`] and
//! chunked ones decoded with [`super::body`].

use std::io::Write as _;
use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};
use http::{Method, StatusCode, Version};

use super::common::{BodyFraming, Decimal, FramingFacts, HopByHop, hop_by_hop, parse_length};
use super::fields::{FieldSpan, FieldSpans, RawHeaders};

/// The largest response head accepted from a backend (the same bound as client request heads).
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most response header fields accepted from a backend.
const MAX_HEADERS: usize = 128;

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
            if field.name.eq_ignore_ascii_case("content-length") && !facts.content_length(field.value) {
                return Err(CodecError::BadHeader("content-length".to_owned()));
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
        // Repeated `Content-Length` fields (or a list, `5, 5`), equal as checked above, go on as
        // one.
        if facts.content_length_repeated()
            && !facts.transfer_encoding
            && let Some(length) = facts.declared_length()
        {
            headers.replace("content-length", Decimal::new(length).as_bytes());
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
    fn repeated_content_lengths_go_on_as_one_field() {
        for lengths in [
            "Content-Length: 5, 5\r\n",
            "Content-Length: 5\r\nContent-Length: 05\r\n",
        ] {
            let h = head(&format!("HTTP/1.1 200 OK\r\n{lengths}X-A: 1\r\n\r\n"), Method::GET)
                .expect(lengths)
                .expect("complete");
            assert_eq!(h.framing, BodyFraming::Length(5));
            let fields: Vec<(&[u8], &[u8])> = h.headers.iter().collect();
            assert_eq!(
                fields,
                [(&b"X-A"[..], &b"1"[..]), (b"content-length", b"5")],
                "{lengths}"
            );
        }
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Method::GET)
            .expect("parse")
            .expect("complete");
        assert_eq!(
            h.headers.get("content-length"),
            Some(&b"5"[..]),
            "one field stays as it is"
        );
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
