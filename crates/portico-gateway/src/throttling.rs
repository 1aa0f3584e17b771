//! What the `throttle` phase enforces with: the throttling policies compiled for lookups by tier
//! name ([`ThrottlePolicies`], part of the snapshot), the node's [`Throttler`] and its settings
//! ([`GatewayThrottling`]), and the `RateLimit-Policy` / `RateLimit` / `Retry-After` fields of
//! the answers (IETF draft-ietf-httpapi-ratelimit-headers: `"name";q=..;w=..` and
//! `"name";r=..;t=..`).
//!
//! Policies come from the node (the cluster crate loads them from the store); the gateway never
//! reads the store. Only tiers that count something are kept, so an `Unlimited` tier is simply
//! not found, and a request whose tiers are all unlimited builds no key and allocates nothing.

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use portico_throttle::policy::UNAUTHENTICATED_TIER;
use portico_throttle::{Policy, PolicyLevel, Throttler, WindowQuota};

/// `RateLimit-Policy`: the quota and window of the limit the answer reports on.
pub const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: what remains of it and when it resets.
pub const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Throttling as the gateway runs it: the node's throttler (decisions, local counts, the cluster
/// counter) and whether unauthenticated requests are keyed by `X-Forwarded-For`.
#[derive(Clone)]
pub struct GatewayThrottling {
    pub throttler: Arc<Throttler>,
    /// Key unauthenticated requests by the first `X-Forwarded-For` hop (`[apim.throttling]
    /// trust_forwarded_for`).
    pub trust_forwarded_for: bool,
}

impl std::fmt::Debug for GatewayThrottling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayThrottling")
            .field("failure_mode", &self.throttler.failure_mode())
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .finish()
    }
}

/// One tier that counts: its quota and burst control, with their rate-limit labels rendered
/// once.
#[derive(Debug, Clone)]
pub struct Tier {
    pub quota: Option<WindowQuota>,
    pub burst: Option<WindowQuota>,
    quota_label: Option<RateLimitLabel>,
    burst_label: Option<RateLimitLabel>,
}

/// A limit as the rate-limit fields name it: the policy name as a structured-field string, and
/// the whole `RateLimit-Policy` value. Cloned per answer (reference counts, no copies).
#[derive(Debug, Clone)]
pub struct RateLimitLabel {
    name: Arc<str>,
    policy: HeaderValue,
}

impl RateLimitLabel {
    /// `"name";q=<limit>;w=<window seconds>`.
    fn new(name: &str, quota: WindowQuota) -> Option<RateLimitLabel> {
        let name = sf_string(name);
        let window_secs = quota.window_ms.div_ceil(1000).max(1);
        let policy = HeaderValue::from_str(&format!("{name};q={};w={window_secs}", quota.limit)).ok()?;
        Some(RateLimitLabel {
            name: name.into(),
            policy,
        })
    }
}

impl Tier {
    fn of(policy: &Policy) -> Option<Tier> {
        let quota = policy.enforced_quota();
        let burst = policy.burst_quota();
        if quota.is_none() && burst.is_none() {
            return None;
        }
        let burst_name = format!("{}-burst", policy.name);
        Some(Tier {
            quota,
            burst,
            quota_label: quota.and_then(|q| RateLimitLabel::new(&policy.name, q)),
            burst_label: burst.and_then(|q| RateLimitLabel::new(&burst_name, q)),
        })
    }

    /// The label of the quota, or of burst control.
    pub fn label(&self, burst: bool) -> Option<&RateLimitLabel> {
        if burst {
            self.burst_label.as_ref()
        } else {
            self.quota_label.as_ref()
        }
    }
}

type ByName = HashMap<String, Tier, foldhash::fast::RandomState>;

/// The throttling policies of the cluster, by level and name; only tiers that count are held.
#[derive(Debug, Default)]
pub struct ThrottlePolicies {
    advanced: ByName,
    application: ByName,
    subscription: ByName,
    /// The `Unauthenticated` subscription tier, for resources without authentication.
    unauthenticated: Option<Tier>,
}

impl ThrottlePolicies {
    pub fn new(policies: &[Policy]) -> ThrottlePolicies {
        let mut compiled = ThrottlePolicies::default();
        for policy in policies {
            let Some(tier) = Tier::of(policy) else { continue };
            let by_name = match policy.level {
                PolicyLevel::Advanced => &mut compiled.advanced,
                PolicyLevel::Application => &mut compiled.application,
                PolicyLevel::Subscription => {
                    if policy.name == UNAUTHENTICATED_TIER {
                        compiled.unauthenticated = Some(tier.clone());
                    }
                    &mut compiled.subscription
                }
            };
            by_name.insert(policy.name.clone(), tier);
        }
        compiled
    }

