//! Throttling policies as the REST APIs show them (the Publisher's and the DevPortal's
//! `GET /throttling-policies/{policyLevel}`), and the check that the policies an API names exist.

use std::collections::HashMap;

use axum::Json;
use portico_apis::{ApiInput, InputError};
use portico_store::{Store, ThrottlingPolicyRow};
use serde_json::{Value, json};

use super::paging::{Page, total_of};
use crate::error::{ApiError, input_error};

/// WSO2's `ThrottlingPolicy`.
fn policy_json(p: &ThrottlingPolicyRow) -> Value {
    json!({
        "name": p.name,
        "description": p.description,
        "policyLevel": p.level,
        "displayName": p.display_name,
        "attributes": {},
        "requestCount": p.request_count,
        "dataUnit": null,
        "unitTime": p.unit_time,
        "timeUnit": p.time_unit,
        "rateLimitCount": p.rate_limit_count,
        "rateLimitTimeUnit": p.rate_limit_time_unit,
        "quotaPolicyType": "REQUESTCOUNT",
        "tierPlan": p.tier_plan,
        "stopOnQuotaReach": p.stop_on_quota_reach,
        "monetizationProperties": {},
    })
}

/// The page `params` asks for of the policies of `level`, as WSO2's paged list.
pub(crate) async fn policy_list(
    store: &Store,
    level: &str,
    params: &HashMap<String, String>,
) -> Result<Json<Value>, ApiError> {
    let page = Page::of(params)?;
    let all = store.list_throttling_policies(level).await?;
    let list = page.of_slice(&all).map(policy_json).collect();
    Ok(page.list_body(list, total_of(&all), &format!("/throttling-policies/{level}"), ""))
}

/// Checks that every throttling policy an input names exists at its level (400 naming the
/// field and the known policies otherwise).
pub(crate) async fn check_policies(store: &Store, input: &ApiInput) -> Result<(), ApiError> {
    let (subscription, api_level) = input.policy_references();
    for (level, refs) in [("subscription", subscription), ("api", api_level)] {
        if refs.is_empty() {
            continue;
        }
        let known: Vec<String> = store
            .list_throttling_policies(level)
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect();
        for (field, name) in refs {
            if !known.iter().any(|k| k == &name) {
                return Err(input_error(InputError::new(
                    field,
                    format!(
                        "unknown {level} throttling policy \"{name}\"; known: {}",
                        known.join(", ")
                    ),
                )));
            }
        }
    }
    Ok(())
}
