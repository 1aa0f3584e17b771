//! Rollups: what one bucket of time holds for one key (API, version, resource, application,
//! node): a count, the status classes, throttled requests, errors by code and a latency
//! sketch. They add up (a minute's into an hour's, a node's into the cluster's), and they
//! travel as the store's [`RollupRow`].

use std::collections::BTreeMap;

use portico_store::RollupRow;

use crate::event::{Event, StatusClass};
use crate::sketch::LatencySketch;

/// Bucket widths, in seconds.
pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;

/// The start (ms) of the bucket of `width` seconds that holds `at_ms`.
pub fn bucket_start(at_ms: i64, width: i64) -> i64 {
    at_ms - at_ms.rem_euclid(width * 1000)
}

/// What a rollup is kept per.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollupKey {
    pub bucket_start: i64,
    pub node_id: String,
    pub api_id: String,
    pub api_version: String,
    /// `GET /menu`: the verb and the resource template.
    pub resource: String,
    pub application_id: String,
}

/// The counts of one key in one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollup {
    pub api_name: String,
    pub application_name: String,
    pub count: u64,
    /// By status class: 2xx, 3xx, 4xx, 5xx.
    pub classes: [u64; 4],
    pub throttled: u64,
    pub error_codes: BTreeMap<String, u64>,
    pub latency: LatencySketch,
}

impl Rollup {
    pub fn add(&mut self, event: &Event) {
        if self.api_name.is_empty() {
            self.api_name.clone_from(&event.api_name);
        }
        if self.application_name.is_empty() {
            self.application_name.clone_from(&event.application_name);
        }
        self.count += 1;
        if let Some(class) = event.status_class() {
            self.classes[class_index(class)] += 1;
        }
        if event.throttled {
            self.throttled += 1;
        }
        if let Some(key) = event.error_key() {
            *self.error_codes.entry(key).or_default() += 1;
        }
        self.latency.add(event.total_latency_us);
    }

    pub fn merge(&mut self, other: &Rollup) {
        if self.api_name.is_empty() {
            self.api_name.clone_from(&other.api_name);
        }
        if self.application_name.is_empty() {
            self.application_name.clone_from(&other.application_name);
        }
        self.count += other.count;
        for (mine, theirs) in self.classes.iter_mut().zip(other.classes) {
            *mine += theirs;
        }
        self.throttled += other.throttled;
        for (code, count) in &other.error_codes {
            *self.error_codes.entry(code.clone()).or_default() += count;
        }
        self.latency.merge(&other.latency);
    }

    pub fn class(&self, class: StatusClass) -> u64 {
        self.classes[class_index(class)]
    }

    /// The store's row of this rollup under `key` at `resolution`.
    pub fn to_row(&self, resolution: i64, key: &RollupKey) -> RollupRow {
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        RollupRow {
            resolution,
            bucket_start: key.bucket_start,
            node_id: key.node_id.clone(),
            api_id: key.api_id.clone(),
            api_version: key.api_version.clone(),
            resource: key.resource.clone(),
            application_id: key.application_id.clone(),
            api_name: self.api_name.clone(),
            application_name: self.application_name.clone(),
            request_count: int(self.count),
            status_2xx: int(self.classes[0]),
            status_3xx: int(self.classes[1]),
            status_4xx: int(self.classes[2]),
            status_5xx: int(self.classes[3]),
            throttled: int(self.throttled),
            error_codes: encode_codes(&self.error_codes),
            latency: self.latency.encode(),
        }
    }

    /// A stored row's key and rollup.
    pub fn from_row(row: &RollupRow) -> (RollupKey, Rollup) {
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        let key = RollupKey {
            bucket_start: row.bucket_start,
            node_id: row.node_id.clone(),
            api_id: row.api_id.clone(),
            api_version: row.api_version.clone(),
            resource: row.resource.clone(),
            application_id: row.application_id.clone(),
        };
        let rollup = Rollup {
            api_name: row.api_name.clone(),
            application_name: row.application_name.clone(),
            count: count(row.request_count),
            classes: [
                count(row.status_2xx),
                count(row.status_3xx),
                count(row.status_4xx),
                count(row.status_5xx),
            ],
            throttled: count(row.throttled),
            error_codes: decode_codes(&row.error_codes),
            latency: LatencySketch::decode(&row.latency),
        };
        (key, rollup)
    }
}

fn class_index(class: StatusClass) -> usize {
    match class {
        StatusClass::Success => 0,
        StatusClass::Redirect => 1,
        StatusClass::ClientError => 2,
        StatusClass::ServerError => 3,
    }
}

/// `code:count,code:count`.
pub fn encode_codes(codes: &BTreeMap<String, u64>) -> String {
    codes
        .iter()
        .map(|(code, count)| format!("{code}:{count}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Adds the counts of [`encode_codes`]' text into a map.
pub fn decode_codes(text: &str) -> BTreeMap<String, u64> {
    let mut codes = BTreeMap::new();
    add_codes(&mut codes, text);
    codes
}

pub fn add_codes(codes: &mut BTreeMap<String, u64>, text: &str) {
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        if let Some((code, count)) = pair.rsplit_once(':')
            && let Ok(count) = count.parse::<u64>()
        {
            *codes.entry(code.to_owned()).or_default() += count;
        }
    }
}

/// The key of `event` in the minute bucket, on `node_id`.
pub fn minute_key(event: &Event, node_id: &str) -> RollupKey {
    RollupKey {
        bucket_start: bucket_start(event.timestamp_ms, MINUTE),
        node_id: node_id.to_owned(),
        api_id: event.api_id.clone(),
        api_version: event.api_version.clone(),
        resource: if event.resource.is_empty() {
            String::new()
        } else {
            format!("{} {}", event.method, event.resource)
        },
        application_id: event.application_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollup_survives_its_row() {
        let mut rollup = Rollup::default();
        for (status, code, throttled) in [
            (200, None, false),
            (401, Some("900901"), false),
            (429, Some("900804"), true),
            (500, None, false),
        ] {
            rollup.add(&Event {
                api_name: "Pizza".into(),
                proxy_status: status,
                error_code: code.map(str::to_owned),
                throttled,
                total_latency_us: 1500,
                ..Event::default()
            });
        }
        assert_eq!(rollup.count, 4);
        assert_eq!(rollup.classes, [1, 0, 2, 1]);
        assert_eq!(encode_codes(&rollup.error_codes), "500:1,900804:1,900901:1");
        let key = RollupKey {
            bucket_start: 60_000,
            node_id: "n1".into(),
            api_id: "a".into(),
            api_version: "1".into(),
            resource: "GET /menu".into(),
            application_id: String::new(),
        };
        let row = rollup.to_row(MINUTE, &key);
        assert_eq!(Rollup::from_row(&row), (key, rollup));
        assert_eq!(bucket_start(119_999, MINUTE), 60_000);
        assert_eq!(bucket_start(3_600_000 * 25 + 5, DAY), 86_400_000);
    }
}
