//! A fresh SQLite store in a temporary directory, for the crate's unit tests.

use portico_store::{Backend, Store, StoreOptions};

/// The store, and the directory that must outlive it.
pub async fn fresh_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::connect(&StoreOptions {
        backend: Backend::Sqlite,
        url: format!("sqlite://{}", dir.path().join("p.db").display()),
        pool_size: 1,
        acquire_timeout: std::time::Duration::from_secs(5),
        node_id: "test".into(),
    })
    .await
    .expect("store");
    (store, dir)
}
