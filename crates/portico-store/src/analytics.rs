//! Analytics rows (migration 0009): the raw request rows and the per-minute, hour and day
//! rollups `portico-analytics` computes. This module only moves rows; what they mean (how
//! rollups merge, fold and answer queries) is `portico-analytics`' job. Each node writes its
//! own rollup rows; deletes by age apply to every node's.

use crate::{Store, StoreError, with_pool};

/// Rows per multi-row INSERT (well under both backends' bound-parameter limits).
const INSERT_CHUNK: usize = 200;

/// One gateway request (`analytics_events`).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct AnalyticsEventRow {
    pub node_id: String,
    pub timestamp_ms: i64,
    pub correlation_id: String,
    pub api_id: String,
    pub api_name: String,
    pub api_version: String,
    pub api_context: String,
    pub resource: String,
    pub method: String,
    pub application_id: String,
    pub application_name: String,
    pub application_owner: String,
    pub key_type: String,
    pub subscription_tier: String,
    pub end_user: String,
    pub client_ip: String,
    pub user_agent: String,
    pub proxy_status: i32,
    pub backend_status: Option<i32>,
    pub error_code: Option<String>,
    pub error_type: Option<String>,
    pub backend_latency_us: Option<i64>,
    pub total_latency_us: i64,
    pub request_bytes: i64,
    pub response_bytes: Option<i64>,
    pub throttled: bool,
    pub throttle_policy: Option<String>,
}

const EVENT_COLUMNS: &str = "node_id, timestamp_ms, correlation_id, api_id, api_name, api_version, api_context, \
     resource, method, application_id, application_name, application_owner, key_type, subscription_tier, end_user, \
     client_ip, user_agent, proxy_status, backend_status, error_code, error_type, backend_latency_us, \
     total_latency_us, request_bytes, response_bytes, throttled, throttle_policy";
const EVENT_PARAMS: usize = 27;

/// One rollup row (`analytics_rollups`): a bucket of one resolution for one key on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct RollupRow {
    /// The bucket's width in seconds (60, 3600, 86400).
    pub resolution: i64,
    pub bucket_start: i64,
    pub node_id: String,
    pub api_id: String,
    pub api_version: String,
    pub resource: String,
    pub application_id: String,
    pub api_name: String,
    pub application_name: String,
    pub request_count: i64,
    pub status_2xx: i64,
    pub status_3xx: i64,
    pub status_4xx: i64,
    pub status_5xx: i64,
    pub throttled: i64,
    pub error_codes: String,
    pub latency: String,
}

const ROLLUP_COLUMNS: &str = "resolution, bucket_start, node_id, api_id, api_version, resource, application_id, \
     api_name, application_name, request_count, status_2xx, status_3xx, status_4xx, status_5xx, throttled, \
     error_codes, latency";
const ROLLUP_PARAMS: usize = 17;

/// Which rollup rows a query reads: one resolution, `[from, to)`, and optional filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupFilter {
    pub resolution: i64,
    pub from: i64,
    pub to: i64,
    pub api_id: Option<String>,
    pub application_id: Option<String>,
    pub node_id: Option<String>,
    /// Rows a caller may see: those of these APIs or of these applications; `None`: all.
    pub visible: Option<(Vec<String>, Vec<String>)>,
}

/// What rollup sums are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupGroup {
    Bucket,
    Api,
    Application,
    Node,
}

/// The summed counts of one group of rollup rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct RollupSum {
    /// The bucket start (as text), the API id, the application id or the node id.
    pub group_key: String,
    /// The API's name and version, the application's name, or empty.
    pub label: String,
    pub request_count: i64,
    pub status_2xx: i64,
    pub status_3xx: i64,
    pub status_4xx: i64,
    pub status_5xx: i64,
    pub throttled: i64,
}

/// The sketches and error codes of one group (what SQL cannot add up).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct RollupDetail {
    pub group_key: String,
    pub error_codes: String,
    pub latency: String,
}

/// A value bound to a `$N` placeholder of a query built at run time.
enum Bind {
    Text(String),
    Int(i64),
}

