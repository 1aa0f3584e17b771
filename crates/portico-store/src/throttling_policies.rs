//! Throttling policies (WSO2's subscription, application and advanced levels): their rows, the
//! Admin API's changes to them (each committed with its `policy.changed` feed event, which
//! reloads every gateway and Traffic Manager), the refusal to delete one that applications or
//! subscriptions use, and WSO2's defaults, seeded from [`portico_throttle::policy::default_policies`]
//! (the one place they are written) once each.

use portico_throttle::policy::{LimitDraft, RequestCountDraft, default_policies};
use portico_throttle::{Policy, PolicyDraft, PolicyError, PolicyLevel};
use serde_json::json;

use crate::feed::AppendInTx;
use crate::{Store, StoreError, WriteTx, with_pool, write_tx};

/// Feed kind for a created, updated or deleted throttling policy (entity: the policy id; payload:
/// `action`, `level`, `name`).
pub const EVENT_POLICY_CHANGED: &str = "policy.changed";

/// The quota type of request-count policies (WSO2's `defaultLimit.type`).
const REQUEST_COUNT_LIMIT: &str = "REQUESTCOUNTLIMIT";

/// A throttling policy as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct ThrottlingPolicyRow {
    /// WSO2's `policyId` (a UUID).
    pub id: String,
    /// `subscription`, `application` or `api` (advanced); see [`level_column`].
    pub level: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// WSO2's `defaultLimit.type`: `REQUESTCOUNTLIMIT`.
    pub quota_type: String,
    pub request_count: i64,
    pub unit_time: i64,
    pub time_unit: String,
    /// Burst control: requests per `rate_limit_time_unit`; 0 (and no unit) without.
    pub rate_limit_count: i64,
    /// `sec` or `min`.
    pub rate_limit_time_unit: Option<String>,
    pub tier_plan: String,
    pub stop_on_quota_reach: bool,
}

impl ThrottlingPolicyRow {
    /// The policy this row holds, validated as the Admin API validates what it stores (an error
    /// means a row written by hand).
    pub fn policy(&self) -> Result<Policy, PolicyError> {
        let level = PolicyLevel::parse(&self.level).ok_or(PolicyError::UnknownValue {
            field: "level",
            value: self.level.clone(),
            expected: "subscription, application, api",
        })?;
        PolicyDraft {
            policy_name: Some(self.name.clone()),
            display_name: Some(self.display_name.clone()),
            description: Some(self.description.clone()),
            default_limit: Some(LimitDraft {
                limit_type: Some(self.quota_type.clone()),
                request_count: Some(RequestCountDraft {
                    request_count: Some(self.request_count),
                    unit_time: Some(self.unit_time),
                    time_unit: Some(self.time_unit.clone()),
                }),
            }),
            rate_limit_count: Some(self.rate_limit_count),
            rate_limit_time_unit: self.rate_limit_time_unit.clone(),
            stop_on_quota_reach: Some(self.stop_on_quota_reach),
            ..PolicyDraft::new(level)
        }
        .validate()
    }
}

/// The `level` column's value of a policy level (advanced policies are `api`, the Publisher's
/// name for them).
pub fn level_column(level: PolicyLevel) -> &'static str {
    match level {
        PolicyLevel::Advanced => "api",
        other => other.as_str(),
    }
}

const POLICY_COLUMNS: &str = "id, level, name, display_name, description, quota_type, request_count, unit_time, \
     time_unit, rate_limit_count, rate_limit_time_unit, tier_plan, stop_on_quota_reach";

/// The columns a policy sets, bound as `$2`.. after the id: level, name, display name,
/// description, quota type, request count, unit time, time unit, burst count and unit, tier
/// plan, stop on quota reach.
fn bind_policy<'q, DB: sqlx::Database, O>(
    query: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>,
    policy: &'q Policy,
) -> sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    query
        .bind(level_column(policy.level))
        .bind(policy.name.as_str())
        .bind(policy.display_name.as_str())
        .bind(policy.description.as_str())
        .bind(REQUEST_COUNT_LIMIT)
        .bind(count(policy.quota.request_count))
        .bind(count(policy.quota.unit_time))
        .bind(policy.quota.time_unit.as_str())
        .bind(policy.burst.map_or(0, |b| count(b.rate_limit_count)))
        .bind(policy.burst.map(|b| b.rate_limit_time_unit.as_str()))
        .bind("FREE")
        .bind(policy.stop_on_quota_reach)
}

/// The `policy.changed` event of `row`.
async fn append_policy_event<DB: sqlx::Database>(
    tx: &mut WriteTx<DB>,
    node_id: &str,
    action: &str,
    row: &ThrottlingPolicyRow,
) -> Result<(), StoreError>
where
    WriteTx<DB>: AppendInTx,
{
    let payload = json!({ "action": action, "level": row.level, "name": row.name }).to_string();
    tx.append_event_in_tx(node_id, EVENT_POLICY_CHANGED, &row.id, &payload)
        .await?;
    Ok(())
}

fn taken(policy: &Policy) -> String {
    format!("{} throttling policy `{}`", policy.level.as_str(), policy.name)
}

