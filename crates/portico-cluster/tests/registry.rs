//! The node registry through a node's heartbeat on SQLite: registration, what the node reports
//! (feed position, deployed revisions), the status judged against the node timeout, live Traffic
//! Managers, and a graceful stop.

use std::time::Duration;

use portico_cluster::{
    DeployedRevisions, FollowerProgress, Heartbeat, NodeState, cluster_status, live_traffic_managers,
};
use portico_store::{Backend, NodeRegistration, Store, StoreOptions};

async fn store(dir: &tempfile::TempDir) -> Store {
    Store::connect(&StoreOptions {
        backend: Backend::Sqlite,
        url: format!("sqlite://{}", dir.path().join("portico.db").display()),
        pool_size: 2,
        acquire_timeout: Duration::from_secs(5),
        node_id: "node-a".into(),
    })
    .await
    .expect("sqlite store")
}

fn artifact(id: &str, revision: &str) -> String {
    serde_json::json!({"schema": 1, "id": id, "name": "A", "version": "1", "context": "/a",
        "revisionId": revision, "operations": [{"target": "/x", "verb": "get"}]})
    .to_string()
}

#[tokio::test]
async fn heartbeat_registers_reports_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir).await;
    let artifacts = dir.path().join("deployment/server");
    std::fs::create_dir_all(artifacts.join("Default")).expect("mkdir");
    std::fs::write(artifacts.join("Default/api-2.json"), artifact("api-2", "rev-b")).expect("write");
    std::fs::write(artifacts.join("Default/api-1.json"), artifact("api-1", "rev-a")).expect("write");
    std::fs::write(artifacts.join("Default/broken.json"), "{").expect("write");

    let heartbeat = Heartbeat {
        store: store.clone(),
        registration: NodeRegistration {
            node_id: "node-a".into(),
            version: "1.2.3".into(),
            hostname: "node-a.example".into(),
            bind_address: "0.0.0.0".into(),
            management_port: 9443,
            gateway_http_port: 8280,
            gateway_https_port: 8243,
            traffic_manager_port: 9611,
        },
        interval: Duration::from_millis(100),
        progress: FollowerProgress::new(5),
        deployed: DeployedRevisions::new(artifacts.clone(), vec!["Default".into(), "Sandbox".into()]),
    };
    let task = heartbeat.start().await;

    // Registered before start returns.
    let status = cluster_status(&store, Duration::from_secs(5)).await.expect("status");
    assert_eq!(status.nodes.len(), 1);
    let node = &status.nodes[0];
    assert_eq!(node.state, NodeState::Up);
    assert_eq!(node.row.feed_position, 5);
    assert_eq!(node.deployed["Default"], ["rev-a", "rev-b"]);
    assert!(node.deployed["Sandbox"].is_empty());
    let json = status.to_json();
    assert_eq!(json["count"], 1);
    assert_eq!(json["list"][0]["nodeId"], "node-a");
    assert_eq!(json["list"][0]["status"], "up");
    assert_eq!(json["list"][0]["ports"]["trafficManager"], 9611);
    assert_eq!(json["list"][0]["deployedRevisions"]["Default"][1], "rev-b");

    // A new deployment shows at the next beats.
    std::fs::remove_file(artifacts.join("Default/api-2.json")).expect("remove");
    std::fs::write(artifacts.join("Default/api-3.json"), artifact("api-3", "rev-c")).expect("write");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = cluster_status(&store, Duration::from_secs(5)).await.expect("status");
        if status.nodes[0].deployed["Default"] == ["rev-a", "rev-c"] {
            assert!(status.nodes[0].row.last_heartbeat > status.nodes[0].row.started_at);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{:?}", status.nodes[0]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let peers = live_traffic_managers(&store, Duration::from_secs(5))
        .await
        .expect("peers");
    assert_eq!(peers.len(), 1);
    assert_eq!((peers[0].host.as_str(), peers[0].port), ("node-a.example", 9611));

    task.stop().await;
    let status = cluster_status(&store, Duration::from_secs(5)).await.expect("status");
    assert_eq!(status.nodes[0].state, NodeState::Stopped);
    assert!(
        live_traffic_managers(&store, Duration::from_secs(5))
            .await
            .expect("peers")
            .is_empty()
    );
}

#[tokio::test]
async fn a_silent_node_is_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir).await;
    let heartbeat = Heartbeat {
        store: store.clone(),
        registration: NodeRegistration {
            node_id: "node-a".into(),
            version: "1.2.3".into(),
            hostname: "localhost".into(),
            bind_address: "127.0.0.1".into(),
            management_port: 9443,
            gateway_http_port: 8280,
            gateway_https_port: 8243,
            traffic_manager_port: 9611,
        },
        interval: Duration::from_secs(3600),
        progress: FollowerProgress::new(0),
        deployed: DeployedRevisions::new(dir.path().join("none"), vec!["Default".into()]),
    };
    // Registered once, then silent (the next beat is an hour away).
    let _task = heartbeat.start().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let status = cluster_status(&store, Duration::from_secs(1)).await.expect("status");
    assert_eq!(status.nodes[0].state, NodeState::Down);
    assert!(status.nodes[0].silent_for_ms >= 1000, "{:?}", status.nodes[0]);
    assert!(
        live_traffic_managers(&store, Duration::from_secs(1))
            .await
            .expect("peers")
            .is_empty()
    );
}
