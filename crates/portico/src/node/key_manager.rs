//! Step 3: the resident key manager: the token signer and validator (primary key, the cluster's
//! issuer), the authenticator of REST callers, and the OAuth2 token service with its follower of
//! other nodes' revocations.

use std::sync::Arc;

use anyhow::Context;
use portico_cluster::{FollowerProgress, GatewaySnapshot};
use portico_config::Config;
use portico_keymanager::{Authenticator, TokenService, TokenValidator};
use portico_keystore::KeyMaterial;
use portico_store::Store;

pub struct KeyManager {
    pub validator: Arc<TokenValidator>,
    pub authenticator: Arc<Authenticator>,
    pub tokens: Arc<TokenService>,
    /// The change-feed position the token service loaded its state at (from the store, or the
    /// snapshot's): this node's followers start there.
    pub feed_position: i64,
    /// How far the token service's follower has applied the feed.
    pub progress: Arc<FollowerProgress>,
    /// The token service's follower of the change feed (revocations and clients of other nodes).
    pub follower: tokio::task::JoinHandle<()>,
}

/// Starts the key manager issuing tokens as `issuer` (the cluster's, see `cluster_settings`),
/// its revocations loaded from the store, or from `snapshot` when the node starts without its
/// database (the follower reloads them from the store once it answers).
pub async fn start(
    config: &Config,
    store: &Store,
    primary: &KeyMaterial,
    issuer: String,
    snapshot: Option<&GatewaySnapshot>,
) -> anyhow::Result<KeyManager> {
    let signer = portico_keymanager::TokenSigner::new(primary, issuer.clone())
        .with_context(|| format!("[keystore.primary] in {}", config.path.display()))?;
    let validator = Arc::new(TokenValidator::new(signer));
    let authenticator = Authenticator::with_tokens(store.clone(), validator.clone())?;
    let hasher = portico_keymanager::SecretHasher::from_private_key(primary.private_key.secret_der());
    let tokens = TokenService::without_state(
        store.clone(),
        validator.clone(),
        hasher,
        authenticator.clone(),
        portico_keymanager::TokenSettings {
            issuer,
            access_token_seconds: config.oauth.access_token_validity_seconds,
            refresh_token_seconds: config.oauth.refresh_token_validity_seconds,
        },
    );
    let (feed_position, progress) = match snapshot {
        None => {
            let position = tokens.load_revocations().await?;
            (position, FollowerProgress::new(position))
        }
        Some(snapshot) => {
            validator.revocations.revoke(&snapshot.revoked_tokens);
            for cutoff in &snapshot.token_cutoffs {
                validator.revocations.cut_off(cutoff);
            }
            (
                snapshot.feed_position,
                FollowerProgress::from_snapshot(snapshot.feed_position),
            )
        }
    };
    let follower = tokens.spawn_follower(progress.clone());
    Ok(KeyManager {
        validator,
        authenticator,
        tokens,
        feed_position,
        progress,
        follower,
    })
}
