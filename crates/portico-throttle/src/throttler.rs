//! The gateway's throttle phase in one call: [`Throttler::admit`] refuses a request that a
//! current decision, this gateway's own count, or the failure mode blocks, and otherwise counts
//! it locally and hands its event to the cluster's counter without waiting.
//!
//! Order of checks, per key of the event: a decision in force (the TM's or Redis' verdict);
//! then the local count, which alone proves a key over its limit (the cluster's count is at
//! least this node's), so one node never overshoots whatever the decision latency; while no
//! counter is reachable, `fail_closed` refuses and `local_only` lowers the local limit to this
//! node's share. A request refused on one key is taken back from the keys counted before it,
//! as WSO2 publishes no event for a throttled request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::counter::{Counter, FailureMode};
use crate::decision::{DecisionTable, LocalCounts, window_end};
use crate::event::RequestEvent;
use crate::key::KeyKind;
use crate::window::WindowQuota;

/// How long a `fail_closed` refusal asks clients to wait: counters usually come back quickly.
const FAIL_CLOSED_RETRY_MS: u64 = 1_000;

/// Why a request was refused: the key's kind gives WSO2's code; `until_ms` the `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub kind: KeyKind,
    pub until_ms: u64,
    pub quota: WindowQuota,
    pub cause: RefusalCause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCause {
    /// A TM or Redis decided the key is throttled.
    Decision,
    /// This gateway's own count reached the limit (or its share, in `local_only`).
    LocalCount,
    /// No counter reachable and the failure mode is `fail_closed`.
    CountersUnreachable,
}

/// What an admitted request may tell its client (`RateLimit` headers): the key closest to its
/// limit by this gateway's count, which is a lower bound of the cluster's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub tightest: Option<Headroom>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headroom {
    pub kind: KeyKind,
    pub quota: WindowQuota,
    pub remaining: u64,
    pub reset_ms: u64,
}

/// Decisions, local counts and the cluster counter, as the gateway uses them.
pub struct Throttler {
    decisions: Arc<DecisionTable>,
    local: LocalCounts,
    counter: Arc<dyn Counter>,
    mode: FailureMode,
    live_nodes: AtomicU32,
}

impl Throttler {
    /// `decisions` is the table `counter` writes into.
    pub fn new(decisions: Arc<DecisionTable>, counter: Arc<dyn Counter>, mode: FailureMode) -> Throttler {
        Throttler {
            decisions,
            local: LocalCounts::new(),
            counter,
            mode,
            live_nodes: AtomicU32::new(1),
        }
    }

    /// The live node count from the node registry, for `local_only`.
    pub fn set_live_nodes(&self, nodes: u32) {
        self.live_nodes.store(nodes.max(1), Ordering::Relaxed);
    }

    pub fn decisions(&self) -> &Arc<DecisionTable> {
        &self.decisions
    }

    pub fn counter(&self) -> &Arc<dyn Counter> {
        &self.counter
    }

    pub fn failure_mode(&self) -> FailureMode {
        self.mode
    }

    /// Checks the request's keys, and when it is admitted counts it and publishes its event.
    pub fn admit(&self, event: &RequestEvent, now_ms: u64) -> Result<Admission, Refusal> {
        if event.is_empty() {
            return Ok(Admission { tightest: None });
        }
        for k in event.keys() {
            if let Some(until_ms) = self.decisions.throttled_until(k.key, now_ms) {
                return Err(Refusal {
                    kind: k.kind,
                    until_ms,
                    quota: k.quota,
                    cause: RefusalCause::Decision,
                });
            }
        }
        let reachable = self.counter.is_reachable();
        if !reachable && self.mode == FailureMode::FailClosed {
            let first = event.key(0).map(|k| (k.kind, k.quota));
            if let Some((kind, quota)) = first {
                return Err(Refusal {
                    kind,
                    until_ms: now_ms + FAIL_CLOSED_RETRY_MS,
                    quota,
                    cause: RefusalCause::CountersUnreachable,
                });
            }
        }
        let share_only = !reachable && self.mode == FailureMode::LocalOnly;
        let nodes = self.live_nodes.load(Ordering::Relaxed);
        let mut tightest: Option<Headroom> = None;
        for (index, k) in event.keys().enumerate() {
            let count = self.local.add(k.key, k.quota, now_ms);
            let limit = if share_only {
                k.quota.share(nodes)
            } else {
                k.quota.limit
            };
            if count > limit {
                for earlier in event.keys().take(index + 1) {
                    self.local.undo(earlier.key, earlier.quota, now_ms);
                }
                return Err(Refusal {
                    kind: k.kind,
                    until_ms: window_end(k.quota, now_ms),
                    quota: k.quota,
                    cause: RefusalCause::LocalCount,
                });
            }
            let remaining = limit - count;
            if tightest.is_none_or(|t| remaining < t.remaining) {
                tightest = Some(Headroom {
                    kind: k.kind,
                    quota: k.quota,
                    remaining,
                    reset_ms: window_end(k.quota, now_ms),
                });
            }
        }
        self.counter.record(event);
        Ok(Admission { tightest })
    }

    /// Forgets local counts of ended windows; [`Self::spawn_sweeper`] calls it every second.
    pub fn sweep(&self, now_ms: u64) {
        self.local.sweep(now_ms);
    }

    /// Sweeps local counts every second while the throttler lives.
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(throttler) = weak.upgrade() else { return };
                throttler.sweep(crate::window::now_ms());
            }
        })
    }
}

#[cfg(test)]
mod tests;
