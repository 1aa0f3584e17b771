//! Throttling policies as values: WSO2's three levels, their quotas and burst control, the
//! defaults a fresh node has, and the validation of what the Admin REST API receives.
//!
//! The Admin REST layer turns a JSON body into a [`PolicyDraft`] (raw numbers and strings, as
//! the client sent them) and calls [`PolicyDraft::validate`]; every refusal is a
//! [`PolicyError`] naming the JSON field (`defaultLimit.requestCount.timeUnit`,
//! `burstLimit.rateLimitCount`, ...), so the 400 says what was wrong. The store keeps
//! [`Policy`] values; the gateway asks a policy for the [`WindowQuota`]s it enforces
//! ([`Policy::enforced_quota`], [`Policy::burst_quota`]).
//!
//! What is not supported yet is refused, never ignored: conditional groups, bandwidth, event
//! count and AI quotas, and custom (Siddhi) policies ([`custom_policy_unsupported`]).

use crate::window::WindowQuota;

/// WSO2 marks its `Unlimited` tiers with `Integer.MAX_VALUE` requests; such a quota is not
/// counted at all (no event, no decision), as WSO2's gateway skips unlimited tiers.
pub const UNLIMITED_REQUEST_COUNT: u64 = 2_147_483_647;

/// WSO2's `policyName` bounds (admin-api.yaml: minLength 1, maxLength 60).
const MAX_NAME_CHARS: usize = 60;
const MAX_DISPLAY_NAME_CHARS: usize = 512;
const MAX_DESCRIPTION_CHARS: usize = 1024;
/// `unitTime` is a Java int in WSO2.
const MAX_UNIT_TIME: i64 = i32::MAX as i64;

/// The level a policy applies at. Resource-level limits are advanced policies named by an
/// operation's `throttlingPolicy`; API-level ones by the API's `apiThrottlingPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyLevel {
    Advanced,
    Application,
    Subscription,
}

impl PolicyLevel {
    pub const ALL: [PolicyLevel; 3] = [
        PolicyLevel::Advanced,
        PolicyLevel::Application,
        PolicyLevel::Subscription,
    ];

    /// The Admin REST path segment (`/throttling/policies/{level}`).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyLevel::Advanced => "advanced",
            PolicyLevel::Application => "application",
            PolicyLevel::Subscription => "subscription",
        }
    }

    /// From a path segment; `api` is accepted for advanced (the Publisher's and the store's name).
    pub fn parse(value: &str) -> Option<PolicyLevel> {
        match value {
            "advanced" | "api" => Some(PolicyLevel::Advanced),
            "application" => Some(PolicyLevel::Application),
            "subscription" => Some(PolicyLevel::Subscription),
            _ => None,
        }
    }

    /// JSON prefix of the burst fields: top level in a subscription policy, under
    /// `burstLimit` in an application policy.
    fn burst_fields(self) -> (&'static str, &'static str) {
        match self {
            PolicyLevel::Application => ("burstLimit.rateLimitCount", "burstLimit.rateLimitTimeUnit"),
            _ => ("rateLimitCount", "rateLimitTimeUnit"),
        }
    }
}

/// A quota's time unit (`timeUnit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    Sec,
    Min,
    Hour,
    Day,
}

impl TimeUnit {
    const EXPECTED: &'static str = "sec, min, hour, day";

    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Sec => "sec",
            TimeUnit::Min => "min",
            TimeUnit::Hour => "hour",
            TimeUnit::Day => "day",
        }
    }

    pub fn parse(value: &str) -> Option<TimeUnit> {
        match value {
            "sec" => Some(TimeUnit::Sec),
            "min" => Some(TimeUnit::Min),
            "hour" => Some(TimeUnit::Hour),
            "day" => Some(TimeUnit::Day),
            _ => None,
        }
    }

    pub fn millis(self) -> u64 {
        match self {
            TimeUnit::Sec => 1_000,
            TimeUnit::Min => 60_000,
            TimeUnit::Hour => 3_600_000,
            TimeUnit::Day => 86_400_000,
        }
    }
}

/// Burst control's unit (`rateLimitTimeUnit`): WSO2 offers only seconds and minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BurstUnit {
    Sec,
    Min,
}

impl BurstUnit {
    const EXPECTED: &'static str = "sec, min";

