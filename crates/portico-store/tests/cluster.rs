//! The cluster's shared settings and node registry, on SQLite and on PostgreSQL, and opening an
//! existing database (refusing one without the schema).

mod common;

use std::time::Duration;

use portico_store::{Backend, NodeProgress, NodeRegistration, SETTING_TOKEN_ISSUER, Store, StoreError, StoreOptions};
use portico_testkit::PgDatabase;

use common::both_backends;

both_backends!(settings_sqlite, settings_postgres, check_settings);
both_backends!(registry_sqlite, registry_postgres, check_registry);

async fn check_settings(store: Store) {
    assert_eq!(store.cluster_setting(SETTING_TOKEN_ISSUER).await.expect("read"), None);
    let first = store
        .settle_cluster_setting(SETTING_TOKEN_ISSUER, "https://node1:9443/oauth2/token")
        .await
        .expect("settle");
    assert_eq!(first, "https://node1:9443/oauth2/token");
    // A later node proposing its own value gets the recorded one.
    let second = store
        .settle_cluster_setting(SETTING_TOKEN_ISSUER, "https://node2:9444/oauth2/token")
        .await
        .expect("settle again");
    assert_eq!(second, first);
    assert_eq!(
        store.cluster_setting(SETTING_TOKEN_ISSUER).await.expect("read"),
        Some(first)
    );
}

fn registration(id: &str, tm_port: u16) -> NodeRegistration {
    NodeRegistration {
        node_id: id.into(),
        version: "9.9.9".into(),
        hostname: "localhost".into(),
        bind_address: "127.0.0.1".into(),
        management_port: 9443,
        gateway_http_port: 8280,
        gateway_https_port: 8243,
        traffic_manager_port: tm_port,
    }
}

async fn check_registry(store: Store) {
    let progress = |position: i64, deployments: Option<&str>| NodeProgress {
        feed_position: position,
        deployments: deployments.map(str::to_owned),
    };
    assert!(
        !store.node_heartbeat("node-a", &progress(0, None)).await.expect("beat"),
        "an unregistered node's heartbeat asks it to register"
    );
    store
        .register_node(
            &registration("node-a", 9611),
            &progress(3, Some(r#"{"Default":["r1"]}"#)),
        )
        .await
        .expect("register a");
    store
        .register_node(&registration("node-b", 9612), &progress(3, None))
        .await
        .expect("register b");
    let before = store.node_registry().await.expect("registry");
    assert_eq!(before.nodes.len(), 2);
    assert_eq!(before.nodes[0].registration, registration("node-a", 9611));
    assert_eq!(before.nodes[0].deployments, r#"{"Default":["r1"]}"#);
    assert_eq!(before.nodes[1].deployments, "{}");
    assert!(before.nodes.iter().all(|n| n.started_at == n.last_heartbeat));

    tokio::time::sleep(Duration::from_millis(30)).await;
    // A heartbeat without deployments keeps the stored ones.
    assert!(store.node_heartbeat("node-a", &progress(7, None)).await.expect("beat"));
    let after = store.node_registry().await.expect("registry");
    let a = &after.nodes[0];
    assert_eq!(a.feed_position, 7);
    assert_eq!(a.deployments, r#"{"Default":["r1"]}"#);
    assert!(a.last_heartbeat > a.started_at, "{a:?}");
    assert!(after.now >= a.last_heartbeat);

    // Both are live within a generous timeout; with a tiny one only the node that just beat.
    let live =
        |timeout: Duration| -> Vec<String> { after.live(timeout).map(|n| n.registration.node_id.clone()).collect() };
    assert_eq!(live(Duration::from_secs(60)), ["node-a", "node-b"]);
    let b = &after.nodes[1];
    assert!(!b.is_live(after.now + 10_000, Duration::from_secs(5)));

    store.node_stopped("node-b").await.expect("stopped");
    let stopped = store.node_registry().await.expect("registry");
    assert!(stopped.nodes[1].stopped_at.is_some());
    assert_eq!(
        stopped
            .live(Duration::from_secs(60))
            .map(|n| n.registration.traffic_manager_port)
            .collect::<Vec<_>>(),
        [9611]
    );
    // A restart clears the stop.
    store
        .register_node(&registration("node-b", 9612), &progress(8, None))
        .await
        .expect("register b again");
    assert_eq!(
        store
            .node_registry()
            .await
            .expect("registry")
            .live(Duration::from_secs(60))
            .count(),
        2
    );
}

#[tokio::test]
async fn sqlite_connect_existing_refuses_a_missing_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("none.db");
    let options = StoreOptions {
        backend: Backend::Sqlite,
        url: format!("sqlite://{}", path.display()),
        pool_size: 2,
        acquire_timeout: Duration::from_secs(5),
        node_id: "cli".into(),
    };
    let err = Store::connect_existing(&options).await.expect_err("no database");
    assert!(matches!(err, StoreError::NoSchema(_)), "{err}");
    assert!(!path.exists(), "nothing created");
    let store = Store::connect(&options).await.expect("node's own start");
    store.close().await;
    Store::connect_existing(&options)
        .await
        .expect("now it exists")
        .close()
        .await;
}

#[tokio::test]
async fn postgres_connect_existing_refuses_an_empty_database() {
    let Some(db) = PgDatabase::create("connect_existing").await.expect("database") else {
        return;
    };
    let options = StoreOptions {
        backend: Backend::Postgres,
        url: db.url.clone(),
        pool_size: 2,
        acquire_timeout: Duration::from_secs(5),
        node_id: "cli".into(),
    };
    let err = Store::connect_existing(&options).await.expect_err("empty database");
    assert!(matches!(err, StoreError::NoSchema(_)), "{err}");
    assert!(err.to_string().contains("has no Portico schema"), "{err}");
    let store = Store::connect(&options).await.expect("node's own start");
    store.close().await;
    Store::connect_existing(&options)
        .await
        .expect("now it has one")
        .close()
        .await;
}
