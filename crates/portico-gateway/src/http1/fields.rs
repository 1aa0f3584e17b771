//! Header fields kept as the bytes they arrived in: a consumer's request head (HTTP/1.1) and a
//! backend's response head. Building an `http::HeaderMap` instead costs a name parse, a hash, a
//! value check and an insert per field (over 2,000 instructions for a typical request, more than
//! routing and authentication together), for lookups that a handful of fields answer faster by
//! a scan; httparse has already checked what the map would (token characters in names, no
//! control characters in values).

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Where one field's name and value lie in its head. Offsets are `u32`: heads are limited to a
/// few hundred KiB long before they get here, and half-size spans keep more of them inline.
#[derive(Debug, Clone)]
pub(crate) struct FieldSpan {
    name: Range<u32>,
    value: Range<u32>,
}

impl FieldSpan {
    /// The span of `name` and `value`, two slices of `head`; `None` if an offset does not fit
    /// in 32 bits (a head of 4 GiB, which the callers' size limits rule out).
    pub(crate) fn of(head: &[u8], name: &[u8], value: &[u8]) -> Option<FieldSpan> {
        FieldSpan::at(offsets(head, name)?, offsets(head, value)?)
    }

    /// The span of the bytes at `name` and `value` (offsets into the head).
    fn at(name: Range<usize>, value: Range<usize>) -> Option<FieldSpan> {
        let narrow = |r: Range<usize>| Some(u32::try_from(r.start).ok()?..u32::try_from(r.end).ok()?);
        Some(FieldSpan {
            name: narrow(name)?,
            value: narrow(value)?,
        })
    }
}

/// Where `part`, a slice of `head`, lies in it (for what is parsed out of a buffer that is then
/// frozen and sliced); `None` if `part` does not start inside `head`.
pub(crate) fn offsets(head: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(head.as_ptr() as usize)?;
    Some(start..start + part.len())
}

/// Fields of one head. (Held inline, as a `SmallVec`, they made every move of a request or
/// response head a copy of hundreds of bytes: more instructions than the allocation they save.)
pub(crate) type FieldSpans = Vec<FieldSpan>;

/// A message head's bytes and where each field's name and value lie in them.
#[derive(Debug, Clone, Default)]
pub struct RawHeaders {
    head: Bytes,
    fields: FieldSpans,
    /// Bit `n` set: some field's name is `n` bytes long (31: longer). Most lookups are for
    /// fields a request does not carry (`Origin`, `Transfer-Encoding`, `X-Forwarded-For`...);
    /// this answers them without a scan.
    name_lengths: u32,
}

fn length_bit(len: usize) -> u32 {
    1 << len.min(31)
}

/// The `name_lengths` bits of `fields`.
fn name_lengths(fields: &[FieldSpan]) -> u32 {
    fields.iter().fold(0, |bits, f| bits | length_bit(f.name.len()))
}

/// A span's offsets as an index range into the head.
fn widen(range: &Range<u32>) -> Range<usize> {
    range.start as usize..range.end as usize
}

impl RawHeaders {
    pub(crate) fn new(head: Bytes, fields: FieldSpans) -> RawHeaders {
        RawHeaders {
            name_lengths: name_lengths(&fields),
            head,
            fields,
        }
    }

    /// The fields of a header map (an HTTP/2 request), copied into one buffer.
    pub(crate) fn from_header_map(map: &HeaderMap) -> RawHeaders {
        let size = map.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
        let mut head = BytesMut::with_capacity(size);
        let mut fields = FieldSpans::with_capacity(map.len());
        for (name, value) in map {
            let name_start = head.len();
            head.extend_from_slice(name.as_str().as_bytes());
            let value_start = head.len();
            head.extend_from_slice(value.as_bytes());
            // hyper bounds an HTTP/2 header list far below 4 GiB, so every span fits.
            fields.extend(FieldSpan::at(name_start..value_start, value_start..head.len()));
        }
        RawHeaders::new(head.freeze(), fields)
    }

    fn name(&self, field: &FieldSpan) -> &[u8] {
        &self.head[widen(&field.name)]
    }

    fn value(&self, field: &FieldSpan) -> &[u8] {
        &self.head[widen(&field.value)]
    }

    /// (name, value) of each field, names as the sender spelt them.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields.iter().map(|f| (self.name(f), self.value(f)))
    }

    /// The first value of `name` (lower-case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// Every value of `name` (lower-case), in order (or, reversed, from the last). Lengths are
    /// compared before any bytes.
    pub fn get_all<'a, 'n>(&'a self, name: &'n str) -> impl DoubleEndedIterator<Item = &'a [u8]> + use<'a, 'n> {
        let candidates = if self.name_lengths & length_bit(name.len()) == 0 {
            &[][..]
        } else {
            &self.fields[..]
        };
        candidates
            .iter()
            .filter(move |f| f.name.len() == name.len() && self.name(f).eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| self.value(f))
    }

    /// The span list, emptied, for the next head to reuse (its allocation is what is kept).
    pub(crate) fn into_spare(self) -> FieldSpans {
        let mut fields = self.fields;
        fields.clear();
        fields
    }

    /// Keeps the fields whose name `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let head = &self.head;
        self.fields.retain(|f| keep(&head[widen(&f.name)]));
        self.name_lengths = name_lengths(&self.fields);
    }

    /// Replaces every field named `name` (lower-case) with one `name: value` field after the
    /// others. The head is copied with the new field appended: for the rare message that needs
    /// it (repeated `Content-Length` fields written as one).
    pub(crate) fn replace(&mut self, name: &str, value: &[u8]) {
        self.retain(|n| !n.eq_ignore_ascii_case(name.as_bytes()));
        let mut head = BytesMut::with_capacity(self.head.len() + name.len() + value.len());
        head.extend_from_slice(&self.head);
        let name_start = head.len();
        head.extend_from_slice(name.as_bytes());
        let value_start = head.len();
        head.extend_from_slice(value);
        self.fields
            .extend(FieldSpan::at(name_start..value_start, value_start..head.len()));
        self.head = head.freeze();
        self.name_lengths = name_lengths(&self.fields);
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
        for field in &self.fields {
            match (
                HeaderName::from_bytes(self.name(field)),
                HeaderValue::from_maybe_shared(self.head.slice(widen(&field.value))),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                _ => tracing::warn!(
                    field = %String::from_utf8_lossy(self.name(field)),
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
        let span = FieldSpan::of(&head, &head[0..12], &head[14..24]).expect("span");
        let fields = RawHeaders::new(head, [span].into_iter().collect());
        assert_eq!(fields.get("content-type"), Some(&b"text/plain"[..]));
        assert_eq!(fields.to_header_map()["content-type"], "text/plain");
    }
}
