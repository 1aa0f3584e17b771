//! `portico serve`: one node, started step by step. Each step is a module; [`serve`] calls them
//! in this order:
//!
//! 1. `keys`: the TLS key pair, the primary key pair and the rotated signing keys;
//! 2. `store`: the database, and the configured super admin in it; `cluster_settings`: the
//!    cluster's token issuer and primary key id, and this node's signing keys recorded;
//! 3. `key_manager`: token signing and validation, REST callers' authentication, the OAuth2
//!    token service;
//! 4. `rest`: the management REST APIs' state, and `deployment/server/` rebuilt from the store;
//! 5. `throttling`: the Traffic Manager, the cluster counter and the gateway's throttler;
//!    `traffic_managers`: the live Traffic Managers of the node registry, followed;
//! 6. `gateway`: the data plane;
//! 7. `artifacts`: the runtime artifacts it serves, loaded and followed;
//! 8. `cluster`: the gateway's identity and throttling policies loaded, and the change feed
//!    followed; `registry`: this node's heartbeat into the node registry;
//! 9. `banner`: what is where;
//! 10. `listeners`: gateway and management listeners until a signal, then the drain.

mod artifacts;
mod banner;
mod cluster;
mod cluster_settings;
mod gateway;
mod key_manager;
pub mod keys;
mod listeners;
mod registry;
mod rest;
mod started;
pub mod store;
mod throttling;
mod traffic_managers;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use portico_config::{Config, DEPLOYMENT_TOML, InitOptions};
use portico_keystore::KeyType;

use started::Node;

/// Runs the node of `home` until it is stopped, creating the home first (with `portico init`'s
/// defaults) when there is none.
pub fn run(home: &Path, started: Instant) -> anyhow::Result<()> {
    if !home.join(DEPLOYMENT_TOML).exists() {
        println!("No node home at {}: initialising one first.", home.display());
        let admin_password = std::env::var(crate::init::ADMIN_PASSWORD_VAR)
            .ok()
            .filter(|p| !p.is_empty());
        crate::init::run(home, &InitOptions::default(), KeyType::default(), admin_password)?;
    }
    let config = Config::load(home)?;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(serve(config, started))
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PORTICO_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

async fn serve(config: Config, started: Instant) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let keys = keys::load(&config)?;
    let store = store::open(&config).await?;
    store::bootstrap_super_admin(&config, &store).await?;
    let issuer = cluster_settings::settle(&config, &store, &keys).await?;
    let key_manager = key_manager::start(&config, &store, &keys, issuer).await?;
    let rest = rest::state(&config, &store, &keys, &key_manager);
    let deployed = rest::rebuild_artifacts(&rest).await?;
    let management = listeners::bind_management(&config).await?;
    let throttling = throttling::start(&config, &keys.primary, &store).await?;
    let gateway = gateway::start(&config, &keys, &key_manager.validator, throttling.gateway.clone())?;
    let node = Node {
        config,
        keys,
        store,
        key_manager,
        rest,
        gateway,
        throttling,
    };
    let (routable, artifact_loader) = artifacts::serve(&node);
    let (identity, policies, feed_follower) = cluster::follow(&node).await?;
    let heartbeat = registry::start(&node).await;
    let loaded = banner::Loaded {
        deployed,
        routable,
        identity,
        policies,
    };
    banner::print(&node, started, &loaded).await?;
    listeners::serve_until_stopped(&node, management).await?;

    heartbeat.stop().await;
    stop(node, [artifact_loader, feed_follower]).await;
    Ok(())
}

/// After the drain: the background tasks, then the store.
async fn stop(node: Node, tasks: [tokio::task::JoinHandle<()>; 2]) {
    for task in tasks
        .iter()
        .chain([&node.gateway.jwks_refresh, &node.key_manager.follower])
        .chain(&node.throttling.tasks)
    {
        task.abort();
    }
    if let Some(traffic_manager) = node.throttling.traffic_manager {
        traffic_manager.shutdown().await;
    }
    println!("Draining finished; closing the store.");
    node.store.close().await;
    println!("Stopped.");
}
