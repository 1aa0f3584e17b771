//! The counting interface the gateway's throttle phase talks to, whatever counts behind it: the
//! seed's Traffic Manager fan-out ([`crate::publisher::Publisher`]) or Redis
//! ([`crate::redis_counter::RedisCounter`]). Both take events without waiting and feed the
//! same [`crate::decision::DecisionTable`]; what to do when they cannot be reached is the
//! [`FailureMode`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::event::RequestEvent;

/// Where admitted requests are counted across the cluster.
pub trait Counter: Send + Sync + 'static {
    /// Adds an admitted request's keys to the next batch for the counters. Never waits: when
    /// too many keys are pending the new ones are dropped, counted, and `false` returned.
    fn record(&self, event: &RequestEvent) -> bool;

    /// Whether any counter is reachable now; when none is, the [`FailureMode`] applies.
    fn is_reachable(&self) -> bool;

    /// Counters of what happened so far.
    fn stats(&self) -> CounterStats;
}

/// What the gateway does while no counter (TM or Redis) is reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// Admit (WSO2's behaviour), still refusing what this gateway's own count already proves
    /// over the limit.
    #[default]
    FailOpen,
    /// Refuse every request that has a counted key.
    FailClosed,
    /// Enforce `limit / live nodes` (rounded up) on this gateway's own count.
    LocalOnly,
}

impl FailureMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::FailOpen => "fail_open",
            FailureMode::FailClosed => "fail_closed",
            FailureMode::LocalOnly => "local_only",
        }
    }

    /// From the config value (`[apim.throttling] failure_mode`).
    pub fn parse(value: &str) -> Option<FailureMode> {
        match value {
            "fail_open" => Some(FailureMode::FailOpen),
            "fail_closed" => Some(FailureMode::FailClosed),
            "local_only" => Some(FailureMode::LocalOnly),
            _ => None,
        }
    }
}

/// A snapshot of a counter's activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterStats {
    /// Events accepted into the queue.
    pub queued: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// Batches handed to at least one receiver.
    pub batches_sent: u64,
    /// Batches no receiver could take (all down, or their buffers full).
    pub batches_dropped: u64,
    /// Decision frames (or Redis results) applied to the decision table.
    pub decisions_received: u64,
}

/// Shared atomic counters behind [`CounterStats`].
#[derive(Debug, Default)]
pub(crate) struct StatCells {
    pub queued: AtomicU64,
    pub dropped: AtomicU64,
    pub batches_sent: AtomicU64,
    pub batches_dropped: AtomicU64,
    pub decisions_received: AtomicU64,
}

impl StatCells {
    pub fn snapshot(&self) -> CounterStats {
        CounterStats {
            queued: self.queued.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            batches_sent: self.batches_sent.load(Ordering::Relaxed),
            batches_dropped: self.batches_dropped.load(Ordering::Relaxed),
            decisions_received: self.decisions_received.load(Ordering::Relaxed),
        }
    }

    pub fn bump(cell: &AtomicU64) {
        cell.fetch_add(1, Ordering::Relaxed);
    }
}

/// Background tasks that end with their owner (a counter dropped stops its batcher and links).
#[derive(Debug, Default)]
pub(crate) struct OwnedTasks(pub Vec<tokio::task::JoinHandle<()>>);

impl Drop for OwnedTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Logs a recurring event (dropped events, bad frames) at most once per period, with how many
/// happened since the last line, so a dead TM under load or a noisy peer fills no disk.
#[derive(Debug)]
pub(crate) struct BoundedLog {
    what: &'static str,
    period: Duration,
    started: Instant,
    /// Milliseconds since `started` of the last line, plus one (0: never logged).
    last_ms: AtomicU64,
    since_last: AtomicU64,
}

impl BoundedLog {
    pub fn new(what: &'static str) -> Arc<BoundedLog> {
        Arc::new(BoundedLog {
            what,
            period: Duration::from_secs(10),
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            since_last: AtomicU64::new(0),
        })
    }

    pub fn note(&self) {
        self.since_last.fetch_add(1, Ordering::Relaxed);
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
        let last = self.last_ms.load(Ordering::Relaxed);
        let period = u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now.saturating_sub(last) < period {
            return;
        }
        if self
            .last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let n = self.since_last.swap(0, Ordering::Relaxed);
            tracing::warn!(count = n, "throttle: {}", self.what);
        }
    }
}
