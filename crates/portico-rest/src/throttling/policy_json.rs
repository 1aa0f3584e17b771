//! Throttling policies as JSON, in WSO2's Admin API shapes: the request body read into a
//! [`PolicyDraft`] (validated by `portico-throttle`, whose errors name the field), and a stored
//! policy answered as `AdvancedThrottlePolicy`, `ApplicationThrottlePolicy` or
//! `SubscriptionThrottlePolicy`.

use portico_apis::InputError;
use portico_apis::input::{coerce_bool, coerce_i64, coerce_string, get, kind_of, object};
use portico_store::ThrottlingPolicyRow;
use portico_throttle::policy::{LimitDraft, RequestCountDraft};
use portico_throttle::{PolicyDraft, PolicyError, PolicyLevel};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, field_error, input_error};

/// WSO2's `type` of a policy of `level`.
pub(crate) fn policy_type(level: PolicyLevel) -> &'static str {
    match level {
        PolicyLevel::Advanced => "AdvancedThrottlePolicy",
        PolicyLevel::Application => "ApplicationThrottlePolicy",
        PolicyLevel::Subscription => "SubscriptionThrottlePolicy",
    }
}

/// The draft a request body describes at `level`. Fields WSO2 has for features Portico does not
/// enforce yet are refused when they ask for something (never ignored).
pub(crate) fn policy_draft(level: PolicyLevel, body: &Value) -> Result<PolicyDraft, ApiError> {
    let obj = object(body, "body").map_err(input_error)?;
    let text = |field: &str| coerce_string(get(obj, field), field).map_err(input_error);
    let mut draft = PolicyDraft {
        policy_name: text("policyName")?,
        display_name: text("displayName")?,
        description: text("description")?,
        default_limit: limit_draft(get(obj, "defaultLimit"))?,
        ..PolicyDraft::new(level)
    };
    match level {
        PolicyLevel::Advanced => {
            draft.conditional_groups = match get(obj, "conditionalGroups") {
                Value::Null => 0,
                Value::Array(groups) => groups.len(),
                other => {
                    return Err(input_error(InputError::new(
                        "conditionalGroups",
                        format!("must be an array, not {}", kind_of(other)),
                    )));
                }
            };
        }
        PolicyLevel::Application => {
            if let Some(burst) = optional_object(obj, "burstLimit", "burstLimit")? {
                draft.rate_limit_count = integer(burst, "rateLimitCount", "burstLimit.rateLimitCount")?;
                draft.rate_limit_time_unit =
                    coerce_string(get(burst, "rateLimitTimeUnit"), "burstLimit.rateLimitTimeUnit")
                        .map_err(input_error)?;
            }
        }
        PolicyLevel::Subscription => {
            draft.rate_limit_count = integer(obj, "rateLimitCount", "rateLimitCount")?;
            draft.rate_limit_time_unit = text("rateLimitTimeUnit")?;
            draft.stop_on_quota_reach =
                coerce_bool(get(obj, "stopOnQuotaReach"), "stopOnQuotaReach").map_err(input_error)?;
            refuse_unsupported_subscription_fields(obj)?;
        }
    }
    Ok(draft)
}

/// `defaultLimit` as received: its `type` and `requestCount` (other limit kinds are refused by
/// their type).
fn limit_draft(value: &Value) -> Result<Option<LimitDraft>, ApiError> {
    if value.is_null() {
        return Ok(None);
    }
    let limit = object(value, "defaultLimit").map_err(input_error)?;
    let limit_type = coerce_string(get(limit, "type"), "defaultLimit.type").map_err(input_error)?;
    let request_count = match optional_object(limit, "requestCount", "defaultLimit.requestCount")? {
        None => None,
        Some(count) => Some(RequestCountDraft {
            request_count: integer(count, "requestCount", "defaultLimit.requestCount.requestCount")?,
            unit_time: integer(count, "unitTime", "defaultLimit.requestCount.unitTime")?,
            time_unit: coerce_string(get(count, "timeUnit"), "defaultLimit.requestCount.timeUnit")
                .map_err(input_error)?,
        }),
    };
    Ok(Some(LimitDraft {
        limit_type,
        request_count,
    }))
}

/// `obj[key]` as an object, if given; an error names `field`.
fn optional_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    match get(obj, key) {
        Value::Null => Ok(None),
        value => object(value, field).map(Some).map_err(input_error),
    }
}

fn integer(obj: &Map<String, Value>, key: &str, field: &str) -> Result<Option<i64>, ApiError> {
    coerce_i64(get(obj, key), field).map_err(input_error)
}

/// Subscription policy fields of features not enforced yet: accepted only at their "off" value
/// (what WSO2's UI sends by default).
fn refuse_unsupported_subscription_fields(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let unsupported = |field: &'static str, feature: &'static str| {
        let e = PolicyError::Unsupported { field, feature };
        Err(field_error(e.field(), &e))
    };
    for (field, feature) in [
        ("graphQLMaxComplexity", "GraphQL query complexity limits"),
        ("graphQLMaxDepth", "GraphQL query depth limits"),
        ("subscriberCount", "limits on the number of subscriptions"),
    ] {
        if integer(obj, field, field)?.is_some_and(|n| n != 0) {
            return unsupported(field, feature);
        }
    }
    if !get(obj, "permissions").is_null() {
        return unsupported("permissions", "role-based tier permissions");
    }
    if !get(obj, "monetization").is_null() {
        return unsupported("monetization", "monetization plans");
    }
    if get(obj, "customAttributes").as_array().is_some_and(|a| !a.is_empty()) {
        return unsupported("customAttributes", "custom attributes");
    }
    match coerce_string(get(obj, "billingPlan"), "billingPlan").map_err(input_error)? {
        Some(plan) if plan != "FREE" => unsupported("billingPlan", "commercial billing plans"),
        _ => Ok(()),
    }
}

/// WSO2's `defaultLimit` of a stored policy.
fn default_limit(row: &ThrottlingPolicyRow) -> Value {
    json!({
        "type": row.quota_type,
        "requestCount": {
            "timeUnit": row.time_unit,
            "unitTime": row.unit_time,
            "requestCount": row.request_count,
        },
    })
}

/// A stored policy as WSO2's Admin API answers it at `level`.
pub(crate) fn policy_json(level: PolicyLevel, row: &ThrottlingPolicyRow) -> Value {
    let mut body = json!({
        "policyId": row.id,
        "policyName": row.name,
        "displayName": row.display_name,
        "description": row.description,
        "isDeployed": true,
        "type": policy_type(level),
        "defaultLimit": default_limit(row),
    });
    let extra = match level {
        PolicyLevel::Advanced => json!({ "conditionalGroups": [] }),
        PolicyLevel::Application => json!({
            "burstLimit": {
                "rateLimitCount": row.rate_limit_count,
                "rateLimitTimeUnit": row.rate_limit_time_unit,
            },
        }),
        PolicyLevel::Subscription => json!({
            "graphQLMaxComplexity": 0,
            "graphQLMaxDepth": 0,
            "rateLimitCount": row.rate_limit_count,
            "rateLimitTimeUnit": row.rate_limit_time_unit,
            "subscriberCount": 0,
            "customAttributes": [],
            "stopOnQuotaReach": row.stop_on_quota_reach,
            "billingPlan": row.tier_plan,
        }),
    };
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}
