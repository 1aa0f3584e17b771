//! Step 3: the resident key manager: the token signer and validator (the signing keys this node
//! holds and the cluster's published ones, the cluster's issuer), the authenticator of REST callers, and the OAuth2 token service with its follower of
//! other nodes' revocations.

use std::sync::Arc;

use super::keys::NodeKeys;
use anyhow::Context;
use portico_config::Config;
use portico_keymanager::{Authenticator, TokenService, TokenValidator};
use portico_store::Store;

pub struct KeyManager {
    pub validator: Arc<TokenValidator>,
    pub authenticator: Arc<Authenticator>,
    pub tokens: Arc<TokenService>,
    /// The change-feed position the token service loaded its state at: this node's followers
    /// start there.
    pub feed_position: i64,
    /// The token service's follower of the change feed (revocations and clients of other nodes).
    pub follower: tokio::task::JoinHandle<()>,
}

/// Starts the key manager issuing tokens as `issuer` (the cluster's, see `cluster_settings`).
pub async fn start(config: &Config, store: &Store, keys: &NodeKeys, issuer: String) -> anyhow::Result<KeyManager> {
    let signer = portico_keymanager::TokenSigner::with_keys(&keys.signing_keys(), issuer.clone())
        .with_context(|| format!("[keystore.primary] or its signing/ keys in {}", config.path.display()))?;
    let primary = &keys.primary;
    let validator = Arc::new(TokenValidator::new(signer));
    let authenticator = Authenticator::with_tokens(store.clone(), validator.clone())?;
    let hasher = portico_keymanager::SecretHasher::from_private_key(primary.private_key.secret_der());
    let (tokens, feed_position) = TokenService::start(
        store.clone(),
        validator.clone(),
        hasher,
        authenticator.clone(),
        portico_keymanager::TokenSettings {
            issuer,
            access_token_seconds: config.oauth.access_token_validity_seconds,
            refresh_token_seconds: config.oauth.refresh_token_validity_seconds,
        },
    )
    .await?;
    let follower = tokens.spawn_follower(feed_position);
    Ok(KeyManager {
        validator,
        authenticator,
        tokens,
        feed_position,
        follower,
    })
}
