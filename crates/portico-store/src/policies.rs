//! Throttling policies (WSO2's defaults are seeded by the migration) and the minimal
//! applications and subscriptions the Publisher reads; the DevPortal manages them.

use crate::{Store, StoreError, with_pool};

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

/// A new application (or the new state of one, for updates).
#[derive(Debug, Clone, Default)]
pub struct NewApplication {
    pub name: String,
    /// The owner's username.
    pub owner: String,
    pub throttling_policy: String,
    pub description: Option<String>,
    /// `JWT` (default) or `OAUTH`.
    pub token_type: String,
    /// JSON object text (WSO2's `attributes`); empty means `{}`.
    pub attributes: String,
    /// JSON array text (WSO2's `groups`); empty means `[]`.
    pub groups: String,
    /// JSON array text (WSO2's `subscriptionScopes`); empty means `[]`.
    pub subscription_scopes: String,
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
}
