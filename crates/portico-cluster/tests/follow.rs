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

/// Records what a follower is asked to do.
struct Recorder(mpsc::UnboundedSender<String>);

impl portico_cluster::FeedHandler for Recorder {
    async fn apply(&mut self, events: Vec<ChangeEvent>) -> Result<(), portico_cluster::Retry> {
        for event in events {
            let _ = self.0.send(event.entity_id);
        }
        Ok(())
    }

    async fn rebuild(&mut self) -> Result<(), portico_cluster::Retry> {
        let _ = self.0.send("rebuild".to_owned());
        Ok(())
    }
}

async fn next_step(steps: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(30), steps.recv())
        .await
        .expect("a step within 30 s")
        .expect("follower running")
}

#[tokio::test]
async fn a_follower_behind_the_prune_point_rebuilds_then_goes_on_from_the_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir, "node-a").await;
    for i in 0..3 {
        store
            .append_event("api.deployed", &format!("old-{i}"), &serde_json::json!({}))
            .await
            .expect("append");
    }
    let head = store.latest_seq().await.expect("head");
    // Older than "now" by the store's millisecond clock.
    tokio::time::sleep(Duration::from_millis(5)).await;
    // Every event is older than no retention at all, and this (only) node applied them all.
    let pruned = store
        .prune_feed(Duration::ZERO, Duration::from_secs(15), head)
        .await
        .expect("prune")
        .expect("not locked");
    assert_eq!((pruned.events, pruned.through), (3, head));
    assert_eq!(store.feed_pruned_through().await.expect("read"), head);

    // A follower that had applied nothing: it cannot replay what is gone, so it rebuilds.
    let (send, mut steps) = mpsc::unbounded_channel();
    let progress = portico_cluster::FollowerProgress::new(0);
    let task = tokio::spawn(portico_cluster::follow_feed(
        store.clone(),
        progress.clone(),
        Duration::from_millis(100),
        Recorder(send),
    ));
    assert_eq!(next_step(&mut steps).await, "rebuild");
    store
        .append_event("api.deployed", "new", &serde_json::json!({}))
        .await
        .expect("append");
    assert_eq!(next_step(&mut steps).await, "new", "then the events after the head");
    assert!(progress.in_step_with(head + 1));
    task.abort();

    // One from a snapshot rebuilds first even when nothing it needs was pruned.
    let (send, mut steps) = mpsc::unbounded_channel();
    let progress = portico_cluster::FollowerProgress::from_snapshot(head + 1);
    assert!(!progress.in_step_with(0), "not in step before the rebuild");
    let task = tokio::spawn(portico_cluster::follow_feed(
        store.clone(),
        progress.clone(),
        Duration::from_millis(100),
        Recorder(send),
    ));
    assert_eq!(next_step(&mut steps).await, "rebuild");
    tokio::time::timeout(Duration::from_secs(30), async {
        while !progress.in_step_with(head + 1) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("in step after the rebuild");
    task.abort();
}
