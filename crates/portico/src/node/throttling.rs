//! Step 5: throttling (`[apim.throttling]`), before the gateway that enforces it. The cluster
//! secret that authenticates the Traffic Manager protocol, derived from the shared primary key;
//! this node's Traffic Manager on `[transport.traffic_manager] port`; the counter admitted
//! requests go to (a publisher to the url groups, or to every Traffic Manager this node knows
//! of, or Redis); and the throttler the gateway asks, with the configured failure mode.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use portico_config::{Config, ThrottleCounter};
use portico_gateway::GatewayThrottling;
use portico_keystore::KeyMaterial;
use portico_throttle::{
    ClusterSecret, Counter, DecisionTable, GroupKind, Publisher, PublisherConfig, RedisConfig, RedisCounter, Throttler,
    TrafficManagerConfig, TrafficManagerHandle, UrlGroup, traffic_manager,
};

/// Throttling as this node runs it; kept until the node stops.
pub struct NodeThrottling {
    /// What the gateway enforces with; `None` when throttling is off.
    pub gateway: Option<GatewayThrottling>,
    /// This node's Traffic Manager (counter = "traffic_manager").
    pub traffic_manager: Option<TrafficManagerHandle>,
    /// Forgets the gateway's local counts of ended windows.
    pub sweeper: Option<tokio::task::JoinHandle<()>>,
    /// One line for the banner.
    pub summary: String,
}

/// Starts this node's Traffic Manager and counter and builds the gateway's throttler.
pub async fn start(config: &Config, primary: &KeyMaterial) -> anyhow::Result<NodeThrottling> {
    let settings = &config.apim.throttling;
    if !settings.enable {
        return Ok(NodeThrottling {
            gateway: None,
            traffic_manager: None,
            sweeper: None,
            summary: "off ([apim.throttling] enable = false)".to_owned(),
        });
    }
    let node_id = super::store::node_id(config);
    let decisions = Arc::new(DecisionTable::new());
    let (counter, traffic_manager, live_nodes, where_counted): (Arc<dyn Counter>, _, usize, String) =
        match settings.counter {
            ThrottleCounter::Redis => {
                let redis = RedisConfig {
                    batch_interval: Duration::from_millis(settings.redis.batch_window_ms),
                    ..RedisConfig::new(settings.redis.url.clone())
                };
                let counter = RedisCounter::start(redis, decisions.clone())
                    .with_context(|| format!("[apim.throttling.redis] url in {}", config.path.display()))?;
                (Arc::new(counter), None, 1, "counted in Redis".to_owned())
            }
            ThrottleCounter::TrafficManager => {
                let secret = cluster_secret(primary)?;
                let groups = receiver_groups(config);
                let tm = start_traffic_manager(config, &node_id, secret.clone(), &groups).await?;
                let publisher = PublisherConfig {
                    batch_interval: Duration::from_millis(settings.event_batch_window_ms),
                    ..PublisherConfig::new(node_id, secret, groups.clone())
                };
                let receivers = groups.iter().map(|g| g.receivers.join("|")).collect::<Vec<_>>();
                let summary = format!(
                    "traffic manager tcp://{}:{}, events to {}",
                    config.server.hostname,
                    config.ports().traffic_manager,
                    receivers.join(" + ")
                );
                let counter = Publisher::start(publisher, decisions.clone());
                (Arc::new(counter), Some(tm), groups.len(), summary)
            }
        };
    let throttler = Arc::new(Throttler::new(decisions, counter, settings.failure_mode));
    // Until the node registry says how many nodes are live, each url group stands for one.
    throttler.set_live_nodes(u32::try_from(live_nodes).unwrap_or(u32::MAX));
    let sweeper = throttler.spawn_sweeper();
    Ok(NodeThrottling {
        gateway: Some(GatewayThrottling {
            throttler,
            trust_forwarded_for: settings.trust_forwarded_for,
        }),
        traffic_manager,
        sweeper: Some(sweeper),
        summary: format!("{where_counted}; failure mode {}", settings.failure_mode.as_str()),
    })
}

/// The secret of the Traffic Manager protocol: every node holding the cluster's primary key
/// derives the same one (an HMAC of the private key's DER under the protocol's fixed label,
/// `ClusterSecret::new`), and nothing else has to be shared or configured.
fn cluster_secret(primary: &KeyMaterial) -> anyhow::Result<ClusterSecret> {
    ClusterSecret::new(primary.private_key.secret_der()).context("derive the cluster secret from [keystore.primary]")
}

/// Where request events go: the configured `[[apim.throttling.url_group]]`s, else one group
/// per Traffic Manager of [`traffic_managers`] (every event to every one, the seed's layout).
fn receiver_groups(config: &Config) -> Vec<UrlGroup> {
    let configured = &config.apim.throttling.url_groups;
    if !configured.is_empty() {
        return configured.clone();
    }
    traffic_managers(config)
        .into_iter()
        .map(|address| UrlGroup {
            kind: GroupKind::LoadBalance,
            receivers: vec![address],
        })
        .collect()
}

/// The Traffic Managers (`host:port`) of the cluster's live nodes, this one's included, when no
/// url group is configured.
///
/// SEAM for the node registry: today this is this node's own Traffic Manager only. Once the
/// registry lists the live nodes with their Traffic Manager ports, return one address per
/// live node here (and feed `Throttler::set_live_nodes` from the same list); the publisher and
/// the Traffic Manager's start-up sync take whatever this returns.
pub fn traffic_managers(config: &Config) -> Vec<String> {
    vec![own_traffic_manager(config).to_string()]
}

/// This node's Traffic Manager as a local client reaches it.
fn own_traffic_manager(config: &Config) -> SocketAddr {
    let bind = config.server.bind_address;
    let host = if bind.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bind
    };
    SocketAddr::new(host, config.ports().traffic_manager)
}

/// Binds and starts this node's Traffic Manager; its peers (for the counts of the current
/// windows after a restart) are the receivers of `groups` that are not this node.
async fn start_traffic_manager(
    config: &Config,
    node_id: &str,
    secret: ClusterSecret,
    groups: &[UrlGroup],
) -> anyhow::Result<TrafficManagerHandle> {
    let port = config.ports().traffic_manager;
    let listener = portico_net::bind((config.server.bind_address, port).into())
        .await
        .with_context(|| format!("[transport.traffic_manager] port in {}", config.path.display()))?;
    let own_names = [
        own_traffic_manager(config).to_string(),
        format!("localhost:{port}"),
        format!("{}:{port}", config.server.hostname),
        SocketAddr::new(config.server.bind_address, port).to_string(),
    ];
    let peers = groups
        .iter()
        .flat_map(|g| &g.receivers)
        .filter(|address| !own_names.contains(address))
        .cloned()
        .collect();
    let tm = TrafficManagerConfig {
        peers,
        ..TrafficManagerConfig::new(node_id, secret)
    };
    Ok(traffic_manager::start(listener, tm)?)
}
