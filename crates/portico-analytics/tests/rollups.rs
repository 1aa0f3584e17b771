//! Rollups in a real store (SQLite, and PostgreSQL when `PORTICO_TEST_PG_URL` is set), with an
//! injected clock: two nodes write their own minutes, queries add them up; folding makes the
//! same counts and percentiles out of hours and days; each resolution is deleted when its
//! retention has passed, and not before.

use std::sync::Arc;
use std::time::Duration;

use portico_analytics::{
    Clock, Event, Filters, Granularity, LatencySketch, Maintenance, ManualClock, Query, Recorder, Retention, Scope,
    TopBy, Window,
};
use portico_store::{Backend, Store, StoreOptions};
use portico_testkit::PgDatabase;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// 2026-12-03T10:30:00Z.
const T0: i64 = 1_796_293_800_000;

fn event(at: i64, api: &str, app: &str, status: u16, code: Option<&str>, latency_us: u64) -> Event {
    Event {
        timestamp_ms: at,
        correlation_id: format!("c-{at}-{latency_us}"),
        api_id: api.to_owned(),
        api_name: format!("{api}-name"),
        api_version: "1.0.0".to_owned(),
        resource: "/menu".to_owned(),
        method: "GET".to_owned(),
        application_id: app.to_owned(),
        application_name: format!("{app}-name"),
        proxy_status: status,
        error_code: code.map(str::to_owned),
        throttled: code == Some("900804"),
        total_latency_us: latency_us,
        ..Event::default()
    }
}

fn query(from: i64, to: i64, granularity: Granularity) -> Query {
    Query {
        window: Window::new(Some(from), Some(to), Some(granularity)).expect("window"),
        filters: Filters::default(),
        scope: Scope::All,
    }
}

/// A window around T0 that `granularity` can cover (a day of minutes at most).
fn around_t0(granularity: Granularity) -> Query {
    match granularity {
        Granularity::Minute => query(T0 - HOUR, T0 + HOUR, granularity),
        _ => query(T0 - DAY, T0 + DAY, granularity),
    }
}

async fn total(store: &Store, granularity: Granularity) -> u64 {
    let (_, total) = around_t0(granularity).series(store).await.expect("series");
    total.count
}

