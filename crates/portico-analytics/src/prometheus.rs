//! The node's live metrics in Prometheus' text exposition format (version 0.0.4), written by
//! hand: a few counters, gauges and one histogram family need no library, and owning the
//! rendering keeps the label cardinality bound ([`MAX_API_SERIES`]) where it is enforced.
//!
//! Request metrics are counted from the analytics events (off the request path, by the task
//! that reads the gateway's channel); the gauges (drops, feed lag, pool, token cache, Traffic
//! Manager queue) are read when scraped. Labels are per API and version, never per user,
//! token or path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::Mutex;

use crate::event::{Event, StatusClass, is_throttle_code};

/// The most (API, version) label pairs kept; later ones are counted under `api="_other"`.
pub const MAX_API_SERIES: usize = 1_000;

/// The latency histogram's upper bounds, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// `api` label of requests that matched no API.
const NO_API: &str = "_none";
const OTHER_API: &str = "_other";

#[derive(Debug, Default, Clone)]
struct Histogram {
    count: u64,
    sum_seconds: f64,
    /// Per bucket (not cumulative), then +Inf.
    buckets: [u64; BUCKETS.len() + 1],
}

#[derive(Debug, Default)]
struct Counts {
    /// (api, version, status class) → requests and their latency.
    requests: BTreeMap<(String, String, &'static str), Histogram>,
    throttled: BTreeMap<(String, String), u64>,
    /// WSO2 code (101503, 101504) or backend status (5xx) → count.
    upstream_errors: BTreeMap<String, u64>,
    /// The (api, version) pairs with labels of their own.
    pairs: BTreeSet<(String, String)>,
}

/// What is read when scraped, besides the request counts.
#[derive(Debug, Default, Clone)]
pub struct Gauges {
    /// Records the gateway dropped (channel full).
    pub analytics_dropped: u64,
    /// Change-feed events committed and not yet applied by this node.
    pub feed_lag: Option<i64>,
    /// Connection pool: open, idle, max.
    pub pool: Option<(u32, u32, u32)>,
    /// Validated-token cache hits and misses.
    pub token_cache: (u64, u64),
    /// Throttle events to the Traffic Managers: queued, dropped (queue full), batches dropped.
    pub traffic_manager: Option<(u64, u64, u64)>,
}

/// Live request metrics.
#[derive(Debug, Default)]
pub struct LiveMetrics {
    counts: Mutex<Counts>,
}

impl LiveMetrics {
    pub fn new() -> LiveMetrics {
        LiveMetrics::default()
    }

    /// Counts one request.
    pub fn observe(&self, event: &Event) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        let (api, version) = counts.labels(event);
        let class = event.status_class().map_or("other", StatusClass::as_str);
        let histogram = counts
            .requests
            .entry((api.clone(), version.clone(), class))
            .or_default();
        #[allow(clippy::cast_precision_loss)]
        let seconds = event.total_latency_us as f64 / 1e6;
        histogram.count += 1;
        histogram.sum_seconds += seconds;
        let bucket = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
        histogram.buckets[bucket] += 1;
        if event.throttled {
            *counts.throttled.entry((api, version)).or_default() += 1;
        }
        let upstream = match event.error_code.as_deref() {
            Some(code) if code.starts_with("1015") || code.starts_with("1013") => Some(code.to_owned()),
            Some(code) if is_throttle_code(code) => None,
            Some(_) => None,
            None => event.backend_status.filter(|s| *s >= 500).map(|s| s.to_string()),
        };
        if let Some(code) = upstream {
            *counts.upstream_errors.entry(code).or_default() += 1;
        }
    }

    /// The exposition text.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        if let Ok(counts) = self.counts.lock() {
            counts.render(&mut out);
        }
        render_gauges(&mut out, gauges);
        out
    }
}

impl Counts {
    /// The (api, version) labels of `event`, within the cardinality bound.
    fn labels(&mut self, event: &Event) -> (String, String) {
        if event.api_id.is_empty() {
            return (NO_API.to_owned(), String::new());
        }
        let pair = (event.api_name.clone(), event.api_version.clone());
        if self.pairs.contains(&pair) {
            return pair;
        }
        if self.pairs.len() >= MAX_API_SERIES {
            return (OTHER_API.to_owned(), String::new());
        }
        self.pairs.insert(pair.clone());
        pair
    }

