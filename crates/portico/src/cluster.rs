//! `portico cluster status`: the node registry of the database this home uses, as a table, or
//! as the JSON that the Admin REST API's `GET /cluster/nodes` answers.

use std::path::Path;

use anyhow::Context;
use portico_cluster::{ClusterStatus, NodeStatus};
use portico_config::Config;
use portico_store::Store;

pub fn status(home: &Path, json: bool) -> anyhow::Result<()> {
    let config = Config::load(home)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let status = runtime.block_on(async {
        let store = Store::connect_existing(&crate::node::store::options(&config)).await?;
        let status = portico_cluster::cluster_status(&store, config.cluster.node_timeout()).await;
        store.close().await;
        anyhow::Ok(status?)
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status.to_json())?);
    } else {
        print!("{}", table(&status));
    }
    Ok(())
}

const HEADERS: [&str; 10] = [
    "NODE",
    "STATUS",
    "VERSION",
    "HOST",
    "MANAGEMENT",
    "GATEWAY HTTP/HTTPS",
    "TM",
    "STARTED",
    "LAST HEARTBEAT",
    "FEED APPLIED",
];

/// One line per node under a summary, columns padded to their widest cell; the deployments
/// come last (their width varies most).
fn table(status: &ClusterStatus) -> String {
    let rows: Vec<([String; 10], String)> = status.nodes.iter().map(|n| row(status, n)).collect();
    let mut widths = HEADERS.map(str::len);
    for (cells, _) in &rows {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: &[String], last: &str| {
        let mut text = String::new();
        for (cell, width) in cells.iter().zip(widths) {
            text.push_str(&format!("{cell:<width$}  "));
        }
        text.push_str(last);
        text.trim_end().to_owned() + "\n"
    };
    let mut out = format!(
        "{} node(s); a node is down after {} s without a heartbeat; the change feed is at {} (each node's position is as of its last heartbeat)\n",
        status.nodes.len(),
        status.node_timeout.as_secs(),
        status.latest_feed_position
    );
    out.push_str(&line(&HEADERS.map(str::to_owned), "DEPLOYED"));
    for (cells, deployed) in &rows {
        out.push_str(&line(cells, deployed));
    }
    out
}

fn row(status: &ClusterStatus, n: &NodeStatus) -> ([String; 10], String) {
    let r = &n.row.registration;
    let deployed: Vec<String> = n
        .deployed
        .iter()
        .map(|(environment, revisions)| format!("{environment}={}", revisions.len()))
        .collect();
    (
        [
            r.node_id.clone(),
            n.state.as_str().to_owned(),
            r.version.clone(),
            r.hostname.clone(),
            r.management_port.to_string(),
            format!("{}/{}", r.gateway_http_port, r.gateway_https_port),
            r.traffic_manager_port.to_string(),
            ago(status.now - n.row.started_at),
            ago(n.silent_for_ms),
            n.row.feed_position.to_string(),
        ],
        deployed.join(" "),
    )
}

/// `12s ago`, `5m 3s ago`, `2h 10m ago`, `3d 4h ago`.
fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s ago"),
        (0, 0, _) => format!("{m}m {}s ago", s % 60),
        (0, _, _) => format!("{h}h {m}m ago"),
        _ => format!("{d}d {h}h ago"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(super::ago(1_500), "1s ago");
        assert_eq!(super::ago(-5), "0s ago");
        assert_eq!(super::ago(303_000), "5m 3s ago");
        assert_eq!(super::ago(7_800_000), "2h 10m ago");
        assert_eq!(super::ago(273_600_000), "3d 4h ago");
    }
}
