//! The Traffic Managers this node's gateway sends its request events to when no
//! `[[apim.throttling.url_group]]` is configured: one group per live node's Traffic Manager in
//! the node registry, this node's own included (the seed's two-group layout with nothing
//! written by hand). Read at start, then again every heartbeat interval, so a node that joins
//! or dies is picked up without a restart; the same read gives the live node count that
//! `local_only` divides limits by.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Weak};

use portico_cluster::live_traffic_managers;
use portico_config::Config;
use portico_store::{Backend, Store, StoreError};
use portico_throttle::{GroupKind, Publisher, Throttler, UrlGroup};

/// Reads the live Traffic Managers from the node registry.
#[derive(Clone)]
pub struct Discovery {
    config: Arc<Config>,
    store: Store,
}

/// The live nodes' Traffic Managers (`host:port`) at one read, this node's own first.
pub type LiveTrafficManagers = Vec<String>;

impl Discovery {
    pub fn new(config: Arc<Config>, store: Store) -> Discovery {
        Discovery { config, store }
    }

    /// Whether the registry is the cluster's: a SQLite database belongs to one node, whose
    /// registry lists only itself.
    pub fn is_shared(&self) -> bool {
        self.store.backend() == Backend::Postgres
    }

    /// Every live node's Traffic Manager. This node's own is always in (its heartbeat may not
    /// have registered it yet) and is reached on the local address.
    pub async fn read(&self) -> Result<LiveTrafficManagers, StoreError> {
        let own_id = super::store::node_id(&self.config);
        let mut peers: Vec<String> = live_traffic_managers(&self.store, self.config.cluster.node_timeout())
            .await?
            .into_iter()
            .filter(|tm| tm.node_id != own_id)
            .map(|tm| host_port(&tm.host, tm.port))
            .collect();
        peers.sort();
        peers.dedup();
        peers.insert(0, own_traffic_manager(&self.config).to_string());
        Ok(peers)
    }

    /// Every heartbeat interval: the live Traffic Managers read again; `publisher` (when events
    /// follow the registry) sends to the new set when it changed, and `throttler` learns the
    /// live node count. Ends when the throttler is dropped.
    pub fn spawn_refresh(
        self,
        mut current: LiveTrafficManagers,
        publisher: Option<Arc<Publisher>>,
        throttler: Weak<Throttler>,
    ) -> tokio::task::JoinHandle<()> {
        let mut tick = tokio::time::interval(self.config.cluster.heartbeat());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::spawn(async move {
            // The first tick is at once: the start-up read just happened.
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(throttler) = throttler.upgrade() else { return };
                let live = match self.read().await {
                    Ok(live) => live,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the live traffic managers from the node registry; keeping the last ones");
                        continue;
                    }
                };
                throttler.set_live_nodes(node_count(live.len()));
                if live == current {
                    continue;
                }
                if let Some(publisher) = &publisher {
                    publisher.set_groups(&groups(&live));
                    tracing::info!(
                        traffic_managers = %live.join(" + "),
                        before = %current.join(" + "),
                        "the cluster's traffic managers changed; request events go to each"
                    );
                }
                current = live;
            }
        })
    }
}

/// One group per Traffic Manager: every event to every one.
pub fn groups(traffic_managers: &[String]) -> Vec<UrlGroup> {
    traffic_managers
        .iter()
        .map(|address| UrlGroup {
            kind: GroupKind::LoadBalance,
            receivers: vec![address.clone()],
        })
        .collect()
}

/// A count of nodes as the throttler takes it.
pub fn node_count(nodes: usize) -> u32 {
    u32::try_from(nodes).unwrap_or(u32::MAX)
}

/// `host:port`, with an IPv6 literal in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// This node's Traffic Manager as a local client reaches it.
pub fn own_traffic_manager(config: &Config) -> SocketAddr {
    let bind = config.server.bind_address;
    let host = if bind.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bind
    };
    SocketAddr::new(host, config.ports().traffic_manager)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_become_receiver_addresses() {
        assert_eq!(host_port("node2", 9612), "node2:9612");
        assert_eq!(host_port("::1", 9612), "[::1]:9612");
        assert_eq!(host_port("[::1]", 9612), "[::1]:9612");
        let groups = groups(&["a:1".to_owned(), "b:2".to_owned()]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].receivers, ["b:2"]);
    }
}
