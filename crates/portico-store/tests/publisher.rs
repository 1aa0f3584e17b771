//! Publisher storage on SQLite and PostgreSQL: uniqueness, compare-and-swap updates, revisions
//! and their limit, deployments with their change-feed events in one transaction, policies.

mod common;

use common::both_backends;
use portico_store::{
    CreateRevision, DeleteRevision, DeploymentTarget, LifecycleChange, NewApiRow, NewApplication, NewSubscription,
    Store, StoreError,
};

both_backends!(apis_sqlite, apis_postgres, check_apis);
both_backends!(revisions_sqlite, revisions_postgres, check_revisions);
both_backends!(policies_sqlite, policies_postgres, check_policies);
both_backends!(revision_race_sqlite, revision_race_postgres, check_revision_race);

/// Concurrent revision requests never exceed the limit nor share a number.
async fn check_revision_race(store: Store) {
    store
        .create_api(&new_api("race", "Race", "/race", "1"), "admin")
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_revision("race", None, |d, _, _| d.to_owned())
                .await
                .expect("revision")
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        if let CreateRevision::Created(row) = t.await.expect("task") {
            numbers.push(row.number);
        }
    }
    numbers.sort();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    assert_eq!(store.list_revisions("race").await.expect("list").len(), 5);
}

fn new_api(id: &str, name: &str, context: &str, version: &str) -> NewApiRow {
    NewApiRow {
        id: id.into(),
        name: name.into(),
        version: version.into(),
        context: context.into(),
        provider: "admin".into(),
        lifecycle_status: "CREATED".into(),
        document: format!("{{\"id\":\"{id}\"}}"),
        definition: None,
        api_type: "API".into(),
    }
}

async fn check_apis(store: Store) {
    let row = store
        .create_api(&new_api("a1", "Pizza", "/pizza", "1.0"), "admin")
        .await
        .expect("create");
    assert_eq!(row.row_version, 1);
    let dup_name = store
        .create_api(&new_api("a2", "pizza", "/other", "1.0"), "admin")
        .await;
    assert!(
        matches!(dup_name, Err(StoreError::Conflict(ref m)) if m.contains("named")),
        "{dup_name:?}"
    );
    let dup_ctx = store
        .create_api(&new_api("a3", "Other", "/pizza", "1.0"), "admin")
        .await;
    assert!(
        matches!(dup_ctx, Err(StoreError::Conflict(ref m)) if m.contains("context")),
        "{dup_ctx:?}"
    );
    store
        .create_api(&new_api("a4", "Pizza", "/pizza", "2.0"), "admin")
        .await
        .expect("new version");

    // Compare-and-swap: the second writer holding version 1 loses and must re-read.
    let first = store.update_api("a1", 1, "{\"v\":1}", None).await.expect("update");
    assert_eq!(first.map(|r| r.row_version), Some(2));
    assert_eq!(store.update_api("a1", 1, "{\"v\":2}", None).await.expect("stale"), None);
    assert_eq!(
        store.find_api("a1").await.expect("find").map(|r| r.document),
        Some("{\"v\":1}".into())
    );
    assert!(matches!(
        store.update_api("nope", 1, "{}", None).await,
        Err(StoreError::NotFound(_))
    ));

    let filter = portico_store::ApiFilter {
        name: Some("izz".into()),
        ..Default::default()
    };
    let (rows, total) = store.list_apis(&filter, 10, 0).await.expect("list");
    assert_eq!((rows.len(), total), (2, 2));
    let filter = portico_store::ApiFilter {
        version: Some("2.0".into()),
        ..Default::default()
    };
    assert_eq!(store.list_apis(&filter, 10, 0).await.expect("list").1, 1);
    let filter = portico_store::ApiFilter {
        name: Some("%".into()),
        ..Default::default()
    };
    assert_eq!(
        store.list_apis(&filter, 10, 0).await.expect("list").1,
        0,
        "LIKE characters are literal"
    );

    let change = LifecycleChange {
        from: "CREATED",
        to: "PUBLISHED",
        user: "admin",
        document: "{}",
    };
    let moved = store.change_api_lifecycle("a1", 2, &change).await.expect("lifecycle");
    assert_eq!(moved.map(|r| r.lifecycle_status), Some("PUBLISHED".into()));
    // Stale version or state: nothing changes.
    assert_eq!(store.change_api_lifecycle("a1", 2, &change).await.expect("stale"), None);
    let history = store.lifecycle_history("a1").await.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].previous_state, None);
    assert_eq!(history[1].post_state, "PUBLISHED");
    let events = store.events_of_kind("api.lifecycle_changed", 10).await.expect("events");
    assert_eq!(events.len(), 1);

    store.delete_api("a4").await.expect("delete");
    assert!(store.find_api("a4").await.expect("find").is_none());
    assert!(matches!(store.delete_api("a4").await, Err(StoreError::NotFound(_))));
}

