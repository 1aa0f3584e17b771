//! Opening a database that a node has already set up, for commands that work on an existing
//! cluster (`portico init --join`, `portico cluster status`): unlike [`Store::connect`], an empty
//! database is refused rather than given a new schema.

use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::{Backend, Store, StoreError, StoreOptions, redact};

impl Store {
    /// Connects like [`Store::connect`] (pending migrations of a database this version has not
    /// seen yet are applied, as the node's own start would), but only to a database that already
    /// holds Portico's schema; otherwise [`StoreError::NoSchema`].
    pub async fn connect_existing(options: &StoreOptions) -> Result<Store, StoreError> {
        if !has_schema(options).await? {
            return Err(StoreError::NoSchema(redact(&options.url)));
        }
        Store::connect(options).await
    }
}

/// Whether the database has Portico's migration table, looked at over one connection that
/// creates nothing.
async fn has_schema(options: &StoreOptions) -> Result<bool, StoreError> {
    match options.backend {
        Backend::Sqlite => {
            let connect = SqliteConnectOptions::from_str(&options.url)
                .map_err(|e| StoreError::connect(options, e))?
                .read_only(true);
            if !connect.get_filename().exists() {
                return Ok(false);
            }
            let mut conn = connect.connect().await.map_err(|e| StoreError::connect(options, e))?;
            let found: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(&mut conn)
            .await?;
            Ok(found > 0)
        }
        Backend::Postgres => {
            let mut conn = PgConnectOptions::from_str(&options.url)
                .map_err(|e| StoreError::connect(options, e))?
                .connect()
                .await
                .map_err(|e| StoreError::connect(options, e))?;
            Ok(sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&mut conn)
                .await?)
        }
    }
}
