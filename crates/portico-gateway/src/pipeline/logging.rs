//! Phase 8, `logging`: runs for every request, after its response is made (before its body has
//! been sent). Hands one analytics record to the analytics channel without waiting: dropped when
//! the channel is full, so a slow consumer of records never slows requests down. Nothing is
//! done (not even reading the clock) when the gateway keeps no records.
//!
//! Takes the session's context (the record owns it) and timing; changes nothing else.

use super::Session;
use super::session::RequestContext;
use crate::Gateway;
use crate::response::GatewayResponse;

/// One request's analytics record, handed off without waiting.
#[derive(Debug, Clone)]
pub struct AnalyticsRecord {
    pub context: RequestContext,
    pub status: u16,
    /// Whole request, as seen by the gateway.
    pub total_micros: u64,
    /// Time to the backend's response headers (None when no backend was called).
    pub backend_micros: Option<u64>,
    pub response_bytes: Option<u64>,
}

impl Gateway {
    pub(super) fn logging(&self, session: &mut Session<'_>, response: &GatewayResponse) {
        let (Some(sender), Some(started)) = (&self.analytics, session.started) else {
            return;
        };
        let record = AnalyticsRecord {
            context: std::mem::take(&mut session.ctx),
            status: response.status().as_u16(),
            total_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            backend_micros: session.backend_micros,
            response_bytes: response.content_length(),
        };
        let _ = sender.try_send(record);
    }
}
