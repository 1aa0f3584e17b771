//! APIs of the Publisher and their lifecycle history. The API resource itself is JSON text
//! (`document`) owned by `portico-apis`; the columns beside it are what queries and uniqueness
//! rules need. `row_version` guards every update (compare-and-swap), so no update is lost.

use crate::error::require_found;
use crate::feed::AppendInTx;
use crate::{Store, StoreError, now_millis, with_pool, write_tx};

/// An API as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApiRow {
    pub id: String,
    pub name: String,
    pub version: String,
    pub context: String,
    pub provider: String,
    pub lifecycle_status: String,
    pub document: String,
    pub definition: Option<String>,
    pub row_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// `API` or `APIPRODUCT` (an API Product).
    pub api_type: String,
}

/// A new API.
#[derive(Debug, Clone)]
pub struct NewApiRow {
    pub id: String,
    pub name: String,
    pub version: String,
    pub context: String,
    pub provider: String,
    pub lifecycle_status: String,
    pub document: String,
    pub definition: Option<String>,
    /// `API` or `APIPRODUCT`.
    pub api_type: String,
}

/// The row type of APIs.
pub const API_TYPE_API: &str = "API";
/// The row type of API Products.
pub const API_TYPE_PRODUCT: &str = "APIPRODUCT";

/// Search criteria of `GET /apis` (`query=name:x version:y ...`); all given ones must match.
#[derive(Debug, Clone, Default)]
pub struct ApiFilter {
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    pub version: Option<String>,
    /// Case-insensitive substring of the context.
    pub context: Option<String>,
    pub provider: Option<String>,
    /// Wire value, e.g. `PUBLISHED`.
    pub status: Option<String>,
    /// `API` or `APIPRODUCT`; `None`: both.
    pub api_type: Option<String>,
}

/// One lifecycle change.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LifecycleHistoryRow {
    pub previous_state: Option<String>,
    pub post_state: String,
    pub username: String,
    pub updated_at: i64,
}

/// A lifecycle change to apply with [`Store::change_api_lifecycle`].
#[derive(Debug, Clone)]
pub struct LifecycleChange<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub user: &'a str,
    /// The API document with the new status in it.
    pub document: &'a str,
}

const API_COLUMNS: &str = "id, name, version, context, provider, lifecycle_status, document, definition, row_version, created_at, updated_at, api_type";

