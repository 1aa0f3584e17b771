//! The throttling policies the gateway enforces, as the store has them: every level's rows of
//! `throttling_policies` read into `portico_throttle::Policy` values, through the same validation
//! the Admin REST API applies to what it receives. A row that does not validate is left out
//! (logged with the field at fault), so one bad row never takes the others down.
//! A row's burst control (`rate_limit_count` 0: none) comes with it.

use portico_store::{Store, StoreError, ThrottlingPolicyRow};
use portico_throttle::Policy;

/// Appended to the change feed when a throttling policy is added, changed or removed; every
/// node's gateway reloads its policies on it.
pub const EVENT_POLICY_CHANGED: &str = "policy.changed";

/// The `level` values of `throttling_policies`.
pub(crate) const STORED_LEVELS: [&str; 3] = ["subscription", "application", "api"];

/// Every stored policy that validates.
pub async fn load_policies(store: &Store) -> Result<Vec<Policy>, StoreError> {
    let mut rows = Vec::new();
    for stored_level in STORED_LEVELS {
        rows.extend(store.list_throttling_policies(stored_level).await?);
    }
    Ok(policies_from_rows(&rows))
}

/// The rows that validate, as policies (from the store or a last-known-good snapshot).
pub fn policies_from_rows(rows: &[ThrottlingPolicyRow]) -> Vec<Policy> {
    let mut policies = Vec::new();
    for row in rows {
        match row.policy() {
            Ok(policy) => policies.push(policy),
            Err(e) => tracing::warn!(
                level = %row.level,
                policy = %row.name,
                error = %e,
                "throttling policy left out of the gateway"
            ),
        }
    }
    policies
}

#[cfg(test)]
mod tests {
    use portico_throttle::{PolicyLevel, TimeUnit};

    use super::*;

    fn row(level: &str, name: &str, count: i64, unit: &str) -> ThrottlingPolicyRow {
        ThrottlingPolicyRow {
            id: format!("id-{name}"),
            level: level.into(),
            quota_type: "REQUESTCOUNTLIMIT".into(),
            rate_limit_count: 0,
            rate_limit_time_unit: None,
            name: name.into(),
            display_name: name.into(),
            description: format!("Allows {count} requests per {unit}"),
            request_count: count,
            unit_time: 1,
            time_unit: unit.into(),
            tier_plan: "FREE".into(),
            stop_on_quota_reach: true,
        }
    }

    #[test]
    fn rows_become_policies_without_burst_control() {
        let policy = row("subscription", "Gold", 5000, "min").policy().expect("valid");
        assert_eq!(policy.name, "Gold");
        assert_eq!(
            (policy.quota.request_count, policy.quota.time_unit),
            (5000, TimeUnit::Min)
        );
        assert_eq!(policy.burst, None);
        assert!(policy.stop_on_quota_reach);
        assert_eq!(policy.enforced_quota().map(|q| q.window_ms), Some(60_000));
    }

    #[test]
    fn rows_that_do_not_validate_say_which_field() {
        let err = row("api", "Zero", 0, "min").policy().expect_err("zero");
        assert_eq!(err.field(), "defaultLimit.requestCount.requestCount");
        let err = row("api", "Weekly", 5, "week").policy().expect_err("unit");
        assert_eq!(err.field(), "defaultLimit.requestCount.timeUnit");
    }

    #[tokio::test]
    async fn a_fresh_store_holds_wso2s_defaults() {
        let (store, _dir) = crate::test_store::fresh_store().await;
        let policies = load_policies(&store).await.expect("load");
        let named = |level, name: &str| policies.iter().any(|p| p.level == level && p.name == name);
        assert!(named(PolicyLevel::Subscription, "Unauthenticated"));
        assert!(named(PolicyLevel::Application, "10PerMin"));
        assert!(named(PolicyLevel::Advanced, "10KPerMin"));
        assert_eq!(policies.len(), 13, "{policies:?}");
    }
}
