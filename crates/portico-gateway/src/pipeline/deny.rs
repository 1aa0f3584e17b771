//! The first step of phase 4, `throttle`: the snapshot's deny policies (WSO2's blocking
//! conditions) against the request's API, application (owner, name), user and client address
//! (after trusted proxies). A match is 403 with WSO2's 900805.
//!
//! Deny policies are a security control, applied whether or not throttling is enabled
//! (`[apim.throttling] enable`), as WSO2 applies blocking conditions independently of the
//! throttling tiers. With no deny policy the check is one branch; it never allocates.
//!
//! Reads the route, the caller and the context's client IP.

use portico_throttle::DenyRequest;

use super::Session;
use crate::Gateway;
use crate::error::GatewayError;

impl Gateway {
    pub(super) fn deny(&self, session: &Session<'_>) -> Result<(), GatewayError> {
        let deny = &session.snapshot.deny;
        if deny.is_empty() {
            return Ok(());
        }
        let route = session.routed()?;
        let caller = session.caller.as_ref();
        let request = DenyRequest {
            api: Some(route.api.deny_condition_value()),
            application: caller.map(|c| (c.client.app.owner.as_str(), c.client.app.name.as_str())),
            user: caller.and_then(|c| c.claims.subject.as_deref()),
            client_ip: session.ctx.client_ip,
        };
        match deny.check(&request) {
            Some(kind) => {
                tracing::debug!(condition = kind.as_str(), "request refused by a deny policy");
                Err(GatewayError::denied())
            }
            None => Ok(()),
        }
    }
}
