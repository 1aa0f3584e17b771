//! Two TMs and two gateways' publishers on real loopback sockets: cluster-wide limits, a TM
//! restarted mid-window, a dead TM, and bad frames.

mod common;

use std::time::{Duration, Instant};

use common::*;
use portico_throttle::TrafficManagerHandle;
use portico_throttle::traffic_manager::TmStats;
use portico_throttle::window::now_ms;
use portico_throttle::wire::{self, Direction, FrameKind, Message};
use portico_throttle::{ClusterSecret, Counter, KeyKind, RefusalCause, Throttler};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Sends requests alternately through the gateways, one every `pace`, until each has refused
/// once or `admitted` reaches `stop_at`; returns how many were admitted and the refusals.
async fn drive(
    gateways: &[&Throttler],
    app: &str,
    limit: u64,
    stop_at: u64,
    pace: Duration,
) -> (u64, Vec<portico_throttle::Refusal>) {
    let mut admitted = 0;
    let mut refusals = Vec::new();
    let mut refused_by = vec![false; gateways.len()];
    for i in 0..2_000 {
        let g = i % gateways.len();
        match gateways[g].admit(&subscription_event(app, limit), now_ms()) {
            Ok(_) => admitted += 1,
            Err(refusal) => {
                refused_by[g] = true;
                refusals.push(refusal);
            }
        }
        if refused_by.iter().all(|r| *r) || admitted >= stop_at {
            break;
        }
        tokio::time::sleep(pace).await;
    }
    (admitted, refusals)
}

/// Two gateways sending to both TMs, once both are connected to both.
async fn two_gateways(tm_a: &TrafficManagerHandle, tm_b: &TrafficManagerHandle) -> (Gateway, Gateway) {
    let g1 = gateway("gw-1", &[tm_a, tm_b]);
    let g2 = gateway("gw-2", &[tm_a, tm_b]);
    reconnected(&g1, &g2).await;
    (g1, g2)
}