    pub fn as_str(self) -> &'static str {
        match self {
            BurstUnit::Sec => "sec",
            BurstUnit::Min => "min",
        }
    }

    pub fn parse(value: &str) -> Option<BurstUnit> {
        match value {
            "sec" => Some(BurstUnit::Sec),
            "min" => Some(BurstUnit::Min),
            _ => None,
        }
    }

    pub fn millis(self) -> u64 {
        match self {
            BurstUnit::Sec => 1_000,
            BurstUnit::Min => 60_000,
        }
    }
}

/// A request-count quota: `request_count` requests per `unit_time` × `time_unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    pub request_count: u64,
    pub unit_time: u64,
    pub time_unit: TimeUnit,
}

impl Quota {
    /// `count` requests per one `unit` (how WSO2's defaults are written).
    pub const fn per(count: u64, unit: TimeUnit) -> Quota {
        Quota {
            request_count: count,
            unit_time: 1,
            time_unit: unit,
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.request_count == UNLIMITED_REQUEST_COUNT
    }

    pub fn window_ms(&self) -> u64 {
        self.unit_time.saturating_mul(self.time_unit.millis())
    }

    /// What the counters enforce; `None` for an unlimited quota.
    pub fn window_quota(&self) -> Option<WindowQuota> {
        if self.is_unlimited() {
            return None;
        }
        WindowQuota::new(self.request_count, self.window_ms())
    }
}

/// Burst control (spike arrest): at most `rate_limit_count` requests per second or minute, on
/// top of the quota. Counted across the cluster, unlike WSO2's per-gateway counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Burst {
    pub rate_limit_count: u64,
    pub rate_limit_time_unit: BurstUnit,
}

impl Burst {
    pub fn window_quota(&self) -> Option<WindowQuota> {
        WindowQuota::new(self.rate_limit_count, self.rate_limit_time_unit.millis())
    }
}

/// A valid policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub level: PolicyLevel,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub quota: Quota,
    /// Application and subscription policies only.
    pub burst: Option<Burst>,
    /// Subscription policies: refuse once the quota is reached (otherwise requests pass and
    /// are only counted). Meaningless at the other levels, which always stop.
    pub stop_on_quota_reach: bool,
}

impl Policy {
    /// The quota the gateway enforces; `None` when nothing is to be counted: an unlimited
    /// quota, or a subscription policy that does not stop on quota reach.
    pub fn enforced_quota(&self) -> Option<WindowQuota> {
        if self.level == PolicyLevel::Subscription && !self.stop_on_quota_reach {
            return None;
        }
        self.quota.window_quota()
    }

    /// Burst control's quota, when the policy has one.
    pub fn burst_quota(&self) -> Option<WindowQuota> {
        self.burst.as_ref().and_then(Burst::window_quota)
    }
}

/// Why a policy was refused; each names the JSON field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field} must be greater than zero (got {value})")]
    NotPositive { field: &'static str, value: i64 },
    #[error("{field} must be zero or more (got {value})")]
    Negative { field: &'static str, value: i64 },
    #[error("{field} must be at most {max} (got {value})")]
    TooLarge { field: &'static str, value: i64, max: i64 },
    #[error("{field}: unknown unit \"{value}\" (expected one of: {expected})")]
    UnknownUnit {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{field}: unknown value \"{value}\" (expected one of: {expected})")]
    UnknownValue {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{field}: {feature} are not supported yet")]
    Unsupported { field: &'static str, feature: &'static str },
    #[error("{field} must be 1 to {max} characters without control characters")]
    BadText { field: &'static str, max: usize },
}

impl PolicyError {
    /// The JSON field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            PolicyError::Missing { field }
            | PolicyError::NotPositive { field, .. }
            | PolicyError::Negative { field, .. }
            | PolicyError::TooLarge { field, .. }
            | PolicyError::UnknownUnit { field, .. }
            | PolicyError::UnknownValue { field, .. }
            | PolicyError::Unsupported { field, .. }
            | PolicyError::BadText { field, .. } => field,
        }
    }
}

/// The refusal of `POST /throttling/policies/custom` (Siddhi policies are later work).
pub fn custom_policy_unsupported() -> PolicyError {
    PolicyError::Unsupported {
        field: "siddhiQuery",
        feature: "custom (Siddhi) policies",
    }
}

/// `defaultLimit` as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitDraft {
    /// `defaultLimit.type`: `REQUESTCOUNTLIMIT` (or `BANDWIDTHLIMIT`, ..., refused as unsupported).
    pub limit_type: Option<String>,
    /// `defaultLimit.requestCount`, if present.
    pub request_count: Option<RequestCountDraft>,
}

