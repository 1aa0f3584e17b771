//! The gateway's data publisher: takes request events without ever making a request wait, and
//! sends them, batched, to the Traffic Managers of every url group; receives the TMs' decisions
//! into the decision table.
//!
//! - **Never blocks.** [`Publisher::record`] adds one to each key's pending count
//!   ([`crate::batch::PendingCounts`], bounded by keys); past the bound new keys are dropped,
//!   counted and logged at a bounded rate (WSO2 failure 3: a dead TM stalling gateways).
//! - **Batches.** One task takes the pending counts and encodes one Events body for all
//!   receivers, at most once per `batch_interval` (a few ms; the first batch after a pause leaves
//!   at once, [`crate::batch::BatchWindow`]).
//! - **Url groups** (`[[apim.throttling.url_group]]`): every batch goes to every group; within a
//!   `loadbalance` group one connected receiver takes it in turn, within a `failover` group the
//!   first connected one. A receiver whose send buffer is full counts as busy, so a slow TM
//!   never backs up into the queue.
//! - **Links.** One task per receiver URL connects, authenticates, writes batches and reads
//!   decisions, and reconnects with exponential backoff when the connection fails.
//! - **Groups change while running.** [`Publisher::set_groups`] swaps the groups the batcher
//!   dispatches to (the node registry's live Traffic Managers come and go): links to receivers
//!   still wanted keep their connection, new ones start, the others stop.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::batch::{BatchWindow, Pending, PendingCounts};
use crate::counter::{BoundedLog, Counter, CounterStats, OwnedTasks, StatCells};
use crate::decision::DecisionTable;
use crate::event::RequestEvent;
use crate::window::now_ms;
use crate::wire::body::EventsEncoder;
use crate::wire::{self, ClusterSecret, FrameKind, FrameLimits, Message, Session, WireError, write_body};

/// A batch body is cut here, half the TMs' default frame limit, whatever the keys' lengths.
const MAX_BATCH_BYTES: usize = 512 * 1024;

/// How receivers within a url group share the batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    LoadBalance,
    Failover,
}

impl GroupKind {
    /// From the config value `type = "loadbalance" | "failover"`.
    pub fn parse(value: &str) -> Option<GroupKind> {
        match value {
            "loadbalance" => Some(GroupKind::LoadBalance),
            "failover" => Some(GroupKind::Failover),
            _ => None,
        }
    }
}

/// One `[[apim.throttling.url_group]]`: receivers as `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlGroup {
    pub kind: GroupKind,
    pub receivers: Vec<String>,
}

/// A receiver URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("traffic manager url \"{url}\": {reason}")]
pub struct UrlError {
    pub url: String,
    pub reason: &'static str,
}

impl UrlGroup {
    /// A group from `traffic_manager_urls` (`tcp://host:port`, WSO2's form, or `host:port`).
    pub fn new(kind: GroupKind, urls: &[String]) -> Result<UrlGroup, UrlError> {
        let receivers = urls
            .iter()
            .map(|u| receiver_address(u))
            .collect::<Result<Vec<_>, _>>()?;
        if receivers.is_empty() {
            return Err(UrlError {
                url: String::new(),
                reason: "a url group needs at least one url",
            });
        }
        Ok(UrlGroup { kind, receivers })
    }
}

/// `tcp://host:port` → `host:port`.
pub fn receiver_address(url: &str) -> Result<String, UrlError> {
    let error = |reason| UrlError {
        url: url.to_owned(),
        reason,
    };
    let rest = match url.split_once("://") {
        Some(("tcp", rest)) => rest,
        Some(("ssl", _)) => {
            return Err(error(
                "ssl:// receivers are not supported; frames are authenticated on tcp://",
            ));
        }
        Some(_) => return Err(error("the scheme must be tcp://")),
        None => url,
    };
    let (host, port) = rest.rsplit_once(':').ok_or(error("a port is required (host:port)"))?;
    if host.is_empty() || rest.contains('/') {
        return Err(error("expected host:port"));
    }
    port.parse::<u16>()
        .map_err(|_| error("the port is not a number from 0 to 65535"))?;
    Ok(rest.to_owned())
}

/// How a publisher runs.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    pub node_id: String,
    pub secret: ClusterSecret,
    /// The groups at start; [`Publisher::set_groups`] replaces them.
    pub groups: Vec<UrlGroup>,
    /// Keys pending for the next batch at most; a request's keys past it are dropped.
    pub max_pending_keys: usize,
    /// The shortest time between two batches (a batch after a pause leaves at once).
    pub batch_interval: Duration,
    /// Keys per Events frame at most (keeps frames far under the TM's body limit).
    pub max_batch_keys: usize,
    /// Batches buffered per receiver while its connection is busy.
    pub link_buffer: usize,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub connect_timeout: Duration,
}