async fn reconnected(g1: &Gateway, g2: &Gateway) {
    eventually("publishers connected to both TMs", Duration::from_secs(5), || {
        g1.publisher.connected_receivers() == 2 && g2.publisher.connected_receivers() == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_per_minute_key_holds_across_two_tms_and_two_gateways() {
    let tm_a = start_tm("tm-a", "127.0.0.1:0", vec![]).await;
    let tm_b = start_tm("tm-b", "127.0.0.1:0", vec![]).await;
    let (g1, g2) = two_gateways(&tm_a, &tm_b).await;
    with_window_room(Duration::from_secs(10)).await;

    let app = unique("app");
    let (admitted, refusals) = drive(
        &[&g1.throttler, &g2.throttler],
        &app,
        100,
        u64::MAX,
        Duration::from_millis(3),
    )
    .await;
    println!("admitted {admitted} across two gateways, refusals {}", refusals.len());
    assert!((100..=105).contains(&admitted), "admitted {admitted}");
    let now = now_ms();
    for refusal in &refusals {
        assert_eq!(refusal.kind, KeyKind::Subscription);
        assert_eq!(refusal.kind.error_code(), "900804");
        assert_eq!(
            refusal.cause,
            RefusalCause::Decision,
            "split evenly, no node alone reaches 100"
        );
        assert_eq!(refusal.until_ms, minute_end(now), "until the window's end");
    }
    // Every event reached both TMs (one url group each).
    let key = subscription_key(&app);
    eventually("both TMs counted everything", Duration::from_secs(2), || {
        tm_a.count(&key) == admitted && tm_b.count(&key) == admitted
    })
    .await;
    assert_eq!(tm_a.stats().bad_frames(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_enforces_the_limit_exactly() {
    let tm = start_tm("tm-solo", "127.0.0.1:0", vec![]).await;
    let g = gateway("gw-solo", &[&tm]);
    eventually("connected", Duration::from_secs(5), || {
        g.publisher.connected_receivers() == 1
    })
    .await;
    with_window_room(Duration::from_secs(5)).await;
    let app = unique("solo");
    // No pacing: the local count alone refuses the 101st request, whatever the TM's latency.
    let mut admitted = 0;
    for _ in 0..150 {
        if g.throttler.admit(&subscription_event(&app, 100), now_ms()).is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 100);
    eventually("the TM decided too", Duration::from_secs(2), || {
        g.throttler
            .decisions()
            .throttled_until(&subscription_key(&app), now_ms())
            .is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tm_restarted_mid_window_takes_its_peers_counts() {
    let tm_a = start_tm("tm-a", "127.0.0.1:0", vec![]).await;
    let tm_b = start_tm("tm-b", "127.0.0.1:0", vec![]).await;
    let a_addr = tm_a.local_addr().to_string();
    let (g1, g2) = two_gateways(&tm_a, &tm_b).await;
    with_window_room(Duration::from_secs(15)).await;

    let app = unique("restart");
    let key = subscription_key(&app);
    let gateways = [&g1.throttler, &g2.throttler];
    let (first, refusals) = drive(&gateways, &app, 100, 60, Duration::from_millis(3)).await;
    assert_eq!((first, refusals.len()), (60, 0));
    eventually("both TMs counted 60", Duration::from_secs(2), || {
        tm_a.count(&key) == 60 && tm_b.count(&key) == 60
    })
    .await;

    // Kill TM A (task aborted, listener and connections dropped) and start it again, on the
    // same address, with TM B as its peer.
    tm_a.shutdown().await;
    let tm_a = start_tm("tm-a", &a_addr, vec![tm_b.local_addr().to_string()]).await;
    tm_a.synced().await;
    assert_eq!(tm_a.count(&key), 60, "the restarted TM took its peer's count");
    assert!(tm_a.stats().synced_entries >= 1);
    reconnected(&g1, &g2).await;

    let (rest, refusals) = drive(&gateways, &app, 100, u64::MAX, Duration::from_millis(3)).await;
    let admitted = first + rest;
    println!("admitted {admitted} across the restart");
    assert!(
        (100..=105).contains(&admitted),
        "admitted {admitted} across the restart"
    );
    assert!(!refusals.is_empty());
    eventually(
        "the restarted TM counted from 60, not 0",
        Duration::from_secs(2),
        || tm_a.count(&key) == admitted,
    )
    .await;
    assert!(tm_a.stats().decisions >= 1, "the restarted TM decided the key itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_whose_tms_are_down_never_blocks() {
    // An address nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = listener.local_addr().expect("addr").to_string();
    drop(listener);
    // Room for 64 pending keys: requests for many more keys than that (one per application, as
    // for unauthenticated clients by IP) outrun the batcher, and the keys past the bound drop.
    let g = gateway_with("gw-alone", &[dead], |config| config.max_pending_keys = 64);

    let apps: Vec<String> = (0..1_000).map(|i| unique(&format!("down{i}"))).collect();
    let events: Vec<_> = apps.iter().map(|app| subscription_event(app, 1_000_000)).collect();
    let app = &apps[0];
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let total: u64 = 200_000;
    for i in 0..total {
        let t = Instant::now();
        g.publisher.record(&events[i as usize % events.len()]);
        slowest = slowest.max(t.elapsed());
    }
    let elapsed = started.elapsed();
    let stats = g.publisher.stats();
    println!("{total} records in {elapsed:?}, slowest {slowest:?}, {stats:?}");
    assert!(elapsed < Duration::from_secs(5), "{total} records took {elapsed:?}");
    // Loose: a shared 2-core machine can preempt any call; a blocking send would wait for a
    // connect timeout (1 s) or forever.
    assert!(slowest < Duration::from_millis(500), "one record took {slowest:?}");
    assert_eq!(stats.queued + stats.dropped, total);
    assert!(stats.dropped > 0, "keys past the bound were dropped");
    assert!(!g.publisher.is_reachable());
    eventually("batches with no receiver dropped", Duration::from_secs(2), || {
        g.publisher.stats().batches_dropped > 0
    })
    .await;
    // fail_open: requests keep flowing.
    assert!(g.throttler.admit(&subscription_event(app, 1_000_000), now_ms()).is_ok());
}

/// A connection to `addr` that opened with `secret`: its halves and, when the TM answered, the
/// session.
async fn open(
    addr: std::net::SocketAddr,
    secret: &ClusterSecret,
) -> (OwnedReadHalf, OwnedWriteHalf, Result<wire::Session, wire::WireError>) {
    let (mut r, mut w) = TcpStream::connect(addr).await.expect("connect").into_split();
    let session = wire::client_handshake(&mut r, &mut w, secret, "tester", false).await;
    (r, w, session)
}

/// Waits until the TM's stats satisfy `check`.
async fn counted(tm: &TrafficManagerHandle, what: &str, check: impl Fn(&TmStats) -> bool) {
    eventually(what, Duration::from_secs(2), || check(&tm.stats())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_are_counted_and_the_tm_keeps_serving() {
    let tm = start_tm("tm-guard", "127.0.0.1:0", vec![]).await;
    let addr = tm.local_addr();

    // Garbage.
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    counted(&tm, "garbage", |s| s.bad_malformed == 1).await;

    // A Hello under another cluster's secret.
    let other = ClusterSecret::new(b"some other cluster's secret").expect("secret");
    let (_r, _w, session) = open(addr, &other).await;
    assert!(session.is_err(), "no Welcome for a wrong secret");
    counted(&tm, "unauthenticated", |s| s.bad_unauthenticated == 1).await;

    // A correct handshake, then an oversized frame header.
    let (_r, mut w, session) = open(addr, &secret()).await;
    session.expect("handshake");
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&[b'P', b'T', wire::VERSION, FrameKind::Events as u8]);
    header[4..].copy_from_slice(&(512u32 << 20).to_le_bytes());
    w.write_all(&header).await.expect("write");
    counted(&tm, "oversized", |s| s.bad_oversized == 1).await;

    // A correct handshake, then a frame tagged with the wrong key (a replayed Hello key).
    let (_r, mut w, session) = open(addr, &secret()).await;
    session.expect("handshake");
    let mut wrong = secret().hello_key(Direction::ClientToServer);
    let sync = Message::SyncRequest;
    wire::write_message(&mut w, &mut wrong, &sync, &mut Vec::new())
        .await
        .expect("write");
    counted(&tm, "bad tag", |s| s.bad_unauthenticated == 2).await;

    // A correct handshake, then half a frame and a close.
    let (r, mut w, session) = open(addr, &secret()).await;
    let mut session = session.expect("handshake");
    let mut frame = Vec::new();
    let mut body = Vec::new();
    let kind = Message::Events(vec![]).encode(&mut body);
    session.send.seal(kind, &body, &mut frame).expect("seal");
    w.write_all(&frame[..frame.len() / 2]).await.expect("write");
    drop(w);
    drop(r);
    counted(&tm, "truncated", |s| s.bad_malformed == 2).await;

    // The TM still serves: a real gateway gets its key decided, and a gateway connecting later
    // receives the decision as part of the full state.
    let g1 = gateway("gw-1", &[&tm]);
    eventually("connected", Duration::from_secs(5), || {
        g1.publisher.connected_receivers() == 1
    })
    .await;
    with_window_room(Duration::from_secs(3)).await;
    let app = unique("served");
    for _ in 0..5 {
        g1.throttler
            .admit(&subscription_event(&app, 5), now_ms())
            .expect("admitted");
    }
    let key = subscription_key(&app);
    eventually("decided", Duration::from_secs(2), || {
        g1.throttler.decisions().throttled_until(&key, now_ms()).is_some()
    })
    .await;
    let g2 = gateway("gw-2", &[&tm]);
    eventually("the late gateway got the full state", Duration::from_secs(2), || {
        g2.throttler.decisions().throttled_until(&key, now_ms()) == Some(minute_end(now_ms()))
    })
    .await;
    let refusal = g2
        .throttler
        .admit(&subscription_event(&app, 5), now_ms())
        .expect_err("refused");
    assert_eq!(refusal.cause, RefusalCause::Decision);
    let stats = tm.stats();
    assert_eq!(stats.bad_frames(), 5, "{stats:?}");
}
