//! Frame bodies: integers are LEB128 varints, strings a varint length and UTF-8 bytes, lists a
//! varint count and their items. Every decoder checks lengths against the bytes present before
//! it allocates, and refuses trailing bytes.
//!
//! | kind | body |
//! |---|---|
//! | Hello | flags u8 (bit 0: send me decisions) · nonce\[16\] · node id |
//! | Welcome | nonce\[16\] · node id |
//! | Events | n · n × (key · limit · window ms · count) |
//! | Decisions | n · n × (key · throttled u8 · until ms) |
//! | SyncRequest | (empty) |
//! | SyncState | n · n × (key · limit · window ms · window start ms · count) |
//!
//! The TM reads event batches through [`EventsView`], which validates a batch whole (so a bad
//! batch is refused, never half counted) and then lends its keys from the frame buffer.

use super::{FrameKind, NONCE_LEN, WireError};
use crate::decision::Decision;
use crate::window::WindowQuota;

/// Longest key accepted (WSO2 keys are contexts, versions, templates and user names).
pub const MAX_KEY_BYTES: usize = 4096;
const SUBSCRIBE_FLAG: u8 = 1;

/// A connection's first frame, client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub node_id: String,
    pub nonce: [u8; NONCE_LEN],
    /// Push decisions to this connection (a gateway), as opposed to a sender that only
    /// publishes or a peer TM that syncs.
    pub subscribe: bool,
}

/// The server's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub node_id: String,
    pub nonce: [u8; NONCE_LEN],
}

/// A key's count since the publisher's last batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountEntry {
    pub key: String,
    pub quota: WindowQuota,
    pub count: u64,
}

/// A key's count in a window a TM is still counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEntry {
    pub key: String,
    pub quota: WindowQuota,
    pub window_start_ms: u64,
    pub count: u64,
}

/// Every message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Hello(Hello),
    Welcome(Welcome),
    Events(Vec<CountEntry>),
    Decisions(Vec<Decision>),
    SyncRequest,
    SyncState(Vec<SyncEntry>),
}

impl Message {
    /// Appends the body to `out`; returns the frame kind to seal it as.
    pub fn encode(&self, out: &mut Vec<u8>) -> FrameKind {
        match self {
            Message::Hello(hello) => {
                out.push(if hello.subscribe { SUBSCRIBE_FLAG } else { 0 });
                out.extend_from_slice(&hello.nonce);
                put_str(out, &hello.node_id);
                FrameKind::Hello
            }
            Message::Welcome(welcome) => {
                out.extend_from_slice(&welcome.nonce);
                put_str(out, &welcome.node_id);
                FrameKind::Welcome
            }
            Message::Events(entries) => {
                put_list(out, entries, |out, e| put_count(out, &e.key, e.quota, e.count));
                FrameKind::Events
            }
            Message::Decisions(decisions) => {
                put_list(out, decisions, put_decision);
                FrameKind::Decisions
            }
            Message::SyncRequest => FrameKind::SyncRequest,
            Message::SyncState(entries) => {
                put_list(out, entries, put_sync_entry);
                FrameKind::SyncState
            }
        }
    }

    /// Decodes a body of `kind`.
    pub fn decode(kind: FrameKind, body: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader { body, pos: 0, kind };
        let message = match kind {
            FrameKind::Hello => {
                let flags = r.byte()?;
                let nonce = r.nonce()?;
                Message::Hello(Hello {
                    subscribe: flags & SUBSCRIBE_FLAG != 0,
                    nonce,
                    node_id: r.str()?.to_owned(),
                })
            }
            FrameKind::Welcome => {
                let nonce = r.nonce()?;
                Message::Welcome(Welcome {
                    nonce,
                    node_id: r.str()?.to_owned(),
                })
            }
            FrameKind::Events => {
                let view = EventsView::parse(body)?;
                return Ok(Message::Events(
                    view.iter()
                        .map(|(key, quota, count)| CountEntry {
                            key: key.to_owned(),
                            quota,
                            count,
                        })
                        .collect(),
                ));
            }
            FrameKind::Decisions => {
                let n = r.list_len()?;
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    let key = r.str()?.to_owned();
                    let throttled = match r.byte()? {
                        0 => false,
                        1 => true,
                        _ => return Err(r.malformed("throttled is neither 0 nor 1")),
                    };
                    out.push(Decision {
                        key,
                        throttled,
                        until_ms: r.varint()?,
                    });
                }
                Message::Decisions(out)
            }
            FrameKind::SyncRequest => Message::SyncRequest,
            FrameKind::SyncState => {
                let n = r.list_len()?;
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    let key = r.str()?.to_owned();
                    let quota = r.quota()?;
                    out.push(SyncEntry {
                        key,
                        quota,
                        window_start_ms: r.varint()?,
                        count: r.varint()?,
                    });
                }
                Message::SyncState(out)
            }
        };
        r.end()?;
        Ok(message)
    }
}

/// A Decisions item.
pub fn put_decision(out: &mut Vec<u8>, d: &Decision) {
    put_str(out, &d.key);
    out.push(u8::from(d.throttled));
    put_varint(out, d.until_ms);
}

/// A SyncState item.
pub fn put_sync_entry(out: &mut Vec<u8>, e: &SyncEntry) {
    put_str(out, &e.key);
    put_varint(out, e.quota.limit);
    put_varint(out, e.quota.window_ms);
    put_varint(out, e.window_start_ms);
    put_varint(out, e.count);
}

