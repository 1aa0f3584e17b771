//! The gateway's side of throttling state: the decision table (key → throttled until) that the
//! TMs (or Redis results) fill, and the local counts that pre-empt a decision already certain
//! from this gateway's own traffic.
//!
//! Reads happen on every request and writes a few times per key and window, so the table is an
//! immutable map behind an [`ArcSwap`]: a lookup is a lock-free load and one hash probe, and a
//! writer (one decision frame at a time) copies the map, applies the frame and swaps it in.
//! Decisions carry their end; an expired one is ignored by readers and dropped by the next
//! write, so a gateway whose TM died is never left refusing a key past its window.
//!
//! Local counts are per key and window in one `AtomicU64` (window number in the high half,
//! count in the low half), found through sharded read-mostly maps; a new key takes its shard's
//! write lock once per sweep period.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use arc_swap::ArcSwap;
use foldhash::fast::RandomState;

use crate::shards::Sharded;
use crate::window::{Window, WindowQuota};

/// A TM's verdict on a key: throttled until `until_ms` (the end of the window), or no longer
/// throttled (sent when a raised limit lifts a decision mid-window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub key: String,
    pub throttled: bool,
    pub until_ms: u64,
}

type Table = HashMap<Box<str>, u64, RandomState>;

/// Key → throttled until (ms since the epoch).
#[derive(Debug)]
pub struct DecisionTable {
    table: ArcSwap<Table>,
    /// Writers copy the whole map; one at a time so that none loses another's update.
    writer: Mutex<()>,
}

impl Default for DecisionTable {
    fn default() -> Self {
        DecisionTable::new()
    }
}

impl DecisionTable {
    pub fn new() -> DecisionTable {
        DecisionTable {
            table: ArcSwap::from_pointee(Table::default()),
            writer: Mutex::new(()),
        }
    }

    /// When `key` is throttled at `now_ms`, the end of its decision.
    pub fn throttled_until(&self, key: &str, now_ms: u64) -> Option<u64> {
        let table = self.table.load();
        if table.is_empty() {
            return None;
        }
        table.get(key).copied().filter(|&until| until > now_ms)
    }

    /// Applies a batch of decisions (one frame); does nothing, and copies nothing, when the
    /// batch changes nothing.
    pub fn apply(&self, decisions: &[Decision], now_ms: u64) {
        let current = self.table.load();
        let changes = decisions.iter().any(|d| {
            let held = current.get(d.key.as_str()).copied();
            if d.throttled {
                held != Some(d.until_ms) && d.until_ms > now_ms
            } else {
                held.is_some()
            }
        });
        let has_expired = current.values().any(|&until| until <= now_ms);
        if !changes && !has_expired {
            return;
        }
        drop(current);
        let _one_writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next: Table = (**self.table.load()).clone();
        next.retain(|_, until| *until > now_ms);
        for d in decisions {
            if d.throttled && d.until_ms > now_ms {
                next.insert(d.key.as_str().into(), d.until_ms);
            } else if !d.throttled {
                next.remove(d.key.as_str());
            }
        }
        self.table.store(next.into());
    }

    /// Decisions still in force (for a status page and tests).
    pub fn len(&self, now_ms: u64) -> usize {
        self.table.load().values().filter(|&&until| until > now_ms).count()
    }

    pub fn is_empty(&self, now_ms: u64) -> bool {
        self.len(now_ms) == 0
    }
}

const COUNT_MASK: u64 = u32::MAX as u64;

#[derive(Debug)]
struct Slot {
    /// Window number (low 32 bits of start / length) << 32 | count.
    state: AtomicU64,
    window_ms: AtomicU64,
}

type Shard = RwLock<HashMap<Box<str>, Slot, RandomState>>;

/// This gateway's own counts per key and window.
#[derive(Debug, Default)]
pub struct LocalCounts {
    shards: Sharded<Shard>,
}

fn window_number(quota: WindowQuota, now_ms: u64) -> u64 {
    (now_ms / quota.window_ms.max(1)) & COUNT_MASK
}

impl LocalCounts {
    pub fn new() -> LocalCounts {
        LocalCounts::default()
    }

    fn shard(&self, key: &str) -> &Shard {
        self.shards.of(key)
    }

    /// Counts one request for `key` and returns the key's count in the current window.
    pub fn add(&self, key: &str, quota: WindowQuota, now_ms: u64) -> u64 {
        self.update(key, quota, now_ms, true)
    }

    /// Takes back one request counted by [`Self::add`] (the request was refused on another key).
    pub fn undo(&self, key: &str, quota: WindowQuota, now_ms: u64) {
        self.update(key, quota, now_ms, false);
    }

