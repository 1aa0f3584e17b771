//! What both directions of HTTP/1.1 share (RFC 9112): the hop-by-hop field list, reading the
//! fields that decide a message's framing and reuse, decimal lengths, and writing body data
//! (plain or as chunks) with as few writes as possible.

use std::io::Write as _;

use http::{Method, StatusCode};
use tokio::io::{AsyncWrite, AsyncWriteExt};

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

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    Length(u64),
    Chunked,
    /// Read until the backend closes the connection (which then cannot be reused).
    UntilClose,
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

    /// Reads a `Content-Length` value; false when it is invalid. A list of equal values (`5, 5`)
    /// is the same length; different ones (here or across fields) are invalid.
    #[must_use]
    pub fn content_length(&mut self, value: &[u8]) -> bool {
        for part in value.split(|&b| b == b',') {
            let Some(n) = parse_length(part.trim_ascii()) else {
                return false;
            };
            if self.content_length.is_some_and(|previous| previous != n) {
                return false;
            }
            self.content_length = Some(n);
        }
        true
    }

    /// RFC 9112 §6.3: how the body ends, and whether that leaves the connection reusable.
    pub fn framing(&self, method: &Method, status: StatusCode) -> (BodyFraming, bool) {
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
