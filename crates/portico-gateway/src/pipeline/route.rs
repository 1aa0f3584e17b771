//! Phase 1, `route`: runs first, on every request but `/health` and CORS preflights. Refuses a
//! path that cannot be normalised (400), then finds the API, version and resource for the
//! normalised path in the snapshot (900906 when none; 405 when the resource has no such method).
//!
//! Reads the request head and the session's path; sets the session's route and the context's
//! API and resource.

use super::Session;
use crate::Gateway;
use crate::error::GatewayError;
use crate::routing::RouteError;

impl Gateway {
    pub(super) fn route(&self, session: &mut Session<'_>) -> Result<(), GatewayError> {
        let path = session.path.map_err(GatewayError::bad_path)?;
        let route = session
            .snapshot
            .routes
            .route(&session.head.method, path)
            .map_err(|e| match e {
                RouteError::NoApi | RouteError::NoResource => GatewayError::no_matching_resource(),
                RouteError::MethodNotAllowed { allowed } => GatewayError::method_not_allowed(allowed),
            })?;
        session.ctx.api = Some(route.api.def.clone());
        session.ctx.resource_index = Some(route.resource_index);
        session.route = Some(route);
        Ok(())
    }
}
