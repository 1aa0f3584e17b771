//! Batching of request events between the gateway's requests and a counter's batcher (TM links
//! or Redis): counts are added up per key as requests are admitted ([`PendingCounts`]), so a hot
//! key costs its counter one entry per batch instead of one per request, and a request costs a
//! hash probe per key, not a queue entry and a task wake-up.
//!
//! When a batch leaves ([`BatchWindow`]):
//!
//! - **Promptly**, once some key's pending count is more than [`PROMPT_SHARE`] of its limit
//!   (for a limit under 200, from the first request): leading-edge, so a request that finds the
//!   counter idle for a whole interval is sent at once, and while requests keep coming a batch
//!   leaves one interval after the previous one. This delay is most of the decision latency and
//!   so of the overshoot across nodes.
//! - **Relaxed**, at most [`RELAXED_INTERVAL`] after the first pending request, while every key
//!   is far from its limit. The Traffic Managers' count of a key then lags this gateway's by at
//!   most 0.5 % of the limit, so with n nodes a decision comes at most n × 0.5 % late: the
//!   cross-node overshoot this adds is within the 5 % a limit is held to for a handful of nodes
//!   (past that, `counter = "redis"`). A gateway serving keys far from their limits (most keys,
//!   most of the time) so sends a batch every 100 ms instead of every few, and the TMs receive,
//!   authenticate and count that much less.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::counter::{BoundedLog, CounterStats, StatCells};
use crate::event::RequestEvent;
use crate::shards::Sharded;
use crate::window::WindowQuota;

/// A key whose pending count is more than its limit divided by this is sent promptly.
pub const PROMPT_SHARE: u64 = 200;

/// The longest a batch of counts far from their limits waits.
pub const RELAXED_INTERVAL: Duration = Duration::from_millis(100);

/// Per key: its latest quota and the requests since the last batch.
pub type Pending = HashMap<Box<str>, (WindowQuota, u64), foldhash::fast::RandomState>;

/// Counts of admitted requests not yet handed to a batch, shared by the request threads (which
/// add) and one batcher (which takes them all per batch). Bounded by keys, not requests: past
/// `max_keys` keys pending, a request's new keys are dropped, counted and logged at a bounded
/// rate, and the request itself is never made to wait.
#[derive(Debug)]
pub struct PendingCounts {
    shards: Sharded<Mutex<Pending>>,
    /// Keys pending over all shards (for the bound).
    keys: AtomicUsize,
    max_keys: usize,
    /// Something was added since the batcher last took: the batcher has been woken.
    waiting: AtomicBool,
    /// Some key's pending count is past [`PROMPT_SHARE`] of its limit since the batcher last
    /// took: the batch leaves promptly.
    prompt: AtomicBool,
    wake: Notify,
    pub(crate) stats: StatCells,
    drops: Arc<BoundedLog>,
}

impl PendingCounts {
    /// `what` names the counter in the dropped-events log line.
    pub fn new(max_keys: usize, what: &'static str) -> PendingCounts {
        PendingCounts {
            shards: Sharded::default(),
            keys: AtomicUsize::new(0),
            max_keys: max_keys.max(1),
            waiting: AtomicBool::new(false),
            prompt: AtomicBool::new(false),
            wake: Notify::new(),
            stats: StatCells::default(),
            drops: BoundedLog::new(what),
        }
    }

    /// Adds one request to each of the event's keys; false when a key had to be dropped (too
    /// many keys pending). Never waits but for a shard's lock, held for one hash probe.
    pub fn record(&self, event: &RequestEvent) -> bool {
        let mut complete = true;
        let mut prompt = false;
        for k in event.keys() {
            let mut shard = self.shards.of(k.key).lock().unwrap_or_else(PoisonError::into_inner);
            let pending = if let Some(entry) = shard.get_mut(k.key) {
                *entry = (k.quota, entry.1 + 1);
                entry.1
            } else if self.keys.fetch_add(1, Ordering::Relaxed) < self.max_keys {
                shard.insert(k.key.into(), (k.quota, 1));
                1
            } else {
                self.keys.fetch_sub(1, Ordering::Relaxed);
                complete = false;
                continue;
            };
            prompt |= pending > k.quota.limit / PROMPT_SHARE;
        }
        if complete {
            StatCells::bump(&self.stats.queued);
        } else {
            StatCells::bump(&self.stats.dropped);
            self.drops.note();
        }
        // Read before the swap: while a batch is being collected, requests only read the flags.
        // The batcher is woken when the first count comes, and again when one becomes prompt.
        let flag = if prompt { &self.prompt } else { &self.waiting };
        if !flag.load(Ordering::Acquire) && !flag.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
        }
        complete
    }

    fn is_prompt(&self) -> bool {
        self.prompt.load(Ordering::Acquire)
    }

    /// Waits until something was added since the last [`Self::take`].
    async fn added(&self) {
        while !(self.waiting.load(Ordering::Acquire) || self.is_prompt()) {
            self.wake.notified().await;
        }
    }

    /// Waits until a count becomes prompt, or `deadline`.
    async fn prompt_or(&self, deadline: Instant) {
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        while !self.is_prompt() {
            tokio::select! {
                () = self.wake.notified() => {}
                () = &mut sleep => return,
            }
        }
    }

    /// Moves every pending count into `into`.
    fn take(&self, into: &mut Pending) {
        // Cleared first: a request adding after this wakes the batcher for the next batch.
        self.waiting.store(false, Ordering::SeqCst);
        self.prompt.store(false, Ordering::SeqCst);
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            if shard.is_empty() {
                continue;
            }
            self.keys.fetch_sub(shard.len(), Ordering::Relaxed);
            if into.is_empty() {
                // The common case, one shard's keys: swap maps rather than move entries.
                std::mem::swap(&mut *shard, into);
            } else {
                for (key, (quota, count)) in shard.drain() {
                    match into.get_mut(&key) {
                        Some(entry) => *entry = (quota, entry.1 + count),
                        None => {
                            into.insert(key, (quota, count));
                        }
                    }
                }
            }
        }
    }

    /// Requests recorded and dropped so far (and the batch figures its batcher adds).
    pub fn stats(&self) -> CounterStats {
        self.stats.snapshot()
    }
}

