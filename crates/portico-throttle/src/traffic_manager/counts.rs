//! The Traffic Manager's counts: per key, the current fixed window's count and whether the key
//! is throttled, emitting a decision only when that state changes (WSO2's
//! `#throttler:emitOnStateChange`).
//!
//! A window that ends resets its key quietly: the decision sent for it carried the window's end,
//! so gateways let it lapse without a message. A decision to lift a key is sent only when a
//! raised limit un-throttles it inside its window. Keys are spread over mutex-guarded shards so
//! batches from several connections count in parallel.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use foldhash::fast::RandomState;

use crate::decision::Decision;
use crate::shards::Sharded;
use crate::window::{Window, WindowQuota};
use crate::wire::SyncEntry;

#[derive(Debug, Clone, Copy)]
struct KeyState {
    quota: WindowQuota,
    window: Window,
    count: u64,
    throttled: bool,
}

impl KeyState {
    /// Moves the key into the window of `now_ms` under `quota`, restarting the count when the
    /// window (or its length) changed.
    fn roll(&mut self, quota: WindowQuota, now_ms: u64) {
        let window = Window::containing(now_ms, quota.window_ms);
        if window != self.window {
            self.window = window;
            self.count = 0;
            self.throttled = false;
        }
        self.quota = quota;
    }

    /// The decision to send if the key's state changed.
    fn settle(&mut self, key: &str) -> Option<Decision> {
        let throttled = self.quota.is_reached(self.count);
        if throttled == self.throttled {
            return None;
        }
        self.throttled = throttled;
        Some(Decision {
            key: key.to_owned(),
            throttled,
            until_ms: if throttled { self.window.end_ms } else { 0 },
        })
    }
}

type Shard = Mutex<HashMap<Box<str>, KeyState, RandomState>>;

/// Counts per key in fixed windows.
#[derive(Debug, Default)]
pub struct WindowCounts {
    shards: Sharded<Shard>,
}

impl WindowCounts {
    pub fn new() -> WindowCounts {
        WindowCounts::default()
    }

    fn shard(&self, key: &str) -> &Shard {
        self.shards.of(key)
    }

    /// Adds `count` requests for `key` at `now_ms`; pushes a decision when the state changed.
    pub fn add(&self, key: &str, quota: WindowQuota, count: u64, now_ms: u64, decisions: &mut Vec<Decision>) {
        let mut shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        let state = match shard.get_mut(key) {
            Some(state) => state,
            None => shard.entry(key.into()).or_insert(KeyState {
                quota,
                window: Window::containing(now_ms, quota.window_ms),
                count: 0,
                throttled: false,
            }),
        };
        state.roll(quota, now_ms);
        state.count = state.count.saturating_add(count);
        decisions.extend(state.settle(key));
    }

    /// Takes a peer's counts of the current windows: per key the larger count wins, as every TM
    /// counts every event (adding would count twice what both saw). Entries for other windows
    /// than this clock's current one are skipped.
    pub fn merge(&self, entries: &[SyncEntry], now_ms: u64, decisions: &mut Vec<Decision>) -> usize {
        let mut merged = 0;
        for e in entries {
            let window = Window::containing(now_ms, e.quota.window_ms);
            if window.start_ms != e.window_start_ms {
                continue;
            }
            let mut shard = self.shard(&e.key).lock().unwrap_or_else(PoisonError::into_inner);
            let state = shard.entry(e.key.as_str().into()).or_insert(KeyState {
                quota: e.quota,
                window,
                count: 0,
                throttled: false,
            });
            state.roll(e.quota, now_ms);
            if e.count > state.count {
                state.count = e.count;
                merged += 1;
            }
            decisions.extend(state.settle(&e.key));
        }
        merged
    }

    /// The count of `key` in its current window (0 when unknown or ended).
    pub fn count(&self, key: &str, now_ms: u64) -> u64 {
        let shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        shard
            .get(key)
            .filter(|s| s.window.contains(now_ms))
            .map_or(0, |s| s.count)
    }