async fn check(store: Store) {
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Clock> = clock.clone();
    let mut a = Recorder::new(store.clone(), "node-a", shared.clone(), true);
    let mut b = Recorder::new(store.clone(), "node-b", shared.clone(), true);
    let mut latencies = Vec::new();
    let mut events_a = Vec::new();
    for i in 0..40u64 {
        let (status, code) = match i % 10 {
            7 => (401, Some("900901")),
            8 => (429, Some("900804")),
            9 => (502, Some("101503")),
            _ => (200, None),
        };
        let latency = 1_000 + i * 997;
        latencies.push(latency);
        // Spread over two minutes of the hour, and two APIs.
        let api = if i % 2 == 0 { "api-1" } else { "api-2" };
        events_a.push(event(
            T0 + i64::try_from(i).expect("i") * 3_000,
            api,
            "app-1",
            status,
            code,
            latency,
        ));
    }
    // Written in two batches: the second adds to the stored minute.
    a.write(&events_a[..25]).await.expect("write");
    a.write(&events_a[25..]).await.expect("write");
    let events_b: Vec<Event> = (0..10u64)
        .map(|i| {
            let latency = 50_000 + i * 1_000;
            latencies.push(latency);
            event(T0 + 5_000, "api-1", "app-2", 200, None, latency)
        })
        .collect();
    b.write(&events_b).await.expect("write");

    let minute = query(T0 - HOUR, T0 + HOUR, Granularity::Minute);
    let (series, counts) = minute.series(&store).await.expect("series");
    assert_eq!(counts.count, 50);
    assert_eq!(counts.classes, [38, 0, 8, 4]);
    assert_eq!(counts.throttled, 4);
    assert_eq!(series.iter().filter(|(_, c)| c.count > 0).count(), 2, "two minutes");
    let errors = minute.errors(&store).await.expect("errors");
    assert_eq!(
        errors.into_iter().collect::<Vec<_>>(),
        [
            ("101503".to_owned(), 4),
            ("900804".to_owned(), 4),
            ("900901".to_owned(), 4)
        ]
    );
    let nodes = minute.top(&store, TopBy::Node, 10).await.expect("top");
    let nodes: Vec<(String, u64)> = nodes.into_iter().map(|e| (e.id, e.counts.count)).collect();
    assert_eq!(nodes, [("node-a".to_owned(), 40), ("node-b".to_owned(), 10)]);
    let apis = minute.top(&store, TopBy::Api, 1).await.expect("top");
    assert_eq!(
        (apis[0].id.as_str(), apis[0].label.as_str(), apis[0].counts.count),
        ("api-1", "api-1-name 1.0.0", 30)
    );
    let mut exact = LatencySketch::new();
    for l in &latencies {
        exact.add(*l);
    }
    let (_, percentiles) = minute.latency(&store).await.expect("latency");
    assert_eq!(percentiles.count, 50);
    // The stored sketches merged are the sketch of every latency (so within its 1 %).
    let ms = |q| exact.quantile(q).map(|us| us / 1000.0);
    assert_eq!(
        (percentiles.p50, percentiles.p95, percentiles.p99),
        (ms(0.5), ms(0.95), ms(0.99))
    );

    // Folding: each node folds its own minutes; hours and days then hold the same.
    let retention = Retention::default();
    let mut fold_a = Maintenance::new(store.clone(), "node-a", shared.clone(), retention);
    let mut fold_b = Maintenance::new(store.clone(), "node-b", shared.clone(), retention);
    fold_a.run_once().await.expect("fold");
    assert_eq!(total(&store, Granularity::Hour).await, 40, "only node a folded yet");
    fold_b.run_once().await.expect("fold");
    for g in [Granularity::Minute, Granularity::Hour, Granularity::Day] {
        assert_eq!(total(&store, g).await, 50, "{g:?}");
        let (_, p) = around_t0(g).latency(&store).await.expect("latency");
        assert_eq!(
            (p.p50, p.p95, p.p99),
            (percentiles.p50, percentiles.p95, percentiles.p99),
            "{g:?}"
        );
    }
    // Folding again changes nothing; late events of a folded hour are folded at the next pass.
    fold_a.run_once().await.expect("fold");
    assert_eq!(total(&store, Granularity::Hour).await, 50);
    clock.set(T0 + 10 * MINUTE);
    a.write(&[event(T0 + 2_000, "api-1", "app-1", 200, None, 1_500)])
        .await
        .expect("late");
    fold_a.run_once().await.expect("fold");
    assert_eq!(total(&store, Granularity::Minute).await, 51);
    assert_eq!(total(&store, Granularity::Hour).await, 51);
    assert_eq!(total(&store, Granularity::Day).await, 51);

    // Retention, by the clock: raw rows after 24 h, minutes after 48 h, hours after 30 days,
    // days after 90 days.
    let raw = |store: Store| async move { store.analytics_events(T0 - DAY, T0 + DAY).await.expect("raw").len() };
    assert_eq!(raw(store.clone()).await, 51);
    clock.set(T0 + 23 * HOUR);
    fold_a.run_once().await.expect("pass");
    assert_eq!(raw(store.clone()).await, 51, "raw rows are kept 24 h");
    clock.set(T0 + 25 * HOUR);
    fold_a.run_once().await.expect("pass");
    assert_eq!(raw(store.clone()).await, 0);
    assert_eq!(total(&store, Granularity::Minute).await, 51, "minutes are kept 48 h");
    clock.set(T0 + 49 * HOUR);
    fold_b.run_once().await.expect("pass");
    assert_eq!(total(&store, Granularity::Minute).await, 0);
    // The hour is no longer folded (its minutes are gone): it keeps what it had.
    fold_a.run_once().await.expect("pass");
    assert_eq!(total(&store, Granularity::Hour).await, 51);
    assert_eq!(total(&store, Granularity::Day).await, 51);
    clock.set(T0 + 31 * DAY);
    fold_a.run_once().await.expect("pass");
    assert_eq!(total(&store, Granularity::Hour).await, 0, "hours are kept 30 days");
    assert_eq!(total(&store, Granularity::Day).await, 51);
    clock.set(T0 + 89 * DAY);
    fold_b.run_once().await.expect("pass");
    assert_eq!(total(&store, Granularity::Day).await, 51, "days are kept 90 days");
    clock.set(T0 + 91 * DAY);
    fold_b.run_once().await.expect("pass");
    assert_eq!(total(&store, Granularity::Day).await, 0);
}

#[tokio::test]
async fn rollups_fold_and_expire_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::connect(&StoreOptions {
        backend: Backend::Sqlite,
        url: format!("sqlite://{}", dir.path().join("apim.db").display()),
        pool_size: 4,
        acquire_timeout: Duration::from_secs(10),
        node_id: "test".into(),
    })
    .await
    .expect("store");
    check(store).await;
}

#[tokio::test]
async fn rollups_fold_and_expire_on_postgres() {
    let Some(db) = PgDatabase::create("analytics_rollups").await.expect("database") else {
        return;
    };
    let store = Store::connect(&StoreOptions {
        backend: Backend::Postgres,
        url: db.url.clone(),
        pool_size: 4,
        acquire_timeout: Duration::from_secs(10),
        node_id: "test".into(),
    })
    .await
    .expect("store");
    check(store).await;
}
