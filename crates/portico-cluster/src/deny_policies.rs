//! The deny policies (WSO2's blocking conditions) the gateway enforces, as the store has them:
//! the enabled rows of `deny_policies` read back through the same validation the Admin REST API
//! applies, compiled into one `portico_throttle::DenyPolicies`. A row that does not validate is
//! left out (logged with the field at fault), so one bad row never takes the others down.

use portico_store::{DenyPolicyRow, Store, StoreError};
use portico_throttle::{DenyCondition, DenyPolicies};

/// The enabled stored deny policies that validate, compiled; returns the set and how many
/// conditions it holds.
pub async fn load_deny_policies(store: &Store) -> Result<(DenyPolicies, usize), StoreError> {
    Ok(deny_policies_from_rows(&store.list_deny_policies().await?))
}

/// [`load_deny_policies`] from rows already read (from the store or a last-known-good snapshot).
pub fn deny_policies_from_rows(rows: &[DenyPolicyRow]) -> (DenyPolicies, usize) {
    let mut conditions = Vec::new();
    for row in rows.iter().filter(|row| row.enabled) {
        match DenyCondition::from_stored(&row.condition_type, &row.condition_value) {
            Ok(condition) => conditions.push(condition),
            Err(e) => tracing::warn!(
                id = %row.id,
                condition_type = %row.condition_type,
                error = %e,
                "deny policy left out of the gateway"
            ),
        }
    }
    (DenyPolicies::new(conditions.iter()), conditions.len())
}

#[cfg(test)]
mod tests {
    use portico_throttle::{DenyRequest, DenyType};

    use super::*;

    #[tokio::test]
    async fn enabled_valid_rows_are_enforced() {
        let (store, _dir) = crate::test_store::fresh_store().await;
        let (set, count) = load_deny_policies(&store).await.expect("load");
        assert!(set.is_empty() && count == 0);

        store.create_deny_policy("USER", "mallory", true).await.expect("user");
        store
            .create_deny_policy("API", "/pizza/1.0.0", false)
            .await
            .expect("api");
        store.create_deny_policy("IP", "not json", true).await.expect("bad ip");
        let (set, count) = load_deny_policies(&store).await.expect("load");
        assert_eq!(count, 1);
        let user = |user| DenyRequest {
            user: Some(user),
            api: Some("/pizza/1.0.0"),
            ..DenyRequest::default()
        };
        assert_eq!(set.check(&user("mallory")), Some(DenyType::User));
        assert_eq!(
            set.check(&user("alice")),
            None,
            "the disabled API condition is not enforced"
        );
    }
}
