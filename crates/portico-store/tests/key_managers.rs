//! External key managers and mapped keys on SQLite and on PostgreSQL: uniqueness of names and
//! issuers, the `key_manager.changed` events, deletion refused while applications hold keys,
//! mapped client ids beside the resident key manager's OAuth clients (no foreign key, no secret),
//! and what `gateway_identity()` hands the gateway.

mod common;

use common::{both_backends, postgres, sqlite};
use portico_store::{
    EVENT_KEY_MANAGER_CHANGED, EVENT_KEY_MAPPING_CHANGED, NewApplication, NewKeyManager, NewKeyMapping, NewMappedKey,
    NewOAuthClient, NewUser, RESIDENT_KEY_MANAGER, Role, Store, StoreError,
};
use portico_testkit::PgDatabase;

both_backends!(key_managers_sqlite, key_managers_postgres, check_key_managers);

fn km(name: &str, issuer: &str, enabled: bool) -> NewKeyManager {
    NewKeyManager {
        name: name.into(),
        kind: "Keycloak".into(),
        enabled,
        issuer: issuer.into(),
        configuration: serde_json::json!({
            "certificates": {"type": "JWKS", "value": "https://idp.test/jwks"},
            "consumerKeyClaim": "azp", "scopesClaim": " ", "description": "realm"
        })
        .to_string(),
    }
}

fn mapped(id: &str, app: &str, key_type: &str, key_manager: &str, client: &str) -> NewMappedKey {
    NewMappedKey {
        id: id.into(),
        application_id: app.into(),
        key_type: key_type.into(),
        key_manager: key_manager.into(),
        client_id: client.into(),
        additional_properties: String::new(),
    }
}

