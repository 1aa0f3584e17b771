//! Throttling policies and deny policies on SQLite and on PostgreSQL: WSO2's defaults on a fresh
//! store (seeded once each), the 0008 migration of a database that had only the old policy rows,
//! create/update/delete with their feed events, duplicate names, and deletion refused while
//! applications or subscriptions use a policy.

mod common;

use std::path::Path;

use common::{both_backends, postgres, sqlite};
use portico_store::{
    EVENT_DENY_POLICY_CHANGED, EVENT_POLICY_CHANGED, NewApiRow, NewApplication, NewSubscription, Store, StoreError,
    ThrottlingPolicyRow,
};
use portico_testkit::PgDatabase;
use portico_throttle::policy::{Burst, Quota, default_policies};
use portico_throttle::{BurstUnit, Policy, PolicyLevel, TimeUnit};

both_backends!(defaults_sqlite, defaults_postgres, check_defaults);
both_backends!(policy_crud_sqlite, policy_crud_postgres, check_policy_crud);
both_backends!(deny_policies_sqlite, deny_policies_postgres, check_deny_policies);

async fn all_policies(store: &Store) -> Vec<ThrottlingPolicyRow> {
    let mut all = Vec::new();
    for level in ["subscription", "application", "api"] {
        all.extend(store.list_throttling_policies(level).await.expect("list"));
    }
    all
}

async fn check_defaults(store: Store) {
    let rows = all_policies(&store).await;
    let mut stored: Vec<Policy> = rows.iter().map(|r| r.policy().expect("valid row")).collect();
    let mut defaults = default_policies();
    for list in [&mut stored, &mut defaults] {
        list.sort_by(|a, b| (a.level.as_str(), &a.name).cmp(&(b.level.as_str(), &b.name)));
    }
    // The limits, flags and burst control are WSO2's; descriptions are the seeds' texts.
    let shape = |p: &Policy| (p.level, p.name.clone(), p.quota, p.burst, p.stop_on_quota_reach);
    assert_eq!(
        stored.iter().map(shape).collect::<Vec<_>>(),
        defaults.iter().map(shape).collect::<Vec<_>>()
    );
    let mut ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 13, "each policy has its own id");
    assert!(ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok()), "{ids:?}");
    assert!(
        rows.iter()
            .all(|r| r.rate_limit_count == 0 && r.rate_limit_time_unit.is_none())
    );
}

fn policy(level: PolicyLevel, name: &str, count: u64, burst: Option<(u64, BurstUnit)>) -> Policy {
    Policy {
        level,
        name: name.into(),
        display_name: format!("{name} tier"),
        description: format!("Allows {count} per minute"),
        quota: Quota::per(count, TimeUnit::Min),
        burst: burst.map(|(rate_limit_count, rate_limit_time_unit)| Burst {
            rate_limit_count,
            rate_limit_time_unit,
        }),
        stop_on_quota_reach: true,
    }
}

