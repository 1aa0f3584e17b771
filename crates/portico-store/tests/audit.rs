//! The audit log's table on both backends: rows added, listed newest first, filtered by actor
//! and time, counted, paged.

mod common;

use common::both_backends;
use portico_store::{AuditFilter, NewAuditEntry, Store};

fn entry(actor: &str, path: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.into(),
        client_address: Some("192.0.2.1".into()),
        method: "POST".into(),
        path: path.into(),
        object_type: "apis".into(),
        object_id: Some("a1".into()),
        status: 201,
        before: None,
        after: Some("{\"name\":\"x\"}".into()),
    }
}

async fn records_lists_and_filters(store: Store) {
    let first = store.record_audit(&entry("alice", "/apis")).await.expect("record");
    assert_eq!(first.node_id, "node-a");
    assert_eq!(first.after_json.as_deref(), Some("{\"name\":\"x\"}"));
    let second = store.record_audit(&entry("bob", "/apis/a1")).await.expect("record");
    store.record_audit(&entry("alice", "/apis/a1")).await.expect("record");

    let all = AuditFilter {
        limit: 10,
        ..AuditFilter::default()
    };
    let (rows, total) = store.list_audit(&all).await.expect("list");
    assert_eq!(total, 3);
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    let (alice, total) = store
        .list_audit(&AuditFilter {
            actor: Some("alice".into()),
            limit: 1,
            offset: 1,
            ..all.clone()
        })
        .await
        .expect("list");
    assert_eq!((alice.len(), total), (1, 2));
    assert_eq!(
        alice[0].id, first.id,
        "the second page of alice's rows is her first write"
    );

    let (later, _) = store
        .list_audit(&AuditFilter {
            since: Some(second.at),
            until: Some(second.at + 60_000),
            ..all.clone()
        })
        .await
        .expect("list");
    assert!(later.iter().all(|r| r.at >= second.at) && later.iter().any(|r| r.id == second.id));
    let (none, total) = store
        .list_audit(&AuditFilter {
            until: Some(first.at - 1),
            ..all
        })
        .await
        .expect("list");
    assert!(none.is_empty() && total == 0);
}

both_backends!(sqlite_audit_log, postgres_audit_log, records_lists_and_filters);
