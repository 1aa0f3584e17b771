//! Phase 4, `throttle`, after its first step (the deny policies, `deny`): runs after
//! `authorize`, when the session holds everything WSO2's throttle keys are made of (API,
//! resource, application, user, subscription tier). Finds the request's tiers in the snapshot's
//! policies: the API's `apiThrottlingPolicy` when set, else the
//! resource's `throttlingPolicy` (advanced); the application's tier with its burst control; the
//! subscription's tier with its burst control, or for a request without a caller the
//! `Unauthenticated` tier keyed by the client's IP (the first `X-Forwarded-For` hop only when
//! trusted). Then asks the node's throttler, which refuses on a decision in force or on this
//! gateway's own count and otherwise counts the request and publishes its event without waiting.
//!
//! A refusal is 429 with WSO2's code for the limit reached (900800 API, 900802 resource, 900803
//! application, 900804 subscription, 900807 subscription burst, 900809 application burst), a
//! `Retry-After` at the window's end and the IETF `RateLimit-Policy` / `RateLimit` fields; an
//! admitted request's answer carries the latter two for the limit closest to being reached.
//!
//! Tiers that count nothing are not in the snapshot, so a request whose tiers are all unlimited
//! stops after three lookups: no key is built and nothing is allocated.
//!
//! Reads the route, the caller, the context's subscription tier and client IP; sets the
//! session's rate-limit note.

use std::cell::RefCell;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use portico_throttle::window::{now_ms, retry_after_secs};
use portico_throttle::{KeyKind, Refusal, RequestEvent};

use super::Session;
use super::client_address::first_forwarded_address;
use crate::Gateway;
use crate::error::GatewayError;
use crate::routing::RouteMatch;
use crate::throttling::{RateLimitLabel, RateLimitNote, Tier, refusal_headers};

/// The counting tiers of one request, borrowed from the snapshot.
struct Tiers<'s> {
    /// The API-level tier (keyed as [`KeyKind::Api`]) or the resource's ([`KeyKind::Resource`]).
    level: Option<&'s Tier>,
    level_kind: KeyKind,
    application: Option<&'s Tier>,
    /// The subscription's tier, or `Unauthenticated` for a request without a caller.
    subscription: Option<&'s Tier>,
}

impl Tiers<'_> {
    fn count_nothing(&self) -> bool {
        self.level.is_none() && self.application.is_none() && self.subscription.is_none()
    }

    /// The rate-limit label of the limit a key of `kind` counts.
    fn label(&self, kind: KeyKind) -> Option<&RateLimitLabel> {
        let tier = match kind {
            KeyKind::Api | KeyKind::Resource => self.level,
            KeyKind::Application | KeyKind::ApplicationBurst => self.application,
            KeyKind::Subscription | KeyKind::SubscriptionBurst => self.subscription,
        }?;
        tier.label(kind.is_burst())
    }
}

impl Gateway {
    pub(super) fn throttle(&self, session: &mut Session<'_>) -> Result<(), GatewayError> {
        let Some(throttling) = &self.settings.throttling else {
            return Ok(());
        };
        let policies = &session.snapshot.policies;
        if policies.is_empty() {
            return Ok(());
        }
        let route = session.routed()?;
        let (level_kind, level_name) = match route.api.def.api_throttling_policy.as_deref() {
            Some(name) => (KeyKind::Api, name),
            None => (KeyKind::Resource, route.resource.throttling_policy.as_str()),
        };
        let application = session.caller.as_ref().map(|c| &c.client.app);
        let tiers = Tiers {
            level: policies.advanced(level_name),
            level_kind,
            application: application.and_then(|app| policies.application(&app.tier)),
            subscription: match application {
                Some(_) => session
                    .ctx
                    .subscription_tier
                    .as_deref()
                    .and_then(|tier| policies.subscription(tier)),
                None => policies.unauthenticated(),
            },
        };
        if tiers.count_nothing() {
            return Ok(());
        }
        let now = now_ms();
        let admitted = EVENT.with_borrow_mut(|event| {
            event.clear();
            request_event(event, session, route, &tiers, throttling.trust_forwarded_for);
            throttling.throttler.admit(event, now)
        });
        match admitted {
            Ok(admission) => {
                session.rate_limit = admission.tightest.and_then(|headroom| {
                    Some(RateLimitNote {
                        label: tiers.label(headroom.kind)?.clone(),
                        remaining: headroom.remaining,
                        reset_secs: retry_after_secs(headroom.reset_ms, now),
                    })
                });
                Ok(())
            }
            Err(refusal) => Err(refused(&refusal, &tiers, now)),
        }
    }
}

thread_local! {
    /// The keys of the request this I/O thread is throttling: the buffer outlives the request,
    /// so building keys allocates nothing (the counter adds them up; it keeps no event).
    static EVENT: RefCell<RequestEvent> = RefCell::new(RequestEvent::new());
}

/// Writes the request's throttle keys with their quotas (WSO2's formats,
/// `portico_throttle::key`) into `event`.
fn request_event(
    event: &mut RequestEvent,
    session: &Session<'_>,
    route: RouteMatch<'_, '_>,
    tiers: &Tiers<'_>,
    trust_xff: bool,
) {
    let api = (route.api.versioned_basepath(), route.api.def.version.as_str());
    if let Some(level) = tiers.level {
        if tiers.level_kind == KeyKind::Api {
            event.api(api.0, api.1, level.quota);
        } else {
            let resource = route.resource;
            event.resource(api, &resource.template, &resource.verb, level.quota);
        }
    }
    match &session.caller {
        Some(caller) => {
            let app = &caller.client.app;
            if let Some(tier) = tiers.application {
                let user = caller.claims.subject.as_deref().unwrap_or(&app.owner);
                event.application(&app.id, user, tier.quota, tier.burst);
            }
            if let Some(tier) = tiers.subscription {
                event.subscription(&app.id, api, tier.quota, tier.burst);
            }
        }
        None => {
            if let (Some(tier), Some(ip)) = (tiers.subscription, client_ip(session, trust_xff)) {
                event.unauthenticated(ip, api, tier.quota);
            }
        }
    }
}

/// The client an unauthenticated request is keyed by: the first `X-Forwarded-For` hop when
/// trusted and readable, else the connection's peer.
fn client_ip(session: &Session<'_>, trust_xff: bool) -> Option<IpAddr> {
    let forwarded = trust_xff
        .then(|| session.head.headers.get("x-forwarded-for"))
        .flatten()
        .and_then(first_forwarded_address);
    forwarded.or(session.ctx.client_ip)
}

/// WSO2's answer to a throttled request, with `Retry-After` and the rate-limit fields.
fn refused(refusal: &Refusal, tiers: &Tiers<'_>, now: u64) -> GatewayError {
    let retry_after = retry_after_secs(refusal.until_ms, now);
    let note = tiers.label(refusal.kind).map(|label| RateLimitNote {
        label: label.clone(),
        remaining: 0,
        reset_secs: retry_after,
    });
    GatewayError::throttled(
        refusal.kind.error_code(),
        UNIX_EPOCH + Duration::from_millis(refusal.until_ms),
        refusal_headers(note.as_ref(), retry_after),
    )
}
