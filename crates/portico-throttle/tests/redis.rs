//! The Redis counter against the real Redis on 127.0.0.1:6379: the same limits and answers as
//! the TMs, and the failure mode when Redis cannot be reached.
//!
//! Without Redis these tests print a note and pass, except under CI (`CI=true`), where they fail.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use portico_throttle::window::{Window, now_ms};
use portico_throttle::{
    Counter, DecisionTable, FailureMode, KeyKind, RedisConfig, RedisCounter, RefusalCause, Throttler,
};

const REDIS_URL: &str = "redis://127.0.0.1:6379/";

async fn redis_or_skip(test: &str) -> bool {
    let reachable = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect("127.0.0.1:6379"))
        .await
        .is_ok_and(|c| c.is_ok());
    if !reachable {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: Redis is not reachable on 127.0.0.1:6379 (required under CI)"
        );
        println!("{test}: skipped, Redis is not reachable on 127.0.0.1:6379");
    }
    reachable
}

fn redis_gateway(prefix: &str, mode: FailureMode, url: &str) -> (Arc<RedisCounter>, Throttler) {
    let mut config = RedisConfig::new(url);
    config.key_prefix = prefix.to_owned();
    config.batch_interval = Duration::from_millis(2);
    let decisions = Arc::new(DecisionTable::new());
    let counter = Arc::new(RedisCounter::start(config, decisions.clone()).expect("redis url"));
    let dyn_counter: Arc<dyn Counter> = counter.clone();
    (counter, Throttler::new(decisions, dyn_counter, mode))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_limit_holds_on_redis_across_two_gateways() {
    if !redis_or_skip("the_same_limit_holds_on_redis_across_two_gateways").await {
        return;
    }
    let prefix = format!("{}:", unique("portico-test"));
    let (c1, g1) = redis_gateway(&prefix, FailureMode::FailOpen, REDIS_URL);
    let (c2, g2) = redis_gateway(&prefix, FailureMode::FailOpen, REDIS_URL);
    eventually("redis reachable", Duration::from_secs(5), || {
        c1.is_reachable() && c2.is_reachable()
    })
    .await;
    with_window_room(Duration::from_secs(10)).await;

    let app = unique("app");
    let gateways = [&g1, &g2];
    let mut admitted = 0u64;
    let mut refused = [false, false];
    let mut refusals = Vec::new();
    for i in 0..2_000 {
        match gateways[i % 2].admit(&subscription_event(&app, 100), now_ms()) {
            Ok(_) => admitted += 1,
            Err(r) => {
                refused[i % 2] = true;
                refusals.push(r);
            }
        }
        if refused == [true, true] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    println!("admitted {admitted} on redis across two gateways");
    assert!((100..=105).contains(&admitted), "admitted {admitted}");
    let now = now_ms();
    for r in &refusals {
        assert_eq!((r.kind, r.cause), (KeyKind::Subscription, RefusalCause::Decision));
        assert_eq!(r.until_ms, minute_end(now));
    }

    // The count sits in Redis under the prefix, the key and the window start, with an expiry
    // past the window's end.
    let client = redis::Client::open(REDIS_URL).expect("client");
    let mut con = client.get_multiplexed_async_connection().await.expect("connect");
    let window = Window::containing(now, MINUTE);
    let redis_key = format!("{prefix}{}:{}", subscription_key(&app), window.start_ms);
    let mut stored = 0u64;
    let mut ttl = 0i64;
    for _ in 0..100 {
        stored = redis::cmd("GET")
            .arg(&redis_key)
            .query_async(&mut con)
            .await
            .expect("GET");
        ttl = redis::cmd("PTTL")
            .arg(&redis_key)
            .query_async(&mut con)
            .await
            .expect("PTTL");
        if stored == admitted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stored, admitted);
    assert!(ttl > 0 && ttl <= 61_000, "expiry {ttl} ms");
    let _: () = redis::cmd("DEL")
        .arg(&redis_key)
        .query_async(&mut con)
        .await
        .expect("DEL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_applies_the_failure_mode_and_never_blocks() {
    // Port 1 on loopback: nothing listens, connections are refused at once.
    let prefix = format!("{}:", unique("portico-test"));
    let (counter, closed) = redis_gateway(&prefix, FailureMode::FailClosed, "redis://127.0.0.1:1/");
    let (_open_counter, open) = redis_gateway(&prefix, FailureMode::FailOpen, "redis://127.0.0.1:1/");
    let app = unique("gone");

    let started = Instant::now();
    for _ in 0..10_000 {
        counter.record(&subscription_event(&app, 1_000));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "records waited: {:?}",
        started.elapsed()
    );

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(!counter.is_reachable());
    let refusal = closed
        .admit(&subscription_event(&app, 1_000), now_ms())
        .expect_err("fail_closed");
    assert_eq!(refusal.cause, RefusalCause::CountersUnreachable);
    assert!(
        open.admit(&subscription_event(&app, 1_000), now_ms()).is_ok(),
        "fail_open admits"
    );
    assert!(counter.stats().batches_dropped > 0);
}

#[tokio::test]
async fn a_malformed_redis_url_is_an_error() {
    let err = RedisCounter::start(RedisConfig::new("not a url"), Arc::new(DecisionTable::new()))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("not a url"), "{err}");
}
