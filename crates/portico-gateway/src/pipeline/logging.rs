//! Phase 8, `logging`: runs for every request, after its response is made (before its body has
//! been sent). Hands one analytics record to the analytics channel without waiting: dropped (and
//! counted) when the channel is full, so a slow consumer of records never slows requests down.
//! Nothing is done (not even reading the clock) when the gateway keeps no records.
//!
//! The record is built from what the session already holds: the context moves into it (the API
//! and application by `Arc`, the correlation id inline), the answer's status and length, the
//! timing; the one copy is the `User-Agent` text. What can be worked out later (which policy
//! throttled a request, WSO2's error type) is, by the record's reader, off the request path.
//!
//! Takes the session's context (the record owns it) and timing; changes nothing else.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Session;
use super::session::RequestContext;
use crate::Gateway;
use crate::response::GatewayResponse;

/// One request's analytics record, handed off without waiting.
#[derive(Debug, Clone)]
pub struct AnalyticsRecord {
    /// What the phases found out: API, resource, application, credential, subscription tier,
    /// client address, correlation id, backend, WSO2 error code.
    pub context: RequestContext,
    /// When the request arrived, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// What the consumer was answered.
    pub status: u16,
    /// What the backend answered (`None` when no backend answered).
    pub backend_status: Option<u16>,
    /// Whole request, as seen by the gateway.
    pub total_micros: u64,
    /// Time to the backend's response headers (None when no backend was called).
    pub backend_micros: Option<u64>,
    /// The request body's declared length (0 without one).
    pub request_bytes: u64,
    pub response_bytes: Option<u64>,
    pub user_agent: Option<Box<str>>,
}

impl AnalyticsRecord {
    /// Whether a throttling policy refused the request (900800–900809, but not 900805, a deny
    /// policy).
    pub fn throttled(&self) -> bool {
        self.context
            .error_code
            .is_some_and(|code| code.starts_with("9008") && code != "900805")
    }

    /// The throttling policy that refused the request, by the level its code names: the API's
    /// or resource's advanced policy, the application's tier, or the subscription's (for a
    /// request without a caller, `Unauthenticated`).
    pub fn throttle_policy(&self) -> Option<String> {
        let ctx = &self.context;
        let api = ctx.api.as_deref();
        match ctx.error_code? {
            "900800" => api?.api_throttling_policy.clone(),
            "900802" => {
                let resource = api?.resources.get(ctx.resource_index?)?;
                Some(resource.throttling_policy.clone())
            }
            "900803" | "900809" => ctx.application.as_deref().map(|app| app.tier.clone()),
            "900804" | "900807" => match &ctx.subscription_tier {
                Some(tier) => Some(tier.to_string()),
                None => Some("Unauthenticated".to_owned()),
            },
            _ => None,
        }
    }
}

impl Gateway {
    pub(super) fn logging(&self, session: &mut Session<'_>, response: &GatewayResponse) {
        let (Some(sender), Some(started)) = (&self.analytics, session.started) else {
            return;
        };
        let total = started.elapsed();
        let arrived = SystemTime::now()
            .checked_sub(total)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let headers = &session.head.headers;
        let status = response.status().as_u16();
        let record = AnalyticsRecord {
            timestamp_ms: arrived,
            status,
            backend_status: matches!(response, GatewayResponse::Backend(_)).then_some(status),
            total_micros: u64::try_from(total.as_micros()).unwrap_or(u64::MAX),
            backend_micros: session.backend_micros,
            request_bytes: headers
                .get("content-length")
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            response_bytes: response.content_length(),
            user_agent: headers
                .get("user-agent")
                .map(|v| String::from_utf8_lossy(v).into_owned().into_boxed_str()),
            context: std::mem::take(&mut session.ctx),
        };
        if sender.try_send(record).is_err() {
            self.analytics_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
