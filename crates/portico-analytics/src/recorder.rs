//! The batched writer: a node's events become raw rows and this node's minute rollups.
//!
//! A batch is written at once: its raw rows in multi-row INSERTs, then each minute rollup it
//! touched, whole. The recorder keeps the minutes it touched recently in memory (loaded from the
//! store the first time, so a restart within a minute or a late event adds to what is stored),
//! and as each node writes only its own rows, replacing a row with the in-memory value is never
//! a lost update.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use portico_store::{AnalyticsEventRow, Store};

use crate::AnalyticsError;
use crate::clock::Clock;
use crate::event::Event;
use crate::rollup::{MINUTE, Rollup, RollupKey, minute_key};

/// Minutes kept in memory after they were last touched (late events beyond it reload the row).
const KEEP_MINUTES_MS: i64 = 5 * 60_000;

/// Writes one node's events.
pub struct Recorder {
    store: Store,
    node_id: String,
    clock: Arc<dyn Clock>,
    /// Whether raw rows are written (a raw retention of 0 keeps none).
    keep_raw: bool,
    /// The minutes loaded from the store and added to since, by key.
    minutes: BTreeMap<RollupKey, Rollup>,
    /// The minute buckets present in `minutes` (their stored rows were read in).
    loaded: BTreeSet<i64>,
}

impl Recorder {
    pub fn new(store: Store, node_id: impl Into<String>, clock: Arc<dyn Clock>, keep_raw: bool) -> Recorder {
        Recorder {
            store,
            node_id: node_id.into(),
            clock,
            keep_raw,
            minutes: BTreeMap::new(),
            loaded: BTreeSet::new(),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Writes `events`: raw rows, then the minute rollups they touched.
    pub async fn write(&mut self, events: &[Event]) -> Result<(), AnalyticsError> {
        if events.is_empty() {
            return Ok(());
        }
        if self.keep_raw {
            let rows: Vec<AnalyticsEventRow> = events.iter().map(|e| raw_row(e, &self.node_id)).collect();
            self.store.insert_analytics_events(&rows).await?;
        }
        let mut touched = BTreeSet::new();
        for event in events {
            let key = minute_key(event, &self.node_id);
            if !self.loaded.contains(&key.bucket_start) {
                self.load_minute(key.bucket_start).await?;
            }
            self.minutes.entry(key.clone()).or_default().add(event);
            touched.insert(key);
        }
        let rows: Vec<_> = touched
            .iter()
            .filter_map(|key| self.minutes.get(key).map(|r| r.to_row(MINUTE, key)))
            .collect();
        self.store.put_rollups(&rows).await?;
        self.forget_old_minutes();
        Ok(())
    }

    async fn load_minute(&mut self, start: i64) -> Result<(), AnalyticsError> {
        let rows = self
            .store
            .node_rollups(MINUTE, &self.node_id, start, start + MINUTE * 1000)
            .await?;
        for row in &rows {
            let (key, rollup) = Rollup::from_row(row);
            self.minutes.insert(key, rollup);
        }
        self.loaded.insert(start);
        Ok(())
    }

    fn forget_old_minutes(&mut self) {
        let horizon = self.clock.now_ms() - KEEP_MINUTES_MS;
        let old: Vec<i64> = self.loaded.range(..horizon).copied().collect();
        for start in old {
            self.loaded.remove(&start);
            self.minutes.retain(|key, _| key.bucket_start != start);
        }
    }
}

fn raw_row(e: &Event, node_id: &str) -> AnalyticsEventRow {
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    AnalyticsEventRow {
        node_id: node_id.to_owned(),
        timestamp_ms: e.timestamp_ms,
        correlation_id: e.correlation_id.clone(),
        api_id: e.api_id.clone(),
        api_name: e.api_name.clone(),
        api_version: e.api_version.clone(),
        api_context: e.api_context.clone(),
        resource: e.resource.clone(),
        method: e.method.clone(),
        application_id: e.application_id.clone(),
        application_name: e.application_name.clone(),
        application_owner: e.application_owner.clone(),
        key_type: e.key_type.clone(),
        subscription_tier: e.subscription_tier.clone(),
        end_user: e.end_user.clone(),
        client_ip: e.client_ip.clone(),
        user_agent: e.user_agent.clone(),
        proxy_status: i32::from(e.proxy_status),
        backend_status: e.backend_status.map(i32::from),
        error_code: e.error_code.clone(),
        error_type: e.error_type().map(str::to_owned),
        backend_latency_us: e.backend_latency_us.map(int),
        total_latency_us: int(e.total_latency_us),
        request_bytes: int(e.request_bytes),
        response_bytes: e.response_bytes.map(int),
        throttled: e.throttled,
        throttle_policy: e.throttle_policy.clone(),
    }
}
