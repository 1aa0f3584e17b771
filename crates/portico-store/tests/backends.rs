//! The same store tests on SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use portico_store::{
    Backend, CutoffKind, NewOAuthClient, NewRefreshToken, NewUser, RefreshUse, RevokedToken, Role, Store, StoreError,
    StoreOptions,
};
use portico_testkit::PgDatabase;

use common::{both_backends, postgres};

both_backends!(migrations_sqlite, migrations_postgres, check_migrations);
both_backends!(users_sqlite, users_postgres, check_users);
both_backends!(feed_sqlite, feed_postgres, check_feed);
both_backends!(keymanager_sqlite, keymanager_postgres, check_keymanager);

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

fn refresh(hash: &str, chain: &str, client: &str, user: &str, jti: &str) -> NewRefreshToken {
    let far = 4_000_000_000_000;
    NewRefreshToken {
        token_hash: hash.into(),
        chain_id: chain.into(),
        client_id: client.into(),
        user_id: user.into(),
        scope: "apim:api_view".into(),
        access_jti: jti.into(),
        access_expires_at: far,
        expires_at: far,
    }
}

/// OAuth clients, refresh-token rotation and replay, revocations and cut-offs, and their events.
async fn check_keymanager(store: Store) {
    assert!(
        store.schema_version().await.expect("version") >= 3,
        "0003_keymanager applied"
    );
    let owner = store
        .create_user(&NewUser {
            username: "owner".into(),
            password_hash: "x".into(),
            roles: vec![Role::Subscriber],
        })
        .await
        .expect("user");
    let new = NewOAuthClient {
        client_id: "cid".into(),
        secret_hash: "h1".into(),
        client_name: "owner_app".into(),
        owner_id: owner.id.clone(),
        grant_types: "password refresh_token".into(),
        callback_url: String::new(),
        key_type: "PRODUCTION".into(),
        saas_app: false,
    };
    let client = store.create_oauth_client(&new).await.expect("client");
    assert!(client.allows_grant("refresh_token") && !client.allows_grant("client_credentials"));
    assert!(matches!(
        store.create_oauth_client(&new).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .find_oauth_client_by_name(&owner.id, "owner_app")
            .await
            .expect("find"),
        Some(client.clone())
    );
    let start = store.latest_seq().await.expect("seq");

    // Rotation: the first use rotates, a second use of the same token revokes the chain.
    store
        .insert_refresh_token(&refresh("r1", "chain", "cid", &owner.id, "jti-1"))
        .await
        .expect("insert");
    let used = store
        .use_refresh_token("r1", |cur| refresh("r2", &cur.chain_id, "cid", &owner.id, "jti-2"))
        .await
        .expect("use");
    assert!(matches!(used, RefreshUse::Rotated(ref t) if t.token_hash == "r1"));
    assert_eq!(
        store.find_refresh_token("r2").await.expect("find").map(|t| t.state),
        Some("active".into())
    );
    let replay = store
        .use_refresh_token("r1", |cur| refresh("r3", &cur.chain_id, "cid", &owner.id, "jti-3"))
        .await
        .expect("replay");
    let RefreshUse::Reused { chain_id, mut revoked } = replay else {
        panic!("a replay must be detected: {replay:?}");
    };
    assert_eq!(chain_id, "chain");
    revoked.sort_by(|a, b| a.jti.cmp(&b.jti));
    let jtis: Vec<&str> = revoked.iter().map(|t| t.jti.as_str()).collect();
    assert_eq!(jtis, vec!["jti-1", "jti-2"]);
    assert_eq!(store.find_refresh_token("r3").await.expect("find"), None);
    assert_eq!(
        store
            .use_refresh_token("r2", |_| refresh("r4", "chain", "cid", &owner.id, "j"))
            .await
            .expect("use"),
        RefreshUse::Invalid,
        "the successor is revoked with its chain"
    );

    // Revocations are stored and announced in the same transaction.
    store
        .revoke_access_tokens(&[RevokedToken {
            jti: "jti-x".into(),
            expires_at: 4_000_000_000_000,
        }])
        .await
        .expect("revoke");
    let mut stored: Vec<String> = store
        .revoked_access_tokens()
        .await
        .expect("revoked")
        .into_iter()
        .map(|t| t.jti)
        .collect();
    stored.sort();
    assert_eq!(stored, vec!["jti-1", "jti-2", "jti-x"]);
    let t = store.cut_off_tokens(CutoffKind::User, "owner").await.expect("cutoff");
    let cutoffs = store.token_cutoffs().await.expect("cutoffs");
    assert_eq!(cutoffs.len(), 1);
    assert_eq!((cutoffs[0].kind, cutoffs[0].not_after), (CutoffKind::User, t));
    let events = store.events_after(start, 100).await.expect("events");
    let kinds: Vec<(&str, &str)> = events.iter().map(|e| (e.kind.as_str(), e.entity_id.as_str())).collect();
    assert!(kinds.contains(&("token.revoked", "jti-1")), "{kinds:?}");
    assert!(kinds.contains(&("token.revoked", "jti-x")), "{kinds:?}");
    assert!(kinds.contains(&("user.tokens_revoked", "owner")), "{kinds:?}");

    // Secret change and deletion cut the client's tokens off; deleting the owner removes clients.
    store.set_oauth_client_secret("cid", "h2").await.expect("secret");
    assert_eq!(
        store
            .find_oauth_client("cid")
            .await
            .expect("find")
            .map(|c| c.secret_hash),
        Some("h2".into())
    );
    store.delete_oauth_client("cid").await.expect("delete");
    assert!(matches!(
        store.delete_oauth_client("cid").await,
        Err(StoreError::NotFound(_))
    ));
    let events = store.events_after(start, 100).await.expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.kind == "client.tokens_revoked" && e.entity_id == "cid")
    );
}
