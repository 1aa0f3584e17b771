//! The Traffic Manager server (`[transport.traffic_manager] port`, 9611 + offset): receives
//! event batches from gateways, counts them per key in fixed windows ([`counts`]), and pushes
//! decisions on state change to every subscribed gateway connection, plus the full current
//! state to a gateway that (re)connects.
//!
//! A TM that starts asks its peers (the other nodes' TMs) for the counts of the current windows
//! over the same protocol and keeps, per key, the larger count, so a TM restarted mid-window
//! does not reset a limit. It serves while it syncs; what the sync adds is decided like any
//! other count.
//!
//! Bad frames (unauthenticated, malformed, oversized) are counted by kind and close their
//! connection; the TM keeps serving every other one. Connections are capped, and one that does
//! not complete its Hello in time is dropped. Every task of a TM (connections, sweeping,
//! syncing) lives in the accept task's `JoinSet`, so aborting the handle stops the whole TM.

pub mod counts;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};
use tokio::task::JoinSet;

use crate::counter::BoundedLog;
use crate::decision::Decision;
use crate::window::now_ms;
use crate::wire::body::{EventsView, encode_chunked, put_decision, put_sync_entry};
use crate::wire::{
    self, ClusterSecret, FrameKind, FrameLimits, Message, Session, SyncEntry, WireError, read_frame, write_body,
};
use counts::WindowCounts;

/// Decision frames kept for slow subscribers; one that falls further behind gets the full
/// state again.
const BROADCAST_DEPTH: usize = 1024;

/// How a TM runs.
#[derive(Debug, Clone)]
pub struct TrafficManagerConfig {
    pub node_id: String,
    pub secret: ClusterSecret,
    pub limits: FrameLimits,
    /// Other TMs (`host:port`) to take current-window counts from at start.
    pub peers: Vec<String>,
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    /// How long one peer may take to answer a sync.
    pub sync_timeout: Duration,
}

impl TrafficManagerConfig {
    pub fn new(node_id: impl Into<String>, secret: ClusterSecret) -> TrafficManagerConfig {
        TrafficManagerConfig {
            node_id: node_id.into(),
            secret,
            limits: FrameLimits::default(),
            peers: Vec::new(),
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(5),
            sync_timeout: Duration::from_secs(3),
        }
    }
}

/// What a TM has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TmStats {
    pub connections: u64,
    pub batches: u64,
    /// Entries received (one per key per batch).
    pub entries: u64,
    /// Requests counted (the sum of entries' counts).
    pub requests: u64,
    pub decisions: u64,
    pub bad_unauthenticated: u64,
    pub bad_malformed: u64,
    pub bad_oversized: u64,
    /// Peer entries that raised a count at start.
    pub synced_entries: u64,
}

impl TmStats {
    pub fn bad_frames(&self) -> u64 {
        self.bad_unauthenticated + self.bad_malformed + self.bad_oversized
    }
}

#[derive(Debug, Default)]
struct StatCells {
    connections: AtomicU64,
    batches: AtomicU64,
    entries: AtomicU64,
    requests: AtomicU64,
    decisions: AtomicU64,
    bad_unauthenticated: AtomicU64,
    bad_malformed: AtomicU64,
    bad_oversized: AtomicU64,
    synced_entries: AtomicU64,
}

fn add(cell: &AtomicU64, n: u64) {
    cell.fetch_add(n, Ordering::Relaxed);
}

struct Shared {
    config: TrafficManagerConfig,
    counts: WindowCounts,
    decisions: broadcast::Sender<Arc<Vec<u8>>>,
    stats: StatCells,
    synced: AtomicBool,
    synced_notify: Notify,
    bad_frame_log: Arc<BoundedLog>,
}

impl Shared {
    fn publish(&self, decisions: &[Decision]) {
        if decisions.is_empty() {
            return;
        }
        add(&self.stats.decisions, decisions.len() as u64);
        for body in encode_chunked(decisions, self.config.limits.max_body, put_decision) {
            // No subscriber is not an error: the decision is in the counts for the next one.
            let _ = self.decisions.send(Arc::new(body));
        }
    }

    fn count_bad_frame(&self, err: &WireError) {
        let cell = match err {
            WireError::BadTag => &self.stats.bad_unauthenticated,
            WireError::Oversized { .. } => &self.stats.bad_oversized,
            _ => &self.stats.bad_malformed,
        };
        add(cell, 1);
        tracing::debug!(error = %err, "traffic manager: bad frame");
        self.bad_frame_log.note();
    }
}

