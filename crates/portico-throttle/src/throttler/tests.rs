use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::counter::CounterStats;
use crate::decision::Decision;

/// Records events in memory; reachability is set by the test.
#[derive(Default)]
struct Recording {
    events: Mutex<Vec<RequestEvent>>,
    down: AtomicBool,
}

impl Counter for Recording {
    fn record(&self, event: &RequestEvent) -> bool {
        self.events.lock().expect("lock").push(event.clone());
        true
    }
    fn is_reachable(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }
    fn stats(&self) -> CounterStats {
        CounterStats::default()
    }
}

fn setup(mode: FailureMode) -> (Throttler, Arc<Recording>) {
    let counter = Arc::new(Recording::default());
    (
        Throttler::new(Arc::new(DecisionTable::new()), counter.clone(), mode),
        counter,
    )
}

fn event(sub_limit: u64, app_limit: u64) -> RequestEvent {
    let mut e = RequestEvent::new();
    e.application("app", "bob", WindowQuota::new(app_limit, 60_000), None)
        .subscription("app", ("/p/1", "1"), WindowQuota::new(sub_limit, 60_000), None);
    e
}

const NOW: u64 = 1_000_000_020_000;

#[test]
fn admits_up_to_the_limit_then_refuses_on_the_local_count() {
    let (throttler, counter) = setup(FailureMode::FailOpen);
    for i in 0..5 {
        let admitted = throttler.admit(&event(5, 100), NOW).expect("admitted");
        let head = admitted.tightest.expect("headroom");
        assert_eq!((head.kind, head.remaining), (KeyKind::Subscription, 4 - i));
    }
    let refusal = throttler.admit(&event(5, 100), NOW + 1).expect_err("refused");
    assert_eq!(refusal.kind, KeyKind::Subscription);
    assert_eq!(refusal.cause, RefusalCause::LocalCount);
    assert_eq!(refusal.until_ms, NOW - NOW % 60_000 + 60_000);
    assert_eq!(
        counter.events.lock().expect("lock").len(),
        5,
        "refused requests are not published"
    );
    // The application key, counted before the subscription refused, was taken back.
    assert_eq!(
        throttler
            .local
            .count("app:bob@carbon.super", WindowQuota::new(100, 60_000).expect("q"), NOW),
        5
    );
}

#[test]
fn a_decision_refuses_at_once() {
    let (throttler, counter) = setup(FailureMode::FailOpen);
    throttler.decisions().apply(
        &[Decision {
            key: "app:/p/1:1".into(),
            throttled: true,
            until_ms: NOW + 5_000,
        }],
        NOW,
    );
    let refusal = throttler.admit(&event(1000, 1000), NOW).expect_err("refused");
    assert_eq!(
        (refusal.kind, refusal.until_ms, refusal.cause),
        (KeyKind::Subscription, NOW + 5_000, RefusalCause::Decision)
    );
    assert_eq!(refusal.kind.error_code(), "900804");
    assert!(counter.events.lock().expect("lock").is_empty());
    throttler
        .admit(&event(1000, 1000), NOW + 5_000)
        .expect("the decision has ended");
}

#[test]
fn failure_modes_apply_only_while_counters_are_unreachable() {
    let (closed, counter) = setup(FailureMode::FailClosed);
    closed.admit(&event(10, 10), NOW).expect("reachable: admitted");
    counter.down.store(true, Ordering::Relaxed);
    let refusal = closed.admit(&event(10, 10), NOW).expect_err("fail_closed");
    assert_eq!(refusal.cause, RefusalCause::CountersUnreachable);

    let (open, counter) = setup(FailureMode::FailOpen);
    counter.down.store(true, Ordering::Relaxed);
    for _ in 0..10 {
        open.admit(&event(10, 100), NOW)
            .expect("fail_open admits up to the local limit");
    }
    assert!(
        open.admit(&event(10, 100), NOW).is_err(),
        "but never past what its own count proves"
    );

    let (local, counter) = setup(FailureMode::LocalOnly);
    local.set_live_nodes(2);
    counter.down.store(true, Ordering::Relaxed);
    for _ in 0..5 {
        local.admit(&event(10, 100), NOW).expect("within this node's share");
    }
    let refusal = local
        .admit(&event(10, 100), NOW)
        .expect_err("share of 10 over 2 nodes is 5");
    assert_eq!(refusal.cause, RefusalCause::LocalCount);
}

#[test]
fn events_without_keys_pass_untouched() {
    let (throttler, counter) = setup(FailureMode::FailClosed);
    counter.down.store(true, Ordering::Relaxed);
    let mut unlimited = RequestEvent::new();
    unlimited.subscription("a", ("/p", "1"), None, None);
    assert_eq!(throttler.admit(&unlimited, NOW), Ok(Admission { tightest: None }));
    assert!(counter.events.lock().expect("lock").is_empty());
}
