//! The cluster's signing keys: registering the keys a node holds, a rotation superseding the
//! others with its feed event, and retired keys leaving the live set; on both backends.

mod common;

use portico_store::{EVENT_SIGNING_KEY_CHANGED, NewSigningKey, Store, StoreError};

use common::both_backends;

both_backends!(signing_keys_sqlite, signing_keys_postgres, check_signing_keys);

fn key(kid: &str) -> NewSigningKey {
    NewSigningKey {
        kid: kid.into(),
        algorithm: "ES256".into(),
        public_key_pem: format!("-----BEGIN PUBLIC KEY-----\n{kid}\n-----END PUBLIC KEY-----\n"),
        jwk: format!(r#"{{"kid":"{kid}"}}"#),
    }
}

async fn check_signing_keys(store: Store) {
    let now = portico_store::now_millis();
    store.register_signing_key(&key("k1")).await.expect("register");
    // Registering again (every node start) changes nothing.
    store.register_signing_key(&key("k1")).await.expect("register again");
    let live = store.live_signing_keys(now).await.expect("live");
    assert_eq!(live.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["k1"]);
    assert_eq!(live[0].retires_at, None);

    let before = store.latest_seq().await.expect("seq");
    store
        .rotate_signing_key(&key("k2"), now + 60_000)
        .await
        .expect("rotate");
    let events = store.events_after(before, 10).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind.as_str(), events[0].entity_id.as_str()),
        (EVENT_SIGNING_KEY_CHANGED, "k2")
    );
    let live = store.live_signing_keys(now).await.expect("live");
    assert_eq!(
        live.iter().map(|k| (k.kid.as_str(), k.retires_at)).collect::<Vec<_>>(),
        [("k1", Some(now + 60_000)), ("k2", None)]
    );
    // After its retirement time the superseded key is no longer live; the newest stays.
    let later = store.live_signing_keys(now + 60_001).await.expect("live later");
    assert_eq!(later.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["k2"]);

    // A second rotation leaves k1's earlier retirement alone and retires k2.
    store
        .rotate_signing_key(&key("k3"), now + 120_000)
        .await
        .expect("rotate again");
    let all = store.all_signing_keys().await.expect("all");
    assert_eq!(
        all.iter().map(|k| (k.kid.as_str(), k.retires_at)).collect::<Vec<_>>(),
        [("k1", Some(now + 60_000)), ("k2", Some(now + 120_000)), ("k3", None)]
    );
    assert!(matches!(
        store.rotate_signing_key(&key("k3"), now).await,
        Err(StoreError::Conflict(_))
    ));
}
