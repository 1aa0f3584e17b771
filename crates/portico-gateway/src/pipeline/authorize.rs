//! Phase 3, `authorize`: runs after `authenticate`. Refuses blocked APIs (700700) and, for a
//! caller, a missing subscription or one blocked for its key type (900908) and a token holding
//! none of the resource's scopes (900910; API keys carry no scopes and are not scope-checked, as
//! in WSO2).
//!
//! Reads the route, the caller and the snapshot's subscriptions; sets the context's
//! subscription tier.

use super::Session;
use crate::Gateway;
use crate::auth::credentials::CredentialKind;
use crate::error::GatewayError;
use crate::model::ApiStatus;

impl Gateway {
    pub(super) fn authorize(&self, session: &mut Session<'_>) -> Result<(), GatewayError> {
        let route = session.routed()?;
        if route.api.def.status == ApiStatus::Blocked {
            return Err(GatewayError::blocked());
        }
        let Some(caller) = &session.caller else {
            return Ok(());
        };
        // The live subscription decides, not the list inside an API key: a subscription blocked
        // or deleted after the key was issued stops the key at once.
        let subscription = session
            .snapshot
            .identity
            .subscription(&caller.client.app.id, &route.api.def.id)
            .filter(|s| s.status.allows(caller.client.key_type))
            .ok_or_else(GatewayError::not_subscribed)?;
        let scopes = &route.resource.scopes;
        if caller.claims.kind == CredentialKind::AccessToken
            && !scopes.is_empty()
            && !scopes.iter().any(|s| caller.claims.scopes.contains(s))
        {
            return Err(GatewayError::insufficient_scope(scopes));
        }
        session.ctx.subscription_tier = Some(subscription.tier.clone());
        Ok(())
    }
}