/// `defaultLimit.requestCount` as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCountDraft {
    pub request_count: Option<i64>,
    pub unit_time: Option<i64>,
    pub time_unit: Option<String>,
}

/// A policy body as received by the Admin REST API, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDraft {
    pub level: PolicyLevel,
    pub policy_name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub default_limit: Option<LimitDraft>,
    /// Subscription: top-level `rateLimitCount`; application: `burstLimit.rateLimitCount`.
    pub rate_limit_count: Option<i64>,
    pub rate_limit_time_unit: Option<String>,
    pub stop_on_quota_reach: Option<bool>,
    /// How many `conditionalGroups` an advanced policy carried (any is refused for now).
    pub conditional_groups: usize,
}

impl PolicyDraft {
    pub fn new(level: PolicyLevel) -> PolicyDraft {
        PolicyDraft {
            level,
            policy_name: None,
            display_name: None,
            description: None,
            default_limit: None,
            rate_limit_count: None,
            rate_limit_time_unit: None,
            stop_on_quota_reach: None,
            conditional_groups: 0,
        }
    }

    /// The policy, or the first thing wrong with the draft.
    pub fn validate(self) -> Result<Policy, PolicyError> {
        let name = text("policyName", self.policy_name, MAX_NAME_CHARS)?
            .ok_or(PolicyError::Missing { field: "policyName" })?;
        let display_name = text("displayName", self.display_name, MAX_DISPLAY_NAME_CHARS)?.unwrap_or(name.clone());
        let description = match self.description {
            Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => {
                return Err(PolicyError::BadText {
                    field: "description",
                    max: MAX_DESCRIPTION_CHARS,
                });
            }
            Some(d) => d,
            None => String::new(),
        };
        if self.level == PolicyLevel::Advanced && self.conditional_groups > 0 {
            return Err(PolicyError::Unsupported {
                field: "conditionalGroups",
                feature: "conditional groups",
            });
        }
        let quota = validate_limit(self.default_limit)?;
        let burst = match self.level {
            PolicyLevel::Advanced => None,
            level => validate_burst(level, self.rate_limit_count, self.rate_limit_time_unit)?,
        };
        Ok(Policy {
            level: self.level,
            name,
            display_name,
            description,
            quota,
            burst,
            // admin-api.yaml: `stopOnQuotaReach` defaults to false.
            stop_on_quota_reach: self.stop_on_quota_reach.unwrap_or(false),
        })
    }
}

fn text(field: &'static str, value: Option<String>, max: usize) -> Result<Option<String>, PolicyError> {
    let Some(value) = value else { return Ok(None) };
    let chars = value.chars().count();
    if chars == 0 || chars > max || value.chars().any(char::is_control) || value.trim().is_empty() {
        return Err(PolicyError::BadText { field, max });
    }
    Ok(Some(value))
}

fn validate_limit(limit: Option<LimitDraft>) -> Result<Quota, PolicyError> {
    let limit = limit.ok_or(PolicyError::Missing { field: "defaultLimit" })?;
    let limit_type = limit.limit_type.ok_or(PolicyError::Missing {
        field: "defaultLimit.type",
    })?;
    match limit_type.as_str() {
        "REQUESTCOUNTLIMIT" => {}
        "BANDWIDTHLIMIT" => return Err(unsupported_limit("bandwidth quotas")),
        "EVENTCOUNTLIMIT" => return Err(unsupported_limit("event count quotas")),
        "AIAPIQUOTALIMIT" => return Err(unsupported_limit("AI API quotas")),
        _ => {
            return Err(PolicyError::UnknownValue {
                field: "defaultLimit.type",
                value: limit_type,
                expected: "REQUESTCOUNTLIMIT",
            });
        }
    }
    let rc = limit.request_count.ok_or(PolicyError::Missing {
        field: "defaultLimit.requestCount",
    })?;
    let request_count = positive("defaultLimit.requestCount.requestCount", rc.request_count, i64::MAX)?;
    let unit_time = positive("defaultLimit.requestCount.unitTime", rc.unit_time, MAX_UNIT_TIME)?;
    let unit = rc.time_unit.ok_or(PolicyError::Missing {
        field: "defaultLimit.requestCount.timeUnit",
    })?;
    let time_unit = TimeUnit::parse(&unit).ok_or(PolicyError::UnknownUnit {
        field: "defaultLimit.requestCount.timeUnit",
        value: unit,
        expected: TimeUnit::EXPECTED,
    })?;
    Ok(Quota {
        request_count,
        unit_time,
        time_unit,
    })
}