/// `WHERE ...` of a [`RollupFilter`], with its binds in order.
fn rollup_where(filter: &RollupFilter) -> (String, Vec<Bind>) {
    let mut binds = vec![
        Bind::Int(filter.resolution),
        Bind::Int(filter.from),
        Bind::Int(filter.to),
    ];
    let mut sql = "WHERE resolution = $1 AND bucket_start >= $2 AND bucket_start < $3".to_owned();
    let push = |sql: &mut String, column: &str, value: &str, binds: &mut Vec<Bind>| {
        binds.push(Bind::Text(value.to_owned()));
        sql.push_str(&format!(" AND {column} = ${}", binds.len()));
    };
    if let Some(api) = &filter.api_id {
        push(&mut sql, "api_id", api, &mut binds);
    }
    if let Some(app) = &filter.application_id {
        push(&mut sql, "application_id", app, &mut binds);
    }
    if let Some(node) = &filter.node_id {
        push(&mut sql, "node_id", node, &mut binds);
    }
    if let Some((apis, apps)) = &filter.visible {
        let list = |column: &str, values: &[String], binds: &mut Vec<Bind>| -> String {
            if values.is_empty() {
                return "FALSE".to_owned();
            }
            let placeholders: Vec<String> = values
                .iter()
                .map(|v| {
                    binds.push(Bind::Text(v.clone()));
                    format!("${}", binds.len())
                })
                .collect();
            format!("{column} IN ({})", placeholders.join(", "))
        };
        let apis = list("api_id", apis, &mut binds);
        let apps = list("application_id", apps, &mut binds);
        sql.push_str(&format!(" AND ({apis} OR {apps})"));
    }
    (sql, binds)
}

fn group_columns(group: RollupGroup) -> (&'static str, &'static str) {
    match group {
        RollupGroup::Bucket => ("CAST(bucket_start AS TEXT)", "''"),
        RollupGroup::Api => ("api_id", "MAX(api_name || ' ' || api_version)"),
        RollupGroup::Application => ("application_id", "MAX(application_name)"),
        RollupGroup::Node => ("node_id", "''"),
    }
}

/// Binds `$binds` to `$query` in order.
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Int(int) => query.bind(*int),
            };
        }
        query
    }};
}

/// Binds the values of `rows` to `$query`, in [`ROLLUP_COLUMNS`]' order.
macro_rules! bind_rollups {
    ($query:expr, $rows:expr) => {{
        let mut query = $query;
        for r in $rows {
            query = query
                .bind(r.resolution)
                .bind(r.bucket_start)
                .bind(&r.node_id)
                .bind(&r.api_id)
                .bind(&r.api_version)
                .bind(&r.resource)
                .bind(&r.application_id)
                .bind(&r.api_name)
                .bind(&r.application_name)
                .bind(r.request_count)
                .bind(r.status_2xx)
                .bind(r.status_3xx)
                .bind(r.status_4xx)
                .bind(r.status_5xx)
                .bind(r.throttled)
                .bind(&r.error_codes)
                .bind(&r.latency);
        }
        query
    }};
}

impl Store {
    /// Appends raw request rows, in multi-row INSERTs of one transaction.
    pub async fn insert_analytics_events(&self, rows: &[AnalyticsEventRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(INSERT_CHUNK) {
                let sql = format!(
                    "INSERT INTO analytics_events ({EVENT_COLUMNS}) VALUES {}",
                    placeholders(chunk.len(), EVENT_PARAMS)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    query = query
                        .bind(&r.node_id)
                        .bind(r.timestamp_ms)
                        .bind(&r.correlation_id)
                        .bind(&r.api_id)
                        .bind(&r.api_name)
                        .bind(&r.api_version)
                        .bind(&r.api_context)
                        .bind(&r.resource)
                        .bind(&r.method)
                        .bind(&r.application_id)
                        .bind(&r.application_name)
                        .bind(&r.application_owner)
                        .bind(&r.key_type)
                        .bind(&r.subscription_tier)
                        .bind(&r.end_user)
                        .bind(&r.client_ip)
                        .bind(&r.user_agent)
                        .bind(r.proxy_status)
                        .bind(r.backend_status)
                        .bind(&r.error_code)
                        .bind(&r.error_type)
                        .bind(r.backend_latency_us)
                        .bind(r.total_latency_us)
                        .bind(r.request_bytes)
                        .bind(r.response_bytes)
                        .bind(r.throttled)
                        .bind(&r.throttle_policy);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Raw rows from `from` (inclusive) to `to` (exclusive), oldest first.
    pub async fn analytics_events(&self, from: i64, to: i64) -> Result<Vec<AnalyticsEventRow>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM analytics_events WHERE timestamp_ms >= $1 AND timestamp_ms < $2 ORDER BY timestamp_ms, id"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(from)
                .bind(to)
                .fetch_all(pool)
                .await?
        }))
    }

