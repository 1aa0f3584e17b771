//! Throttling policies (WSO2's defaults are seeded by the migration) and the minimal
//! applications and subscriptions the Publisher reads; the DevPortal manages them.

use crate::{Store, StoreError, is_unique_violation, now_millis, with_pool};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ThrottlingPolicyRow {
    /// `subscription` or `api`.
    pub level: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub request_count: i64,
    pub unit_time: i64,
    pub time_unit: String,
    pub tier_plan: String,
    pub stop_on_quota_reach: bool,
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub name: String,
    pub owner: String,
    pub throttling_policy: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub application_id: String,
    pub api_id: String,
    pub throttling_policy: String,
    /// WSO2's subscriptionStatus, e.g. `UNBLOCKED`.
    pub status: String,
}

/// A subscription with what `GET /subscriptions` shows of its application.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: String,
    pub application_id: String,
    pub api_id: String,
    pub throttling_policy: String,
    pub status: String,
    pub application_name: String,
    pub application_owner: String,
    pub application_description: Option<String>,
    pub application_status: String,
    pub application_policy: String,
}

impl Store {
    /// Policies of one level (`subscription` or `api`), by request count.
    pub async fn list_throttling_policies(&self, level: &str) -> Result<Vec<ThrottlingPolicyRow>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT level, name, display_name, description, request_count, unit_time, time_unit, tier_plan, stop_on_quota_reach \
                 FROM throttling_policies WHERE level = $1 ORDER BY request_count DESC, name",
            )
            .bind(level)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Creates an application; returns its id.
    pub async fn create_application(&self, new: &NewApplication) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let result = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO applications (id, name, owner, throttling_policy, description, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'APPROVED', $6, $6)",
            )
            .bind(&id)
            .bind(&new.name)
            .bind(&new.owner)
            .bind(&new.throttling_policy)
            .bind(&new.description)
            .bind(now_millis())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        });
        match result {
            Ok(_) => Ok(id),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!("application `{}`", new.name))),
            Err(e) => Err(e.into()),
        }
    }

    /// Subscribes an application to an API; returns the subscription id.
    pub async fn create_subscription(&self, new: &NewSubscription) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let result = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO subscriptions (id, application_id, api_id, throttling_policy, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(&id)
            .bind(&new.application_id)
            .bind(&new.api_id)
            .bind(&new.throttling_policy)
            .bind(&new.status)
            .bind(now_millis())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        });
        match result {
            Ok(_) => Ok(id),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "subscription of application {} to API {}",
                new.application_id, new.api_id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Subscriptions (of one API when `api_id` is given), oldest first, and the total count.
    pub async fn list_subscriptions(
        &self,
        api_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SubscriptionRow>, i64), StoreError> {
        let condition = "(CAST($1 AS TEXT) IS NULL OR s.api_id = $1)";
        let select = format!(
            "SELECT s.id, s.application_id, s.api_id, s.throttling_policy, s.status, a.name AS application_name, \
             a.owner AS application_owner, a.description AS application_description, a.status AS application_status, \
             a.throttling_policy AS application_policy FROM subscriptions s JOIN applications a ON a.id = s.application_id \
             WHERE {condition} ORDER BY s.created_at, s.id LIMIT $2 OFFSET $3"
        );
        let count = format!("SELECT COUNT(*) FROM subscriptions s WHERE {condition}");
        Ok(with_pool!(self, |pool| {
            let rows: Vec<SubscriptionRow> = sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(api_id)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .bind(api_id)
                .fetch_one(pool)
                .await?;
            (rows, total)
        }))
    }
}