fn unsupported_limit(feature: &'static str) -> PolicyError {
    PolicyError::Unsupported {
        field: "defaultLimit.type",
        feature,
    }
}

fn positive(field: &'static str, value: Option<i64>, max: i64) -> Result<u64, PolicyError> {
    let value = value.ok_or(PolicyError::Missing { field })?;
    if value <= 0 {
        return Err(PolicyError::NotPositive { field, value });
    }
    if value > max {
        return Err(PolicyError::TooLarge { field, value, max });
    }
    u64::try_from(value).map_err(|_| PolicyError::NotPositive { field, value })
}

/// WSO2 writes "no burst control" as `rateLimitCount: 0` (and a unit of `NA` or nothing).
fn validate_burst(level: PolicyLevel, count: Option<i64>, unit: Option<String>) -> Result<Option<Burst>, PolicyError> {
    let (count_field, unit_field) = level.burst_fields();
    let count = match count {
        None | Some(0) => return Ok(None),
        Some(c) if c < 0 => {
            return Err(PolicyError::Negative {
                field: count_field,
                value: c,
            });
        }
        Some(c) => c,
    };
    let rate_limit_count = positive(count_field, Some(count), i64::MAX)?;
    let unit = unit.ok_or(PolicyError::Missing { field: unit_field })?;
    let rate_limit_time_unit = BurstUnit::parse(&unit).ok_or(PolicyError::UnknownUnit {
        field: unit_field,
        value: unit,
        expected: BurstUnit::EXPECTED,
    })?;
    Ok(Some(Burst {
        rate_limit_count,
        rate_limit_time_unit,
    }))
}

/// WSO2's default policies (carbon-apimgt `APIUtil.addDefault*ThrottlePolicies`), which exist on
/// a fresh node: subscription Gold, Silver, Bronze, Unauthenticated (used for resources without
/// authentication) and Unlimited; application 10/20/50PerMin and Unlimited; advanced
/// 10K/20K/50KPerMin and Unlimited. All per minute, no burst control, subscriptions stop on
/// quota reach.
pub fn default_policies() -> Vec<Policy> {
    use PolicyLevel::{Advanced, Application, Subscription};
    const UNLIMITED: u64 = UNLIMITED_REQUEST_COUNT;
    const UNLIMITED_TEXT: &str = "Allows unlimited requests";
    const DEFAULTS: [(PolicyLevel, &str, u64, &str); 13] = [
        (Subscription, "Gold", 5000, "Allows 5000 requests per minute"),
        (Subscription, "Silver", 2000, "Allows 2000 requests per minute"),
        (Subscription, "Bronze", 1000, "Allows 1000 requests per minute"),
        (Subscription, "Unauthenticated", 500, "Allows 500 request(s) per minute"),
        (Subscription, "Unlimited", UNLIMITED, UNLIMITED_TEXT),
        (Application, "50PerMin", 50, "Allows 50 request per minute"),
        (Application, "20PerMin", 20, "Allows 20 request per minute"),
        (Application, "10PerMin", 10, "Allows 10 request per minute"),
        (Application, "Unlimited", UNLIMITED, UNLIMITED_TEXT),
        (Advanced, "50KPerMin", 50_000, "Allows 50000 requests per minute"),
        (Advanced, "20KPerMin", 20_000, "Allows 20000 requests per minute"),
        (Advanced, "10KPerMin", 10_000, "Allows 10000 requests per minute"),
        (Advanced, "Unlimited", UNLIMITED, UNLIMITED_TEXT),
    ];
    DEFAULTS
        .iter()
        .map(|&(level, name, count, description)| Policy {
            level,
            name: name.to_owned(),
            display_name: name.to_owned(),
            description: description.to_owned(),
            quota: Quota::per(count, TimeUnit::Min),
            burst: None,
            stop_on_quota_reach: true,
        })
        .collect()
}

/// The name of the tier for resources without authentication (keyed by client IP).
pub const UNAUTHENTICATED_TIER: &str = "Unauthenticated";

#[cfg(test)]
mod tests;
