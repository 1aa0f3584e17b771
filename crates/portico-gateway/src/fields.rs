//! Header fields kept as the bytes they arrived in: a consumer's request head (HTTP/1.1) and a
//! backend's response head. Building an `http::HeaderMap` instead costs a name parse, a hash, a
//! value check and an insert per field (over 2,000 instructions for a typical request, more than
//! routing and authentication together), for lookups that a handful of fields answer faster by
//! a scan; httparse has already checked what the map would (token characters in names, no
//! control characters in values).

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// A message head's bytes and where each field's name and value lie in them.
#[derive(Debug, Clone, Default)]
pub struct RawHeaders {
    head: Bytes,
    fields: Vec<(Range<usize>, Range<usize>)>,
    /// Bit `n` set: some field's name is `n` bytes long (31: longer). Most lookups are for
    /// fields a request does not carry (`Origin`, `Transfer-Encoding`, `X-Forwarded-For`...);
    /// this answers them without a scan.
    name_lengths: u32,
}

fn length_bit(len: usize) -> u32 {
    1 << len.min(31)
}

impl RawHeaders {
    pub(crate) fn new(head: Bytes, fields: Vec<(Range<usize>, Range<usize>)>) -> RawHeaders {
        let name_lengths = fields.iter().fold(0, |bits, (name, _)| bits | length_bit(name.len()));
        RawHeaders {
            head,
            fields,
            name_lengths,
        }
    }

    /// The fields of a header map (an HTTP/2 request), copied into one buffer.
    pub(crate) fn from_header_map(map: &HeaderMap) -> RawHeaders {
        let size = map.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
        let mut head = BytesMut::with_capacity(size);
        let mut fields = Vec::with_capacity(map.len());
        for (name, value) in map {
            let name_start = head.len();
            head.extend_from_slice(name.as_str().as_bytes());
            let value_start = head.len();
            head.extend_from_slice(value.as_bytes());
            fields.push((name_start..value_start, value_start..head.len()));
        }
        RawHeaders::new(head.freeze(), fields)
    }

    /// (name, value) of each field, names as the sender spelt them.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|(name, value)| (&self.head[name.clone()], &self.head[value.clone()]))
    }

    /// The first value of `name` (lower-case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// Every value of `name` (lower-case), in order. Lengths are compared before any bytes.
    pub fn get_all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        let candidates = if self.name_lengths & length_bit(name.len()) == 0 {
            &[][..]
        } else {
            &self.fields[..]
        };
        candidates
            .iter()
            .filter(move |(n, _)| n.len() == name.len() && self.head[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &self.head[v.clone()])
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields as a header map (for HTTP/2 consumers); values share the head's bytes. A field
    /// that is not a valid `http` header is left out, with a warning.
    pub(crate) fn to_header_map(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.fields.len() + 3);
        for (name, value) in &self.fields {
            match (
                HeaderName::from_bytes(&self.head[name.clone()]),
                HeaderValue::from_maybe_shared(self.head.slice(value.clone())),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                _ => tracing::warn!(
                    field = %String::from_utf8_lossy(&self.head[name.clone()]),
                    "header field left out"
                ),
            }
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_keep_every_value() {
        let mut map = HeaderMap::new();
        map.append("connection", HeaderValue::from_static("close"));
        map.append("x-a", HeaderValue::from_static("1"));
        map.append("x-a", HeaderValue::from_static("2"));
        let fields = RawHeaders::from_header_map(&map);
        assert_eq!(fields.len(), 3);
        assert_eq!(fields.get("x-a"), Some(&b"1"[..]));
        assert_eq!(fields.get_all("x-a").collect::<Vec<_>>(), [&b"1"[..], b"2"]);
        assert!(fields.contains("connection"));
        assert!(!fields.contains("x-b"));
        assert!(!fields.contains("x-aa"), "a length no field has");
        assert_eq!(fields.get_all("origin").count(), 0);
        let long = "x-".repeat(20);
        map.append(
            HeaderName::from_bytes(long.as_bytes()).expect("name"),
            HeaderValue::from_static("l"),
        );
        let fields = RawHeaders::from_header_map(&map);
        assert_eq!(
            fields.get(&long),
            Some(&b"l"[..]),
            "names of 31 bytes and more share a bit"
        );
        assert!(!fields.contains(&"y-".repeat(20)));

        let head = Bytes::from_static(b"Content-Type: text/plain\r\n");
        let fields = RawHeaders::new(head, vec![(0..12, 14..24)]);
        assert_eq!(fields.get("content-type"), Some(&b"text/plain"[..]));
        assert_eq!(fields.to_header_map()["content-type"], "text/plain");
    }
}
