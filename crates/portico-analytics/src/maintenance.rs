//! Folding and retention, run by every node every minute or so against its injected clock.
//!
//! - Folding: this node's minute rows of an hour become its hour rows, and its hour rows of a
//!   day its day rows. A fold replaces the coarser rows of its bucket with the sum of the finer
//!   ones, so running it again (for the hour still going on, or after a restart) is harmless.
//!   Buckets are folded only while their finer rows are all still retained; the first pass
//!   folds everything that is, later passes the bucket before the current one and the current
//!   one.
//! - Retention: every node deletes what is older than its resolution's retention, for every
//!   node (a node that left the cluster leaves rows nobody else would delete).

use std::collections::BTreeMap;
use std::sync::Arc;

use portico_store::Store;

use crate::AnalyticsError;
use crate::clock::Clock;
use crate::rollup::{DAY, HOUR, MINUTE, Rollup, RollupKey, bucket_start};

/// How long each resolution is kept, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw_ms: i64,
    pub minutes_ms: i64,
    pub hours_ms: i64,
    pub days_ms: i64,
}

impl Default for Retention {
    /// 24 hours of raw rows, 48 hours of minutes, 30 days of hours, 90 days of days.
    fn default() -> Self {
        Retention {
            raw_ms: 24 * HOUR * 1000,
            minutes_ms: 48 * HOUR * 1000,
            hours_ms: 30 * DAY * 1000,
            days_ms: 90 * DAY * 1000,
        }
    }
}

/// What one pass did (for logs and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub hours_folded: usize,
    pub days_folded: usize,
    pub deleted: u64,
}

/// Folds and expires one node's analytics.
pub struct Maintenance {
    store: Store,
    node_id: String,
    clock: Arc<dyn Clock>,
    retention: Retention,
    /// The start of the newest hour / day folded by the last pass.
    folded_hour: Option<i64>,
    folded_day: Option<i64>,
}

impl Maintenance {
    pub fn new(store: Store, node_id: impl Into<String>, clock: Arc<dyn Clock>, retention: Retention) -> Maintenance {
        Maintenance {
            store,
            node_id: node_id.into(),
            clock,
            retention,
            folded_hour: None,
            folded_day: None,
        }
    }

    /// One pass: fold, then delete what expired.
    pub async fn run_once(&mut self) -> Result<PassReport, AnalyticsError> {
        let now = self.clock.now_ms();
        let mut report = PassReport::default();
        // Hours whose minutes are all retained; from the one before the last folded.
        let current_hour = bucket_start(now, HOUR);
        let oldest_hour = bucket_start(now - self.retention.minutes_ms, HOUR) + HOUR * 1000;
        let first_hour = self
            .folded_hour
            .map_or(oldest_hour, |h| h - HOUR * 1000)
            .max(oldest_hour);
        let mut hour = first_hour;
        while hour <= current_hour {
            self.fold(MINUTE, HOUR, hour).await?;
            report.hours_folded += 1;
            hour += HOUR * 1000;
        }
        self.folded_hour = Some(current_hour);
        let current_day = bucket_start(now, DAY);
        let oldest_day = bucket_start(now - self.retention.hours_ms, DAY) + DAY * 1000;
        let first_day = self.folded_day.map_or(oldest_day, |d| d - DAY * 1000).max(oldest_day);
        let mut day = first_day;
        while day <= current_day {
            self.fold(HOUR, DAY, day).await?;
            report.days_folded += 1;
            day += DAY * 1000;
        }
        self.folded_day = Some(current_day);
        report.deleted = self.expire(now).await?;
        Ok(report)
    }

    /// Replaces this node's `to` rows of the bucket at `start` by the sum of its `from` rows.
    async fn fold(&self, from: i64, to: i64, start: i64) -> Result<(), AnalyticsError> {
        let end = start + to * 1000;
        let finer = self.store.node_rollups(from, &self.node_id, start, end).await?;
        let mut folded: BTreeMap<RollupKey, Rollup> = BTreeMap::new();
        for row in &finer {
            let (mut key, rollup) = Rollup::from_row(row);
            key.bucket_start = start;
            folded.entry(key).or_default().merge(&rollup);
        }
        let rows: Vec<_> = folded.iter().map(|(key, r)| r.to_row(to, key)).collect();
        self.store
            .replace_node_rollups(to, &self.node_id, start, end, &rows)
            .await?;
        Ok(())
    }

    async fn expire(&self, now: i64) -> Result<u64, AnalyticsError> {
        let r = self.retention;
        let mut deleted = self.store.delete_analytics_events_before(now - r.raw_ms).await?;
        deleted += self.store.delete_rollups_before(MINUTE, now - r.minutes_ms).await?;
        deleted += self.store.delete_rollups_before(HOUR, now - r.hours_ms).await?;
        deleted += self.store.delete_rollups_before(DAY, now - r.days_ms).await?;
        Ok(deleted)
    }
}