    fn render(&self, out: &mut String) {
        out.push_str("# HELP portico_gateway_requests_total Requests answered by the gateway.\n");
        out.push_str("# TYPE portico_gateway_requests_total counter\n");
        for ((api, version, class), h) in &self.requests {
            let _ = writeln!(
                out,
                "portico_gateway_requests_total{{api=\"{}\",version=\"{}\",status_class=\"{class}\"}} {}",
                escape(api),
                escape(version),
                h.count
            );
        }
        out.push_str("# HELP portico_gateway_request_duration_seconds Time from a request's arrival to its answer.\n");
        out.push_str("# TYPE portico_gateway_request_duration_seconds histogram\n");
        for ((api, version, class), h) in &self.requests {
            let labels = format!(
                "api=\"{}\",version=\"{}\",status_class=\"{class}\"",
                escape(api),
                escape(version)
            );
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "portico_gateway_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "portico_gateway_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "portico_gateway_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_seconds
            );
            let _ = writeln!(
                out,
                "portico_gateway_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP portico_gateway_throttled_requests_total Requests refused by a throttling policy.\n");
        out.push_str("# TYPE portico_gateway_throttled_requests_total counter\n");
        for ((api, version), n) in &self.throttled {
            let _ = writeln!(
                out,
                "portico_gateway_throttled_requests_total{{api=\"{}\",version=\"{}\"}} {n}",
                escape(api),
                escape(version)
            );
        }
        out.push_str("# HELP portico_gateway_upstream_errors_total Backend failures: WSO2's code when no backend answered, else the backend's 5xx status.\n");
        out.push_str("# TYPE portico_gateway_upstream_errors_total counter\n");
        for (code, n) in &self.upstream_errors {
            let _ = writeln!(
                out,
                "portico_gateway_upstream_errors_total{{code=\"{}\"}} {n}",
                escape(code)
            );
        }
    }
}

fn render_gauges(out: &mut String, g: &Gauges) {
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric(
        "portico_analytics_dropped_total",
        "counter",
        "Analytics records the gateway dropped because their queue was full.",
        g.analytics_dropped.to_string(),
    );
    if let Some(lag) = g.feed_lag {
        metric(
            "portico_change_feed_lag",
            "gauge",
            "Change-feed events committed that this node has not applied yet.",
            lag.to_string(),
        );
    }
    if let Some((open, idle, max)) = g.pool {
        metric(
            "portico_db_pool_connections",
            "gauge",
            "Database connections open.",
            open.to_string(),
        );
        metric(
            "portico_db_pool_idle",
            "gauge",
            "Database connections open and idle.",
            idle.to_string(),
        );
        metric(
            "portico_db_pool_max",
            "gauge",
            "The most database connections the pool opens.",
            max.to_string(),
        );
    }
    metric(
        "portico_token_cache_hits_total",
        "counter",
        "Gateway token validations answered from the validated-token cache.",
        g.token_cache.0.to_string(),
    );
    metric(
        "portico_token_cache_misses_total",
        "counter",
        "Gateway token validations that were not in the cache.",
        g.token_cache.1.to_string(),
    );
    if let Some((queued, dropped, batches_dropped)) = g.traffic_manager {
        metric(
            "portico_tm_events_queued_total",
            "counter",
            "Throttle events queued for the Traffic Managers.",
            queued.to_string(),
        );
        metric(
            "portico_tm_events_dropped_total",
            "counter",
            "Throttle events dropped because the queue to the Traffic Managers was full.",
            dropped.to_string(),
        );
        metric(
            "portico_tm_batches_dropped_total",
            "counter",
            "Batches of throttle events no Traffic Manager could take.",
            batches_dropped.to_string(),
        );
    }
}

/// A label value escaped as the exposition format wants (backslash, quote, newline).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_api_and_class_with_a_bounded_label_set() {
        let metrics = LiveMetrics::new();
        let event = |api: &str, status: u16, code: Option<&str>| Event {
            api_id: if api.is_empty() {
                String::new()
            } else {
                format!("id-{api}")
            },
            api_name: api.to_owned(),
            api_version: "1.0.0".to_owned(),
            proxy_status: status,
            error_code: code.map(str::to_owned),
            throttled: code.is_some_and(is_throttle_code),
            total_latency_us: 3_000,
            ..Event::default()
        };
        metrics.observe(&event("Pizza", 200, None));
        metrics.observe(&event("Pizza", 200, None));
        metrics.observe(&event("Pizza", 429, Some("900804")));
        metrics.observe(&event("Pizza", 502, Some("101503")));
        metrics.observe(&event("", 404, Some("900906")));
        for i in 0..MAX_API_SERIES + 5 {
            metrics.observe(&event(&format!("api{i}"), 200, None));
        }
        let text = metrics.render(&Gauges::default());
        assert!(
            text.contains("portico_gateway_requests_total{api=\"Pizza\",version=\"1.0.0\",status_class=\"2xx\"} 2\n")
        );
        assert!(
            text.contains("portico_gateway_requests_total{api=\"Pizza\",version=\"1.0.0\",status_class=\"4xx\"} 1\n")
        );
        assert!(text.contains("portico_gateway_requests_total{api=\"_none\",version=\"\",status_class=\"4xx\"} 1\n"));
        assert!(text.contains("portico_gateway_throttled_requests_total{api=\"Pizza\",version=\"1.0.0\"} 1\n"));
        assert!(text.contains("portico_gateway_upstream_errors_total{code=\"101503\"} 1\n"));
        assert!(text.contains(
            "portico_gateway_request_duration_seconds_bucket{api=\"Pizza\",version=\"1.0.0\",status_class=\"2xx\",le=\"0.005\"} 2\n"
        ));
        // Pizza took one pair: MAX_API_SERIES - 1 of the others have their own, 6 fall into _other.
        assert!(text.contains("portico_gateway_requests_total{api=\"_other\",version=\"\",status_class=\"2xx\"} 6\n"));
    }
}
