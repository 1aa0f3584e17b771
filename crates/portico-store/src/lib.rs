//! The store: every durable fact of an API manager, in SQLite (embedded, one node) or PostgreSQL
//! (shared by the nodes of a cluster).
//!
//! Both backends run the same `$N`-placeholder SQL; the schema is migrated per backend from
//! `migrations/<backend>` at start-up, then WSO2's default throttling policies are seeded (each
//! once, from `portico_throttle::policy::default_policies`). Callers see one [`Store`] and never
//! a pool type.
//!
//! Inside, a write of several statements runs through `write_tx!` (`Store::write` on the
//! backend's pool): one transaction that commits a change together with the change-feed events
//! it appends, or neither; unique-constraint violations become [`StoreError::Conflict`] naming
//! what is taken.
#![forbid(unsafe_code)]

mod apis;
mod attach;
mod cluster_settings;
mod deny_policies;
mod devportal;
mod error;
mod feed;
mod key_managers;
mod nodes;
mod oauth;
mod policies;
mod revisions;
mod signing_keys;
mod throttling_policies;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

pub use apis::{API_TYPE_API, API_TYPE_PRODUCT, ApiFilter, ApiRow, LifecycleChange, LifecycleHistoryRow, NewApiRow};
pub use cluster_settings::{SETTING_PRIMARY_KEY_ID, SETTING_TOKEN_ISSUER};
pub use deny_policies::{DenyPolicyRow, EVENT_DENY_POLICY_CHANGED};
pub use devportal::{
    ApplicationRow, EVENT_APPLICATION_CHANGED, EVENT_KEY_MAPPING_CHANGED, EVENT_SUBSCRIPTION_CHANGED, GatewayIdentity,
    GatewayKeyMapping, GatewaySubscription, KeyMappingRow, NewKeyMapping, NewMappedKey, SubscriptionFilter,
};
pub use error::{StoreError, redact};
pub use feed::{ChangeEvent, FEED_CHANNEL, FeedListener};
pub use key_managers::{
    EVENT_KEY_MANAGER_CHANGED, KeyManagerRow, KeyManagerSettings, NewKeyManager, RESIDENT_KEY_MANAGER,
};
pub use nodes::{NodeProgress, NodeRegistration, NodeRegistry, NodeRow};
pub use oauth::{
    CutoffKind, EVENT_CLIENT_CHANGED, EVENT_CLIENT_TOKENS_REVOKED, EVENT_TOKEN_REVOKED, EVENT_USER_TOKENS_REVOKED,
    NewOAuthClient, NewRefreshToken, OAuthClient, RefreshToken, RefreshUse, RevokedToken, TokenCutoff,
};
pub use policies::{NewApplication, NewSubscription, SubscriptionRow};
pub use revisions::{
    CreateRevision, DeleteRevision, DeploymentRow, DeploymentTarget, MAX_REVISIONS_PER_API, RevisionRow,
};
pub use signing_keys::{EVENT_SIGNING_KEY_CHANGED, NewSigningKey, SigningKeyRow};
pub use throttling_policies::{EVENT_POLICY_CHANGED, ThrottlingPolicyRow, level_column};
pub use users::{NewUser, Role, User};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub backend: Backend,
    /// `sqlite:///abs/path.db` or `postgres://user:pw@host:port/db`.
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
    /// Names this node in the change feed (`origin_node`).
    pub node_id: String,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A connection pool to the migrated database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    node_id: String,
    /// Raised with the sequence number of each committed append of this process (see
    /// [`feed::LocalAppends`]).
    appends: feed::LocalAppends,
}

