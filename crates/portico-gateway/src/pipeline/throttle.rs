//! Phase 4, `throttle`: runs after `authorize`, when the context holds everything throttling
//! keys on (API, resource, application, user, subscription tier, key type). This is the slot
//! for deny policies, the current throttle decisions and burst control (WSO2's 900800–900809);
//! until they are built it lets every request through.
//!
//! May read the whole session; refuses a request by returning its error.

use super::Session;
use crate::Gateway;
use crate::error::GatewayError;

impl Gateway {
    pub(super) fn throttle(&self, _session: &mut Session<'_>) -> Result<(), GatewayError> {
        Ok(())
    }
}
