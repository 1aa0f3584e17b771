//! The Traffic Manager protocol: the one definition of its frames, their authentication and
//! their size limits. Gateways (publishers), TMs and restarting TMs asking peers for counts all
//! speak it over one TCP connection each, in both directions.
//!
//! A frame is an 8-byte header, a body and a 32-byte tag:
//!
//! ```text
//! "PT" | version u8 (1) | kind u8 | body length u32 LE | body | HMAC-SHA256 tag
//! ```
//!
//! The tag covers the frame's sequence number on its connection and direction (not sent: both
//! ends count, and TCP keeps order), the header and the body, under a key that only holders of
//! the cluster secret can derive. A connection opens with `Hello` (client nonce) and `Welcome`
//! (server nonce), tagged under the secret's hello keys; every later frame is tagged under
//! session keys derived from both nonces, one per direction. So a recorded frame replayed on
//! another connection, or again on the same one, or reflected back to its sender, fails its tag.
//!
//! A frame whose header announces more than [`FrameLimits::max_body`] is refused before its body
//! is read. Any refusal is a [`WireError`]; a connection that produced one is closed, since its
//! framing or its authenticity can no longer be trusted. Bodies are in [`body`].

pub mod body;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub use body::{CountEntry, EventsView, Hello, Message, SyncEntry, Welcome};

const MAGIC: [u8; 2] = *b"PT";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 8;
pub const TAG_LEN: usize = 32;
/// Session nonces' length.
pub const NONCE_LEN: usize = 16;
/// Shortest accepted cluster secret.
pub const MIN_SECRET_LEN: usize = 16;

/// Why a frame, or a connection, was refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection closed")]
    Closed,
    #[error("frame truncated: {0}")]
    Truncated(&'static str),
    #[error("not a Portico throttle frame (bad magic)")]
    BadMagic,
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("frame body of {len} bytes exceeds the limit of {max}")]
    Oversized { len: usize, max: usize },
    #[error("frame failed authentication (wrong cluster secret, replay or corruption)")]
    BadTag,
    #[error("malformed {kind:?} body: {reason}")]
    Malformed { kind: FrameKind, reason: &'static str },
    #[error("unexpected {got:?} frame (expected {expected})")]
    Unexpected { got: FrameKind, expected: &'static str },
    #[error("the cluster secret must be at least {MIN_SECRET_LEN} bytes")]
    ShortSecret,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl WireError {
    pub fn unexpected(got: FrameKind, expected: &'static str) -> WireError {
        WireError::Unexpected { got, expected }
    }

    /// Whether the peer is at fault (a bad frame to count), rather than the connection's end or
    /// an I/O failure.
    pub fn is_bad_frame(&self) -> bool {
        !matches!(self, WireError::Closed | WireError::Io(_) | WireError::ShortSecret)
    }
}

/// Frame kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Client → server: node id, client nonce, whether to receive decisions or to sync.
    Hello = 1,
    /// Server → client: node id, server nonce.
    Welcome = 2,
    /// Publisher → TM: counts per key since the last batch.
    Events = 3,
    /// TM → gateway: decisions (state changes, or the full state after a (re)connect).
    Decisions = 4,
    /// Restarted TM → peer TM: send me your current windows.
    SyncRequest = 5,
    /// Peer TM → restarted TM: counts of the current windows.
    SyncState = 6,
}

impl FrameKind {
    fn from_u8(value: u8) -> Result<FrameKind, WireError> {
        Ok(match value {
            1 => FrameKind::Hello,
            2 => FrameKind::Welcome,
            3 => FrameKind::Events,
            4 => FrameKind::Decisions,
            5 => FrameKind::SyncRequest,
            6 => FrameKind::SyncState,
            other => return Err(WireError::UnknownKind(other)),
        })
    }
}

/// Size limits a reader enforces.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    pub max_body: usize,
}

impl Default for FrameLimits {
    /// 1 MiB: about 20,000 aggregated keys per batch, far above a few ms of traffic.
    fn default() -> Self {
        FrameLimits { max_body: 1 << 20 }
    }
}

/// The cluster's shared secret (the binary derives it from the shared primary key).
#[derive(Clone)]
pub struct ClusterSecret {
    key: hmac::Key,
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

/// Which end of a connection a key tags frames for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    fn label(self) -> &'static [u8] {
        match self {
            Direction::ClientToServer => b"c2s",
            Direction::ServerToClient => b"s2c",
        }
    }
}

