//! Followers of the change feed on SQLite: woken by this process's commits at once, and by
//! their poll for what other processes write to the same file.

use std::time::Duration;

use portico_store::{Backend, ChangeEvent, Store, StoreOptions};
use tokio::sync::mpsc;

async fn store(dir: &tempfile::TempDir, node: &str) -> Store {
    Store::connect(&StoreOptions {
        backend: Backend::Sqlite,
        url: format!("sqlite://{}", dir.path().join("portico.db").display()),
        pool_size: 2,
        acquire_timeout: Duration::from_secs(5),
        node_id: node.into(),
    })
    .await
    .expect("sqlite store")
}

/// Spawns a follower from position 0 that forwards every event it applies.
fn follower(store: Store, poll: Duration) -> (tokio::task::JoinHandle<()>, mpsc::UnboundedReceiver<ChangeEvent>) {
    let (applied, events) = mpsc::unbounded_channel();
    let task = tokio::spawn(portico_cluster::follow(store, 0, poll, move |batch| {
        for event in batch {
            let _ = applied.send(event);
        }
        std::future::ready(())
    }));
    (task, events)
}

async fn next(events: &mut mpsc::UnboundedReceiver<ChangeEvent>, why: &str) -> ChangeEvent {
    tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .unwrap_or_else(|_| panic!("no event within 30 s: {why}"))
        .expect("follower running")
}

#[tokio::test]
async fn a_commit_in_this_process_wakes_its_followers_before_any_poll() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir, "node-a").await;
    // A poll this long never fires during the test: only the commit can wake the follower.
    let (task, mut events) = follower(store.clone(), Duration::from_secs(3600));
    for i in 0..3 {
        store
            .append_event("api.deployed", &format!("api-{i}"), &serde_json::json!({}))
            .await
            .expect("append");
        let event = next(&mut events, "the commit should have woken the follower").await;
        assert_eq!(event.entity_id, format!("api-{i}"));
    }
    task.abort();
}

#[tokio::test]
async fn another_process_writing_the_same_file_is_picked_up_by_the_poll() {
    let dir = tempfile::tempdir().expect("tempdir");
    let here = store(&dir, "node-a").await;
    // A second store on the same file stands in for another process (a `portico` command run
    // beside the server): its commits cannot wake this process's followers.
    let elsewhere = store(&dir, "cli").await;
    let (task, mut events) = follower(here, Duration::from_millis(200));
    elsewhere
        .append_event("api.deployed", "from-cli", &serde_json::json!({}))
        .await
        .expect("append");
    let event = next(&mut events, "the poll should have read the other process's event").await;
    assert_eq!(
        (event.entity_id.as_str(), event.origin_node.as_str()),
        ("from-cli", "cli")
    );
    task.abort();
}
