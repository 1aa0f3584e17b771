//! The same store tests on SQLite and on PostgreSQL.

use std::time::Duration;

use portico_store::{Backend, NewUser, Role, Store, StoreError, StoreOptions};
use portico_testkit::PgDatabase;

async fn sqlite(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}", dir.path().join("portico.db").display());
    Store::connect(&StoreOptions {
        backend: Backend::Sqlite,
        url,
        pool_size: 4,
        acquire_timeout: Duration::from_secs(5),
        node_id: "node-a".into(),
    })
    .await
    .expect("sqlite store")
}

async fn postgres(db: &PgDatabase, node: &str) -> Store {
    Store::connect(&StoreOptions {
        backend: Backend::Postgres,
        url: db.url.clone(),
        pool_size: 4,
        acquire_timeout: Duration::from_secs(5),
        node_id: node.into(),
    })
    .await
    .expect("postgres store")
}

/// Runs `check` against a fresh store of each backend.
macro_rules! both_backends {
    ($sqlite:ident, $pg:ident, $check:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let dir = tempfile::tempdir().expect("tempdir");
            $check(sqlite(&dir).await).await;
        }

        #[tokio::test]
        async fn $pg() {
            let Some(db) = PgDatabase::create(stringify!($pg))
                .await
                .expect("create database")
            else {
                return;
            };
            let store = postgres(&db, "node-a").await;
            $check(store.clone()).await;
            store.close().await;
        }
    };
}

both_backends!(migrations_sqlite, migrations_postgres, check_migrations);
both_backends!(users_sqlite, users_postgres, check_users);
both_backends!(feed_sqlite, feed_postgres, check_feed);

async fn check_migrations(store: Store) {
    store.ping().await.expect("ping");
    assert!(store.schema_version().await.expect("version") >= 1);
}

async fn check_users(store: Store) {
    let alice = store
        .create_user(&NewUser {
            username: "alice".into(),
            password_hash: "h1".into(),
            roles: vec![Role::Subscriber, Role::Creator],
        })
        .await
        .expect("create");
    assert_eq!(alice.roles, vec![Role::Creator, Role::Subscriber]);

    let dup = store
        .create_user(&NewUser {
            username: "alice".into(),
            password_hash: "x".into(),
            roles: vec![],
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    // The refused duplicate changed nothing.
    let found = store.find_user("alice").await.expect("find").expect("exists");
    assert_eq!(found.password_hash, "h1");

    store
        .set_user_roles(&alice.id, &[Role::Publisher])
        .await
        .expect("roles");
    store.set_password_hash(&alice.id, "h2").await.expect("password");
    let found = store.find_user_by_id(&alice.id).await.expect("find").expect("exists");
    assert_eq!(found.roles, vec![Role::Publisher]);
    assert_eq!(found.password_hash, "h2");

    // Upsert keeps the id, replaces the hash and adds roles.
    let admin = store
        .upsert_user(&NewUser {
            username: "admin".into(),
            password_hash: "a1".into(),
            roles: vec![Role::Admin],
        })
        .await
        .expect("upsert");
    let again = store
        .upsert_user(&NewUser {
            username: "admin".into(),
            password_hash: "a2".into(),
            roles: vec![Role::Creator],
        })
        .await
        .expect("upsert");
    assert_eq!(admin.id, again.id);
    assert_eq!(again.password_hash, "a2");
    assert_eq!(again.roles, vec![Role::Admin, Role::Creator]);

    let all = store.list_users(10, 0).await.expect("list");
    assert_eq!(
        all.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(),
        vec!["admin", "alice"]
    );
    assert_eq!(store.list_users(10, 1).await.expect("page").len(), 1);

    store.delete_user(&alice.id).await.expect("delete");
    assert!(store.find_user("alice").await.expect("find").is_none());
    assert!(matches!(
        store.delete_user(&alice.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_user_roles("nope", &[]).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn check_feed(store: Store) {
    assert_eq!(store.latest_seq().await.expect("latest"), 0);
    let first = store
        .append_event("api.deployed", "api-1", &serde_json::json!({"revision": 1}))
        .await
        .expect("append");
    let second = store
        .append_event("token.revoked", "jti-9", &serde_json::json!({"exp": 42}))
        .await
        .expect("append");
    assert!(second > first);
    let events = store.events_after(0, 10).await.expect("read");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, "api.deployed");
    assert_eq!(events[1].entity_id, "jti-9");
    assert_eq!(events[1].origin_node, "node-a");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&events[1].payload).expect("json")["exp"],
        42
    );
    assert_eq!(store.events_after(first, 10).await.expect("read").len(), 1);
    assert_eq!(store.latest_seq().await.expect("latest"), second);

    // Concurrent appends from many tasks get distinct, gap-free sequence numbers.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.append_event("x", &i.to_string(), &serde_json::json!({})).await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("append");
    }
    let events = store.events_after(second, 100).await.expect("read");
    assert_eq!(events.len(), 20);
    for pair in events.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "gap in the feed");
    }
}

#[tokio::test]
async fn two_nodes_share_one_postgres_feed() {
    let Some(db) = PgDatabase::create("shared_feed").await.expect("create database") else {
        return;
    };
    let a = postgres(&db, "node-a").await;
    let b = postgres(&db, "node-b").await; // migrations already applied: a no-op
    a.append_event("api.deployed", "x", &serde_json::json!({}))
        .await
        .expect("append");
    let seen = b.events_after(0, 10).await.expect("read");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].origin_node, "node-a");
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn unreachable_postgres_is_a_named_error() {
    let err = Store::connect(&StoreOptions {
        backend: Backend::Postgres,
        url: "postgres://nobody:secret@127.0.0.1:1/none".into(),
        pool_size: 1,
        acquire_timeout: Duration::from_secs(2),
        node_id: "n".into(),
    })
    .await
    .expect_err("nothing listens on port 1");
    let text = err.to_string();
    assert!(text.contains("127.0.0.1:1"), "{text}");
    assert!(!text.contains("secret"), "password leaked: {text}");
}