    /// Every decision in force: what a gateway that (re)connects is sent.
    pub fn throttled(&self, now_ms: u64) -> Vec<Decision> {
        self.collect(|key, s| {
            (s.throttled && s.window.contains(now_ms)).then(|| Decision {
                key: key.to_owned(),
                throttled: true,
                until_ms: s.window.end_ms,
            })
        })
    }

    /// Counts of the windows still running: what a restarted peer asks for.
    pub fn current(&self, now_ms: u64) -> Vec<SyncEntry> {
        self.collect(|key, s| {
            (s.window.contains(now_ms) && s.count > 0).then(|| SyncEntry {
                key: key.to_owned(),
                quota: s.quota,
                window_start_ms: s.window.start_ms,
                count: s.count,
            })
        })
    }

    fn collect<T>(&self, pick: impl Fn(&str, &KeyState) -> Option<T>) -> Vec<T> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            out.extend(shard.iter().filter_map(|(key, s)| pick(key, s)));
        }
        out
    }

    /// Forgets keys whose window has ended.
    pub fn sweep(&self, now_ms: u64) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            shard.retain(|_, s| s.window.end_ms > now_ms);
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;
    const T0: u64 = 1_000 * MIN;

    fn q(limit: u64) -> WindowQuota {
        WindowQuota::new(limit, MIN).expect("quota")
    }

    #[test]
    fn decides_on_state_change_only() {
        let counts = WindowCounts::new();
        let mut out = Vec::new();
        counts.add("k", q(3), 2, T0 + 10, &mut out);
        assert!(out.is_empty());
        counts.add("k", q(3), 1, T0 + 20, &mut out);
        assert_eq!(
            out,
            [Decision {
                key: "k".into(),
                throttled: true,
                until_ms: T0 + MIN
            }]
        );
        counts.add("k", q(3), 5, T0 + 30, &mut out);
        assert_eq!(out.len(), 1, "still throttled: no new decision");
        assert_eq!(counts.throttled(T0 + 40).len(), 1);
        // A raised limit lifts the key inside its window.
        counts.add("k", q(100), 1, T0 + 50, &mut out);
        assert_eq!(out.last().map(|d| d.throttled), Some(false));
        // The next window starts from zero, without a message.
        out.clear();
        counts.add("k", q(100), 1, T0 + MIN, &mut out);
        assert!(out.is_empty());
        assert_eq!(counts.count("k", T0 + MIN), 1);
    }

    #[test]
    fn merge_takes_the_larger_count_of_the_current_window() {
        let counts = WindowCounts::new();
        let mut out = Vec::new();
        counts.add("a", q(100), 10, T0, &mut out);
        let peer = [
            SyncEntry {
                key: "a".into(),
                quota: q(100),
                window_start_ms: T0,
                count: 60,
            },
            SyncEntry {
                key: "b".into(),
                quota: q(50),
                window_start_ms: T0,
                count: 50,
            },
            SyncEntry {
                key: "old".into(),
                quota: q(50),
                window_start_ms: T0 - MIN,
                count: 49,
            },
        ];
        assert_eq!(counts.merge(&peer, T0 + 5, &mut out), 2);
        assert_eq!(counts.count("a", T0 + 5), 60);
        assert_eq!(counts.count("old", T0 + 5), 0, "ended windows are skipped");
        assert_eq!(out.len(), 1, "b reached its limit through the merge");
        assert_eq!(out[0].key, "b");
        // A smaller count never lowers ours.
        let lower = [SyncEntry {
            key: "a".into(),
            quota: q(100),
            window_start_ms: T0,
            count: 1,
        }];
        counts.merge(&lower, T0 + 6, &mut out);
        assert_eq!(counts.count("a", T0 + 6), 60);
        assert_eq!(counts.current(T0 + 6).len(), 2);
        counts.sweep(T0 + MIN);
        assert!(counts.is_empty());
    }
}
