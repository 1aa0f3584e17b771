//! API revisions (immutable snapshots of an API, at most [`MAX_REVISIONS_PER_API`] per API as in
//! WSO2) and their deployments to gateway environments. Deploying and undeploying append
//! `api.deployed` / `api.undeployed` to the change feed in the same transaction.

use crate::feed::AppendInTx;
use crate::{BeginWrite, Store, StoreError, now_millis, with_pool, write_tx};

/// WSO2's limit of revisions kept per API.
pub const MAX_REVISIONS_PER_API: i64 = 5;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RevisionRow {
    pub id: String,
    pub api_id: String,
    pub number: i64,
    pub description: Option<String>,
    /// The API document as it was.
    pub snapshot: String,
    pub definition: Option<String>,
    pub created_at: i64,
}

/// Outcome of [`Store::create_revision`].
#[derive(Debug, Clone, PartialEq)]
pub enum CreateRevision {
    Created(RevisionRow),
    /// The API already has the maximum number of revisions.
    LimitReached,
}

/// Outcome of [`Store::delete_revision`].
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteRevision {
    Deleted,
    NotFound,
    /// Still deployed in these environments.
    Deployed(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeploymentRow {
    pub api_id: String,
    pub environment: String,
    pub revision_id: String,
    pub vhost: String,
    pub display_on_devportal: bool,
    pub deployed_at: i64,
}

/// Where to deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentTarget {
    pub environment: String,
    pub vhost: String,
    pub display_on_devportal: bool,
}

const REVISION_COLUMNS: &str = "id, api_id, number, description, snapshot, definition, created_at";
const DEPLOYMENT_COLUMNS: &str = "api_id, environment, revision_id, vhost, display_on_devportal, deployed_at";

impl Store {
    /// Snapshots the API's current document and definition as a new revision. `snapshot_of`
    /// turns the stored document into the revision's (marking it as a revision).
    pub async fn create_revision(
        &self,
        api_id: &str,
        description: Option<&str>,
        snapshot_of: impl Fn(&str, i64, &str) -> String,
    ) -> Result<CreateRevision, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_millis();
        let insert = format!(
            "INSERT INTO api_revisions ({REVISION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {REVISION_COLUMNS}"
        );
        // Not `write_tx!`: on `LimitReached` the counter bump must roll back, not commit.
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin_write(&self.appends).await?;
            // Locks the API row (PostgreSQL) so concurrent revisions of one API take turns.
            let bumped: Option<(i64, String, Option<String>)> = sqlx::query_as(
                "UPDATE apis SET revision_counter = revision_counter + 1 WHERE id = $1 RETURNING revision_counter, document, definition",
            )
            .bind(api_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((number, document, definition)) = bumped else {
                return Err(StoreError::NotFound(format!("API {api_id}")));
            };
            let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_revisions WHERE api_id = $1")
                .bind(api_id)
                .fetch_one(&mut *tx)
                .await?;
            if existing >= MAX_REVISIONS_PER_API {
                return Ok(CreateRevision::LimitReached);
            }
            let row: RevisionRow = sqlx::query_as(sqlx::AssertSqlSafe(insert))
                .bind(&id)
                .bind(api_id)
                .bind(number)
                .bind(description)
                .bind(snapshot_of(&document, number, &id))
                .bind(definition)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            CreateRevision::Created(row)
        }))
    }

    /// Revisions of an API, oldest first.
    pub async fn list_revisions(&self, api_id: &str) -> Result<Vec<RevisionRow>, StoreError> {
        let sql = format!("SELECT {REVISION_COLUMNS} FROM api_revisions WHERE api_id = $1 ORDER BY number");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(api_id)
                .fetch_all(pool)
                .await?
        }))
    }

    pub async fn find_revision(&self, api_id: &str, revision_id: &str) -> Result<Option<RevisionRow>, StoreError> {
        self.find_one(
            &format!("SELECT {REVISION_COLUMNS} FROM api_revisions WHERE api_id = $1 AND id = $2"),
            &[api_id, revision_id],
        )
        .await
    }

    /// Deletes a revision unless it is deployed somewhere.
    pub async fn delete_revision(&self, api_id: &str, revision_id: &str) -> Result<DeleteRevision, StoreError> {
        write_tx!(self, async |tx| {
            let deployed: Vec<String> = sqlx::query_scalar(
                "SELECT environment FROM api_deployments WHERE api_id = $1 AND revision_id = $2 ORDER BY environment",
            )
            .bind(api_id)
            .bind(revision_id)
            .fetch_all(&mut **tx)
            .await?;
            if !deployed.is_empty() {
                return Ok(DeleteRevision::Deployed(deployed));
            }
            let deleted = sqlx::query("DELETE FROM api_revisions WHERE api_id = $1 AND id = $2")
                .bind(api_id)
                .bind(revision_id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            Ok(if deleted == 0 {
                DeleteRevision::NotFound
            } else {
                DeleteRevision::Deleted
            })
        })
    }

    /// Makes a revision's snapshot the API's working copy again (`restore_document` turns the
    /// snapshot back into a working document). `Ok(None)` when the revision does not exist.
    pub async fn restore_revision(
        &self,
        api_id: &str,
        revision_id: &str,
        restore_document: impl Fn(&str) -> String,
    ) -> Result<Option<()>, StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            let found: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT snapshot, definition FROM api_revisions WHERE api_id = $1 AND id = $2")
                    .bind(api_id)
                    .bind(revision_id)
                    .fetch_optional(&mut **tx)
                    .await?;
            let Some((snapshot, definition)) = found else {
                return Ok(None);
            };
            sqlx::query(
                "UPDATE apis SET document = $2, definition = $3, row_version = row_version + 1, updated_at = $4 WHERE id = $1",
            )
            .bind(api_id)
            .bind(restore_document(&snapshot))
            .bind(definition)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(Some(()))
        })
    }

    /// Deploys a revision to environments (replacing what each environment had of this API) and
    /// appends one `api.deployed` event per environment, all in one transaction.
    pub async fn deploy_revision(
        &self,
        api_id: &str,
        revision_id: &str,
        targets: &[DeploymentTarget],
    ) -> Result<Vec<DeploymentRow>, StoreError> {
        let now = now_millis();
        let upsert = format!(
            "INSERT INTO api_deployments ({DEPLOYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (api_id, environment) DO UPDATE SET revision_id = excluded.revision_id, vhost = excluded.vhost, \
             display_on_devportal = excluded.display_on_devportal, deployed_at = excluded.deployed_at RETURNING {DEPLOYMENT_COLUMNS}"
        );
        write_tx!(self, async |tx| {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM api_revisions WHERE api_id = $1 AND id = $2")
                    .bind(api_id)
                    .bind(revision_id)
                    .fetch_optional(&mut **tx)
                    .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("revision {revision_id} of API {api_id}")));
            }
            let mut rows = Vec::with_capacity(targets.len());
            for target in targets {
                let row: DeploymentRow = sqlx::query_as(sqlx::AssertSqlSafe(upsert.as_str()))
                    .bind(api_id)
                    .bind(&target.environment)
                    .bind(revision_id)
                    .bind(&target.vhost)
                    .bind(target.display_on_devportal)
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await?;
                let payload = serde_json::json!({
                    "apiId": api_id, "revisionId": revision_id,
                    "environment": target.environment, "vhost": target.vhost,
                });
                tx.append_event_in_tx(&self.node_id, "api.deployed", api_id, &payload.to_string())
                    .await?;
                rows.push(row);
            }
            Ok(rows)
        })
    }

    /// Removes a revision's deployments from the given environments (all when `None`), with one
    /// `api.undeployed` event per removal. Returns what was removed.
    pub async fn undeploy_revision(
        &self,
        api_id: &str,
        revision_id: &str,
        environments: Option<&[String]>,
    ) -> Result<Vec<DeploymentRow>, StoreError> {
        let select = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM api_deployments WHERE api_id = $1 AND revision_id = $2 ORDER BY environment"
        );
        write_tx!(self, async |tx| {
            let current: Vec<DeploymentRow> = sqlx::query_as(sqlx::AssertSqlSafe(select.as_str()))
                .bind(api_id)
                .bind(revision_id)
                .fetch_all(&mut **tx)
                .await?;
            let mut removed = Vec::new();
            for row in current {
                if environments.is_some_and(|envs| !envs.iter().any(|e| e == &row.environment)) {
                    continue;
                }
                sqlx::query("DELETE FROM api_deployments WHERE api_id = $1 AND environment = $2")
                    .bind(api_id)
                    .bind(&row.environment)
                    .execute(&mut **tx)
                    .await?;
                let payload = serde_json::json!({
                    "apiId": api_id, "revisionId": revision_id,
                    "environment": row.environment, "vhost": row.vhost,
                });
                tx.append_event_in_tx(&self.node_id, "api.undeployed", api_id, &payload.to_string())
                    .await?;
                removed.push(row);
            }
            Ok(removed)
        })
    }

    /// Every current deployment of every API (artifact reconciliation at start-up).
    pub async fn list_all_deployments(&self) -> Result<Vec<DeploymentRow>, StoreError> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM api_deployments ORDER BY api_id, environment");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?
        }))
    }

    /// Current deployments of an API, by environment.
    pub async fn list_deployments(&self, api_id: &str) -> Result<Vec<DeploymentRow>, StoreError> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM api_deployments WHERE api_id = $1 ORDER BY environment");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(api_id)
                .fetch_all(pool)
                .await?
        }))
    }
}