fn put_list<T>(out: &mut Vec<u8>, items: &[T], put: impl Fn(&mut Vec<u8>, &T)) {
    put_varint(out, items.len() as u64);
    for item in items {
        put(out, item);
    }
}

/// List bodies of at most `max_body` bytes holding `items` in order (at least one body, empty
/// when there are no items): how a long list (a TM's full state, a sync answer) crosses the
/// frame size limit. Keys are at most [`MAX_KEY_BYTES`], so any item fits a default body.
pub fn encode_chunked<T>(items: &[T], max_body: usize, put: impl Fn(&mut Vec<u8>, &T)) -> Vec<Vec<u8>> {
    // Room for the count varint in front.
    let room = max_body.saturating_sub(10);
    let mut bodies = Vec::new();
    let mut entries = Vec::new();
    let mut item = Vec::new();
    let mut count = 0u64;
    let finish = |entries: &mut Vec<u8>, count: u64| {
        let mut body = Vec::with_capacity(entries.len() + 10);
        put_varint(&mut body, count);
        body.append(entries);
        body
    };
    for it in items {
        item.clear();
        put(&mut item, it);
        if count > 0 && entries.len() + item.len() > room {
            bodies.push(finish(&mut entries, count));
            count = 0;
        }
        entries.extend_from_slice(&item);
        count += 1;
    }
    if count > 0 || bodies.is_empty() {
        bodies.push(finish(&mut entries, count));
    }
    bodies
}

/// Builds an Events body entry by entry, without owning the keys.
#[derive(Debug, Default)]
pub struct EventsEncoder {
    entries: Vec<u8>,
    count: u64,
}

impl EventsEncoder {
    pub fn push(&mut self, key: &str, quota: WindowQuota, count: u64) {
        put_count(&mut self.entries, key, quota, count);
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes so far (to cut batches below the frame limit).
    pub fn body_len(&self) -> usize {
        self.entries.len() + 10
    }

    /// The body; the encoder is empty again.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.entries.len() + 10);
        put_varint(&mut body, self.count);
        body.append(&mut self.entries);
        self.count = 0;
        body
    }
}

/// A validated Events body, lending its keys.
#[derive(Debug, Clone, Copy)]
pub struct EventsView<'a> {
    entries: &'a [u8],
    len: usize,
}

impl<'a> EventsView<'a> {
    /// Checks the whole batch.
    pub fn parse(body: &'a [u8]) -> Result<EventsView<'a>, WireError> {
        let mut r = Reader {
            body,
            pos: 0,
            kind: FrameKind::Events,
        };
        let len = r.list_len()?;
        let start = r.pos;
        for _ in 0..len {
            r.str()?;
            r.quota()?;
            r.varint()?;
        }
        r.end()?;
        Ok(EventsView {
            entries: &body[start..],
            len,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// (key, quota, count) per entry.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, WindowQuota, u64)> + 'a {
        let mut r = Reader {
            body: self.entries,
            pos: 0,
            kind: FrameKind::Events,
        };
        // Validated by `parse`: a failure here cannot happen, and would only end the batch early.
        (0..self.len).map_while(move |_| Some((r.str().ok()?, r.quota().ok()?, r.varint().ok()?)))
    }
}

fn put_count(out: &mut Vec<u8>, key: &str, quota: WindowQuota, count: u64) {
    put_str(out, key);
    put_varint(out, quota.limit);
    put_varint(out, quota.window_ms);
    put_varint(out, count);
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_str(out: &mut Vec<u8>, value: &str) {
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

struct Reader<'a> {
    body: &'a [u8],
    pos: usize,
    kind: FrameKind,
}

impl<'a> Reader<'a> {
    fn malformed(&self, reason: &'static str) -> WireError {
        WireError::Malformed {
            kind: self.kind,
            reason,
        }
    }

    fn byte(&mut self) -> Result<u8, WireError> {
        let b = *self.body.get(self.pos).ok_or(self.malformed("ends early"))?;
        self.pos += 1;
        Ok(b)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(self.malformed("length overflows"))?;
        let out = self.body.get(self.pos..end).ok_or(self.malformed("ends early"))?;
        self.pos = end;
        Ok(out)
    }

    fn nonce(&mut self) -> Result<[u8; NONCE_LEN], WireError> {
        let mut out = [0u8; NONCE_LEN];
        out.copy_from_slice(self.bytes(NONCE_LEN)?);
        Ok(out)
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(self.malformed("varint overflows 64 bits"));
            }
            value |= part << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed("varint longer than 10 bytes"))
    }

    /// A list's length, which cannot exceed the bytes left (every item takes at least one).
    fn list_len(&mut self) -> Result<usize, WireError> {
        let n = self.varint()?;
        let left = (self.body.len() - self.pos) as u64;
        if n > left {
            return Err(self.malformed("more items than bytes"));
        }
        Ok(n as usize)
    }

    fn str(&mut self) -> Result<&'a str, WireError> {
        let len = self.varint()?;
        if len > MAX_KEY_BYTES as u64 {
            return Err(self.malformed("string longer than 4096 bytes"));
        }
        let bytes = self.bytes(len as usize)?;
        std::str::from_utf8(bytes).map_err(|_| self.malformed("string is not UTF-8"))
    }

    fn quota(&mut self) -> Result<WindowQuota, WireError> {
        let limit = self.varint()?;
        let window_ms = self.varint()?;
        WindowQuota::new(limit, window_ms).ok_or(self.malformed("zero limit or window"))
    }

    fn end(&self) -> Result<(), WireError> {
        if self.pos == self.body.len() {
            Ok(())
        } else {
            Err(self.malformed("bytes after the last item"))
        }
    }
}
