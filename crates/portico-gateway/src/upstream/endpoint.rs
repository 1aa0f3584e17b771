//! Backend endpoints: target selection (single, round robin, failover) and WSO2's suspension of
//! failing targets. State lives in atomics so selection never locks.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::Uri;

use crate::model::{EndpointDef, SuspendPolicy, TargetDef};

/// A target with its parsed URL and live suspension state.
#[derive(Debug)]
pub struct Target {
    pub def: TargetDef,
    pub base: Uri,
    /// Parts of `base` every request to it reuses (cloning them costs a reference count).
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// The `Host` header for the backend.
    pub host: http::HeaderValue,
    /// `scheme://authority` in lower case: which connections can serve this target.
    pub origin: std::sync::Arc<str>,
    /// `def.url`, shared with request contexts.
    pub url: std::sync::Arc<str>,
    /// Milliseconds since `epoch` until which the target is skipped (0: not suspended).
    suspended_until_ms: AtomicU64,
    /// The pause the next failure will apply, in ms.
    next_pause_ms: AtomicU64,
    epoch: Instant,
}

/// Why a target URL was refused.
#[derive(Debug, thiserror::Error)]
#[error("endpoint URL `{url}` is not usable: {reason}")]
pub struct BadTarget {
    pub url: String,
    pub reason: String,
}

impl Target {
    fn new(def: TargetDef, epoch: Instant) -> Result<Target, BadTarget> {
        let bad = |reason: &str| BadTarget {
            url: def.url.clone(),
            reason: reason.to_owned(),
        };
        let base: Uri = def.url.parse().map_err(|_| bad("not a URL"))?;
        match base.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(bad("scheme must be http or https")),
        }
        if base.host().is_none() {
            return Err(bad("no host"));
        }
        let scheme = base.scheme().cloned().ok_or_else(|| bad("no scheme"))?;
        let authority = base.authority().cloned().ok_or_else(|| bad("no host"))?;
        let host =
            http::HeaderValue::from_str(authority.as_str()).map_err(|_| bad("host is not a valid Host header"))?;
        let initial = millis(def.suspend.initial);
        let origin = format!("{scheme}://{authority}").to_ascii_lowercase().into();
        Ok(Target {
            origin,
            url: def.url.as_str().into(),
            def,
            base,
            scheme,
            authority,
            host,
            suspended_until_ms: AtomicU64::new(0),
            next_pause_ms: AtomicU64::new(initial),
            epoch,
        })
    }

    fn now_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    /// Whether the target may be tried now.
    pub fn is_available(&self) -> bool {
        self.suspended_until_ms.load(Ordering::Relaxed) <= self.now_ms()
    }

    /// Records a failure (connect error or timeout): suspends the target, growing the pause.
    pub fn mark_failure(&self) {
        let policy: &SuspendPolicy = &self.def.suspend;
        if policy.initial.is_zero() {
            return;
        }
        let pause = self.next_pause_ms.load(Ordering::Relaxed).max(1);
        self.suspended_until_ms.store(self.now_ms() + pause, Ordering::Relaxed);
        let grown = (pause as f64 * policy.progression_factor.max(1.0)) as u64;
        self.next_pause_ms
            .store(grown.min(millis(policy.maximum)).max(1), Ordering::Relaxed);
        tracing::warn!(endpoint = %self.def.url, pause_ms = pause, "endpoint suspended after a failure");
    }

    /// Records a success: the target is healthy again and the pause resets.
    pub fn mark_success(&self) {
        if self.suspended_until_ms.load(Ordering::Relaxed) != 0 {
            self.suspended_until_ms.store(0, Ordering::Relaxed);
        }
        let initial = millis(self.def.suspend.initial);
        if self.next_pause_ms.load(Ordering::Relaxed) != initial {
            self.next_pause_ms.store(initial, Ordering::Relaxed);
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Single,
    RoundRobin,
    Failover,
}

/// The targets of one API's production or sandbox endpoint.
#[derive(Debug)]
pub struct EndpointPool {
    pub def: EndpointDef,
    targets: Vec<Target>,
    strategy: Strategy,
    cursor: AtomicUsize,
}

impl EndpointPool {
    pub fn new(def: EndpointDef) -> Result<EndpointPool, BadTarget> {
        let epoch = Instant::now();
        let (strategy, defs) = match &def {
            EndpointDef::Single(t) => (Strategy::Single, vec![t.clone()]),
            EndpointDef::LoadBalance(ts) => (Strategy::RoundRobin, ts.clone()),
            EndpointDef::Failover(ts) => (Strategy::Failover, ts.clone()),
        };
        if defs.is_empty() {
            return Err(BadTarget {
                url: String::new(),
                reason: "the endpoint has no URLs".into(),
            });
        }
        let targets = defs
            .into_iter()
            .map(|d| Target::new(d, epoch))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EndpointPool {
            def,
            targets,
            strategy,
            cursor: AtomicUsize::new(0),
        })
    }

    /// Targets to try for one request, in order: the chosen one first, then (for failover and
    /// load balancing) the other available ones. A single endpoint is tried even when
    /// suspended, as WSO2 does when there is nothing else.
    pub fn plan(&self) -> Plan<'_> {
        // `available` of `ordered`, or `fallback` alone when every target is suspended.
        fn available_or<'t>(ordered: impl Iterator<Item = &'t Target>, fallback: &'t Target) -> Plan<'t> {
            let available: Vec<&'t Target> = ordered.filter(|t| t.is_available()).collect();
            if available.is_empty() {
                Plan::One(fallback)
            } else {
                Plan::Several(available)
            }
        }
        match self.strategy {
            Strategy::Single => Plan::One(&self.targets[0]),
            Strategy::Failover => available_or(self.targets.iter(), &self.targets[0]),
            Strategy::RoundRobin => {
                let n = self.targets.len();
                let start = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
                available_or((0..n).map(|i| &self.targets[(start + i) % n]), &self.targets[start])
            }
        }
    }
}

