//! The audit log: one row per management write, only ever added (migration 0010). What goes in a
//! row (and that secrets are masked in it) is the REST layer's business; this module stores and
//! lists rows, newest first.

use crate::{Store, StoreError, now_millis, with_pool};

/// One write to record.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEntry {
    pub actor: String,
    pub client_address: Option<String>,
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// What kind of object: the collection's name in the path (`apis`, `applications`, `Users`).
    pub object_type: String,
    pub object_id: Option<String>,
    pub status: i32,
    /// JSON of the object before and after the write, when small; secrets masked.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A recorded write.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub node_id: String,
    pub actor: String,
    pub client_address: Option<String>,
    pub method: String,
    pub path: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub status: i32,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
}

/// Which rows to list: all filters are optional; `limit` rows from `offset`, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Milliseconds since the epoch, inclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

const AUDIT_COLUMNS: &str = "id, at, node_id, actor, client_address, method, path, object_type, object_id, \
                             status, before_json, after_json";
/// The filters, each ignored when its parameter is NULL.
const AUDIT_WHERE: &str = "WHERE (CAST($1 AS TEXT) IS NULL OR actor = $1) \
                           AND (CAST($2 AS BIGINT) IS NULL OR at >= $2) \
                           AND (CAST($3 AS BIGINT) IS NULL OR at <= $3)";

impl Store {
    /// Adds a row, stamped with this node and the time; answers it.
    pub async fn record_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let sql = format!(
            "INSERT INTO audit_log (at, node_id, actor, client_address, method, path, object_type, object_id, \
             status, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             RETURNING {AUDIT_COLUMNS}"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(now_millis())
                .bind(&self.node_id)
                .bind(&entry.actor)
                .bind(&entry.client_address)
                .bind(&entry.method)
                .bind(&entry.path)
                .bind(&entry.object_type)
                .bind(&entry.object_id)
                .bind(entry.status)
                .bind(&entry.before)
                .bind(&entry.after)
                .fetch_one(pool)
                .await?
        }))
    }

    /// The rows the filter selects, newest first, and how many it selects in all.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<(Vec<AuditEntry>, i64), StoreError> {
        let list_sql =
            format!("SELECT {AUDIT_COLUMNS} FROM audit_log {AUDIT_WHERE} ORDER BY id DESC LIMIT $4 OFFSET $5");
        let count_sql = format!("SELECT COUNT(*) FROM audit_log {AUDIT_WHERE}");
        Ok(with_pool!(self, |pool| {
            let rows: Vec<AuditEntry> = sqlx::query_as(sqlx::AssertSqlSafe(list_sql.as_str()))
                .bind(&filter.actor)
                .bind(filter.since)
                .bind(filter.until)
                .bind(filter.limit)
                .bind(filter.offset)
                .fetch_all(pool)
                .await?;
            let (total,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(count_sql.as_str()))
                .bind(&filter.actor)
                .bind(filter.since)
                .bind(filter.until)
                .fetch_one(pool)
                .await?;
            (rows, total)
        }))
    }
}