impl Store {
    /// Policies of one level (`subscription`, `application` or `api`), by request count.
    pub async fn list_throttling_policies(&self, level: &str) -> Result<Vec<ThrottlingPolicyRow>, StoreError> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM throttling_policies WHERE level = $1 ORDER BY request_count DESC, name"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(level)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The policy of `level` with this id.
    pub async fn find_throttling_policy(
        &self,
        level: PolicyLevel,
        id: &str,
    ) -> Result<Option<ThrottlingPolicyRow>, StoreError> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM throttling_policies WHERE id = $1 AND level = $2");
        self.find_one(&sql, &[id, level_column(level)]).await
    }

    /// Stores a new policy (with its event). A name the level already has is
    /// [`StoreError::Conflict`].
    pub async fn create_throttling_policy(&self, policy: &Policy) -> Result<ThrottlingPolicyRow, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let sql = format!(
            "INSERT INTO throttling_policies ({POLICY_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {POLICY_COLUMNS}"
        );
        write_tx!(self, async |tx| {
            let row: ThrottlingPolicyRow =
                bind_policy(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(&id), policy)
                    .fetch_one(&mut **tx)
                    .await?;
            append_policy_event(tx, &self.node_id, "created", &row).await?;
            Ok(row)
        })
        .map_err(|e| e.unique_as(|_| taken(policy)))
    }

    /// Replaces everything but the id, level and name of policy `id` (with its event).
    pub async fn update_throttling_policy(&self, id: &str, policy: &Policy) -> Result<ThrottlingPolicyRow, StoreError> {
        let sql = format!(
            "UPDATE throttling_policies SET display_name = $4, description = $5, quota_type = $6, request_count = $7, \
             unit_time = $8, time_unit = $9, rate_limit_count = $10, rate_limit_time_unit = $11, tier_plan = $12, \
             stop_on_quota_reach = $13 WHERE id = $1 AND level = $2 AND name = $3 RETURNING {POLICY_COLUMNS}"
        );
        write_tx!(self, async |tx| {
            let row: Option<ThrottlingPolicyRow> =
                bind_policy(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id), policy)
                    .fetch_optional(&mut **tx)
                    .await?;
            let row = row.ok_or_else(|| StoreError::NotFound(taken(policy)))?;
            append_policy_event(tx, &self.node_id, "updated", &row).await?;
            Ok(row)
        })
    }

    /// Deletes policy `id` of `level` (with its event) and returns what it was. A policy that an
    /// application (application level) or a subscription (subscription level) still names is
    /// [`StoreError::InUse`], naming them; the APIs that name a policy are the caller's to check.
    pub async fn delete_throttling_policy(
        &self,
        level: PolicyLevel,
        id: &str,
    ) -> Result<ThrottlingPolicyRow, StoreError> {
        let select = format!("SELECT {POLICY_COLUMNS} FROM throttling_policies WHERE id = $1 AND level = $2");
        write_tx!(self, async |tx| {
            let row: Option<ThrottlingPolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(select.as_str()))
                .bind(id)
                .bind(level_column(level))
                .fetch_optional(&mut **tx)
                .await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound(format!(
                    "{} throttling policy {id}",
                    level.as_str()
                )));
            };
            let users_sql = match level {
                PolicyLevel::Application => Some(
                    "SELECT 'application `' || name || '` of ' || owner FROM applications \
                     WHERE throttling_policy = $1 ORDER BY name, owner",
                ),
                PolicyLevel::Subscription => Some(
                    "SELECT 'the subscription of application `' || a.name || '` (' || a.owner || ') to `' || p.name || \
                     ' ' || p.version || '`' FROM subscriptions s JOIN applications a ON a.id = s.application_id \
                     JOIN apis p ON p.id = s.api_id WHERE s.throttling_policy = $1 ORDER BY a.name, p.name, p.version",
                ),
                PolicyLevel::Advanced => None,
            };
            let mut users: Vec<String> = Vec::new();
            if let Some(sql) = users_sql {
                users = sqlx::query_scalar(sql).bind(&row.name).fetch_all(&mut **tx).await?;
            }
            if !users.is_empty() {
                return Err(StoreError::in_use(&format!("throttling policy `{}`", row.name), &users));
            }
            sqlx::query("DELETE FROM throttling_policies WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            append_policy_event(tx, &self.node_id, "deleted", &row).await?;
            Ok(row)
        })
    }

    /// Stores each of WSO2's defaults this database has never had (once per default, so one an
    /// administrator deleted stays deleted), with its event. Runs at connect; a no-op read once
    /// every default was seeded.
    pub(crate) async fn seed_default_policies(&self) -> Result<(), StoreError> {
        let defaults: Vec<(String, Policy)> = default_policies()
            .into_iter()
            .map(|p| (format!("throttling_policy:{}:{}", level_column(p.level), p.name), p))
            .collect();
        let seeded: Vec<String> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT name FROM seeded_defaults")
                .fetch_all(pool)
                .await?
        });
        if defaults.iter().all(|(marker, _)| seeded.contains(marker)) {
            return Ok(());
        }
        let insert = format!(
            "INSERT INTO throttling_policies ({POLICY_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (level, name) DO NOTHING RETURNING {POLICY_COLUMNS}"
        );
        write_tx!(self, async |tx| {
            for (marker, policy) in &defaults {
                // Concurrent first starts of two nodes: the marker's key lets one of them seed.
                let first = sqlx::query("INSERT INTO seeded_defaults (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
                    .bind(marker)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                if first == 0 {
                    continue;
                }
                let id = uuid::Uuid::new_v4().to_string();
                let row: Option<ThrottlingPolicyRow> =
                    bind_policy(sqlx::query_as(sqlx::AssertSqlSafe(insert.as_str())).bind(&id), policy)
                        .fetch_optional(&mut **tx)
                        .await?;
                if let Some(row) = row {
                    append_policy_event(tx, &self.node_id, "created", &row).await?;
                }
            }
            Ok(())
        })
    }
}
