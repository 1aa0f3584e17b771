//! What applications and subscriptions are created with, and a subscription as the Publisher
//! lists it; the DevPortal manages them (`devportal.rs`).

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
