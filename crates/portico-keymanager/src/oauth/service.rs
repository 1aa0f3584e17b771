//! The [`TokenService`] value: what every OAuth2 operation works with (store, validator, secret
//! hasher, authenticator, settings, client cache), and its start-up from the store's revocation
//! state. The operations themselves are `impl` blocks in the sibling modules.

use std::sync::Arc;

use portico_store::{Store, StoreError};
use serde_json::Value;

use super::cache::ClientCache;
use crate::authenticator::Authenticator;
use crate::secrets::SecretHasher;
use crate::validator::TokenValidator;

/// Token lifetimes and the issuer name.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `https://<hostname>:<management port>/oauth2/token`, as WSO2.
    pub issuer: String,
    pub access_token_seconds: i64,
    pub refresh_token_seconds: i64,
}

/// The Key Manager's OAuth2 side.
pub struct TokenService {
    pub(super) store: Store,
    pub(super) validator: Arc<TokenValidator>,
    pub(super) hasher: SecretHasher,
    pub(super) authenticator: Arc<Authenticator>,
    pub(super) settings: TokenSettings,
    pub(super) clients: ClientCache,
}

impl TokenService {
    /// Loads the revocation state and the cluster's signing keys from the store. Call [`TokenService::spawn_follower`] next.
    pub async fn start(
        store: Store,
        validator: Arc<TokenValidator>,
        hasher: SecretHasher,
        authenticator: Arc<Authenticator>,
        settings: TokenSettings,
    ) -> Result<(Arc<TokenService>, i64), StoreError> {
        // Read the feed position first: anything revoked after it is replayed (idempotently).
        let position = store.latest_seq().await?;
        validator.revocations.revoke(&store.revoked_access_tokens().await?);
        for cutoff in store.token_cutoffs().await? {
            validator.revocations.cut_off(&cutoff);
        }
        let service = Arc::new(TokenService {
            store,
            validator,
            hasher,
            authenticator,
            settings,
            clients: ClientCache::new(),
        });
        service.reload_signing_keys().await?;
        Ok((service, position))
    }

    pub fn validator(&self) -> &Arc<TokenValidator> {
        &self.validator
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    pub fn jwks(&self) -> Value {
        self.validator.signer.jwks()
    }
}
