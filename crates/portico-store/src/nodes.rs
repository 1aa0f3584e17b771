//! The node registry: every node of a cluster registers itself at start and heartbeats while it
//! runs (what it is, where it listens, how far it has applied the change feed, what its gateway
//! has deployed). Times come from the database's clock, so that readers on other machines judge
//! silence without trusting their own.

use std::time::Duration;

use crate::{Pool, Store, StoreError, with_pool};

/// The database's clock in milliseconds since the epoch, per backend.
const POSTGRES_NOW: &str = "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";
const SQLITE_NOW: &str = "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

const NODE_COLUMNS: &str = "SELECT node_id, version, hostname, bind_address, management_port, gateway_http_port, \
     gateway_https_port, traffic_manager_port, started_at, last_heartbeat, stopped_at, feed_position, deployments \
     FROM cluster_nodes ORDER BY node_id";

/// What a node says about itself when it starts: who it is and where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistration {
    /// The node's id in the cluster (also the origin of the change-feed events it appends).
    pub node_id: String,
    /// The Portico version it runs.
    pub version: String,
    /// `[server] hostname`: how other nodes and clients reach it.
    pub hostname: String,
    /// `[server] bind_address`.
    pub bind_address: String,
    pub management_port: u16,
    pub gateway_http_port: u16,
    pub gateway_https_port: u16,
    pub traffic_manager_port: u16,
}

/// What a node reports on each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProgress {
    /// The last change-feed sequence number its gateway applied.
    pub feed_position: i64,
    /// JSON `{"<environment>": ["<revision id>", ...]}` of its artifacts; `None` leaves the
    /// stored value as it is (unchanged since the last heartbeat).
    pub deployments: Option<String>,
}

/// One node as the registry has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub registration: NodeRegistration,
    pub started_at: i64,
    pub last_heartbeat: i64,
    /// When it stopped gracefully (after its last start), if it did.
    pub stopped_at: Option<i64>,
    pub feed_position: i64,
    /// JSON `{"<environment>": ["<revision id>", ...]}`.
    pub deployments: String,
}

/// The registry read at one moment of the database's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistry {
    /// The database's clock when it was read (milliseconds since the epoch).
    pub now: i64,
    /// Every node that ever registered, by id.
    pub nodes: Vec<NodeRow>,
}

impl NodeRegistry {
    /// Nodes that heartbeated within `timeout` and have not stopped.
    pub fn live(&self, timeout: Duration) -> impl Iterator<Item = &NodeRow> {
        self.nodes.iter().filter(move |n| n.is_live(self.now, timeout))
    }
}

impl NodeRow {
    /// Milliseconds since its last heartbeat, at `now`.
    pub fn silent_for(&self, now: i64) -> i64 {
        (now - self.last_heartbeat).max(0)
    }

    /// Whether it runs: not stopped, and heard from within `timeout` of `now`.
    pub fn is_live(&self, now: i64, timeout: Duration) -> bool {
        let timeout = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        self.stopped_at.is_none() && self.silent_for(now) <= timeout
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    node_id: String,
    version: String,
    hostname: String,
    bind_address: String,
    management_port: i32,
    gateway_http_port: i32,
    gateway_https_port: i32,
    traffic_manager_port: i32,
    started_at: i64,
    last_heartbeat: i64,
    stopped_at: Option<i64>,
    feed_position: i64,
    deployments: String,
}

impl From<Row> for NodeRow {
    fn from(r: Row) -> NodeRow {
        // Ports were written from u16 values; anything else reads as 0 rather than failing the list.
        let port = |p: i32| u16::try_from(p).unwrap_or(0);
        NodeRow {
            registration: NodeRegistration {
                node_id: r.node_id,
                version: r.version,
                hostname: r.hostname,
                bind_address: r.bind_address,
                management_port: port(r.management_port),
                gateway_http_port: port(r.gateway_http_port),
                gateway_https_port: port(r.gateway_https_port),
                traffic_manager_port: port(r.traffic_manager_port),
            },
            started_at: r.started_at,
            last_heartbeat: r.last_heartbeat,
            stopped_at: r.stopped_at,
            feed_position: r.feed_position,
            deployments: r.deployments,
        }
    }
}

impl Store {
    /// The database's clock, in milliseconds since the epoch.
    pub async fn database_now(&self) -> Result<i64, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_scalar(SQLITE_NOW).fetch_one(pool).await?,
            Pool::Postgres(pool) => sqlx::query_scalar(POSTGRES_NOW).fetch_one(pool).await?,
        })
    }

    /// Records that `node` has (re)started now: its row is written afresh.
    pub async fn register_node(&self, node: &NodeRegistration, progress: &NodeProgress) -> Result<(), StoreError> {
        let now = self.database_now().await?;
        let deployments = progress.deployments.as_deref().unwrap_or("{}");
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO cluster_nodes (node_id, version, hostname, bind_address, management_port, gateway_http_port, \
                 gateway_https_port, traffic_manager_port, started_at, last_heartbeat, stopped_at, feed_position, deployments) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, NULL, $10, $11) \
                 ON CONFLICT (node_id) DO UPDATE SET version = excluded.version, hostname = excluded.hostname, \
                 bind_address = excluded.bind_address, management_port = excluded.management_port, \
                 gateway_http_port = excluded.gateway_http_port, gateway_https_port = excluded.gateway_https_port, \
                 traffic_manager_port = excluded.traffic_manager_port, started_at = excluded.started_at, \
                 last_heartbeat = excluded.last_heartbeat, stopped_at = NULL, feed_position = excluded.feed_position, \
                 deployments = excluded.deployments",
            )
            .bind(&node.node_id)
            .bind(&node.version)
            .bind(&node.hostname)
            .bind(&node.bind_address)
            .bind(i32::from(node.management_port))
            .bind(i32::from(node.gateway_http_port))
            .bind(i32::from(node.gateway_https_port))
            .bind(i32::from(node.traffic_manager_port))
            .bind(now)
            .bind(progress.feed_position)
            .bind(deployments)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records a heartbeat of `node_id`. Returns false when the node has no row (it was never
    /// registered, or its row was removed): the caller registers again.
    pub async fn node_heartbeat(&self, node_id: &str, progress: &NodeProgress) -> Result<bool, StoreError> {
        let now = self.database_now().await?;
        let updated = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE cluster_nodes SET last_heartbeat = $2, stopped_at = NULL, feed_position = $3, \
                 deployments = COALESCE($4, deployments) WHERE node_id = $1",
            )
            .bind(node_id)
            .bind(now)
            .bind(progress.feed_position)
            .bind(progress.deployments.as_deref())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(updated > 0)
    }

    /// Records that `node_id` stopped gracefully.
    pub async fn node_stopped(&self, node_id: &str) -> Result<(), StoreError> {
        let now = self.database_now().await?;
        with_pool!(self, |pool| {
            sqlx::query("UPDATE cluster_nodes SET stopped_at = $2 WHERE node_id = $1")
                .bind(node_id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Every registered node, by id, with the database's clock to judge them by.
    pub async fn node_registry(&self) -> Result<NodeRegistry, StoreError> {
        let now = self.database_now().await?;
        let rows: Vec<Row> = with_pool!(self, |pool| { sqlx::query_as(NODE_COLUMNS).fetch_all(pool).await? });
        Ok(NodeRegistry {
            now,
            nodes: rows.into_iter().map(NodeRow::from).collect(),
        })
    }
}
