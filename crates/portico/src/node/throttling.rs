//! Step 5: throttling (`[apim.throttling]`), before the gateway that enforces it. The cluster
//! secret that authenticates the Traffic Manager protocol, derived from the shared primary key;
//! this node's Traffic Manager on `[transport.traffic_manager] port`; the counter admitted
//! requests go to (a publisher to the url groups, or to every live Traffic Manager of the node
//! registry, [`super::traffic_managers`], or Redis); and the throttler the gateway asks, with
//! the configured failure mode and the live node count.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use portico_config::{Config, ThrottleCounter};
use portico_gateway::GatewayThrottling;
use portico_keystore::KeyMaterial;
use portico_store::Store;
use portico_throttle::{
    ClusterSecret, Counter, DecisionTable, Publisher, PublisherConfig, RedisConfig, RedisCounter, Throttler,
    TrafficManagerConfig, TrafficManagerHandle, UrlGroup, traffic_manager,
};

use super::traffic_managers::{self, Discovery, LiveTrafficManagers, node_count, own_traffic_manager};

/// Throttling as this node runs it; kept until the node stops.
pub struct NodeThrottling {
    /// What the gateway enforces with; `None` when throttling is off.
    pub gateway: Option<GatewayThrottling>,
    /// This node's Traffic Manager (counter = "traffic_manager").
    pub traffic_manager: Option<TrafficManagerHandle>,
    /// Forgets the gateway's local counts of ended windows; follows the node registry's live
    /// Traffic Managers.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    /// One line for the banner.
    pub summary: String,
}

/// Starts this node's Traffic Manager and counter and builds the gateway's throttler.
pub async fn start(config: &Arc<Config>, primary: &KeyMaterial, store: &Store) -> anyhow::Result<NodeThrottling> {
    let settings = &config.apim.throttling;
    if !settings.enable {
        return Ok(NodeThrottling {
            gateway: None,
            traffic_manager: None,
            tasks: Vec::new(),
            summary: "off ([apim.throttling] enable = false)".to_owned(),
        });
    }
    let decisions = Arc::new(DecisionTable::new());
    let (counter, publishing): (Arc<dyn Counter>, Option<Publishing>) = match settings.counter {
        ThrottleCounter::Redis => {
            let redis = RedisConfig {
                batch_interval: Duration::from_millis(settings.redis.batch_window_ms),
                ..RedisConfig::new(settings.redis.url.clone())
            };
            let counter = RedisCounter::start(redis, decisions.clone())
                .with_context(|| format!("[apim.throttling.redis] url in {}", config.path.display()))?;
            (Arc::new(counter), None)
        }
        ThrottleCounter::TrafficManager => {
            let publishing = start_publishing(config, primary, store, decisions.clone()).await?;
            (publishing.publisher.clone(), Some(publishing))
        }
    };
    let throttler = Arc::new(Throttler::new(decisions, counter, settings.failure_mode));
    let mut tasks = vec![throttler.spawn_sweeper()];
    let mut traffic_manager = None;
    let mut where_counted = "counted in Redis".to_owned();
    if let Some(publishing) = publishing {
        throttler.set_live_nodes(node_count(publishing.live_nodes));
        if let Some((discovery, live)) = publishing.registry {
            let publisher = publishing.follows_registry.then_some(publishing.publisher);
            tasks.push(discovery.spawn_refresh(live, publisher, Arc::downgrade(&throttler)));
        }
        traffic_manager = Some(publishing.traffic_manager);
        where_counted = publishing.summary;
    }
    Ok(NodeThrottling {
        gateway: Some(GatewayThrottling {
            throttler,
            trust_forwarded_for: settings.trust_forwarded_for,
        }),
        traffic_manager,
        tasks,
        summary: format!("{where_counted}; failure mode {}", settings.failure_mode.as_str()),
    })
}

/// Counting by Traffic Managers: this node's own, the publisher sending to the cluster's, and
/// the node registry followed for them.
struct Publishing {
    publisher: Arc<Publisher>,
    traffic_manager: TrafficManagerHandle,
    /// Live nodes at start, for `local_only`.
    live_nodes: usize,
    /// The registry to follow and its live Traffic Managers at start; `None` when it is this
    /// node's alone (SQLite) and url groups are configured, so there is nothing to learn.
    registry: Option<(Discovery, LiveTrafficManagers)>,
    /// No url group is configured: the publisher's groups are the registry's live TMs.
    follows_registry: bool,
    summary: String,
}

/// Where request events go: the configured `[[apim.throttling.url_group]]`s (the seed's
/// explicit layout always wins), else one group per live Traffic Manager of the node registry
/// (every event to every one, the seed's layout). Starts this node's TM, whose peers for the
/// restart sync are the same receivers but its own, and the publisher.
async fn start_publishing(
    config: &Arc<Config>,
    primary: &KeyMaterial,
    store: &Store,
    decisions: Arc<DecisionTable>,
) -> anyhow::Result<Publishing> {
    let settings = &config.apim.throttling;
    let node_id = super::store::node_id(config);
    let secret = cluster_secret(primary)?;
    let discovery = Discovery::new(config.clone(), store.clone());
    let follows_registry = settings.url_groups.is_empty();
    let live = if follows_registry || discovery.is_shared() {
        // A database that is away (the node starts from its snapshot) does not hold the start up.
        let read = tokio::time::timeout(Duration::from_secs(2), discovery.read()).await;
        Some(read.map_err(|_| "no answer within 2 s".to_owned()).and_then(|r| r.map_err(|e| e.to_string())).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the live traffic managers from the node registry; starting with this node's own");
            vec![own_traffic_manager(config).to_string()]
        }))
    } else {
        None
    };
    let groups = match &live {
        Some(live) if follows_registry => traffic_managers::groups(live),
        _ => settings.url_groups.clone(),
    };
    // Where the registry is this node's alone, each configured url group stands for a node.
    let live_nodes = live.as_ref().map_or(groups.len(), Vec::len);
    let tm = start_traffic_manager(config, &node_id, secret.clone(), &groups).await?;
    let publisher = PublisherConfig {
        batch_interval: Duration::from_millis(settings.event_batch_window_ms),
        ..PublisherConfig::new(node_id, secret, groups.clone())
    };
    let receivers = groups.iter().map(|g| g.receivers.join("|")).collect::<Vec<_>>();
    let followed = if follows_registry {
        "every live node's traffic manager, now "
    } else {
        ""
    };
    let summary = format!(
        "traffic manager tcp://{}:{}, events to {followed}{}",
        config.server.hostname,
        config.ports().traffic_manager,
        receivers.join(" + ")
    );
    Ok(Publishing {
        publisher: Arc::new(Publisher::start(publisher, decisions)),
        traffic_manager: tm,
        live_nodes,
        registry: live.map(|live| (discovery, live)),
        follows_registry,
        summary,
    })
}

/// The secret of the Traffic Manager protocol: every node holding the cluster's primary key
/// derives the same one (an HMAC of the private key's DER under the protocol's fixed label,
/// `ClusterSecret::new`), and nothing else has to be shared or configured.
fn cluster_secret(primary: &KeyMaterial) -> anyhow::Result<ClusterSecret> {
    ClusterSecret::new(primary.private_key.secret_der()).context("derive the cluster secret from [keystore.primary]")
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
