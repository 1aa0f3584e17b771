//! Step 2: the store (`[database.apim_db]`), and the configured super admin in it.

use std::time::Duration;

use portico_config::{Config, DatabaseKind};
use portico_store::{Backend, NewUser, Role, Store, StoreOptions};

/// This node's name in the cluster: the origin the store records on the events it appends.
pub fn node_id(config: &Config) -> String {
    format!("{}:{}", config.server.hostname, config.ports().management_https)
}

/// Connects (and migrates) the configured database.
pub async fn open(config: &Config) -> anyhow::Result<Store> {
    let db = &config.database.apim_db;
    Ok(Store::connect(&StoreOptions {
        backend: match db.kind {
            DatabaseKind::Sqlite => Backend::Sqlite,
            DatabaseKind::Postgres => Backend::Postgres,
        },
        url: config.database_url(),
        pool_size: db.pool_size,
        acquire_timeout: Duration::from_secs(db.connection_timeout_seconds),
        node_id: node_id(config),
    })
    .await?)
}

/// Makes the configured super admin exist with the configured password and every role.
pub async fn bootstrap_super_admin(config: &Config, store: &Store) -> anyhow::Result<()> {
    let admin = &config.super_admin;
    if !admin.create_admin_account {
        return Ok(());
    }
    let hash = match (&admin.password_hash, &admin.password) {
        (Some(hash), _) => hash.clone(),
        (None, Some(plain)) => {
            // Keep the stored hash when it already matches, so restarts do not rehash.
            let existing = store.find_user(&admin.username).await?;
            let plain = plain.clone();
            let current = existing.map(|u| u.password_hash);
            tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
                if let Some(current) = current
                    && portico_keymanager::verify_password(&current, &plain).unwrap_or(false)
                {
                    return Ok(current);
                }
                Ok(portico_keymanager::hash_password(&plain)?)
            })
            .await??
        }
        (None, None) => anyhow::bail!("[super_admin] needs password or password_hash"),
    };
    store
        .upsert_user(&NewUser {
            username: admin.username.clone(),
            password_hash: hash,
            roles: Role::ALL.to_vec(),
        })
        .await?;
    Ok(())
}