/// A running TM; dropping or aborting it stops the TM and closes its listener.
pub struct TrafficManagerHandle {
    local_addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TrafficManagerHandle {
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> TmStats {
        let s = &self.shared.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TmStats {
            connections: get(&s.connections),
            batches: get(&s.batches),
            entries: get(&s.entries),
            requests: get(&s.requests),
            decisions: get(&s.decisions),
            bad_unauthenticated: get(&s.bad_unauthenticated),
            bad_malformed: get(&s.bad_malformed),
            bad_oversized: get(&s.bad_oversized),
            synced_entries: get(&s.synced_entries),
        }
    }

    /// A key's count in its current window.
    pub fn count(&self, key: &str) -> u64 {
        self.shared.counts.count(key, now_ms())
    }

    /// Waits until the start-up sync with the peers has finished (at once without peers).
    pub async fn synced(&self) {
        loop {
            let notified = self.shared.synced_notify.notified();
            if self.shared.synced.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Stops the TM and waits until its listener and connections are closed.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for TrafficManagerHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Starts a TM on `listener`.
pub fn start(listener: TcpListener, config: TrafficManagerConfig) -> std::io::Result<TrafficManagerHandle> {
    let local_addr = listener.local_addr()?;
    let (decisions, _) = broadcast::channel(BROADCAST_DEPTH);
    let shared = Arc::new(Shared {
        config,
        counts: WindowCounts::new(),
        decisions,
        stats: StatCells::default(),
        synced: AtomicBool::new(false),
        synced_notify: Notify::new(),
        bad_frame_log: BoundedLog::new("traffic manager refused bad frames"),
    });
    let task = tokio::spawn(serve(listener, shared.clone()));
    Ok(TrafficManagerHandle {
        local_addr,
        shared,
        task: Some(task),
    })
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut tasks = JoinSet::new();
    tasks.spawn(sweep(shared.clone()));
    tasks.spawn(sync_from_peers(shared.clone()));
    let permits = Arc::new(Semaphore::new(shared.config.max_connections));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::warn!(error = %e, "traffic manager: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "traffic manager: connection limit reached, refusing");
                    continue;
                };
                let shared = shared.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    serve_connection(stream, &shared).await;
                });
            }
            Some(_) = tasks.join_next() => {}
        }
    }
}

async fn sweep(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        shared.counts.sweep(now_ms());
    }
}

async fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    add(&shared.stats.connections, 1);
    let (mut reader, mut writer) = stream.into_split();
    let config = &shared.config;
    let opened = tokio::time::timeout(
        config.handshake_timeout,
        wire::server_handshake(&mut reader, &mut writer, &config.secret, &config.node_id),
    )
    .await;
    let (session, hello) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(err)) => {
            if err.is_bad_frame() {
                shared.count_bad_frame(&err);
            }
            return;
        }
        Err(_) => return,
    };
    let Session { send, recv, .. } = session;
    // Subscribe before reading the full state, so no decision falls between the two.
    let decisions = hello.subscribe.then(|| shared.decisions.subscribe());
    let (replies_tx, replies_rx) = mpsc::channel::<(FrameKind, Vec<u8>)>(4);
    let result = tokio::select! {
        r = read_loop(&mut reader, recv, shared, replies_tx) => r,
        r = write_loop(&mut writer, send, shared, decisions, replies_rx) => r,
    };
    if let Err(err) = result
        && err.is_bad_frame()
    {
        shared.count_bad_frame(&err);
    }
}