/// Runs `$body` with `$pool` bound to the concrete pool; the body is compiled once per backend.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Connects, creating the SQLite file if needed, and applies pending migrations.
    pub async fn connect(options: &StoreOptions) -> Result<Store, StoreError> {
        let pool = match options.backend {
            Backend::Sqlite => {
                let connect = SqliteConnectOptions::from_str(&options.url)
                    .map_err(|e| StoreError::connect(options, e))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(options.pool_size)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await
                    .map_err(|e| StoreError::connect(options, e))?;
                SQLITE_MIGRATIONS
                    .run(&pool)
                    .await
                    .map_err(|e| StoreError::Migrate(e.to_string()))?;
                Pool::Sqlite(pool)
            }
            Backend::Postgres => {
                let connect = PgConnectOptions::from_str(&options.url).map_err(|e| StoreError::connect(options, e))?;
                let pool = PgPoolOptions::new()
                    .max_connections(options.pool_size)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await
                    .map_err(|e| StoreError::connect(options, e))?;
                POSTGRES_MIGRATIONS
                    .run(&pool)
                    .await
                    .map_err(|e| StoreError::Migrate(e.to_string()))?;
                Pool::Postgres(pool)
            }
        };
        let store = Store {
            pool,
            node_id: options.node_id.clone(),
            appends: feed::LocalAppends::default(),
        };
        store.seed_default_policies().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// One round trip to the database; readiness uses it.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// The newest applied migration version.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(pool)
                .await?
        });
        Ok(version.unwrap_or(0))
    }

    /// Closes every connection (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }
}

impl Store {
    /// The row `sql` selects, with `keys` bound to `$1`, `$2`, ... in order, if any.
    pub(crate) async fn find_one<T>(&self, sql: &str, keys: &[&str]) -> Result<Option<T>, StoreError>
    where
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow>,
    {
        Ok(with_pool!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for key in keys {
                query = query.bind(*key);
            }
            query.fetch_optional(pool).await?
        }))
    }
}

/// Starts a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later cannot wait for
/// the lock (busy_timeout does not apply to that upgrade) and fails with "database is locked"
/// whenever another connection wrote in between.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    /// Begins a write transaction whose commit tells `appends` what it appended to the feed.
    async fn begin_write(&self, appends: &feed::LocalAppends) -> Result<WriteTx<Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self, appends: &feed::LocalAppends) -> Result<WriteTx<sqlx::Sqlite>, sqlx::Error> {
        Ok(WriteTx::new(self.begin_with("BEGIN IMMEDIATE").await?, appends))
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self, appends: &feed::LocalAppends) -> Result<WriteTx<sqlx::Postgres>, sqlx::Error> {
        Ok(WriteTx::new(self.begin().await?, appends))
    }
}

/// A write transaction: the connection it runs on (by `Deref`), and what it appended to the
/// change feed, announced to this process's followers once it has committed (never before:
/// a follower woken early would find nothing and sleep until its next poll).
pub(crate) struct WriteTx<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    appends: feed::LocalAppends,
    /// The highest sequence number appended in this transaction.
    appended: Option<i64>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    fn new(tx: sqlx::Transaction<'static, DB>, appends: &feed::LocalAppends) -> WriteTx<DB> {
        WriteTx {
            tx,
            appends: appends.clone(),
            appended: None,
        }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        if let Some(seq) = self.appended {
            self.appends.announce(seq);
        }
        Ok(())
    }
}

impl Store {
    /// Runs `work` in one write transaction on `pool` and commits it when `work` succeeds, so a
    /// change and the feed events it appends are kept together or not at all (an error, or an
    /// early `Err` return, rolls both back). Use it through [`write_tx!`], which picks the pool
    /// and so compiles `work` once per backend.
    pub(crate) async fn write<P: BeginWrite, T>(
        &self,
        pool: &P,
        work: impl AsyncFnOnce(&mut WriteTx<P::Db>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = pool.begin_write(&self.appends).await?;
        let value = work(&mut tx).await?;
        tx.commit().await?;
        Ok(value)
    }
}

/// Runs `$work`, an `async |tx| { ... }` closure given the open [`WriteTx`], in one write
/// transaction of `$store` ([`Store::write`] on its pool); evaluates to `Result<T, StoreError>`.
macro_rules! write_tx {
    ($store:expr, $work:expr) => {
        $crate::with_pool!($store, |pool| $store.write(pool, $work).await)
    };
}
pub(crate) use write_tx;

impl<DB: sqlx::Database> std::ops::Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// Milliseconds since the Unix epoch, the store's timestamp format on both backends.
pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
