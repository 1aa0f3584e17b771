//! Throwaway PostgreSQL databases for tests, on the server `PORTICO_TEST_PG_URL` names.

use std::str::FromStr;

use anyhow::Context;
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

/// Environment variable naming the PostgreSQL server for tests.
pub const PG_URL_VAR: &str = "PORTICO_TEST_PG_URL";

/// How much of a label goes into a database's name.
const MAX_LABEL: usize = 32;

/// A database created for one test and dropped (with its connections) when this is dropped.
pub struct PgDatabase {
    /// URL of the new database.
    pub url: String,
    /// Its name.
    pub name: String,
    admin_url: String,
}

impl PgDatabase {
    /// Creates a fresh, empty database. `Ok(None)` means "skip": no server configured outside CI.
    pub async fn create(label: &str) -> anyhow::Result<Option<PgDatabase>> {
        let admin_url = match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    anyhow::bail!("{PG_URL_VAR} must be set when CI=true (PostgreSQL tests may not skip in CI)");
                }
                eprintln!(
                    "SKIPPING PostgreSQL test `{label}`: set {PG_URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres to run it"
                );
                return Ok(None);
            }
        };
        // PostgreSQL cuts names at 63 bytes; the label is cut first, so the name stays unique.
        let label: String = label
            .chars()
            .take(MAX_LABEL)
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = format!("portico_t_{label}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut conn = PgConnectOptions::from_str(&admin_url)
            .context("parse PORTICO_TEST_PG_URL")?
            .connect()
            .await
            .with_context(|| format!("connect to {admin_url}"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await?;
        let url = PgConnectOptions::from_str(&admin_url)?
            .database(&name)
            .to_url_lossy()
            .to_string();
        Ok(Some(PgDatabase { url, admin_url, name }))
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside or outside a runtime; a thread with its own runtime works in both.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(opts) = PgConnectOptions::from_str(&admin_url)
                    && let Ok(mut conn) = opts.connect().await
                {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}