async fn check_key_managers(store: Store) {
    assert!(store.list_key_managers().await.expect("list").is_empty());
    let idp = store
        .create_key_manager(&km("Keycloak", "https://kc.test/realms/a", true))
        .await
        .expect("create");
    let settings = idp.settings();
    assert_eq!(settings.certificate_type.as_deref(), Some("JWKS"));
    assert_eq!(settings.consumer_key_claim.as_deref(), Some("azp"));
    assert_eq!(settings.scopes_claim, None, "blank claims are absent");
    for duplicate in [
        km("Keycloak", "https://kc.test/realms/other", true),
        km("Other", "https://kc.test/realms/a", true),
    ] {
        match store.create_key_manager(&duplicate).await {
            Err(StoreError::Conflict(what)) => assert!(what.contains("Keycloak") || what.contains("issuer"), "{what}"),
            other => panic!("duplicate {}: {other:?}", duplicate.name),
        }
    }
    let disabled = store
        .create_key_manager(&km("Auth0", "https://auth0.test/", false))
        .await
        .expect("second");
    let events = store
        .events_of_kind(EVENT_KEY_MANAGER_CHANGED, 10)
        .await
        .expect("events");
    assert_eq!(events.len(), 2);

    let updated = store
        .update_key_manager(&disabled.id, &km("Auth0", "https://auth0.test/v2/", true))
        .await
        .expect("update");
    assert_eq!(
        (updated.issuer.as_str(), updated.enabled),
        ("https://auth0.test/v2/", true)
    );
    assert!(matches!(
        store
            .update_key_manager(&disabled.id, &km("Auth0", "https://kc.test/realms/a", true))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.update_key_manager("nope", &km("X", "https://x.test", true)).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .update_key_manager(&disabled.id, &km("Auth0", "https://auth0.test/v2/", false))
        .await
        .expect("disable");

    // An application with a resident client and a mapped external client id.
    let dev = store
        .create_user(&NewUser {
            username: "dev".into(),
            password_hash: "h".into(),
            roles: vec![Role::Subscriber],
        })
        .await
        .expect("user");
    let app = store
        .create_application(&NewApplication {
            name: "Shop".into(),
            owner: "dev".into(),
            throttling_policy: "Unlimited".into(),
            ..Default::default()
        })
        .await
        .expect("app");
    store
        .create_key_mapping(&NewKeyMapping {
            id: "m-resident".into(),
            application_id: app.clone(),
            key_type: "PRODUCTION".into(),
            key_manager: RESIDENT_KEY_MANAGER.into(),
            additional_properties: "{}".into(),
            scopes: "default".into(),
            validity_time: 3600,
            client: NewOAuthClient {
                client_id: "resident-client".into(),
                secret_hash: "hash".into(),
                client_name: "shop".into(),
                owner_id: dev.id.clone(),
                grant_types: "client_credentials".into(),
                callback_url: String::new(),
                key_type: "PRODUCTION".into(),
                saas_app: false,
            },
        })
        .await
        .expect("resident keys");
    let external = store
        .create_mapped_key(&mapped("m-kc", &app, "PRODUCTION", "Keycloak", "kc-client"))
        .await
        .expect("mapped keys beside the resident ones");
    assert_eq!(
        (
            external.mode.as_str(),
            external.grant_types.as_str(),
            external.is_resident()
        ),
        ("MAPPED", "", false)
    );
    // Same key type and key manager again, or the same client id elsewhere: conflicts.
    for (again, why) in [
        (
            mapped("m-2", &app, "PRODUCTION", "Keycloak", "kc-other"),
            "PRODUCTION keys",
        ),
        (mapped("m-3", &app, "SANDBOX", "Keycloak", "kc-client"), "client id"),
    ] {
        match store.create_mapped_key(&again).await {
            Err(StoreError::Conflict(what)) => assert!(what.contains(why), "{what}"),
            other => panic!("{why}: {other:?}"),
        }
    }
    // The same client id from another key manager is another client.
    store
        .create_mapped_key(&mapped("m-auth0", &app, "SANDBOX", "Auth0", "kc-client"))
        .await
        .expect("other key manager");
    let listed = store.list_key_mappings(&app).await.expect("list");
    assert_eq!(listed.len(), 3);
    assert_eq!(listed.iter().filter(|m| m.is_resident()).count(), 1);

    let identity = store.gateway_identity().await.expect("identity");
    let names: Vec<&str> = identity.key_managers.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["Keycloak"], "disabled key managers are left out");
    let mut mappings: Vec<(String, String)> = identity
        .key_mappings
        .iter()
        .map(|m| (m.key_manager.clone(), m.client_id.clone()))
        .collect();
    mappings.sort();
    assert_eq!(
        mappings,
        [
            ("Auth0".to_owned(), "kc-client".to_owned()),
            ("Keycloak".to_owned(), "kc-client".to_owned()),
            (RESIDENT_KEY_MANAGER.to_owned(), "resident-client".to_owned()),
        ]
    );

    // In use: deletion refused; after the mapping is gone it succeeds.
    assert!(matches!(
        store.delete_key_manager(&idp.id).await,
        Err(StoreError::InUse(_))
    ));
    let counts = store.key_mapping_counts().await.expect("counts");
    assert!(counts.contains(&("Keycloak".to_owned(), 1)), "{counts:?}");
    store.delete_key_mapping(&external).await.expect("unmap");
    assert!(
        store
            .find_oauth_client("resident-client")
            .await
            .expect("find")
            .is_some()
    );
    let events = store
        .events_of_kind(EVENT_KEY_MAPPING_CHANGED, 1)
        .await
        .expect("events");
    assert!(events[0].payload.contains("kc-client"), "{}", events[0].payload);
    store.delete_key_manager(&idp.id).await.expect("delete");
    assert!(store.find_key_manager(&idp.id).await.expect("find").is_none());
    assert!(matches!(
        store.delete_key_manager(&idp.id).await,
        Err(StoreError::NotFound(_))
    ));

    // Deleting the application: only the resident client is a client to revoke.
    let revoked = store.delete_application(&app).await.expect("delete application");
    assert_eq!(revoked, ["resident-client"]);
    assert!(store.list_key_mappings(&app).await.expect("list").is_empty());
    assert!(
        store
            .find_oauth_client("resident-client")
            .await
            .expect("find")
            .is_none()
    );
}

/// The schema before 0006 with one resident key mapping, at `url`.
async fn schema_v5_with_a_mapping(backend: &str, url: &str) {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(&source).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        if name.as_str() < "0006" {
            std::fs::copy(&path, dir.path().join(&name)).expect("copy");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.expect("migrator");
    const SETUP: [&str; 4] = [
        "INSERT INTO users (id, username, password_hash, created_at, updated_at) VALUES ('u1', 'dev', 'h', 0, 0)",
        "INSERT INTO applications (id, name, owner, throttling_policy, status, created_at, updated_at) \
         VALUES ('app1', 'Shop', 'dev', 'Unlimited', 'APPROVED', 0, 0)",
        "INSERT INTO oauth_clients (client_id, secret_hash, client_name, owner_id, grant_types, callback_url, key_type, saas_app, created_at, updated_at) \
         VALUES ('c1', 'hash', 'shop', 'u1', 'client_credentials', '', 'PRODUCTION', FALSE, 0, 0)",
        "INSERT INTO application_key_mappings (id, application_id, key_type, key_manager, client_id, additional_properties, scopes, validity_time, created_at) \
         VALUES ('m1', 'app1', 'PRODUCTION', 'Resident Key Manager', 'c1', '{}', 'default', 3600, 0)",
    ];
    if backend == "sqlite" {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("url");
        let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true).foreign_keys(true))
            .await
            .expect("sqlite");
        migrator.run(&pool).await.expect("migrate to v5");
        for sql in SETUP {
            sqlx::query(sql).execute(&pool).await.expect(sql);
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        migrator.run(&pool).await.expect("migrate to v5");
        for sql in SETUP {
            sqlx::query(sql).execute(&pool).await.expect(sql);
        }
        pool.close().await;
    }
}

/// 0006 keeps the resident key mappings, which keep their OAuth client's foreign key.
async fn check_migrated_mapping(store: Store) {
    let mappings = store.list_key_mappings("app1").await.expect("list");
    assert_eq!(mappings.len(), 1);
    let m = &mappings[0];
    assert_eq!(
        (
            m.client_id.as_str(),
            m.mode.as_str(),
            m.grant_types.as_str(),
            m.is_resident()
        ),
        ("c1", "CREATED", "client_credentials", true)
    );
    // Deleting the user cascades to their client and, through the kept foreign key, the mapping.
    store.delete_user("u1").await.expect("delete user");
    assert!(store.list_key_mappings("app1").await.expect("list").is_empty());
}

#[tokio::test]
async fn migration_0006_keeps_resident_mappings_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("portico.db").display());
    schema_v5_with_a_mapping("sqlite", &url).await;
    check_migrated_mapping(sqlite(&dir).await).await;
}

#[tokio::test]
async fn migration_0006_keeps_resident_mappings_postgres() {
    let Some(db) = PgDatabase::create("migration_0006").await.expect("create database") else {
        return;
    };
    schema_v5_with_a_mapping("postgres", &db.url).await;
    let store = postgres(&db, "node-a").await;
    check_migrated_mapping(store.clone()).await;
    store.close().await;
}