async fn read_loop(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    mut key: wire::FrameKey,
    shared: &Shared,
    replies: mpsc::Sender<(FrameKind, Vec<u8>)>,
) -> Result<(), WireError> {
    let mut buf = Vec::new();
    let mut decided = Vec::new();
    loop {
        let (kind, body) = read_frame(reader, &mut key, shared.config.limits, &mut buf).await?;
        match kind {
            FrameKind::Events => {
                let view = EventsView::parse(body)?;
                let now = now_ms();
                let mut requests = 0u64;
                for (key, quota, count) in view.iter() {
                    shared.counts.add(key, quota, count, now, &mut decided);
                    requests = requests.saturating_add(count);
                }
                add(&shared.stats.batches, 1);
                add(&shared.stats.entries, view.len() as u64);
                add(&shared.stats.requests, requests);
                shared.publish(&decided);
                decided.clear();
            }
            FrameKind::SyncRequest => {
                Message::decode(kind, body)?;
                let state = shared.counts.current(now_ms());
                let mut bodies = encode_chunked(&state, shared.config.limits.max_body, put_sync_entry);
                // An empty SyncState ends the answer (with no state, the one body is that).
                if !state.is_empty() {
                    let mut end = Vec::new();
                    Message::SyncState(Vec::new()).encode(&mut end);
                    bodies.push(end);
                }
                for body in bodies {
                    if replies.send((FrameKind::SyncState, body)).await.is_err() {
                        return Ok(());
                    }
                }
            }
            other => {
                return Err(WireError::unexpected(other, "Events or SyncRequest"));
            }
        }
    }
}

async fn write_loop(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    mut key: wire::FrameKey,
    shared: &Shared,
    mut decisions: Option<broadcast::Receiver<Arc<Vec<u8>>>>,
    mut replies: mpsc::Receiver<(FrameKind, Vec<u8>)>,
) -> Result<(), WireError> {
    let mut scratch = Vec::new();
    if decisions.is_some() {
        send_full_state(writer, &mut key, shared, &mut scratch).await?;
    }
    loop {
        tokio::select! {
            reply = replies.recv() => {
                let Some((kind, body)) = reply else { return Ok(()) };
                write_body(writer, &mut key, kind, &body, &mut scratch).await?;
            }
            decision = recv_decision(&mut decisions) => match decision {
                Ok(body) => write_body(writer, &mut key, FrameKind::Decisions, &body, &mut scratch).await?,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    send_full_state(writer, &mut key, shared, &mut scratch).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}

/// The next decision frame, or never for a connection that did not subscribe.
async fn recv_decision(
    decisions: &mut Option<broadcast::Receiver<Arc<Vec<u8>>>>,
) -> Result<Arc<Vec<u8>>, broadcast::error::RecvError> {
    match decisions {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn send_full_state(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    key: &mut wire::FrameKey,
    shared: &Shared,
    scratch: &mut Vec<u8>,
) -> Result<(), WireError> {
    let state = shared.counts.throttled(now_ms());
    if state.is_empty() {
        return Ok(());
    }
    for body in encode_chunked(&state, shared.config.limits.max_body, put_decision) {
        write_body(writer, key, FrameKind::Decisions, &body, scratch).await?;
    }
    Ok(())
}

async fn sync_from_peers(shared: Arc<Shared>) {
    let config = &shared.config;
    for peer in &config.peers {
        match tokio::time::timeout(config.sync_timeout, fetch_peer_state(peer, config)).await {
            Ok(Ok(entries)) => {
                let mut decided = Vec::new();
                let merged = shared.counts.merge(&entries, now_ms(), &mut decided);
                add(&shared.stats.synced_entries, merged as u64);
                shared.publish(&decided);
                tracing::info!(%peer, entries = entries.len(), merged, "traffic manager: took a peer's current windows");
            }
            Ok(Err(err)) => tracing::info!(%peer, error = %err, "traffic manager: peer sync failed"),
            Err(_) => tracing::info!(%peer, "traffic manager: peer sync timed out"),
        }
    }
    shared.synced.store(true, Ordering::Release);
    shared.synced_notify.notify_waiters();
}

/// Asks one peer TM for its current windows.
async fn fetch_peer_state(peer: &str, config: &TrafficManagerConfig) -> Result<Vec<SyncEntry>, WireError> {
    let stream = TcpStream::connect(peer).await?;
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let Session { mut send, mut recv, .. } =
        wire::client_handshake(&mut reader, &mut writer, &config.secret, &config.node_id, false).await?;
    let mut scratch = Vec::new();
    wire::write_message(&mut writer, &mut send, &Message::SyncRequest, &mut scratch).await?;
    let mut entries = Vec::new();
    let mut buf = Vec::new();
    loop {
        match wire::read_message(&mut reader, &mut recv, config.limits, &mut buf).await? {
            (_, Message::SyncState(chunk)) if chunk.is_empty() => return Ok(entries),
            (_, Message::SyncState(chunk)) => entries.extend(chunk),
            (kind, _) => return Err(WireError::unexpected(kind, "SyncState")),
        }
    }
}