impl PublisherConfig {
    pub fn new(node_id: impl Into<String>, secret: ClusterSecret, groups: Vec<UrlGroup>) -> PublisherConfig {
        PublisherConfig {
            node_id: node_id.into(),
            secret,
            groups,
            max_pending_keys: 65_536,
            batch_interval: Duration::from_millis(2),
            max_batch_keys: 8_192,
            link_buffer: 64,
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// One receiver's state, shared by its link task and the dispatcher.
struct Link {
    address: String,
    connected: AtomicBool,
    batches: mpsc::Sender<Arc<Vec<u8>>>,
}

struct Group {
    kind: GroupKind,
    links: Vec<Arc<Link>>,
    next: AtomicUsize,
}

impl Group {
    /// Hands a batch to one receiver of the group; false when none could take it.
    fn dispatch(&self, batch: &Arc<Vec<u8>>) -> bool {
        let n = self.links.len();
        let start = match self.kind {
            GroupKind::LoadBalance => self.next.fetch_add(1, Ordering::Relaxed),
            GroupKind::Failover => 0,
        };
        (0..n).any(|i| {
            let link = &self.links[(start + i) % n];
            link.connected.load(Ordering::Acquire) && link.batches.try_send(batch.clone()).is_ok()
        })
    }
}

struct Shared {
    pending: PendingCounts,
    /// Swapped whole by [`Publisher::set_groups`]; read per batch and per request.
    groups: ArcSwap<Vec<Group>>,
}

/// A receiver's link and the task that serves it; dropping it stops the task.
struct RunningLink {
    link: Arc<Link>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RunningLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The TM fan-out counter (see the module doc).
pub struct Publisher {
    shared: Arc<Shared>,
    config: Arc<PublisherConfig>,
    decisions: Arc<DecisionTable>,
    /// One running link per receiver address, over all groups.
    links: Mutex<HashMap<String, RunningLink>>,
    _batcher: OwnedTasks,
}

impl Publisher {
    /// Starts the batcher and one link per receiver; decisions go into `decisions`.
    pub fn start(config: PublisherConfig, decisions: Arc<DecisionTable>) -> Publisher {
        let config = Arc::new(config);
        let shared = Arc::new(Shared {
            pending: PendingCounts::new(
                config.max_pending_keys,
                "publisher dropped events (too many keys pending)",
            ),
            groups: ArcSwap::from_pointee(Vec::new()),
        });
        let batcher = tokio::spawn(run_batcher(shared.clone(), config.clone()));
        let publisher = Publisher {
            shared,
            config: config.clone(),
            decisions,
            links: Mutex::new(HashMap::new()),
            _batcher: OwnedTasks(vec![batcher]),
        };
        publisher.set_groups(&config.groups);
        publisher
    }

    /// Sends from now on to `groups`: receivers already linked keep their connection, new ones
    /// get a link, links to receivers no group names any more stop.
    pub fn set_groups(&self, groups: &[UrlGroup]) {
        let mut links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
        let wanted: HashSet<&String> = groups.iter().flat_map(|g| &g.receivers).collect();
        links.retain(|address, _| wanted.contains(address));
        let groups = groups
            .iter()
            .map(|group| Group {
                kind: group.kind,
                links: group
                    .receivers
                    .iter()
                    .map(|address| {
                        let running = links.entry(address.clone()).or_insert_with(|| self.start_link(address));
                        running.link.clone()
                    })
                    .collect(),
                next: AtomicUsize::new(0),
            })
            .collect();
        self.shared.groups.store(Arc::new(groups));
    }

    fn start_link(&self, address: &str) -> RunningLink {
        let (tx, rx) = mpsc::channel(self.config.link_buffer.max(1));
        let link = Arc::new(Link {
            address: address.to_owned(),
            connected: AtomicBool::new(false),
            batches: tx,
        });
        let task = tokio::spawn(run_link(link.clone(), rx, self.config.clone(), self.decisions.clone()));
        RunningLink { link, task }
    }

    /// Receivers connected now, over all groups.
    pub fn connected_receivers(&self) -> usize {
        self.shared
            .groups
            .load()
            .iter()
            .flat_map(|g| &g.links)
            .filter(|l| l.connected.load(Ordering::Acquire))
            .count()
    }
}

impl Counter for Publisher {
    fn record(&self, event: &RequestEvent) -> bool {
        self.shared.pending.record(event)
    }

    fn is_reachable(&self) -> bool {
        self.connected_receivers() > 0
    }

    fn stats(&self) -> CounterStats {
        self.shared.pending.stats()
    }
}

async fn run_batcher(shared: Arc<Shared>, config: Arc<PublisherConfig>) {
    let mut pending = Pending::default();
    let mut encoder = EventsEncoder::default();
    let mut window = BatchWindow::new(config.batch_interval);
    loop {
        window.collect(&shared.pending, &mut pending).await;
        let mut entries = 0;
        for (key, (quota, count)) in pending.drain() {
            encoder.push(&key, quota, count);
            entries += 1;
            if encoder.body_len() >= MAX_BATCH_BYTES || entries >= config.max_batch_keys {
                dispatch(&shared, Arc::new(encoder.finish()));
                entries = 0;
            }
        }
        if !encoder.is_empty() {
            dispatch(&shared, Arc::new(encoder.finish()));
        }
    }
}

/// Hands one batch to every group.
fn dispatch(shared: &Shared, batch: Arc<Vec<u8>>) {
    let mut taken = false;
    for group in shared.groups.load().iter() {
        if group.dispatch(&batch) {
            taken = true;
        } else {
            StatCells::bump(&shared.pending.stats.batches_dropped);
        }
    }
    if taken {
        StatCells::bump(&shared.pending.stats.batches_sent);
    }
}

async fn run_link(
    link: Arc<Link>,
    mut batches: mpsc::Receiver<Arc<Vec<u8>>>,
    config: Arc<PublisherConfig>,
    decisions: Arc<DecisionTable>,
) {
    let failures = BoundedLog::new("publisher could not reach a traffic manager");
    let mut backoff = config.reconnect_min;
    loop {
        let connected = tokio::time::timeout(config.connect_timeout, connect(&link.address, &config)).await;
        match connected {
            Ok(Ok((stream, session))) => {
                backoff = config.reconnect_min;
                link.connected.store(true, Ordering::Release);
                tracing::debug!(receiver = %link.address, tm = %session.peer_node_id, "publisher: connected");
                let result = serve_link(stream, session, &mut batches, &decisions).await;
                link.connected.store(false, Ordering::Release);
                tracing::info!(receiver = %link.address, result = ?result.err(), "publisher: connection ended");
            }
            Ok(Err(err)) => {
                tracing::debug!(receiver = %link.address, error = %err, "publisher: connect failed");
                failures.note();
            }
            Err(_) => failures.note(),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(config.reconnect_max);
    }
}

async fn connect(address: &str, config: &PublisherConfig) -> Result<(TcpStream, Session), WireError> {
    let mut stream = TcpStream::connect(address).await?;
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.split();
    let session = wire::client_handshake(&mut reader, &mut writer, &config.secret, &config.node_id, true).await?;
    Ok((stream, session))
}

async fn serve_link(
    stream: TcpStream,
    session: Session,
    batches: &mut mpsc::Receiver<Arc<Vec<u8>>>,
    decisions: &DecisionTable,
) -> Result<(), WireError> {
    let Session { mut send, mut recv, .. } = session;
    let (mut reader, mut writer) = stream.into_split();
    let read = async {
        let mut buf = Vec::new();
        loop {
            match wire::read_message(&mut reader, &mut recv, FrameLimits::default(), &mut buf).await? {
                (_, Message::Decisions(list)) => decisions.apply(&list, now_ms()),
                (kind, _) => return Err(WireError::unexpected(kind, "Decisions")),
            }
        }
    };
    let write = async {
        let mut scratch = Vec::new();
        while let Some(batch) = batches.recv().await {
            write_body(&mut writer, &mut send, FrameKind::Events, &batch, &mut scratch).await?;
        }
        Ok(())
    };
    tokio::select! {
        r = read => r,
        r = write => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_urls() {
        assert_eq!(receiver_address("tcp://node1:9611"), Ok("node1:9611".to_owned()));
        assert_eq!(receiver_address("127.0.0.1:9612"), Ok("127.0.0.1:9612".to_owned()));
        assert_eq!(receiver_address("tcp://[::1]:9611"), Ok("[::1]:9611".to_owned()));
        for bad in [
            "ssl://node1:9711",
            "http://x:1",
            "tcp://node1",
            "tcp://:9611",
            "tcp://h:99999",
            "tcp://h:1/x",
        ] {
            let err = receiver_address(bad).expect_err(bad);
            assert_eq!(err.url, bad);
        }
        assert!(UrlGroup::new(GroupKind::Failover, &[]).is_err());
        assert_eq!(GroupKind::parse("loadbalance"), Some(GroupKind::LoadBalance));
        assert_eq!(GroupKind::parse("failover"), Some(GroupKind::Failover));
        assert_eq!(GroupKind::parse("roundrobin"), None);
    }
}
