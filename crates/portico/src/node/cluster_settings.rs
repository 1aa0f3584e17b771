//! Step 2b: what every node of the cluster must agree on, settled in the store: the first node
//! that starts records its primary key's id and (on PostgreSQL, the shared backend) its token
//! issuer; the others take the issuer (unless `[oauth] issuer` names one) and are warned when they
//! hold another key. A SQLite node is a cluster of one and keeps issuing as its own address.

use anyhow::Context;
use portico_config::Config;
use portico_keymanager::PublishedKey;
use portico_keymanager::TokenSigner;
use portico_store::{Backend, NewSigningKey, SETTING_PRIMARY_KEY_ID, SETTING_TOKEN_ISSUER, Store};

use super::keys::NodeKeys;

/// Records this node's primary key id and issuer when the cluster has none yet, and the signing
/// keys this node holds; returns the issuer this node's tokens carry.
pub async fn settle(config: &Config, store: &Store, keys: &NodeKeys) -> anyhow::Result<String> {
    record_signing_keys(store, keys).await?;
    let primary = &keys.primary;
    let kid = TokenSigner::new(primary, String::new())
        .with_context(|| format!("[keystore.primary] in {}", config.path.display()))?
        .kid();
    let cluster_kid = store.settle_cluster_setting(SETTING_PRIMARY_KEY_ID, &kid).await?;
    if cluster_kid != kid {
        println!(
            "  warning: [keystore.primary] holds key id {kid}, but the cluster's tokens are signed with key id {cluster_kid}: other nodes refuse this node's tokens (make the node with `portico init --join`, or copy the first node's conf/security/)"
        );
    }
    let own = config.oauth.issuer.clone().unwrap_or_else(|| {
        format!(
            "https://{}:{}/oauth2/token",
            config.server.hostname,
            config.ports().management_https
        )
    });
    if store.backend() == Backend::Sqlite {
        // One node: its own issuer, following its address as before clusters existed.
        return Ok(own);
    }
    let cluster = store.settle_cluster_setting(SETTING_TOKEN_ISSUER, &own).await?;
    Ok(match &config.oauth.issuer {
        Some(configured) => {
            if cluster != *configured {
                println!(
                    "  warning: [oauth] issuer {configured} is not the cluster's ({cluster}): nodes without it refuse this node's tokens; set the same issuer on every node"
                );
            }
            configured.clone()
        }
        None => cluster,
    })
}

/// Records the public half of every signing key this node holds that the store does not know
/// yet (the first node's primary key; keys copied here before a rotation recorded them), and
/// points out when the cluster has a newer key than the one this node signs with.
async fn record_signing_keys(store: &Store, keys: &NodeKeys) -> anyhow::Result<()> {
    let mut signing_kid = String::new();
    for pair in keys.signing_keys() {
        let key = PublishedKey::of(pair)?;
        store
            .register_signing_key(&NewSigningKey {
                kid: key.kid.clone(),
                algorithm: key.algorithm,
                public_key_pem: key.public_key_pem,
                jwk: key.jwk.to_string(),
            })
            .await?;
        signing_kid = key.kid;
    }
    let stored = store.live_signing_keys(portico_store::now_millis()).await?;
    if let Some(newest) = stored.iter().find(|k| k.retires_at.is_none())
        && newest.kid != signing_kid
    {
        println!(
            "  warning: this node signs with key id {signing_kid}, but the cluster rotated to key id {} (`portico keys rotate` on {}): copy conf/security/signing/ from that node and restart this one",
            newest.kid, newest.origin_node
        );
    }
    Ok(())
}