    /// This node's rollup rows of `resolution` with buckets in `[from, to)`.
    pub async fn node_rollups(
        &self,
        resolution: i64,
        node_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<RollupRow>, StoreError> {
        let sql = format!(
            "SELECT {ROLLUP_COLUMNS} FROM analytics_rollups WHERE resolution = $1 AND node_id = $2 \
             AND bucket_start >= $3 AND bucket_start < $4"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(resolution)
                .bind(node_id)
                .bind(from)
                .bind(to)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Writes rollup rows, each replacing the stored row of its key (its writer holds the
    /// whole bucket's value).
    pub async fn put_rollups(&self, rows: &[RollupRow]) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(INSERT_CHUNK) {
                let sql = upsert_sql(chunk.len());
                let query = bind_rollups!(sqlx::query(sqlx::AssertSqlSafe(sql)), chunk);
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Replaces this node's rows of `resolution` with buckets in `[from, to)` by `rows` (the
    /// folding of finer rows into coarser ones), in one transaction.
    pub async fn replace_node_rollups(
        &self,
        resolution: i64,
        node_id: &str,
        from: i64,
        to: i64,
        rows: &[RollupRow],
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "DELETE FROM analytics_rollups WHERE resolution = $1 AND node_id = $2 \
                 AND bucket_start >= $3 AND bucket_start < $4",
            )
            .bind(resolution)
            .bind(node_id)
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
            for chunk in rows.chunks(INSERT_CHUNK) {
                let sql = upsert_sql(chunk.len());
                let query = bind_rollups!(sqlx::query(sqlx::AssertSqlSafe(sql)), chunk);
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Counts of the rows `filter` selects, summed per `group`, largest first for entity groups.
    pub async fn sum_rollups(&self, filter: &RollupFilter, group: RollupGroup) -> Result<Vec<RollupSum>, StoreError> {
        let (key, label) = group_columns(group);
        let (condition, binds) = rollup_where(filter);
        let sql = format!(
            "SELECT {key} AS group_key, {label} AS label, CAST(SUM(request_count) AS BIGINT) AS request_count, \
             CAST(SUM(status_2xx) AS BIGINT) AS status_2xx, CAST(SUM(status_3xx) AS BIGINT) AS status_3xx, \
             CAST(SUM(status_4xx) AS BIGINT) AS status_4xx, CAST(SUM(status_5xx) AS BIGINT) AS status_5xx, \
             CAST(SUM(throttled) AS BIGINT) AS throttled FROM analytics_rollups {condition} GROUP BY {key}"
        );
        Ok(with_pool!(self, |pool| {
            bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &binds)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The latency sketches and error codes of the rows `filter` selects, keyed by `group`.
    pub async fn rollup_details(
        &self,
        filter: &RollupFilter,
        group: RollupGroup,
    ) -> Result<Vec<RollupDetail>, StoreError> {
        let (key, _) = group_columns(group);
        let (condition, binds) = rollup_where(filter);
        let sql = format!(
            "SELECT {key} AS group_key, error_codes, latency FROM analytics_rollups {condition} AND request_count > 0"
        );
        Ok(with_pool!(self, |pool| {
            bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &binds)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Deletes raw rows older than `cutoff`; returns how many went.
    pub async fn delete_analytics_events_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM analytics_events WHERE timestamp_ms < $1")
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// Deletes every node's rollups of `resolution` with buckets before `cutoff`.
    pub async fn delete_rollups_before(&self, resolution: i64, cutoff: i64) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM analytics_rollups WHERE resolution = $1 AND bucket_start < $2")
                .bind(resolution)
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}

/// `($1, ..., $n), (...)` for `rows` rows of `params` values.
fn placeholders(rows: usize, params: usize) -> String {
    (0..rows)
        .map(|r| {
            let values: Vec<String> = (1..=params).map(|p| format!("${}", r * params + p)).collect();
            format!("({})", values.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn upsert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO analytics_rollups ({ROLLUP_COLUMNS}) VALUES {} \
         ON CONFLICT (resolution, bucket_start, node_id, api_id, api_version, resource, application_id) DO UPDATE SET \
         api_name = excluded.api_name, application_name = excluded.application_name, \
         request_count = excluded.request_count, status_2xx = excluded.status_2xx, status_3xx = excluded.status_3xx, \
         status_4xx = excluded.status_4xx, status_5xx = excluded.status_5xx, throttled = excluded.throttled, \
         error_codes = excluded.error_codes, latency = excluded.latency",
        placeholders(rows, ROLLUP_PARAMS)
    )
}
