//! DevPortal state on SQLite and on PostgreSQL: applications, key mappings, subscriptions, their
//! change-feed events, and `gateway_identity()`.

mod common;

use common::both_backends;
use portico_store::{
    EVENT_APPLICATION_CHANGED, EVENT_KEY_MAPPING_CHANGED, EVENT_SUBSCRIPTION_CHANGED, GatewayKeyMapping,
    GatewaySubscription, NewApiRow, NewApplication, NewKeyMapping, NewOAuthClient, NewSubscription, NewUser, Role,
    Store, StoreError, SubscriptionFilter,
};

both_backends!(
    gateway_identity_sqlite,
    gateway_identity_postgres,
    check_gateway_identity
);

fn mapping(id: &str, app: &str, key_type: &str, client: &str, owner_id: &str) -> NewKeyMapping {
    NewKeyMapping {
        id: id.into(),
        application_id: app.into(),
        key_type: key_type.into(),
        key_manager: "Resident Key Manager".into(),
        additional_properties: "{}".into(),
        scopes: "default".into(),
        validity_time: 3600,
        client: NewOAuthClient {
            client_id: client.into(),
            secret_hash: "hash".into(),
            client_name: format!("{app}_{key_type}"),
            owner_id: owner_id.into(),
            grant_types: "client_credentials urn:ietf:params:oauth:grant-type:saml2-bearer".into(),
            callback_url: String::new(),
            key_type: key_type.into(),
            saas_app: false,
        },
    }
}

async fn check_gateway_identity(store: Store) {
    let identity = store.gateway_identity().await.expect("identity");
    assert!(identity.key_mappings.is_empty() && identity.subscriptions.is_empty());

    let policies = store.list_throttling_policies("application").await.expect("policies");
    let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Unlimited", "50PerMin", "20PerMin", "10PerMin"]);

    let dev = store
        .create_user(&NewUser {
            username: "dev".into(),
            password_hash: "h".into(),
            roles: vec![Role::Subscriber],
        })
        .await
        .expect("user");
    store
        .create_api(
            &NewApiRow {
                id: "api-1".into(),
                name: "Pizza".into(),
                version: "1.0.0".into(),
                context: "/pizza".into(),
                provider: "admin".into(),
                lifecycle_status: "PUBLISHED".into(),
                document: "{}".into(),
                definition: None,
                api_type: "API".into(),
            },
            "admin",
        )
        .await
        .expect("api");
    let new_app = NewApplication {
        name: "Shop".into(),
        owner: "dev".into(),
        throttling_policy: "10PerMin".into(),
        ..Default::default()
    };
    let app = store.create_application(&new_app).await.expect("app");
    assert!(matches!(
        store.create_application(&new_app).await,
        Err(StoreError::Conflict(_))
    ));
    let row = store.find_application(&app).await.expect("find").expect("exists");
    assert_eq!((row.token_type.as_str(), row.attributes.as_str()), ("JWT", "{}"));

    let created = store
        .create_key_mapping(&mapping("m1", &app, "PRODUCTION", "client-1", &dev.id))
        .await
        .expect("mapping");
    assert_eq!(created.client_id, "client-1");
    // A second PRODUCTION mapping is a conflict and leaves no client behind.
    assert!(matches!(
        store
            .create_key_mapping(&mapping("m2", &app, "PRODUCTION", "client-2", &dev.id))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.find_oauth_client("client-2").await.expect("find").is_none());
    store
        .create_key_mapping(&mapping("m3", &app, "SANDBOX", "client-3", &dev.id))
        .await
        .expect("sandbox");

    let sub = store
        .create_subscription(&NewSubscription {
            application_id: app.clone(),
            api_id: "api-1".into(),
            throttling_policy: "Gold".into(),
            status: "UNBLOCKED".into(),
        })
        .await
        .expect("subscribe");

    let identity = store.gateway_identity().await.expect("identity");
    assert_eq!(
        identity.key_mappings,
        vec![
            GatewayKeyMapping {
                key_manager: "Resident Key Manager".into(),
                client_id: "client-1".into(),
                application_id: app.clone(),
                application_name: "Shop".into(),
                owner: "dev".into(),
                application_tier: "10PerMin".into(),
                key_type: "PRODUCTION".into(),
            },
            GatewayKeyMapping {
                key_manager: "Resident Key Manager".into(),
                client_id: "client-3".into(),
                application_id: app.clone(),
                application_name: "Shop".into(),
                owner: "dev".into(),
                application_tier: "10PerMin".into(),
                key_type: "SANDBOX".into(),
            },
        ]
    );
    assert_eq!(
        identity.subscriptions,
        vec![GatewaySubscription {
            application_id: app.clone(),
            api_id: "api-1".into(),
            tier: "Gold".into(),
            status: "UNBLOCKED".into(),
        }]
    );

    store.set_subscription_status(&sub, "BLOCKED").await.expect("block");
    let identity = store.gateway_identity().await.expect("identity");
    assert_eq!(identity.subscriptions[0].status, "BLOCKED");
    let events = store
        .events_of_kind(EVENT_SUBSCRIPTION_CHANGED, 10)
        .await
        .expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].entity_id, sub);

    let filter = SubscriptionFilter {
        owner: Some("dev".into()),
        ..SubscriptionFilter::default()
    };
    assert_eq!(store.find_subscriptions(&filter, 10, 0).await.expect("list").1, 1);

    // Removing a key mapping deletes its client.
    let m3 = store.find_key_mapping(&app, "m3").await.expect("find").expect("exists");
    store.delete_key_mapping(&m3).await.expect("delete mapping");
    assert!(store.find_oauth_client("client-3").await.expect("find").is_none());
    assert_eq!(store.gateway_identity().await.expect("identity").key_mappings.len(), 1);

    // Deleting the application takes its subscriptions, mappings and clients along.
    let clients = store.delete_application(&app).await.expect("delete app");
    assert_eq!(clients, vec!["client-1".to_owned()]);
    let identity = store.gateway_identity().await.expect("identity");
    assert!(identity.key_mappings.is_empty() && identity.subscriptions.is_empty());
    assert!(store.find_oauth_client("client-1").await.expect("find").is_none());
    // The deleted clients' tokens are cut off in the same transactions.
    let cutoffs = store.token_cutoffs().await.expect("cutoffs");
    for client in ["client-1", "client-3"] {
        assert!(cutoffs.iter().any(|c| c.subject_id == client), "{client}: {cutoffs:?}");
    }
    let app_events = store
        .events_of_kind(EVENT_APPLICATION_CHANGED, 10)
        .await
        .expect("events");
    assert_eq!(app_events.len(), 2);
    assert!(app_events.iter().all(|e| e.entity_id == app));
    let key_events = store
        .events_of_kind(EVENT_KEY_MAPPING_CHANGED, 10)
        .await
        .expect("events");
    let entities: Vec<&str> = key_events.iter().map(|e| e.entity_id.as_str()).collect();
    assert_eq!(entities, ["m1", "m3", "m3", "m1"]);
    assert_eq!(
        store
            .events_of_kind(EVENT_SUBSCRIPTION_CHANGED, 10)
            .await
            .expect("events")
            .len(),
        3
    );
}
