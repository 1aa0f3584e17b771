//! Which APIs and API Products name a throttling policy: what must go before it is deleted
//! (applications and subscriptions that name one are the store's to find, in the delete itself).

use portico_store::{ApiFilter, Store};
use portico_throttle::PolicyLevel;

use crate::common::api_rows::{api_of, is_product, kind_name};
use crate::error::ApiError;

/// The APIs and API Products that name policy `name` of `level`, as a refusal names them
/// (subscription policies: in their `policies`; advanced ones: as `apiThrottlingPolicy` or an
/// operation's `throttlingPolicy`).
pub(crate) async fn apis_using(store: &Store, level: PolicyLevel, name: &str) -> Result<Vec<String>, ApiError> {
    if level == PolicyLevel::Application {
        return Ok(Vec::new());
    }
    let (rows, _) = store.list_apis(&ApiFilter::default(), i64::MAX, 0).await?;
    let mut users = Vec::new();
    for row in &rows {
        let api = api_of(row)?;
        let field = match level {
            PolicyLevel::Subscription => api.policies.iter().any(|p| p == name).then(|| "policies".to_owned()),
            _ if api.api_throttling_policy.as_deref() == Some(name) => Some("apiThrottlingPolicy".to_owned()),
            _ => api
                .operations
                .iter()
                .find(|op| op.throttling_policy == name)
                .map(|op| format!("throttlingPolicy of {} {}", op.verb, op.target)),
        };
        if let Some(field) = field {
            users.push(format!(
                "{} `{} {}` ({field})",
                kind_name(is_product(row)),
                api.name,
                api.version
            ));
        }
    }
    Ok(users)
}
