//! Helpers for the integration tests: real TMs and publishers on loopback sockets.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use portico_throttle::window::now_ms;
use portico_throttle::{
    ClusterSecret, Counter, DecisionTable, FailureMode, GroupKind, Publisher, PublisherConfig, RequestEvent, Throttler,
    TrafficManagerConfig, TrafficManagerHandle, UrlGroup, WindowQuota, traffic_manager,
};
use tokio::net::TcpListener;

pub const MINUTE: u64 = 60_000;

pub fn secret() -> ClusterSecret {
    ClusterSecret::new(b"integration test cluster secret").expect("secret")
}

pub async fn start_tm(name: &str, addr: &str, peers: Vec<String>) -> TrafficManagerHandle {
    let listener = TcpListener::bind(addr).await.expect("bind tm");
    let mut config = TrafficManagerConfig::new(name, secret());
    config.peers = peers;
    traffic_manager::start(listener, config).expect("start tm")
}

/// A gateway: its decision table, publisher and throttler.
pub struct Gateway {
    pub publisher: Arc<Publisher>,
    pub throttler: Throttler,
}

pub fn gateway(name: &str, tms: &[&TrafficManagerHandle]) -> Gateway {
    let addresses: Vec<String> = tms.iter().map(|tm| tm.local_addr().to_string()).collect();
    gateway_to(name, &addresses)
}

/// One url group per TM: every event goes to every TM (the seed's layout).
pub fn gateway_to(name: &str, addresses: &[String]) -> Gateway {
    gateway_with(name, addresses, |_| {})
}

/// [`gateway_to`], with `tune` adjusting the publisher's config.
pub fn gateway_with(name: &str, addresses: &[String], tune: impl FnOnce(&mut PublisherConfig)) -> Gateway {
    let groups = addresses
        .iter()
        .map(|a| UrlGroup::new(GroupKind::LoadBalance, &[format!("tcp://{a}")]).expect("group"))
        .collect();
    let mut config = PublisherConfig::new(name, secret(), groups);
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    tune(&mut config);
    let decisions = Arc::new(DecisionTable::new());
    let publisher = Arc::new(Publisher::start(config, decisions.clone()));
    let counter: Arc<dyn Counter> = publisher.clone();
    Gateway {
        publisher,
        throttler: Throttler::new(decisions, counter, FailureMode::FailOpen),
    }
}

pub fn subscription_event(app: &str, limit: u64) -> RequestEvent {
    let mut event = RequestEvent::new();
    event.subscription(app, ("/orders/1.0", "1.0"), WindowQuota::new(limit, MINUTE), None);
    event
}

pub fn subscription_key(app: &str) -> String {
    format!("{app}:/orders/1.0:1.0")
}

/// A unique application id per call, so tests never share keys: the sequence number keeps
/// two calls in the same millisecond apart (the time alone once made a test see a key twice).
pub fn unique(prefix: &str) -> String {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{}-{n}", std::process::id(), now_ms())
}

/// Polls `condition` every 5 ms until it holds; panics with `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits, if needed, so that at least `needed` of the current minute window remains.
pub async fn with_window_room(needed: Duration) {
    let now = now_ms();
    let left = MINUTE - now % MINUTE;
    if u128::from(left) < needed.as_millis() {
        println!("waiting {left} ms for the next minute window");
        tokio::time::sleep(Duration::from_millis(left + 20)).await;
    }
}

pub fn minute_end(now: u64) -> u64 {
    now - now % MINUTE + MINUTE
}
