//! Shared by the store's integration tests: a store on each backend, and a macro that runs one
//! check against a fresh store of each.
#![allow(dead_code)]

use std::time::Duration;

use portico_store::{Backend, Store, StoreOptions};
use portico_testkit::PgDatabase;

/// A store on a fresh SQLite file in `dir`, as node `node-a`.
pub async fn sqlite(dir: &tempfile::TempDir) -> Store {
    Store::connect(&StoreOptions {
        backend: Backend::Sqlite,
        url: format!("sqlite://{}", dir.path().join("portico.db").display()),
        pool_size: 4,
        acquire_timeout: Duration::from_secs(5),
        node_id: "node-a".into(),
    })
    .await
    .expect("sqlite store")
}

/// A store on the PostgreSQL database `db`, as node `node`.
pub async fn postgres(db: &PgDatabase, node: &str) -> Store {
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

/// Defines `$sqlite` and `$pg` tests that run `$check` against a fresh store of each backend
/// (the PostgreSQL one in its own database, named after the test).
macro_rules! both_backends {
    ($sqlite:ident, $pg:ident, $check:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let dir = tempfile::tempdir().expect("tempdir");
            $check(crate::common::sqlite(&dir).await).await;
        }

        #[tokio::test]
        async fn $pg() {
            let Some(db) = portico_testkit::PgDatabase::create(stringify!($pg))
                .await
                .expect("create database")
            else {
                return;
            };
            let store = crate::common::postgres(&db, "node-a").await;
            $check(store.clone()).await;
            store.close().await;
        }
    };
}
pub(crate) use both_backends;
