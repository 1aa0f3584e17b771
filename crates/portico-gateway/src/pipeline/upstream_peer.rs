//! Phase 5, `upstream_peer`: runs once the request may pass. Picks the endpoints to try, in
//! order, from the pool serving the route's resource for the caller's key type (production, or
//! sandbox for sandbox keys): load balancing, failover and suspension are the pool's
//! ([`crate::upstream::endpoint`]). 101503 when the API has no endpoint of that kind.
//!
//! Reads the route and the context's key type; changes nothing.

use super::Session;
use crate::Gateway;
use crate::auth::identity::KeyType;
use crate::error::GatewayError;
use crate::upstream::endpoint::Plan;

impl Gateway {
    pub(super) fn upstream_peer<'a>(&self, session: &Session<'a>) -> Result<Plan<'a>, GatewayError> {
        let route = session.routed()?;
        let (production, sandbox) = route.api.pools_for(route.resource);
        let (pool, kind) = match session.ctx.key_type {
            Some(KeyType::Sandbox) => (sandbox, "sandbox"),
            _ => (production, "production"),
        };
        let pool = pool.ok_or_else(|| GatewayError::no_endpoint(kind))?;
        Ok(pool.plan())
    }
}