/// `%text%` for LIKE, with LIKE's own characters escaped (`\` is the escape).
fn like_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    /// Creates an API and its first lifecycle history entry. A taken name+version or
    /// context+version is [`StoreError::Conflict`] naming which.
    pub async fn create_api(&self, new: &NewApiRow, user: &str) -> Result<ApiRow, StoreError> {
        let now = now_millis();
        let sql = format!(
            "INSERT INTO apis ({API_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, $10) RETURNING {API_COLUMNS}"
        );
        write_tx!(self, async |tx| {
            let taken = [
                ("name", &new.name, format!("an API named `{}` with version `{}`", new.name, new.version)),
                (
                    "context",
                    &new.context,
                    format!("an API with context `{}` and version `{}`", new.context, new.version),
                ),
            ];
            for (column, value, what) in taken {
                let sql = format!("SELECT id FROM apis WHERE lower({column}) = lower($1) AND version = $2");
                let existing: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(value)
                    .bind(&new.version)
                    .fetch_optional(&mut **tx)
                    .await?;
                if existing.is_some() {
                    return Err(StoreError::Conflict(what));
                }
            }
            let row: ApiRow = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&new.id)
                .bind(&new.name)
                .bind(&new.version)
                .bind(&new.context)
                .bind(&new.provider)
                .bind(&new.lifecycle_status)
                .bind(&new.document)
                .bind(&new.definition)
                .bind(now)
                .bind(&new.api_type)
                .fetch_one(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO api_lifecycle_history (api_id, previous_state, post_state, username, updated_at) VALUES ($1, NULL, $2, $3, $4)",
            )
            .bind(&new.id)
            .bind(&new.lifecycle_status)
            .bind(user)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(row)
        })
        // Two creations racing past the checks above: the loser hits the unique index.
        .map_err(|e| {
            e.unique_as(|_| {
                format!(
                    "an API with name `{}` or context `{}` and version `{}`",
                    new.name, new.context, new.version
                )
            })
        })
    }

    pub async fn find_api(&self, id: &str) -> Result<Option<ApiRow>, StoreError> {
        self.find_one(&format!("SELECT {API_COLUMNS} FROM apis WHERE id = $1"), &[id])
            .await
    }

    /// APIs matching `filter`, by name then version, and how many match in all.
    pub async fn list_apis(
        &self,
        filter: &ApiFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ApiRow>, i64), StoreError> {
        let conditions = "(CAST($1 AS TEXT) IS NULL OR lower(name) LIKE $1 ESCAPE '\\') \
             AND (CAST($2 AS TEXT) IS NULL OR version = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR lower(context) LIKE $3 ESCAPE '\\') \
             AND (CAST($4 AS TEXT) IS NULL OR lower(provider) = lower($4)) \
             AND (CAST($5 AS TEXT) IS NULL OR lifecycle_status = $5) \
             AND (CAST($6 AS TEXT) IS NULL OR api_type = $6)";
        let select = format!(
            "SELECT {API_COLUMNS} FROM apis WHERE {conditions} ORDER BY lower(name), version, id LIMIT $7 OFFSET $8"
        );
        let count = format!("SELECT COUNT(*) FROM apis WHERE {conditions}");
        let name = filter.name.as_deref().map(like_pattern);
        let context = filter.context.as_deref().map(like_pattern);
        Ok(with_pool!(self, |pool| {
            let rows: Vec<ApiRow> = sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(&name)
                .bind(&filter.version)
                .bind(&context)
                .bind(&filter.provider)
                .bind(&filter.status)
                .bind(&filter.api_type)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .bind(&name)
                .bind(&filter.version)
                .bind(&context)
                .bind(&filter.provider)
                .bind(&filter.status)
                .bind(&filter.api_type)
                .fetch_one(pool)
                .await?;
            (rows, total)
        }))
    }

    /// Replaces the document (and, when `definition` is `Some`, the definition) if the row is
    /// still at `expected_version`. `Ok(None)`: someone else changed it first; re-read and retry.
    pub async fn update_api(
        &self,
        id: &str,
        expected_version: i64,
        document: &str,
        definition: Option<Option<&str>>,
    ) -> Result<Option<ApiRow>, StoreError> {
        let sql = format!(
            "UPDATE apis SET document = $3, definition = CASE WHEN $4 THEN $5 ELSE definition END, \
             row_version = row_version + 1, updated_at = $6 WHERE id = $1 AND row_version = $2 RETURNING {API_COLUMNS}"
        );
        let (set_definition, new_definition) = match definition {
            Some(d) => (true, d),
            None => (false, None),
        };
        let row: Option<ApiRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(expected_version)
                .bind(document)
                .bind(set_definition)
                .bind(new_definition)
                .bind(now_millis())
                .fetch_optional(pool)
                .await?
        });
        if row.is_none() && self.find_api(id).await?.is_none() {
            return Err(StoreError::NotFound(format!("API {id}")));
        }
        Ok(row)
    }

    /// Moves an API to a new lifecycle state if it is still at `expected_version`, recording the
    /// history entry and an `api.lifecycle_changed` event in the same transaction.
    pub async fn change_api_lifecycle(
        &self,
        id: &str,
        expected_version: i64,
        change: &LifecycleChange<'_>,
    ) -> Result<Option<ApiRow>, StoreError> {
        let now = now_millis();
        let sql = format!(
            "UPDATE apis SET lifecycle_status = $3, document = $4, row_version = row_version + 1, updated_at = $5 \
             WHERE id = $1 AND row_version = $2 AND lifecycle_status = $6 RETURNING {API_COLUMNS}"
        );
        let payload = serde_json::json!({ "apiId": id, "previousState": change.from, "state": change.to });
        write_tx!(self, async |tx| {
            let row: Option<ApiRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(expected_version)
                .bind(change.to)
                .bind(change.document)
                .bind(now)
                .bind(change.from)
                .fetch_optional(&mut **tx)
                .await?;
            if row.is_some() {
                sqlx::query(
                    "INSERT INTO api_lifecycle_history (api_id, previous_state, post_state, username, updated_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(change.from)
                .bind(change.to)
                .bind(change.user)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                tx.append_event_in_tx(&self.node_id, "api.lifecycle_changed", id, &payload.to_string())
                    .await?;
            }
            Ok(row)
        })
    }

    /// The lifecycle history, oldest first.
    pub async fn lifecycle_history(&self, id: &str) -> Result<Vec<LifecycleHistoryRow>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT previous_state, post_state, username, updated_at FROM api_lifecycle_history WHERE api_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Deletes an API with its revisions, deployments and history. Refused with
    /// [`StoreError::Conflict`] while subscriptions exist (as WSO2). Returns the environments it
    /// was deployed in; an `api.undeployed` event per environment and `api.deleted` are appended.
    pub async fn delete_api(&self, id: &str) -> Result<Vec<String>, StoreError> {
        write_tx!(self, async |tx| {
            let subscriptions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions WHERE api_id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
            if subscriptions > 0 {
                return Err(StoreError::Conflict(format!("active subscriptions to API {id}")));
            }
            let deployed: Vec<(String, String, String)> =
                sqlx::query_as("SELECT environment, revision_id, vhost FROM api_deployments WHERE api_id = $1")
                    .bind(id)
                    .fetch_all(&mut **tx)
                    .await?;
            let deleted = sqlx::query("DELETE FROM apis WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            require_found(deleted, || format!("API {id}"))?;
            for (environment, revision_id, vhost) in &deployed {
                let payload = serde_json::json!({
                    "apiId": id, "revisionId": revision_id, "environment": environment, "vhost": vhost
                });
                tx.append_event_in_tx(&self.node_id, "api.undeployed", id, &payload.to_string())
                    .await?;
            }
            let payload = serde_json::json!({ "apiId": id }).to_string();
            tx.append_event_in_tx(&self.node_id, "api.deleted", id, &payload)
                .await?;
            Ok(deployed.into_iter().map(|(env, _, _)| env).collect())
        })
    }
}