    /// The key's count in the current window.
    pub fn count(&self, key: &str, quota: WindowQuota, now_ms: u64) -> u64 {
        let shard = self.shard(key).read().unwrap_or_else(PoisonError::into_inner);
        shard.get(key).map_or(0, |slot| {
            let state = slot.state.load(Ordering::Relaxed);
            if state >> 32 == window_number(quota, now_ms) {
                state & COUNT_MASK
            } else {
                0
            }
        })
    }

    fn update(&self, key: &str, quota: WindowQuota, now_ms: u64, add: bool) -> u64 {
        let shard = self.shard(key);
        {
            let map = shard.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(slot) = map.get(key) {
                return Self::bump(slot, quota, now_ms, add);
            }
        }
        let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
        let slot = map.entry(key.into()).or_insert_with(|| Slot {
            state: AtomicU64::new(0),
            window_ms: AtomicU64::new(quota.window_ms),
        });
        Self::bump(slot, quota, now_ms, add)
    }

    fn bump(slot: &Slot, quota: WindowQuota, now_ms: u64, add: bool) -> u64 {
        // A policy change of window length restarts the count (the windows no longer line up).
        // Read first: a write on every request would bounce the line between cores.
        if slot.window_ms.load(Ordering::Relaxed) != quota.window_ms {
            slot.window_ms.store(quota.window_ms, Ordering::Relaxed);
            slot.state.store(0, Ordering::Relaxed);
        }
        let window = window_number(quota, now_ms);
        let mut count = 0;
        let _ = slot.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
            let current = if state >> 32 == window { state & COUNT_MASK } else { 0 };
            count = if add {
                (current + 1).min(COUNT_MASK)
            } else {
                current.saturating_sub(1)
            };
            Some(window << 32 | count)
        });
        count
    }

    /// Drops keys whose window has ended, so memory follows the keys in use.
    pub fn sweep(&self, now_ms: u64) {
        for shard in self.shards.iter() {
            let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
            map.retain(|_, slot| {
                let window_ms = slot.window_ms.load(Ordering::Relaxed).max(1);
                let number = (now_ms / window_ms) & COUNT_MASK;
                slot.state.load(Ordering::Relaxed) >> 32 == number
            });
        }
    }

    /// Keys held (for tests and a status page).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The end of the window `quota` puts `now_ms` in: the `until` of a decision made now.
pub fn window_end(quota: WindowQuota, now_ms: u64) -> u64 {
    Window::containing(now_ms, quota.window_ms).end_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled(key: &str, until_ms: u64) -> Decision {
        Decision {
            key: key.into(),
            throttled: true,
            until_ms,
        }
    }

    #[test]
    fn decisions_hold_until_their_end() {
        let table = DecisionTable::new();
        assert_eq!(table.throttled_until("k", 0), None);
        table.apply(&[throttled("k", 60_000)], 1_000);
        assert_eq!(table.throttled_until("k", 59_999), Some(60_000));
        assert_eq!(table.throttled_until("k", 60_000), None, "expired at its end");
        assert_eq!(table.throttled_until("other", 1_000), None);
        // An expired decision is dropped by the next write.
        table.apply(&[throttled("j", 200_000)], 61_000);
        assert_eq!(table.len(0), 1);
        table.apply(
            &[Decision {
                key: "j".into(),
                throttled: false,
                until_ms: 0,
            }],
            61_000,
        );
        assert!(table.is_empty(61_000));
        // A decision already past is not stored.
        table.apply(&[throttled("late", 10)], 61_000);
        assert!(table.is_empty(0));
    }

    #[test]
    fn local_counts_per_window() {
        let counts = LocalCounts::new();
        let q = WindowQuota::new(3, 1_000).expect("quota");
        assert_eq!(counts.add("k", q, 5_000), 1);
        assert_eq!(counts.add("k", q, 5_500), 2);
        assert_eq!(counts.add("other", q, 5_500), 1);
        counts.undo("k", q, 5_600);
        assert_eq!(counts.count("k", q, 5_700), 1);
        assert_eq!(counts.add("k", q, 6_000), 1, "a new window starts from zero");
        assert_eq!(counts.count("k", q, 7_000), 0);
        counts.sweep(7_000);
        assert!(counts.is_empty());
    }

    #[test]
    fn concurrent_adds_are_not_lost() {
        let counts = std::sync::Arc::new(LocalCounts::new());
        let q = WindowQuota::new(1_000_000, 3_600_000).expect("quota");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counts = counts.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        counts.add("shared", q, 1_000);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(counts.count("shared", q, 1_000), 40_000);
    }
}