/// The targets one request tries, in order. A single endpoint's (the usual case) costs no
/// allocation.
#[derive(Debug)]
pub enum Plan<'a> {
    One(&'a Target),
    Several(Vec<&'a Target>),
}

impl<'a> std::ops::Deref for Plan<'a> {
    type Target = [&'a Target];

    fn deref(&self) -> &[&'a Target] {
        match self {
            Plan::One(target) => std::slice::from_ref(target),
            Plan::Several(targets) => targets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, initial_ms: u64) -> TargetDef {
        TargetDef {
            suspend: SuspendPolicy {
                initial: Duration::from_millis(initial_ms),
                progression_factor: 2.0,
                maximum: Duration::from_millis(initial_ms * 3),
            },
            ..TargetDef::new(url)
        }
    }

    #[test]
    fn round_robin_rotates_and_skips_suspended() {
        let pool = EndpointPool::new(EndpointDef::LoadBalance(vec![
            target("http://a:1", 10_000),
            target("http://b:1", 10_000),
            target("http://c:1", 10_000),
        ]))
        .expect("pool");
        let firsts: Vec<String> = (0..3).map(|_| pool.plan()[0].def.url.clone()).collect();
        assert_eq!(firsts, ["http://a:1", "http://b:1", "http://c:1"]);
        pool.targets[1].mark_failure();
        for _ in 0..6 {
            assert!(pool.plan().iter().all(|t| t.def.url != "http://b:1"));
        }
        pool.targets[1].mark_success();
        assert!((0..3).any(|_| pool.plan()[0].def.url == "http://b:1"));
    }

    #[test]
    fn failover_prefers_primary_until_it_fails() {
        let pool = EndpointPool::new(EndpointDef::Failover(vec![
            target("http://p:1", 50),
            target("http://s:1", 50),
        ]))
        .expect("pool");
        assert_eq!(pool.plan()[0].def.url, "http://p:1");
        pool.targets[0].mark_failure();
        assert_eq!(pool.plan()[0].def.url, "http://s:1");
        std::thread::sleep(Duration::from_millis(70));
        assert_eq!(
            pool.plan()[0].def.url,
            "http://p:1",
            "suspension ends after initialDuration"
        );
    }

    #[test]
    fn suspension_grows_by_progression_factor_up_to_maximum() {
        let pool = EndpointPool::new(EndpointDef::Single(target("http://a:1", 100))).expect("pool");
        let t = &pool.targets[0];
        t.mark_failure();
        assert_eq!(t.next_pause_ms.load(Ordering::Relaxed), 200);
        t.mark_failure();
        assert_eq!(
            t.next_pause_ms.load(Ordering::Relaxed),
            300,
            "capped at maximumDuration"
        );
        assert!(!t.is_available());
        t.mark_success();
        assert!(t.is_available());
        assert_eq!(t.next_pause_ms.load(Ordering::Relaxed), 100);
    }

    #[test]
    fn bad_urls_are_named() {
        let err = EndpointPool::new(EndpointDef::Single(TargetDef::new("ftp://x"))).expect_err("scheme");
        assert!(err.to_string().contains("ftp://x"));
        assert!(EndpointPool::new(EndpointDef::LoadBalance(vec![])).is_err());
    }
}
