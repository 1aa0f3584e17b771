//! Step 2b: what every node of the cluster must agree on, settled in the store: the first node
//! that starts records its primary key's id and (on PostgreSQL, the shared backend) its token
//! issuer; the others take the issuer (unless `[oauth] issuer` names one) and are warned when they
//! hold another key. A SQLite node is a cluster of one and keeps issuing as its own address.

use anyhow::Context;
use portico_config::Config;
use portico_keymanager::TokenSigner;
use portico_keystore::KeyMaterial;
use portico_store::{Backend, SETTING_PRIMARY_KEY_ID, SETTING_TOKEN_ISSUER, Store};

/// The id (`kid`) of this node's primary key.
pub fn primary_key_id(config: &Config, primary: &KeyMaterial) -> anyhow::Result<String> {
    Ok(TokenSigner::new(primary, String::new())
        .with_context(|| format!("[keystore.primary] in {}", config.path.display()))?
        .kid()
        .to_owned())
}

/// Records this node's primary key id (`kid`) and issuer when the cluster has none yet; returns
/// the issuer this node's tokens carry.
pub async fn settle(config: &Config, store: &Store, kid: &str) -> anyhow::Result<String> {
    let cluster_kid = store.settle_cluster_setting(SETTING_PRIMARY_KEY_ID, kid).await?;
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
