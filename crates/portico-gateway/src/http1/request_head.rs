//! Request heads as the consumer server reads them (RFC 9112 §2-3, §6): the request line and
//! fields parsed with `httparse` into spans of the read buffer, and what decides the body's
//! framing and the connection's reuse. Refused here, before any phase runs: `Content-Length`
//! values that are invalid or disagree (equal ones, `5` and `05` or `5, 5`, are one length),
//! transfer codings other than exactly `chunked` (combined over repeated fields; 501 for an
//! unknown coding), `Transfer-Encoding` in HTTP/1.0, and (see [`ParsedHead::check_host`]) an
//! HTTP/1.1 request without exactly one valid `Host`. A request with both `Content-Length` and
//! `Transfer-Encoding` passes, unread, for the pipeline to refuse with its own error.

use std::io;
use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::{Method, Uri, Version};

use super::body::{ChunkedDecoder, Sender};
use super::common::{CodingRefusal, FramingFacts};
use super::fields::{FieldSpan, FieldSpans, RawHeaders, offsets};
use crate::pipeline::RequestHead;

/// The most header fields a request may carry (hyper's limit too).
const MAX_REQUEST_HEADERS: usize = 100;

/// How much of the current request's body is left to read.
pub(super) enum BodyProgress {
    None,
    Length(u64),
    Chunked(ChunkedDecoder),
    /// The body failed midway (bad chunk, client gone): the connection cannot carry another
    /// request.
    Broken,
}

/// A parsed request head and what the connection needs to know about it.
pub(super) struct ParsedHead {
    pub request: RequestHead,
    pub body: BodyProgress,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub http10: bool,
}

