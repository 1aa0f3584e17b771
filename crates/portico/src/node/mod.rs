//! `portico serve`: one node, started step by step. Each step is a module; [`serve`] calls them
//! in this order:
//!
//! 1. `keys`: the TLS and primary key pairs;
//! 2. `store`: the database, and the configured super admin in it; `hardening`: what production
//!    mode refuses; `cluster_settings`: the cluster's token issuer and primary key id. When the
//!    database cannot be reached, the last-known-good snapshot instead, and `resume` runs these
//!    once it answers;
//! 3. `key_manager`: token signing and validation, REST callers' authentication, the OAuth2
//!    token service;
//! 4. `rest`: the management REST APIs' state, and `deployment/server/` rebuilt from the store;
//! 5. `throttling`: the Traffic Manager, the cluster counter and the gateway's throttler;
//!    `traffic_managers`: the live Traffic Managers of the node registry, followed;
//!    `analytics`: the channel the gateway hands its records to, their writer, folding and
//!    retention, and the gauges `/metrics` reads;
//! 6. `gateway`: the data plane;
//! 7. `artifacts`: the runtime artifacts it serves, loaded and followed;
//! 8. `cluster`: the gateway's identity and throttling policies loaded, the change feed
//!    followed, the last-known-good snapshot written, the feed pruned, readiness watched;
//!    `registry`: this node's heartbeat into the node registry;
//! 9. `banner`: what is where;
//! 10. `listeners`: gateway and management listeners until a signal, then the drain.

mod analytics;
mod artifacts;
mod banner;
mod cluster;
mod cluster_settings;
mod gateway;
pub mod hardening;
mod key_manager;
pub mod keys;
mod listeners;
mod registry;
mod rest;
mod resume;
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
    let (store, snapshot) = store::open(&config).await?;
    let kid = cluster_settings::primary_key_id(&config, &keys.primary)?;
    let issuer = match &snapshot {
        None => {
            store::bootstrap_super_admin(&config, &store).await?;
            hardening::refuse_unless_hardened(&config, &store).await?;
            cluster_settings::settle(&config, &store, &kid).await?
        }
        Some(snapshot) => {
            // Without the database the stored admin password cannot be checked; the rest is.
            hardening::report(&config, &hardening::config_refusals(&config))?;
            snapshot.issuer.clone()
        }
    };
    let key_manager = key_manager::start(&config, &store, &keys.primary, issuer, snapshot.as_ref()).await?;
    let live_metrics = Arc::new(portico_analytics::prometheus::LiveMetrics::new());
    let rest = rest::state(
        &config,
        &store,
        &keys,
        &key_manager,
        snapshot.as_ref(),
        live_metrics.clone(),
    );
    // Without the database, deployment/server/ stays as it was: part of the last-known-good state.
    let deployed = match &snapshot {
        None => Some(rest::rebuild_artifacts(&rest).await?),
        Some(_) => None,
    };
    let management = listeners::bind_management(&config).await?;
    let throttling = throttling::start(&config, &keys.primary, &store).await?;
    let analytics = analytics::start(&config, &store, live_metrics)?;
    let gateway = gateway::start(
        &config,
        &keys,
        &key_manager.validator,
        throttling.gateway.clone(),
        analytics.sender.clone(),
    )?;
    rest::read_gauges(&rest, &gateway.gateway, &throttling);
    let node = Node {
        config,
        keys,
        store,
        key_manager,
        rest,
        gateway,
        throttling,
        analytics,
    };
    let (routable, artifact_loader) = artifacts::serve(&node);
    let following = cluster::follow(&node, snapshot.as_ref()).await?;
    let heartbeat = registry::start(&node).await;
    let mut tasks = following.tasks;
    // The loader's file-system watch (a field of `artifact_loader`) lives until the node stops.
    tasks.push(artifact_loader.task);
    match &snapshot {
        None => node.rest.readiness.started(),
        Some(_) => tasks.push(resume::spawn(
            node.config.clone(),
            node.store.clone(),
            kid,
            node.rest.readiness.clone(),
        )),
    }
    let loaded = banner::Loaded {
        deployed,
        routable,
        identity: following.identity,
        policies: following.policies,
        snapshot_written_at: snapshot.as_ref().map(|s| s.written_at),
    };
    banner::print(&node, started, &loaded).await?;
    listeners::serve_until_stopped(&node, management).await?;

    heartbeat.stop().await;
    stop(node, tasks).await;
    Ok(())
}

/// After the drain: the background tasks, then the store.
async fn stop(node: Node, tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks
        .iter()
        .chain([&node.gateway.jwks_refresh, &node.key_manager.follower])
        .chain(&node.throttling.tasks)
        .chain(&node.analytics.tasks)
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
