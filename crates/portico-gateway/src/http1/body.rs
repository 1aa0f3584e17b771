//! The chunked transfer coding (RFC 9112 §7.1) as it is read: the decoder for request bodies
//! from consumers and response bodies from backends, with errors that say whose body it was.
//! Chunk-size lines and trailer fields are held to the RFC's grammar: whatever a front end might
//! read differently (`5 junk`, a bare CR, a request line where a trailer field should be) is
//! refused rather than guessed at.

use bytes::{Bytes, BytesMut};

use super::common::is_tchar;

/// The longest chunk-size line or trailer field accepted.
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// The most trailer bytes accepted (trailers are read and dropped).
const MAX_TRAILERS: usize = 16 * 1024;

/// Whose body a decoder reads, named in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    /// The consumer: a request body.
    Client,
    /// The backend: a response body.
    Backend,
}

impl Sender {
    fn name(self) -> &'static str {
        match self {
            Sender::Client => "client",
            Sender::Backend => "backend",
        }
    }
}

/// A chunked body that breaks the coding's rules.
#[derive(Debug, thiserror::Error)]
#[error("the {}'s chunked body is malformed: {reason}", sender.name())]
pub(crate) struct ChunkError {
    sender: Sender,
    reason: &'static str,
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
    sender: Sender,
}

impl ChunkedDecoder {
    pub(crate) fn new(sender: Sender) -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkState::Size,
            sender,
        }
    }

    /// Consumes what it can from `buf` and returns the next piece of body data, if any.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ChunkError> {
        self.step(buf).map_err(|reason| ChunkError {
            sender: self.sender,
            reason,
        })
    }

    /// [`ChunkedDecoder::decode`], failing with what is wrong.
    fn step(&mut self, buf: &mut BytesMut) -> Result<Decoded, &'static str> {
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
                        return Err("chunk data is longer than its size");
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
                        return Err("trailers are too large");
                    }
                    check_trailer_field(&line)?;
                    self.state = ChunkState::Trailers { seen };
                }
                ChunkState::Done => return Ok(Decoded::Done),
            }
        }
    }
}

/// Takes one line (without its CRLF or LF) from the front of `buf`; `Ok(None)` when no line end
/// has arrived yet.
fn take_line(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, &'static str> {
    let Some(end) = buf.iter().take(max + 2).position(|&b| b == b'\n') else {
        if buf.len() > max + 1 {
            return Err("line too long");
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

/// `1a3f` or `1a3f;ext=value` (RFC 9112 §7.1): the size in hexadecimal, at most 15 digits, then
/// chunk extensions (which are read and dropped).
fn parse_chunk_size(line: &[u8]) -> Result<u64, &'static str> {
    let digits_end = line.iter().position(|b| !b.is_ascii_hexdigit()).unwrap_or(line.len());
    let (digits, extensions) = line.split_at(digits_end);
    if digits.is_empty() || digits.len() > 15 {
        return Err("invalid chunk size");
    }
    check_chunk_extensions(extensions)?;
    Ok(digits.iter().fold(0u64, |n, &d| {
        // Hex digits only (checked above).
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => d - b'A' + 10,
        };
        n * 16 + u64::from(v)
    }))
}

/// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`.
fn check_chunk_extensions(mut rest: &[u8]) -> Result<(), &'static str> {
    const INVALID: &str = "invalid chunk extension";
    while !rest.is_empty() {
        rest = skip_whitespace(rest);
        rest = skip_whitespace(rest.strip_prefix(b";").ok_or(INVALID)?);
        rest = skip_whitespace(skip_token(rest).ok_or(INVALID)?);
        if let Some(value) = rest.strip_prefix(b"=") {
            let value = skip_whitespace(value);
            rest = if value.first() == Some(&b'"') {
                skip_quoted_string(value).ok_or(INVALID)?
            } else {
                skip_token(value).ok_or(INVALID)?
            };
        }
    }
    Ok(())
}

/// `field-name ":" OWS field-value OWS` (RFC 9112 §7.1.2, §5): a trailer field. Anything else,
/// such as a request line read as a trailer when a body's final CRLF is missing, is refused.
fn check_trailer_field(line: &[u8]) -> Result<(), &'static str> {
    const INVALID: &str = "invalid trailer field";
    let value = skip_token(line).ok_or(INVALID)?.strip_prefix(b":").ok_or(INVALID)?;
    if value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
    {
        Ok(())
    } else {
        Err(INVALID)
    }
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let n = bytes.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &bytes[n..]
}

/// What follows a token at the start of `bytes`; `None` when none is there.
fn skip_token(bytes: &[u8]) -> Option<&[u8]> {
    let n = bytes.iter().take_while(|&&b| is_tchar(b)).count();
    (n > 0).then(|| &bytes[n..])
}

/// What follows a quoted string (RFC 9110 §5.6.4) at the start of `bytes`.
fn skip_quoted_string(bytes: &[u8]) -> Option<&[u8]> {
    let text = |b: u8| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80;
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => return Some(&bytes[i + 1..]),
            b'\\' if bytes.get(i + 1).is_some_and(|&next| text(next)) => i += 2,
            b'\\' => return None,
            _ if text(b) => i += 1,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], split: usize) -> Result<(Vec<u8>, bool), ChunkError> {
        let mut decoder = ChunkedDecoder::new(Sender::Backend);
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
    fn chunk_size_lines_and_trailers_follow_the_grammar() {
        for good in [
            &b"5;a\r\nhello\r\n0\r\n\r\n"[..],
            b"5 ; a = b ;c=\"quoted \\\" ;text\"\r\nhello\r\n0\r\n\r\n",
            b"0005\r\nhello\r\n0\r\nX-A: 1\r\nX-B:\r\n\r\n",
        ] {
            let (data, done) = decode_all(good, 3).expect("valid");
            assert_eq!(
                (data.as_slice(), done),
                (&b"hello"[..], true),
                "{}",
                String::from_utf8_lossy(good)
            );
        }
        for (bad, why) in [
            (&b"5 junk\r\nhello\r\n0\r\n\r\n"[..], "invalid chunk extension"),
            (b"5\rhello\r\n0\r\n\r\n", "invalid chunk extension"),
            (b"5;\r\nhello\r\n0\r\n\r\n", "invalid chunk extension"),
            (b"5;a=\"open\r\nhello\r\n0\r\n\r\n", "invalid chunk extension"),
            (b"5 \r\nhello\r\n0\r\n\r\n", "invalid chunk extension"),
            (b"-5\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
            (b"0\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "invalid trailer field"),
            (b"0\r\nX-A: 1\r\n folded\r\n\r\n", "invalid trailer field"),
            (b"0\r\nX-A: a\rb\r\n\r\n", "invalid trailer field"),
        ] {
            let error = decode_all(bad, 64).expect_err(&String::from_utf8_lossy(bad));
            assert!(error.to_string().ends_with(why), "{error}");
        }
    }

    #[test]
    fn errors_name_whose_body_it_was() {
        for (sender, whose) in [(Sender::Client, "client"), (Sender::Backend, "backend")] {
            let mut buf = BytesMut::from(&b"zz\r\n"[..]);
            let error = ChunkedDecoder::new(sender).decode(&mut buf).expect_err("bad size");
            assert_eq!(
                error.to_string(),
                format!("the {whose}'s chunked body is malformed: invalid chunk size")
            );
        }
    }
}
