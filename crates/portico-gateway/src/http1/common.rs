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
/// consumer server reads requests' `Connection` and `Transfer-Encoding` with it too). Repeated
/// `Transfer-Encoding` and `Content-Length` fields are combined as one list each (RFC 9110 §5.3).
#[derive(Default)]
pub(crate) struct FramingFacts {
    pub transfer_encoding: bool,
    /// The last coding of the combined `Transfer-Encoding` list is `chunked`.
    pub chunked: bool,
    /// The last coding of the list so far, and what the ones before it were.
    last_coding: Option<Coding>,
    earlier_codings: EarlierCodings,
    content_length: Option<u64>,
    /// `Content-Length` came as more than one field or as a list (`5, 5`): whoever forwards the
    /// message writes it as one field.
    content_length_repeated: bool,
    pub close: bool,
    pub keep_alive: bool,
}

/// A transfer coding as the gateway sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Coding {
    Chunked,
    /// Registered, but not one the gateway decodes.
    Registered,
    Unknown,
}

/// The transfer codings of a list before its last one.
#[derive(Default, Clone, Copy)]
struct EarlierCodings {
    chunked: bool,
    registered: bool,
    unknown: bool,
}

/// Why a request's transfer codings are refused: 400 when its body's end cannot be found or a
/// coding other than `chunked` is applied; 501 for a coding the gateway does not know
/// (RFC 9112 §6.1, §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodingRefusal {
    Bad(&'static str),
    NotImplemented(&'static str),
}

/// The transfer codings registered with IANA besides `chunked` (`identity` is no longer one).
fn registered_coding(coding: &[u8]) -> bool {
    ["gzip", "x-gzip", "deflate", "compress", "x-compress", "trailers"]
        .iter()
        .any(|known| coding.eq_ignore_ascii_case(known.as_bytes()))
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

    /// Reads one `Transfer-Encoding` field: its codings continue the list of the fields before.
    pub fn transfer_encoding(&mut self, value: &[u8]) {
        if !self.transfer_encoding && value.eq_ignore_ascii_case(b"chunked") {
            // The usual single field: nothing to split.
            self.transfer_encoding = true;
            self.chunked = true;
            self.last_coding = Some(Coding::Chunked);
            return;
        }
        self.transfer_encoding = true;
        for coding in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            if coding.is_empty() {
                continue;
            }
            if let Some(previous) = self.last_coding.take() {
                let earlier = &mut self.earlier_codings;
                match previous {
                    Coding::Chunked => earlier.chunked = true,
                    Coding::Registered => earlier.registered = true,
                    Coding::Unknown => earlier.unknown = true,
                }
            }
            self.last_coding = Some(if coding.eq_ignore_ascii_case(b"chunked") {
                Coding::Chunked
            } else if registered_coding(coding) {
                Coding::Registered
            } else {
                Coding::Unknown
            });
            self.chunked = self.last_coding == Some(Coding::Chunked);
        }
    }

    /// Whether a request's transfer codings can be served: exactly `chunked`.
    pub fn request_codings(&self) -> Result<(), CodingRefusal> {
        let earlier = self.earlier_codings;
        if !self.chunked {
            // RFC 9112 §6.3: the body's end cannot be found.
            return Err(CodingRefusal::Bad("chunked is not the final transfer coding"));
        }
        if earlier.chunked {
            return Err(CodingRefusal::Bad("chunked is applied more than once"));
        }
        if earlier.unknown {
            return Err(CodingRefusal::NotImplemented("unknown transfer coding"));
        }
        if earlier.registered {
            return Err(CodingRefusal::Bad(
                "transfer codings other than chunked are not accepted",
            ));
        }
        Ok(())
    }

    /// Reads a `Content-Length` value; false when it is invalid. A list of equal values (`5, 5`)
    /// is the same length; different ones (here or across fields) are invalid.
    #[must_use]
    pub fn content_length(&mut self, value: &[u8]) -> bool {
        if let Some(n) = parse_length(value.trim_ascii())
            && self.content_length.is_none()
        {
            // The usual single field with a plain number.
            self.content_length = Some(n);
            return true;
        }
        self.content_length_repeated |= self.content_length.is_some() || value.contains(&b',');
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

    /// The length the `Content-Length` fields declare.
    pub fn declared_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Whether `Content-Length` came as several fields or a list (to be written as one).
    pub fn content_length_repeated(&self) -> bool {
        self.content_length_repeated
    }

    /// The length the `Content-Length` fields `values` declare together; `None` when they are
    /// invalid or disagree.
    pub fn length_of<'v>(values: impl Iterator<Item = &'v [u8]>) -> Option<Option<u64>> {
        let mut facts = FramingFacts::default();
        for value in values {
            if !facts.content_length(value) {
                return None;
            }
        }
        Some(facts.content_length)
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

/// A length as decimal digits, written without allocating (a `Content-Length` value).
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn new(mut n: u64) -> Decimal {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            // `n % 10` is below 10.
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return Decimal { digits, start };
            }
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

/// A `tchar` (RFC 9110 §5.6.2): what field names, tokens and transfer codings are made of.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_combined_lengths() {
        for n in [0, 7, 10, 12345, u64::MAX] {
            assert_eq!(Decimal::new(n).as_bytes(), n.to_string().as_bytes());
        }
        let values = |list: &[&'static str]| FramingFacts::length_of(list.iter().map(|v| v.as_bytes()));
        assert_eq!(values(&[]), Some(None));
        assert_eq!(values(&["5"]), Some(Some(5)));
        assert_eq!(values(&["5, 5", "05"]), Some(Some(5)));
        assert_eq!(values(&["5", "6"]), None);
        assert_eq!(values(&["x"]), None);
    }
}