impl ClusterSecret {
    pub fn new(secret: &[u8]) -> Result<ClusterSecret, WireError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(WireError::ShortSecret);
        }
        let root = hmac::Key::new(hmac::HMAC_SHA256, b"portico throttle protocol v1");
        let derived = hmac::sign(&root, secret);
        Ok(ClusterSecret {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        })
    }

    fn derive(&self, parts: &[&[u8]]) -> hmac::Key {
        let mut ctx = hmac::Context::with_key(&self.key);
        for part in parts {
            ctx.update(part);
        }
        hmac::Key::new(hmac::HMAC_SHA256, ctx.sign().as_ref())
    }

    /// The key of a connection's first frame in `direction` (Hello or Welcome).
    pub fn hello_key(&self, direction: Direction) -> FrameKey {
        FrameKey::new(self.derive(&[b"hello", direction.label()]))
    }

    /// The key of every later frame in `direction`.
    pub fn session_key(&self, direction: Direction, client_nonce: &[u8], server_nonce: &[u8]) -> FrameKey {
        FrameKey::new(self.derive(&[b"session", direction.label(), client_nonce, server_nonce]))
    }
}

/// A fresh random nonce.
pub fn nonce() -> [u8; NONCE_LEN] {
    let mut out = [0u8; NONCE_LEN];
    // The system generator fails only if the OS has none; a zero nonce then still yields keys
    // unique per the peer's nonce.
    let _ = aws_lc_rs::rand::fill(&mut out);
    out
}

/// One direction's key and frame counter.
pub struct FrameKey {
    key: hmac::Key,
    sequence: u64,
}

impl FrameKey {
    fn new(key: hmac::Key) -> FrameKey {
        FrameKey { key, sequence: 0 }
    }

    fn tag(&self, header: &[u8], body: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&self.sequence.to_le_bytes());
        ctx.update(header);
        ctx.update(body);
        ctx.sign()
    }

    /// Appends the framed, tagged `body` to `out`.
    pub fn seal(&mut self, kind: FrameKind, body: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
        let len = u32::try_from(body.len()).map_err(|_| WireError::Oversized {
            len: body.len(),
            max: u32::MAX as usize,
        })?;
        let mut header = [0u8; HEADER_LEN];
        header[..2].copy_from_slice(&MAGIC);
        header[2] = VERSION;
        header[3] = kind as u8;
        header[4..].copy_from_slice(&len.to_le_bytes());
        let tag = self.tag(&header, body);
        self.sequence += 1;
        out.reserve(HEADER_LEN + body.len() + TAG_LEN);
        out.extend_from_slice(&header);
        out.extend_from_slice(body);
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Checks a frame's tag; on success the frame counts as received.
    fn verify(&mut self, header: &[u8], body: &[u8], tag: &[u8]) -> Result<(), WireError> {
        let expected = self.tag(header, body);
        verify_slices_are_equal(expected.as_ref(), tag).map_err(|_| WireError::BadTag)?;
        self.sequence += 1;
        Ok(())
    }

    /// Opens one whole frame held in `frame` (header, body, tag, nothing after).
    pub fn open<'a>(&mut self, frame: &'a [u8], limits: FrameLimits) -> Result<(FrameKind, &'a [u8]), WireError> {
        let header = frame
            .get(..HEADER_LEN)
            .ok_or(WireError::Truncated("shorter than a header"))?;
        let (kind, len) = parse_header(header, limits)?;
        let rest = &frame[HEADER_LEN..];
        if rest.len() < len + TAG_LEN {
            return Err(WireError::Truncated("shorter than its header says"));
        }
        if rest.len() > len + TAG_LEN {
            return Err(WireError::Malformed {
                kind,
                reason: "bytes after the tag",
            });
        }
        let (body, tag) = rest.split_at(len);
        self.verify(header, body, tag)?;
        Ok((kind, body))
    }
}

fn parse_header(header: &[u8], limits: FrameLimits) -> Result<(FrameKind, usize), WireError> {
    if header[..2] != MAGIC {
        return Err(WireError::BadMagic);
    }
    if header[2] != VERSION {
        return Err(WireError::UnsupportedVersion(header[2]));
    }
    let kind = FrameKind::from_u8(header[3])?;
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&header[4..HEADER_LEN]);
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len > limits.max_body {
        return Err(WireError::Oversized {
            len,
            max: limits.max_body,
        });
    }
    Ok((kind, len))
}