async fn check_revisions(store: Store) {
    store
        .create_api(&new_api("r1", "Rev", "/rev", "1"), "admin")
        .await
        .expect("create");
    let mut ids = Vec::new();
    for n in 1..=5 {
        let created = store
            .create_revision("r1", Some("d"), |doc, number, _| format!("{doc}#{number}"))
            .await
            .expect("revision");
        let CreateRevision::Created(row) = created else {
            panic!("limit too early at {n}")
        };
        assert_eq!(row.number, n);
        assert_eq!(row.snapshot, format!("{{\"id\":\"r1\"}}#{n}"));
        ids.push(row.id);
    }
    let sixth = store
        .create_revision("r1", None, |d, _, _| d.to_owned())
        .await
        .expect("sixth");
    assert_eq!(sixth, CreateRevision::LimitReached);

    let targets = [DeploymentTarget {
        environment: "Default".into(),
        vhost: "localhost".into(),
        display_on_devportal: true,
    }];
    let before = store.latest_seq().await.expect("seq");
    let rows = store.deploy_revision("r1", &ids[0], &targets).await.expect("deploy");
    assert_eq!(rows.len(), 1);
    let events = store.events_after(before, 10).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "api.deployed");
    let payload: serde_json::Value = serde_json::from_str(&events[0].payload).expect("json");
    assert_eq!(payload["revisionId"], ids[0].as_str());
    assert_eq!(payload["environment"], "Default");
    assert_eq!(payload["vhost"], "localhost");

    assert_eq!(
        store.delete_revision("r1", &ids[0]).await.expect("delete"),
        DeleteRevision::Deployed(vec!["Default".into()])
    );
    assert_eq!(
        store.delete_revision("r1", &ids[1]).await.expect("delete"),
        DeleteRevision::Deleted
    );
    assert_eq!(
        store.delete_revision("r1", &ids[1]).await.expect("delete"),
        DeleteRevision::NotFound
    );
    // A freed slot allows a new revision, numbered after the highest ever.
    let CreateRevision::Created(r6) = store
        .create_revision("r1", None, |d, _, _| d.to_owned())
        .await
        .expect("r6")
    else {
        panic!("slot was freed")
    };
    assert_eq!(r6.number, 6);

    // Deploying another revision to the same environment replaces the deployment.
    store.deploy_revision("r1", &ids[2], &targets).await.expect("redeploy");
    let deployed = store.list_deployments("r1").await.expect("list");
    assert_eq!(deployed.len(), 1);
    assert_eq!(deployed[0].revision_id, ids[2]);
    assert!(matches!(
        store.deploy_revision("r1", "missing", &targets).await,
        Err(StoreError::NotFound(_))
    ));

    let removed = store.undeploy_revision("r1", &ids[2], None).await.expect("undeploy");
    assert_eq!(removed.len(), 1);
    assert!(store.list_deployments("r1").await.expect("list").is_empty());
    assert_eq!(
        store.events_of_kind("api.undeployed", 10).await.expect("events").len(),
        1
    );

    store
        .update_api("r1", 1, "{\"changed\":true}", Some(Some("def")))
        .await
        .expect("update");
    store
        .restore_revision("r1", &ids[0], |s| format!("restored:{s}"))
        .await
        .expect("restore")
        .expect("found");
    let api = store.find_api("r1").await.expect("find").expect("exists");
    assert_eq!(api.document, format!("restored:{{\"id\":\"r1\"}}#1"));
    assert_eq!(api.definition, None);
    assert_eq!(
        store
            .restore_revision("r1", "missing", |s| s.to_owned())
            .await
            .expect("restore"),
        None
    );
}

async fn check_policies(store: Store) {
    let subs = store.list_throttling_policies("subscription").await.expect("policies");
    let names: Vec<(&str, i64)> = subs.iter().map(|p| (p.name.as_str(), p.request_count)).collect();
    assert_eq!(
        names,
        [
            ("Unlimited", 2147483647),
            ("Gold", 5000),
            ("Silver", 2000),
            ("Bronze", 1000),
            ("Unauthenticated", 500)
        ]
    );
    let api = store.list_throttling_policies("api").await.expect("policies");
    let names: Vec<&str> = api.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Unlimited", "50KPerMin", "20KPerMin", "10KPerMin"]);

    store
        .create_api(&new_api("s1", "Sub", "/sub", "1"), "admin")
        .await
        .expect("api");
    let app = store
        .create_application(&NewApplication {
            name: "App".into(),
            owner: "admin".into(),
            throttling_policy: "10PerMin".into(),
            description: None,
            ..Default::default()
        })
        .await
        .expect("app");
    let sub = NewSubscription {
        application_id: app.clone(),
        api_id: "s1".into(),
        throttling_policy: "Gold".into(),
        status: "UNBLOCKED".into(),
    };
    store.create_subscription(&sub).await.expect("subscribe");
    assert!(matches!(
        store.create_subscription(&sub).await,
        Err(StoreError::Conflict(_))
    ));
    let (rows, total) = store.list_subscriptions(Some("s1"), 10, 0).await.expect("list");
    assert_eq!(total, 1);
    assert_eq!(rows[0].application_name, "App");
    assert_eq!(store.list_subscriptions(Some("other"), 10, 0).await.expect("list").1, 0);
    // An API with subscriptions cannot be deleted.
    assert!(matches!(store.delete_api("s1").await, Err(StoreError::Conflict(_))));
}