/// When batches may leave: at most one per `interval`, the first after a pause at once.
#[derive(Debug)]
pub struct BatchWindow {
    interval: Duration,
    /// The earliest time the next batch may leave.
    next: Instant,
}

impl BatchWindow {
    pub fn new(interval: Duration) -> BatchWindow {
        BatchWindow {
            interval,
            next: Instant::now(),
        }
    }

    /// Waits until something is pending and the batch may leave (see the module doc: promptly,
    /// at once when the last batch left an interval ago or more; relaxed, within
    /// [`RELAXED_INTERVAL`]), then moves what is pending into `into`.
    pub async fn collect(&mut self, counts: &PendingCounts, into: &mut Pending) {
        counts.added().await;
        if !counts.is_prompt() {
            counts.prompt_or(Instant::now() + RELAXED_INTERVAL).await;
        }
        if Instant::now() < self.next {
            tokio::time::sleep_until(self.next).await;
        }
        counts.take(into);
        self.next = Instant::now() + self.interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &str) -> RequestEvent {
        let mut e = RequestEvent::new();
        e.api(key, "v", WindowQuota::new(10, 1_000));
        e
    }

    #[test]
    fn pending_counts_add_up_per_key_and_are_bounded_by_keys() {
        let counts = PendingCounts::new(3, "test dropped events");
        for key in ["/a", "/a", "/b", "/a", "/c", "/d", "/c"] {
            counts.record(&event(key));
        }
        let mut taken = Pending::default();
        counts.take(&mut taken);
        let mut got: Vec<(String, u64)> = taken.iter().map(|(k, v)| (k.to_string(), v.1)).collect();
        got.sort();
        assert_eq!(got, [("/a:v".into(), 3), ("/b:v".into(), 1), ("/c:v".into(), 2)]);
        let stats = counts.stats();
        assert_eq!((stats.queued, stats.dropped), (6, 1), "the fourth key was dropped");
        // Taken: room again.
        assert!(counts.record(&event("/d")));
        let mut next = Pending::default();
        counts.take(&mut next);
        assert_eq!(next.get("/d:v").map(|p| p.1), Some(1));
    }

    fn far_from_its_limit(key: &str) -> RequestEvent {
        let mut e = RequestEvent::new();
        e.api(key, "v", WindowQuota::new(1_000_000, 60_000));
        e
    }

    #[tokio::test]
    async fn counts_far_from_their_limits_wait_until_one_is_near() {
        let counts = Arc::new(PendingCounts::new(100, "test dropped events"));
        let mut window = BatchWindow::new(Duration::from_millis(2));
        let mut pending = Pending::default();
        // Far from the limit: the batch waits the relaxed interval.
        counts.record(&far_from_its_limit("/far"));
        let started = Instant::now();
        window.collect(&counts, &mut pending).await;
        assert!(started.elapsed() >= RELAXED_INTERVAL, "{:?}", started.elapsed());
        assert_eq!(pending.len(), 1);
        pending.clear();
        // A key near its limit, recorded while a relaxed batch waits, sends it at once.
        counts.record(&far_from_its_limit("/far"));
        let near = {
            let counts = counts.clone();
            tokio::spawn(async move {
                tokio::time::sleep(RELAXED_INTERVAL / 4).await;
                counts.record(&event("/near"));
            })
        };
        let started = Instant::now();
        window.collect(&counts, &mut pending).await;
        let waited = started.elapsed();
        assert!(waited < RELAXED_INTERVAL * 3 / 4, "{waited:?}");
        assert_eq!(pending.len(), 2, "{pending:?}");
        near.await.expect("near");
    }

    #[tokio::test]
    async fn the_first_batch_after_a_pause_leaves_at_once_and_later_ones_wait_an_interval() {
        const INTERVAL: Duration = Duration::from_millis(300);
        let counts = Arc::new(PendingCounts::new(100, "test dropped events"));
        let mut window = BatchWindow::new(INTERVAL);
        let mut pending = Pending::default();
        counts.record(&event("/a"));
        let started = Instant::now();
        window.collect(&counts, &mut pending).await;
        let first = started.elapsed();
        assert!(first < INTERVAL / 2, "idle: sent at once, not after {first:?}");
        assert_eq!(pending.len(), 1);
        pending.clear();
        // Busy: the next batch collects until one interval after the first.
        counts.record(&event("/b"));
        let sender = {
            let counts = counts.clone();
            tokio::spawn(async move {
                tokio::time::sleep(INTERVAL / 3).await;
                counts.record(&event("/c"));
            })
        };
        window.collect(&counts, &mut pending).await;
        assert!(started.elapsed() >= INTERVAL, "{:?}", started.elapsed());
        assert_eq!(pending.len(), 2, "{pending:?}");
        sender.await.expect("sender");
        // Nothing pending: the batcher waits until a request comes.
        pending.clear();
        let idle = tokio::time::timeout(INTERVAL * 2, window.collect(&counts, &mut pending)).await;
        assert!(idle.is_err(), "no batch without requests");
    }
}