/// Reads, checks and authenticates the next frame from `reader` into `buf` (reused between
/// frames); returns its kind and body. The body is read only once the header passed.
pub async fn read_frame<'b, R: AsyncRead + Unpin>(
    reader: &mut R,
    key: &mut FrameKey,
    limits: FrameLimits,
    buf: &'b mut Vec<u8>,
) -> Result<(FrameKind, &'b [u8]), WireError> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match reader.read(&mut header[filled..]).await? {
            0 if filled == 0 => return Err(WireError::Closed),
            0 => return Err(WireError::Truncated("connection closed inside a header")),
            n => filled += n,
        }
    }
    let (kind, len) = parse_header(&header, limits)?;
    buf.clear();
    buf.resize(len + TAG_LEN, 0);
    reader.read_exact(buf).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => WireError::Truncated("connection closed inside a frame"),
        _ => WireError::Io(e),
    })?;
    let (body, tag) = buf.split_at(len);
    key.verify(&header, body, tag)?;
    Ok((kind, &buf[..len]))
}

/// Seals `message` and writes it out.
pub async fn write_message<W: AsyncWrite + Unpin>(
    writer: &mut W,
    key: &mut FrameKey,
    message: &Message,
    scratch: &mut Vec<u8>,
) -> Result<(), WireError> {
    let mut body = Vec::new();
    let kind = message.encode(&mut body);
    write_body(writer, key, kind, &body, scratch).await
}

/// Seals an already encoded body and writes it out.
pub async fn write_body<W: AsyncWrite + Unpin>(
    writer: &mut W,
    key: &mut FrameKey,
    kind: FrameKind,
    body: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<(), WireError> {
    scratch.clear();
    key.seal(kind, body, scratch)?;
    writer.write_all(scratch).await?;
    Ok(())
}

/// An established connection's keys, for one end.
pub struct Session {
    pub send: FrameKey,
    pub recv: FrameKey,
    /// The other end's node id, as its Hello or Welcome said.
    pub peer_node_id: String,
}

/// Reads one frame and decodes it whole (handshakes, sync answers, decisions).
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    key: &mut FrameKey,
    limits: FrameLimits,
    buf: &mut Vec<u8>,
) -> Result<(FrameKind, Message), WireError> {
    let (kind, body) = read_frame(reader, key, limits, buf).await?;
    Ok((kind, Message::decode(kind, body)?))
}

impl Session {
    fn new(secret: &ClusterSecret, client: bool, nonces: (&[u8], &[u8]), peer_node_id: String) -> Session {
        let (ours, theirs) = if client {
            (Direction::ClientToServer, Direction::ServerToClient)
        } else {
            (Direction::ServerToClient, Direction::ClientToServer)
        };
        let (client_nonce, server_nonce) = nonces;
        Session {
            send: secret.session_key(ours, client_nonce, server_nonce),
            recv: secret.session_key(theirs, client_nonce, server_nonce),
            peer_node_id,
        }
    }
}

/// The client's side of the opening: sends Hello, checks Welcome, derives the session keys.
pub async fn client_handshake<R, W>(
    reader: &mut R,
    writer: &mut W,
    secret: &ClusterSecret,
    node_id: &str,
    subscribe: bool,
) -> Result<Session, WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let client_nonce = nonce();
    let hello = Message::Hello(Hello {
        node_id: node_id.to_owned(),
        nonce: client_nonce,
        subscribe,
    });
    let mut buf = Vec::new();
    write_message(
        writer,
        &mut secret.hello_key(Direction::ClientToServer),
        &hello,
        &mut buf,
    )
    .await?;
    let mut welcome_key = secret.hello_key(Direction::ServerToClient);
    let (kind, message) = read_message(reader, &mut welcome_key, FrameLimits::default(), &mut buf).await?;
    let Message::Welcome(welcome) = message else {
        return Err(WireError::unexpected(kind, "Welcome"));
    };
    Ok(Session::new(
        secret,
        true,
        (&client_nonce, &welcome.nonce),
        welcome.node_id,
    ))
}

/// The server's side of the opening: checks Hello, answers Welcome, derives the session keys.
/// Returns the client's Hello too (its node id and whether it subscribes to decisions).
pub async fn server_handshake<R, W>(
    reader: &mut R,
    writer: &mut W,
    secret: &ClusterSecret,
    node_id: &str,
) -> Result<(Session, Hello), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    let mut hello_key = secret.hello_key(Direction::ClientToServer);
    let (kind, message) = read_message(reader, &mut hello_key, FrameLimits::default(), &mut buf).await?;
    let Message::Hello(hello) = message else {
        return Err(WireError::unexpected(kind, "Hello"));
    };
    let server_nonce = nonce();
    let welcome = Message::Welcome(Welcome {
        node_id: node_id.to_owned(),
        nonce: server_nonce,
    });
    write_message(
        writer,
        &mut secret.hello_key(Direction::ServerToClient),
        &welcome,
        &mut buf,
    )
    .await?;
    let session = Session::new(secret, false, (&hello.nonce, &server_nonce), hello.node_id.clone());
    Ok((session, hello))
}

#[cfg(test)]
mod tests;
