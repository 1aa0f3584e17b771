//! Step 2: the store (`[database.apim_db]`), or the last-known-good snapshot when it cannot be
//! reached; and the configured super admin in it when it has none.

use std::time::Duration;

use portico_cluster::{GatewaySnapshot, SNAPSHOT_PATH};
use portico_config::{Config, DatabaseKind, SuperAdmin};
use portico_store::{Backend, NewUser, Role, Store, StoreError, StoreOptions};

/// This node's name in the cluster (`[cluster] node_id`): the origin the store records on the
/// events it appends, and its entry in the node registry.
pub fn node_id(config: &Config) -> String {
    config.node_id()
}

/// Connects (and migrates) the configured database. When it cannot be reached and the node has
/// a last-known-good snapshot, the node starts from the snapshot instead: the store returned
/// connects on first use (and is migrated by [`super::resume`] once the database answers).
pub async fn open(config: &Config) -> anyhow::Result<(Store, Option<GatewaySnapshot>)> {
    let options = options(config);
    let unreachable = match Store::connect(&options).await {
        Ok(store) => return Ok((store, None)),
        Err(e) if e.is_unavailable() => e,
        Err(e) => return Err(e.into()),
    };
    let snapshot = GatewaySnapshot::load(&config.home)
        .map_err(|e| anyhow::anyhow!("{unreachable}; and the node cannot start without it: {e}"))?;
    println!("  warning: {unreachable}");
    println!(
        "  starting from the last-known-good snapshot ({}, change-feed position {}): the gateway serves from it, /health/ready and management calls answer 503 until the database is back",
        config.home.join(SNAPSHOT_PATH).display(),
        snapshot.feed_position
    );
    Ok((Store::connect_lazy(&options)?, Some(snapshot)))
}

/// How to reach the configured database (`[database.apim_db]`).
pub fn options(config: &Config) -> StoreOptions {
    let db = &config.database.apim_db;
    StoreOptions {
        backend: match db.kind {
            DatabaseKind::Sqlite => Backend::Sqlite,
            DatabaseKind::Postgres => Backend::Postgres,
        },
        url: config.database_url(),
        pool_size: db.pool_size,
        acquire_timeout: Duration::from_secs(db.connection_timeout_seconds),
        node_id: node_id(config),
    }
}

/// Creates the configured super admin (with every role) when the database has no user of that
/// name. An existing user is never changed: on a cluster, a node's own `[super_admin]` must not
/// replace the admin every node shares (passwords change through SCIM). A configured password
/// that is not the stored one is pointed out, since it has no effect.
pub async fn bootstrap_super_admin(config: &Config, store: &Store) -> anyhow::Result<()> {
    let admin = &config.super_admin;
    if !admin.create_admin_account {
        return Ok(());
    }
    if let Some(existing) = store.find_user(&admin.username).await? {
        if !configured_password_is(admin, &existing.password_hash).await? {
            println!(
                "  note: [super_admin] in {} does not match the stored password of `{}`; the stored one stays (change it through SCIM: PATCH /scim2/Users/{})",
                config.path.display(),
                admin.username,
                existing.id
            );
        }
        return Ok(());
    }
    let hash = match (&admin.password_hash, &admin.password) {
        (Some(hash), _) => hash.clone(),
        (None, Some(plain)) => {
            let plain = plain.clone();
            tokio::task::spawn_blocking(move || portico_keymanager::hash_password(&plain)).await??
        }
        (None, None) => anyhow::bail!("[super_admin] needs password or password_hash"),
    };
    let created = store
        .create_user(&NewUser {
            username: admin.username.clone(),
            password_hash: hash,
            roles: Role::ALL.to_vec(),
        })
        .await;
    match created {
        // Another node created it at the same moment: theirs stays.
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether `[super_admin]` names the password `stored` hashes (a configured hash must be the
/// same string: hashes of one password differ by their salt).
async fn configured_password_is(admin: &SuperAdmin, stored: &str) -> anyhow::Result<bool> {
    match (&admin.password_hash, &admin.password) {
        (Some(hash), _) => Ok(hash == stored),
        (None, Some(plain)) => {
            let (plain, stored) = (plain.clone(), stored.to_owned());
            Ok(tokio::task::spawn_blocking(move || {
                portico_keymanager::verify_password(&stored, &plain).unwrap_or(false)
            })
            .await?)
        }
        (None, None) => Ok(true),
    }
}