#[derive(Debug)]
pub(super) enum HeadError {
    TooLarge,
    /// 400.
    Bad(&'static str),
    /// 501: a transfer coding the gateway does not know.
    NotImplemented(&'static str),
    Timeout,
    Io(io::Error),
}

impl ParsedHead {
    /// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one `Host`, HTTP/1.0 at most one, and
    /// a `Host` must be a valid `host[:port]`. A request target in absolute form must name its
    /// authority without user information (RFC 9110 §4.2.4); that authority, not `Host`, is the
    /// one the request is for.
    pub(super) fn check_host(&self) -> Result<(), HeadError> {
        let request = &self.request;
        let mut hosts = request.headers.get_all("host");
        match (hosts.next(), hosts.next()) {
            (_, Some(_)) => return Err(HeadError::Bad("more than one Host field")),
            (None, None) if !self.http10 => return Err(HeadError::Bad("an HTTP/1.1 request without Host")),
            (Some(host), None) if !valid_authority(host) => return Err(HeadError::Bad("invalid Host")),
            _ => {}
        }
        if let Some(authority) = request.uri.authority()
            && !valid_authority(authority.as_str().as_bytes())
        {
            return Err(HeadError::Bad("invalid authority in the request target"));
        }
        Ok(())
    }
}

/// `host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): an IPv6 literal in brackets, or a
/// name or IPv4 address (not empty); the port, when there is a colon, digits.
fn valid_authority(authority: &[u8]) -> bool {
    let (host_ok, port) = match authority.strip_prefix(b"[") {
        Some(literal) => match literal.iter().position(|&b| b == b']') {
            Some(end) => {
                let address = std::str::from_utf8(&literal[..end]).ok();
                let valid = address.is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
                (valid, &literal[end + 1..])
            }
            None => return false,
        },
        None => {
            let end = authority.iter().position(|&b| b == b':').unwrap_or(authority.len());
            let (host, port) = authority.split_at(end);
            (valid_reg_name(host), port)
        }
    };
    host_ok
        && (port.is_empty()
            || port
                .strip_prefix(b":")
                .is_some_and(|p| p.iter().all(u8::is_ascii_digit)))
}

/// A host name or IPv4 address: unreserved characters, sub-delimiters and percent-escapes.
fn valid_reg_name(host: &[u8]) -> bool {
    let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
    let mut i = 0;
    while let Some(&b) = host.get(i) {
        if b == b'%' {
            if !(hex(host.get(i + 1)) && hex(host.get(i + 2))) {
                return false;
            }
            i += 3;
        } else if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) {
            i += 1;
        } else {
            return false;
        }
    }
    !host.is_empty()
}

/// Parses a request head from the front of `buf` (consuming it); `Ok(None)` when incomplete.
/// A complete head takes `spare_fields` (empty) for its field list.
pub(super) fn parse_head(
    buf: &mut BytesMut,
    max_head_bytes: usize,
    spare_fields: &mut FieldSpans,
) -> Result<Option<ParsedHead>, HeadError> {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_REQUEST_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut request, buf, &mut fields);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > max_head_bytes => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Bad("unparseable request head")),
    };
    if head_len > max_head_bytes {
        return Err(HeadError::TooLarge);
    }
    let method = request.method.unwrap_or_default();
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Bad("invalid method"))?;
    let version = if request.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let target_range =
        offsets(buf, request.path.unwrap_or_default().as_bytes()).ok_or(HeadError::Bad("invalid request target"))?;
    let mut fields = std::mem::take(spare_fields);
    fields.reserve(request.headers.len());
    let mut facts = FramingFacts::default();
    let mut expect_continue = false;
    for field in request.headers.iter() {
        let name = field.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            if !facts.content_length(field.value) {
                return Err(HeadError::Bad("invalid or conflicting Content-Length"));
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            facts.transfer_encoding(field.value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            facts.connection(field.value);
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue = field.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
        fields.push(FieldSpan::of(buf, name, field.value).ok_or(HeadError::TooLarge)?);
    }
    let head = buf.split_to(head_len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target_range)).map_err(|_| HeadError::Bad("invalid request target"))?;
    // The fields stay as they arrived (see `RawHeaders`): httparse has checked names and values.
    let headers = RawHeaders::new(head, fields);
    let mut keep_alive = !facts.close && (version == Version::HTTP_11 || facts.keep_alive);
    let body = if facts.transfer_encoding {
        if facts.declared_length().is_some() {
            // Request smuggling: the phases answer 400 (both headers are kept for them to see),
            // the body is never read and the connection closes.
            keep_alive = false;
            BodyProgress::None
        } else if version != Version::HTTP_11 {
            return Err(HeadError::Bad("Transfer-Encoding in an HTTP/1.0 request"));
        } else {
            facts.request_codings().map_err(|refusal| match refusal {
                CodingRefusal::Bad(why) => HeadError::Bad(why),
                CodingRefusal::NotImplemented(why) => HeadError::NotImplemented(why),
            })?;
            BodyProgress::Chunked(ChunkedDecoder::new(Sender::Client))
        }
    } else {
        match facts.declared_length() {
            Some(0) | None => BodyProgress::None,
            Some(n) => BodyProgress::Length(n),
        }
    };
    let expect_continue = expect_continue && version == Version::HTTP_11 && !matches!(body, BodyProgress::None);
    Ok(Some(ParsedHead {
        request: RequestHead { method, uri, headers },
        body,
        keep_alive,
        expect_continue,
        http10: version == Version::HTTP_10,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<ParsedHead>, HeadError> {
        let mut buf = BytesMut::from(text.as_bytes());
        parse_head(&mut buf, 64 * 1024, &mut FieldSpans::new())
    }

    #[test]
    fn request_heads_set_framing_and_keep_alive() {
        let head = parse("GET /a/b?c=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n")
            .expect("parse")
            .expect("complete");
        assert_eq!(head.request.method, Method::GET);
        assert_eq!(head.request.uri.path(), "/a/b");
        assert_eq!(head.request.uri.query(), Some("c=1"));
        assert_eq!(head.request.headers.get("x-a"), Some(&b"1"[..]));
        assert_eq!(head.request.headers.get("host"), Some(&b"x"[..]));
        assert!(head.keep_alive);
        assert!(matches!(head.body, BodyProgress::None));

        let head = parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            .expect("parse")
            .expect("complete");
        assert!(matches!(head.body, BodyProgress::Length(5)));
        assert!(head.expect_continue);

        let head = parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            .expect("parse")
            .expect("complete");
        assert!(matches!(head.body, BodyProgress::Chunked(_)));
        assert!(!head.keep_alive);

        let head = parse("GET / HTTP/1.0\r\n\r\n").expect("parse").expect("complete");
        assert!(!head.keep_alive, "HTTP/1.0 closes by default");
        let head = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .expect("parse")
            .expect("complete");
        assert!(head.keep_alive);

        let head = parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
            .expect("parse")
            .expect("complete");
        assert!(!head.keep_alive, "smuggling attempt: the connection closes");
        assert!(matches!(head.body, BodyProgress::None), "its body is never read");
        assert!(head.request.headers.contains("content-length") && head.request.headers.contains("transfer-encoding"));

        assert!(
            parse("GET / HTTP/1.1\r\nHost: x\r\n").expect("parse").is_none(),
            "incomplete"
        );
    }

    #[test]
    fn bad_request_heads_are_refused() {
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Err(HeadError::Bad(_))
        ));
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(HeadError::Bad(_))
        ));
        assert!(matches!(
            parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Err(HeadError::Bad(_))
        ));
        assert!(matches!(parse("GE T / HTTP/1.1\r\n\r\n"), Err(HeadError::Bad(_))));
        let many: String = (0..150).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(matches!(
            parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Err(HeadError::TooLarge)
        ));
        let mut big = BytesMut::from(format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(2000)).as_bytes());
        assert!(matches!(
            parse_head(&mut big, 1024, &mut FieldSpans::new()),
            Err(HeadError::TooLarge)
        ));
    }

    #[test]
    fn transfer_codings_other_than_exactly_chunked_are_refused() {
        let with = |codings: &str| parse(&format!("POST / HTTP/1.1\r\nHost: x\r\n{codings}\r\n"));
        for ok in [
            "Transfer-Encoding: chunked\r\n",
            "Transfer-Encoding: CHUNKED\r\n",
            "Transfer-Encoding: \r\nTransfer-Encoding: chunked\r\n",
        ] {
            let head = with(ok).expect(ok).expect("complete");
            assert!(matches!(head.body, BodyProgress::Chunked(_)), "{ok}");
        }
        for (refused, bad) in [
            ("Transfer-Encoding: gzip, chunked\r\n", true),
            ("Transfer-Encoding: chunked, gzip\r\n", true),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", true),
            ("Transfer-Encoding: chunked, chunked\r\n", true),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", true),
            ("Transfer-Encoding: identity\r\n", true),
            ("Transfer-Encoding: \r\n", true),
            ("Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", false),
            ("Transfer-Encoding: foo, chunked\r\n", false),
            ("Transfer-Encoding: chunked;q=1, chunked\r\n", false),
        ] {
            match with(refused) {
                Err(HeadError::Bad(_)) if bad => {}
                Err(HeadError::NotImplemented(_)) if !bad => {}
                other => panic!("{refused}: {other:?}", other = other.map(|h| h.is_some())),
            }
        }
        assert!(matches!(
            parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(HeadError::Bad(_))
        ));
    }

    #[test]
    fn equal_content_lengths_are_one_length() {
        for lengths in [
            "Content-Length: 5\r\nContent-Length: 05\r\n",
            "Content-Length: 5, 5\r\n",
            "Content-Length: 5,5\r\nContent-Length: 5\r\n",
        ] {
            let head = parse(&format!("POST / HTTP/1.1\r\nHost: x\r\n{lengths}\r\n"))
                .expect(lengths)
                .expect("complete");
            assert!(matches!(head.body, BodyProgress::Length(5)), "{lengths}");
        }
        for lengths in [
            "Content-Length: 5, 6\r\n",
            "Content-Length: 5,\r\n",
            "Content-Length: +5\r\n",
        ] {
            assert!(
                matches!(
                    parse(&format!("POST / HTTP/1.1\r\nHost: x\r\n{lengths}\r\n")),
                    Err(HeadError::Bad(_))
                ),
                "{lengths}"
            );
        }
    }

    #[test]
    fn host_rules() {
        let check = |text: &str| parse(text).expect(text).expect("complete").check_host();
        for ok in [
            "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: example.com:8280\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: [::1]:8243\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: xn--bcher-kva.example%2e\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "GET http://api.example/p HTTP/1.1\r\nHost: other.example\r\n\r\n",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: \r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: [nope]\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n",
            "GET http://user@api.example/p HTTP/1.1\r\nHost: api.example\r\n\r\n",
        ] {
            assert!(matches!(check(bad), Err(HeadError::Bad(_))), "{bad}");
        }
    }
}
