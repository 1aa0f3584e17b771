//! A publisher's url groups replaced while it runs (the node registry's live Traffic Managers
//! coming and going): a group added gets the events from then on, a removed one stops getting
//! them, and a receiver kept across the change keeps its connection.

mod common;

use std::time::Duration;

use common::*;
use portico_throttle::window::now_ms;
use portico_throttle::{Counter, GroupKind, TrafficManagerHandle, UrlGroup};

fn one_group_each(tms: &[&TrafficManagerHandle]) -> Vec<UrlGroup> {
    tms.iter()
        .map(|tm| UrlGroup::new(GroupKind::LoadBalance, &[tm.local_addr().to_string()]).expect("group"))
        .collect()
}

/// Admits one request of a fresh key through `gateway` and waits until `counting` has it.
async fn one_request_reaches(gateway: &Gateway, counting: &[&TrafficManagerHandle]) -> String {
    let app = unique("groups");
    gateway
        .throttler
        .admit(&subscription_event(&app, 100), now_ms())
        .expect("admitted");
    let key = subscription_key(&app);
    eventually("the event at every group's TM", Duration::from_secs(5), || {
        counting.iter().all(|tm| tm.count(&key) == 1)
    })
    .await;
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_added_get_events_and_groups_removed_stop_getting_them() {
    with_window_room(Duration::from_secs(10)).await;
    let tm_a = start_tm("tm-a", "127.0.0.1:0", vec![]).await;
    let tm_b = start_tm("tm-b", "127.0.0.1:0", vec![]).await;
    let gateway = gateway("gw", &[&tm_a]);
    eventually("connected to A", Duration::from_secs(5), || {
        gateway.publisher.connected_receivers() == 1
    })
    .await;
    let key = one_request_reaches(&gateway, &[&tm_a]).await;
    assert_eq!(tm_b.count(&key), 0, "B is in no group yet");

    // B joins: every event now goes to both, and A's connection is the one it had.
    gateway.publisher.set_groups(&one_group_each(&[&tm_a, &tm_b]));
    eventually("connected to A and B", Duration::from_secs(5), || {
        gateway.publisher.connected_receivers() == 2
    })
    .await;
    one_request_reaches(&gateway, &[&tm_a, &tm_b]).await;
    assert_eq!(tm_a.stats().connections, 1, "A's link was kept");

    // A leaves: its link stops, and B alone gets the events.
    gateway.publisher.set_groups(&one_group_each(&[&tm_b]));
    assert_eq!(gateway.publisher.connected_receivers(), 1);
    let key = one_request_reaches(&gateway, &[&tm_b]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(tm_a.count(&key), 0, "A is in no group any more");
    let sent = gateway.publisher.stats().batches_sent;
    assert!(sent >= 3, "batches sent {sent}");

    // No group at all: nothing is reachable, so the failure mode applies.
    gateway.publisher.set_groups(&[]);
    assert!(!gateway.publisher.is_reachable());
}
