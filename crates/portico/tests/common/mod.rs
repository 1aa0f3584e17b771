//! Shared by the binary's integration tests: a store on a running node's database.

use std::time::Duration;

use portico_store::{Backend, Store, StoreOptions};
use portico_testkit::{Node, PgDatabase};

/// A store on the node's own database (its SQLite file, or the PostgreSQL database `pg`).
pub async fn node_store(node: &Node, pg: Option<&PgDatabase>) -> Store {
    let (backend, url) = match pg {
        Some(db) => (Backend::Postgres, db.url.clone()),
        None => (
            Backend::Sqlite,
            format!("sqlite://{}", node.home.join("database/portico.db").display()),
        ),
    };
    Store::connect(&StoreOptions {
        backend,
        url,
        pool_size: 2,
        acquire_timeout: Duration::from_secs(5),
        node_id: "test".into(),
    })
    .await
    .expect("store")
}