async fn check_policy_crud(store: Store) {
    let platinum = policy(
        PolicyLevel::Subscription,
        "Platinum",
        10_000,
        Some((50, BurstUnit::Sec)),
    );
    let row = store.create_throttling_policy(&platinum).await.expect("create");
    assert_eq!((row.level.as_str(), row.rate_limit_count), ("subscription", 50));
    assert_eq!(row.rate_limit_time_unit.as_deref(), Some("sec"));
    assert_eq!(row.policy().expect("valid"), platinum);
    match store.create_throttling_policy(&platinum).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("Platinum"), "{what}"),
        other => panic!("duplicate: {other:?}"),
    }
    // The same name at another level is another policy, as in WSO2.
    let app_level = policy(PolicyLevel::Application, "Platinum", 100, None);
    let app_row = store.create_throttling_policy(&app_level).await.expect("other level");
    let advanced = store
        .create_throttling_policy(&policy(PolicyLevel::Advanced, "5KPerMin", 5000, None))
        .await
        .expect("advanced");
    assert_eq!(advanced.level, "api");
    assert!(
        store
            .find_throttling_policy(PolicyLevel::Application, &row.id)
            .await
            .expect("find")
            .is_none(),
        "ids are found at their own level only"
    );

    let mut changed = platinum.clone();
    changed.quota = Quota::per(20_000, TimeUnit::Hour);
    changed.burst = None;
    changed.stop_on_quota_reach = false;
    let updated = store.update_throttling_policy(&row.id, &changed).await.expect("update");
    assert_eq!(updated.policy().expect("valid"), changed);
    assert_eq!((updated.rate_limit_count, updated.rate_limit_time_unit), (0, None));
    changed.name = "Renamed".into();
    assert!(matches!(
        store.update_throttling_policy(&row.id, &changed).await,
        Err(StoreError::NotFound(_))
    ));

    // In use: an application names the application policy, a subscription the subscription one.
    let app_id = store
        .create_application(&NewApplication {
            name: "Shop".into(),
            owner: "alice".into(),
            throttling_policy: "Platinum".into(),
            ..NewApplication::default()
        })
        .await
        .expect("application");
    let api = NewApiRow {
        id: "api-1".into(),
        name: "Pizza".into(),
        version: "1.0.0".into(),
        context: "/pizza".into(),
        provider: "admin".into(),
        lifecycle_status: "PUBLISHED".into(),
        document: "{}".into(),
        definition: None,
        api_type: "API".into(),
    };
    store.create_api(&api, "admin").await.expect("api");
    store
        .create_subscription(&NewSubscription {
            application_id: app_id.clone(),
            api_id: "api-1".into(),
            throttling_policy: "Platinum".into(),
            status: "UNBLOCKED".into(),
        })
        .await
        .expect("subscription");
    match store
        .delete_throttling_policy(PolicyLevel::Application, &app_row.id)
        .await
    {
        Err(StoreError::InUse(what)) => assert!(what.contains("application `Shop` of alice"), "{what}"),
        other => panic!("in use: {other:?}"),
    }
    match store.delete_throttling_policy(PolicyLevel::Subscription, &row.id).await {
        Err(StoreError::InUse(what)) => {
            assert!(
                what.contains("subscription of application `Shop`") && what.contains("Pizza 1.0.0"),
                "{what}"
            )
        }
        other => panic!("in use: {other:?}"),
    }
    store.delete_application(&app_id).await.expect("delete application");
    for (level, id) in [
        (PolicyLevel::Subscription, &row.id),
        (PolicyLevel::Application, &app_row.id),
        (PolicyLevel::Advanced, &advanced.id),
    ] {
        let deleted = store.delete_throttling_policy(level, id).await.expect("delete");
        assert_eq!(&deleted.id, id);
    }
    assert!(matches!(
        store
            .delete_throttling_policy(PolicyLevel::Advanced, &advanced.id)
            .await,
        Err(StoreError::NotFound(_))
    ));

    let events = store.events_of_kind(EVENT_POLICY_CHANGED, 20).await.expect("events");
    let actions: Vec<String> = events
        .iter()
        .rev()
        .map(|e| {
            let payload: serde_json::Value = serde_json::from_str(&e.payload).expect("payload");
            format!(
                "{} {} {}",
                payload["action"].as_str().unwrap_or("?"),
                payload["level"].as_str().unwrap_or("?"),
                payload["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        &actions[actions.len() - 7..],
        [
            "created subscription Platinum",
            "created application Platinum",
            "created api 5KPerMin",
            "updated subscription Platinum",
            "deleted subscription Platinum",
            "deleted application Platinum",
            "deleted api 5KPerMin",
        ]
    );
    assert_eq!(events[0].entity_id, advanced.id);
}

async fn check_deny_policies(store: Store) {
    assert!(store.list_deny_policies().await.expect("list").is_empty());
    let ip = store
        .create_deny_policy("IP", r#"{"fixedIp":"10.0.0.1","invert":false}"#, true)
        .await
        .expect("create");
    let user = store.create_deny_policy("USER", "mallory", false).await.expect("user");
    match store
        .create_deny_policy("IP", r#"{"fixedIp":"10.0.0.1","invert":false}"#, false)
        .await
    {
        Err(StoreError::Conflict(what)) => assert!(what.contains("10.0.0.1"), "{what}"),
        other => panic!("duplicate: {other:?}"),
    }
    // Listed oldest first; two made in the same millisecond come in id order.
    let mut listed = store.list_deny_policies().await.expect("list");
    let mut expected = vec![ip.clone(), user.clone()];
    if ip.created_at == user.created_at {
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        expected.sort_by(|a, b| a.id.cmp(&b.id));
    }
    assert_eq!(listed, expected);
    let enabled = store.set_deny_policy_enabled(&user.id, true).await.expect("enable");
    assert!(enabled.enabled);
    assert_eq!(store.find_deny_policy(&user.id).await.expect("find"), Some(enabled));
    store.delete_deny_policy(&ip.id).await.expect("delete");
    assert!(matches!(
        store.delete_deny_policy(&ip.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_deny_policy_enabled(&ip.id, true).await,
        Err(StoreError::NotFound(_))
    ));
    let events = store
        .events_of_kind(EVENT_DENY_POLICY_CHANGED, 10)
        .await
        .expect("events");
    assert_eq!(events.len(), 4, "created twice, updated, deleted");
    assert_eq!(events[0].entity_id, ip.id);
}

/// A database migrated up to 0007 (WSO2's defaults only, one of them changed by hand) keeps its
/// policies through 0008, with ids and no burst control; a default an administrator deleted is
/// not seeded again on the next start.
async fn check_migration(store_at: impl AsyncFn() -> Store, migrate_old: impl AsyncFnOnce()) {
    migrate_old().await;
    let store = store_at().await;
    let gold = store
        .list_throttling_policies("subscription")
        .await
        .expect("list")
        .into_iter()
        .find(|p| p.name == "Gold")
        .expect("Gold");
    assert_eq!(gold.request_count, 4000, "the stored limit is kept");
    assert!(uuid::Uuid::parse_str(&gold.id).is_ok());
    assert_eq!(all_policies(&store).await.len(), 13);
    store
        .delete_throttling_policy(PolicyLevel::Subscription, &gold.id)
        .await
        .expect("delete");
    store.close().await;
    let store = store_at().await;
    assert!(
        store
            .list_throttling_policies("subscription")
            .await
            .expect("list")
            .iter()
            .all(|p| p.name != "Gold"),
        "a deleted default stays deleted"
    );
    store.close().await;
}

/// Migrates the database at `$url` to 0007 with a `$pool` on `$dir`'s migrations (what the
/// previous release left) and changes Gold's limit by hand.
macro_rules! old_database {
    ($pool:ty, $url:expr, $dir:literal) => {{
        let pool = <$pool>::connect($url).await.expect("pool");
        let migrator = sqlx::migrate::Migrator::new(Path::new($dir)).await.expect("migrations");
        migrator.run_to(7, &pool).await.expect("migrate to 0007");
        sqlx::query("UPDATE throttling_policies SET request_count = 4000 WHERE name = 'Gold'")
            .execute(&pool)
            .await
            .expect("update");
        pool.close().await;
    }};
}

#[tokio::test]
async fn migration_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("portico.db").display());
    check_migration(
        async || sqlite(&dir).await,
        async || old_database!(sqlx::SqlitePool, &url, "migrations/sqlite"),
    )
    .await;
}

#[tokio::test]
async fn migration_postgres() {
    let Some(db) = PgDatabase::create("migration_postgres").await.expect("database") else {
        return;
    };
    check_migration(
        async || postgres(&db, "node-a").await,
        async || old_database!(sqlx::PgPool, &db.url, "migrations/postgres"),
    )
    .await;
}
