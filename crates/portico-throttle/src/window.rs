//! Fixed windows aligned to the epoch, as WSO2's `#throttler:timeBatch(<unitTime> <unit>, 0)`.
//!
//! A window of length `L` ms starts at every multiple of `L` since 1970-01-01T00:00Z, so every
//! node (and Redis) puts the same instant in the same window without talking to each other: a
//! day window starts at midnight UTC, a minute window on the minute. A key is throttled when its
//! count in the current window is `>= limit`; its decision lasts until the window's end, which is
//! also what `Retry-After` announces.

use std::time::{SystemTime, UNIX_EPOCH};

/// What is counted for one key: at most `limit` requests per window of `window_ms`.
///
/// The TM and Redis hold no policies: every counted key travels with its quota, so a policy
/// change reaches the counters with the next request and never waits for a policy feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowQuota {
    pub limit: u64,
    pub window_ms: u64,
}

impl WindowQuota {
    /// A quota; `None` when either number is zero (a zero window has no meaning, and policy
    /// validation refuses zero limits before they get here).
    pub fn new(limit: u64, window_ms: u64) -> Option<WindowQuota> {
        (limit > 0 && window_ms > 0).then_some(WindowQuota { limit, window_ms })
    }

    /// The window holding `now_ms`.
    pub fn window_at(&self, now_ms: u64) -> Window {
        Window::containing(now_ms, self.window_ms)
    }

    /// WSO2's rule: throttled once the window's count has reached the limit.
    pub fn is_reached(&self, count: u64) -> bool {
        count >= self.limit
    }

    /// The limit one of `nodes` gateways enforces alone (`local_only` failure mode): the share,
    /// rounded up so that a limit smaller than the node count still admits something.
    pub fn share(&self, nodes: u32) -> u64 {
        let nodes = u64::from(nodes.max(1));
        self.limit.div_ceil(nodes)
    }
}

/// One fixed window, `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Window {
    /// The window of length `window_ms` (at least 1) that holds `now_ms`.
    pub fn containing(now_ms: u64, window_ms: u64) -> Window {
        let len = window_ms.max(1);
        let start_ms = now_ms - now_ms % len;
        Window {
            start_ms,
            end_ms: start_ms.saturating_add(len),
        }
    }

    pub fn contains(&self, at_ms: u64) -> bool {
        (self.start_ms..self.end_ms).contains(&at_ms)
    }

    /// Whole seconds until the window ends, rounded up and at least 1: the `Retry-After` value
    /// (a client told "0" would retry at once into the same window).
    pub fn retry_after_secs(&self, now_ms: u64) -> u64 {
        retry_after_secs(self.end_ms, now_ms)
    }
}

/// `Retry-After` seconds for a decision that holds until `until_ms`.
pub fn retry_after_secs(until_ms: u64, now_ms: u64) -> u64 {
    until_ms.saturating_sub(now_ms).div_ceil(1000).max(1)
}

/// Milliseconds since the epoch on this machine's clock (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn windows_align_to_the_epoch() {
        let now = 1_795_688_142_123;
        let w = Window::containing(now, MIN);
        assert_eq!(w.start_ms % MIN, 0);
        assert_eq!(w.end_ms - w.start_ms, MIN);
        assert!(w.contains(now));
        assert_eq!(w.start_ms, 1_795_688_100_000);
        let day = Window::containing(now, 86_400_000);
        assert_eq!(day.start_ms % 86_400_000, 0, "a day window starts at midnight UTC");
        // A 5-minute window (unitTime 5, min) starts on a multiple of five minutes.
        let five = Window::containing(now, 5 * MIN);
        assert_eq!(five.start_ms, 1_795_688_100_000 - 1_795_688_100_000 % (5 * MIN));
    }

    #[test]
    fn boundaries_belong_to_the_next_window() {
        let w = Window::containing(2 * MIN, MIN);
        assert_eq!(w.start_ms, 2 * MIN);
        let before = Window::containing(2 * MIN - 1, MIN);
        assert_eq!(before.end_ms, 2 * MIN);
        assert!(!before.contains(2 * MIN));
    }

    #[test]
    fn reached_at_the_limit_not_after() {
        let q = WindowQuota::new(100, MIN).expect("quota");
        assert!(!q.is_reached(99));
        assert!(q.is_reached(100));
        assert!(q.is_reached(101));
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let w = Window::containing(10 * MIN + 100, MIN);
        assert_eq!(w.retry_after_secs(10 * MIN + 100), 60);
        assert_eq!(w.retry_after_secs(11 * MIN - 1), 1);
        assert_eq!(w.retry_after_secs(11 * MIN + 5), 1);
        assert_eq!(retry_after_secs(1_500, 0), 2);
    }

    #[test]
    fn zero_quotas_do_not_exist_and_shares_round_up() {
        assert!(WindowQuota::new(0, MIN).is_none());
        assert!(WindowQuota::new(1, 0).is_none());
        let q = WindowQuota::new(100, MIN).expect("quota");
        assert_eq!(q.share(2), 50);
        assert_eq!(q.share(3), 34);
        assert_eq!(q.share(0), 100);
        assert_eq!(WindowQuota::new(1, MIN).expect("quota").share(4), 1);
    }
}