    /// Whether no tier counts anything (no policies loaded, or all unlimited).
    pub fn is_empty(&self) -> bool {
        self.advanced.is_empty() && self.application.is_empty() && self.subscription.is_empty()
    }

    /// An API's or resource's tier (`apiThrottlingPolicy`, an operation's `throttlingPolicy`).
    pub fn advanced(&self, name: &str) -> Option<&Tier> {
        self.advanced.get(name)
    }

    pub fn application(&self, name: &str) -> Option<&Tier> {
        self.application.get(name)
    }

    pub fn subscription(&self, name: &str) -> Option<&Tier> {
        self.subscription.get(name)
    }

    pub fn unauthenticated(&self) -> Option<&Tier> {
        self.unauthenticated.as_ref()
    }

    /// How many tiers count something, per level (advanced, application, subscription).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.advanced.len(), self.application.len(), self.subscription.len())
    }
}

/// What an answer says of the limit it is closest to (admitted) or over (refused).
#[derive(Debug, Clone)]
pub struct RateLimitNote {
    pub label: RateLimitLabel,
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset_secs: u64,
}

impl RateLimitNote {
    /// Adds `RateLimit-Policy` and `RateLimit` to `headers`.
    pub fn add_to(&self, headers: &mut HeaderMap) {
        let value = format!("{};r={};t={}", self.label.name, self.remaining, self.reset_secs);
        // The string's buffer becomes the value's: no second copy.
        if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
            headers.insert(RATE_LIMIT, value);
        }
        headers.insert(RATE_LIMIT_POLICY, self.label.policy.clone());
    }
}

/// The fields of a refusal: `Retry-After` and the rate-limit fields of the limit reached.
pub fn refusal_headers(note: Option<&RateLimitNote>, retry_after_secs: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    if let Some(note) = note {
        note.add_to(&mut headers);
    }
    headers
}

/// A structured-field string (RFC 8941): printable ASCII, `"` and `\` escaped; anything else
/// (a policy name may hold any character) becomes `_`.
fn sf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('_'),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use portico_throttle::policy::{Burst, Quota, default_policies};
    use portico_throttle::{BurstUnit, TimeUnit};

    use super::*;

    #[test]
    fn only_tiers_that_count_are_held() {
        let policies = ThrottlePolicies::new(&default_policies());
        assert!(policies.advanced("Unlimited").is_none());
        assert!(policies.application("Unlimited").is_none());
        assert!(policies.subscription("Unlimited").is_none());
        let gold = policies.subscription("Gold").expect("Gold");
        assert_eq!(gold.quota, WindowQuota::new(5000, 60_000));
        assert_eq!(gold.burst, None);
        assert_eq!(
            gold.label(false).map(|l| l.policy.as_bytes()),
            Some(&b"\"Gold\";q=5000;w=60"[..])
        );
        assert_eq!(
            policies.unauthenticated().and_then(|t| t.quota),
            WindowQuota::new(500, 60_000)
        );
        assert_eq!(policies.counts(), (3, 3, 4));
        assert!(ThrottlePolicies::default().is_empty());
    }

    #[test]
    fn burst_and_stop_on_quota_reach_shape_a_tier() {
        let counted_only = Policy {
            level: PolicyLevel::Subscription,
            name: "Free \"plan\"é".into(),
            display_name: String::new(),
            description: String::new(),
            quota: Quota::per(100, TimeUnit::Hour),
            burst: Some(Burst {
                rate_limit_count: 5,
                rate_limit_time_unit: BurstUnit::Sec,
            }),
            stop_on_quota_reach: false,
        };
        let policies = ThrottlePolicies::new(&[counted_only]);
        let tier = policies.subscription("Free \"plan\"é").expect("tier");
        assert_eq!(
            tier.quota, None,
            "a subscription that does not stop is not refused on quota"
        );
        assert_eq!(tier.burst, WindowQuota::new(5, 1_000));
        assert_eq!(
            tier.label(true).map(|l| l.policy.as_bytes()),
            Some(&b"\"Free \\\"plan\\\"_-burst\";q=5;w=1"[..])
        );
    }

    #[test]
    fn notes_render_the_ietf_fields() {
        let note = RateLimitNote {
            label: RateLimitLabel::new("Gold", WindowQuota::new(5000, 60_000).expect("quota")).expect("label"),
            remaining: 0,
            reset_secs: 12,
        };
        let headers = refusal_headers(Some(&note), 12);
        assert_eq!(headers[RETRY_AFTER], "12");
        assert_eq!(headers[RATE_LIMIT], "\"Gold\";r=0;t=12");
        assert_eq!(headers[RATE_LIMIT_POLICY], "\"Gold\";q=5000;w=60");
    }
}
