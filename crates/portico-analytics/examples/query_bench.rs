//! Seeds 90 days of day rollups and 30 days of hour rollups for 1,000 APIs (one node, one
//! application each, realistic latency sketches) into a fresh store, then times the analytics
//! queries over them: medians of 5 runs, in ms. Run by `bench/analytics` (SQLite, and
//! PostgreSQL with `PORTICO_TEST_PG_URL`); the target is under 200 ms per query.
//!
//! cargo run --release -p portico-analytics --example query_bench [-- APIS]

use std::time::{Duration, Instant};

use portico_analytics::rollup::{DAY, HOUR, Rollup, RollupKey, bucket_start};
use portico_analytics::{Event, Filters, Granularity, Query, Scope, TopBy, Window};
use portico_store::{Backend, Store, StoreOptions};

const ROUNDS: usize = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let apis: usize = std::env::args().nth(1).map_or(Ok(1000), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let sqlite = Store::connect(&StoreOptions {
        backend: Backend::Sqlite,
        url: format!("sqlite://{}", dir.path().join("apim.db").display()),
        pool_size: 4,
        acquire_timeout: Duration::from_secs(30),
        node_id: "bench".into(),
    })
    .await?;
    run("sqlite", &sqlite, apis).await?;
    if let Some(db) = portico_testkit::PgDatabase::create("analytics_query_bench").await? {
        let pg = Store::connect(&StoreOptions {
            backend: Backend::Postgres,
            url: db.url.clone(),
            pool_size: 4,
            acquire_timeout: Duration::from_secs(30),
            node_id: "bench".into(),
        })
        .await?;
        run("postgres", &pg, apis).await?;
    }
    Ok(())
}

async fn run(backend: &str, store: &Store, apis: usize) -> anyhow::Result<()> {
    let now = portico_store::now_millis();
    let today = bucket_start(now, DAY);
    let this_hour = bucket_start(now, HOUR);
    let seeding = Instant::now();
    // One rollup per API per bucket: 100 requests, some errors, a latency spread.
    let rollup_for = |api: usize, bucket: i64| {
        let mut rollup = Rollup::default();
        for i in 0..100u64 {
            let status = match i % 50 {
                0 => 500,
                1 => 401,
                _ => 200,
            };
            rollup.add(&Event {
                api_name: format!("Api{api}"),
                application_name: "App".into(),
                proxy_status: status,
                error_code: (status == 401).then(|| "900901".to_owned()),
                total_latency_us: 500 + (i * 7919 + u64::try_from(bucket / 1000).unwrap_or(0)) % 200_000,
                ..Event::default()
            });
        }
        rollup
    };
    let key = |api: usize, bucket: i64| RollupKey {
        bucket_start: bucket,
        node_id: "node-1".into(),
        api_id: format!("api-{api}"),
        api_version: "1.0.0".into(),
        resource: "GET /menu".into(),
        application_id: "app-1".into(),
    };
    let mut rows = Vec::with_capacity(10_000);
    let mut seeded = 0usize;
    for (resolution, buckets, width) in [(DAY, 90i64, DAY), (HOUR, 30 * 24, HOUR)] {
        let start = if width == DAY { today } else { this_hour };
        for api in 0..apis {
            let template = rollup_for(api, 0);
            for b in 0..buckets {
                let bucket = start - b * width * 1000;
                rows.push(template.to_row(resolution, &key(api, bucket)));
                if rows.len() == rows.capacity() {
                    store.put_rollups(&rows).await?;
                    seeded += rows.len();
                    rows.clear();
                }
            }
        }
    }
    store.put_rollups(&rows).await?;
    seeded += rows.len();
    println!(
        "{backend}: seeded {seeded} rollup rows ({apis} APIs: 90 days of days, 30 days of hours) in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let window =
        |days: i64, g: Granularity| Window::new(Some(now - days * DAY * 1000), Some(now), Some(g)).expect("window");
    let all = |w: Window| Query {
        window: w,
        filters: Filters::default(),
        scope: Scope::All,
    };
    let one_api = |w: Window| Query {
        window: w,
        filters: Filters {
            api_id: Some("api-7".into()),
            ..Filters::default()
        },
        scope: Scope::All,
    };
    let publisher = |w: Window| Query {
        window: w,
        filters: Filters::default(),
        scope: Scope::Only {
            apis: (0..50).map(|i| format!("api-{i}")).collect(),
            applications: Vec::new(),
        },
    };
    let d90 = window(90, Granularity::Day);
    let h30 = window(30, Granularity::Hour);
    println!("{:<58} {:>10} {:>8}", "query", "median ms", "max ms");
    let mut worst: f64 = 0.0;
    macro_rules! time {
        ($name:expr, $q:expr, $call:ident $(, $arg:expr)*) => {{
            let q = $q;
            let mut times = Vec::new();
            for _ in 0..ROUNDS {
                let t = Instant::now();
                let _ = q.$call(store $(, $arg)*).await?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            let median = times[ROUNDS / 2];
            worst = worst.max(median);
            println!("{:<58} {:>10.1} {:>8.1}", $name, median, times[ROUNDS - 1]);
        }};
    }
    time!("requests, 90 days by day, all APIs", all(d90), series);
    time!("requests, 30 days by hour, all APIs", all(h30), series);
    time!("requests, 30 days by hour, one API", one_api(h30), series);
    time!(
        "requests, 30 days by hour, a publisher's 50 APIs",
        publisher(h30),
        series
    );
    time!("top 10 APIs, 90 days (days)", all(d90), top, TopBy::Api, 10);
    time!("top 10 APIs, 30 days (hours)", all(h30), top, TopBy::Api, 10);
    time!("errors by code, 90 days (days), all APIs", all(d90), errors);
    time!("latency p50/p95/p99, 90 days by day, all APIs", all(d90), latency);
    time!("latency p50/p95/p99, 30 days by hour, one API", one_api(h30), latency);
    time!("latency p50/p95/p99, 30 days by hour, all APIs", all(h30), latency);
    println!("{backend}: slowest median {worst:.1} ms (target: under 200 ms)");
    Ok(())
}
