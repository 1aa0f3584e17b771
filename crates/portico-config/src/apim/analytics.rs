//! `[apim.analytics]`: whether every gateway request is recorded (on by default), WSO2's
//! `type = "elk"` (also write `logs/apim_metrics.log` in WSO2's ELK format, rolled by size and
//! day), how long each resolution is kept, how often records are written, and the bearer token
//! that protects `GET /metrics`.

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::{Checker, yes};

/// Where records go besides the built-in store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnalyticsType {
    /// Rollups in the database, the analytics REST API and charts, `/metrics`.
    #[default]
    Builtin,
    /// The same, and WSO2's ELK log (`logs/apim_metrics.log`).
    Elk,
}

/// `[apim.analytics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analytics {
    /// Off: the gateway keeps no records (no rollups, no ELK log; `/metrics` still answers).
    #[serde(default = "yes")]
    pub enable: bool,
    /// `builtin` (default) or `elk` (WSO2's key and value; `choreo` is WSO2's cloud and refused).
    #[serde(default = "default_type", rename = "type")]
    pub type_name: String,
    /// Hours raw request rows are kept (0: none are written).
    #[serde(default = "default_raw_hours")]
    pub raw_retention_hours: u64,
    /// Hours per-minute rollups are kept.
    #[serde(default = "default_minute_hours")]
    pub minute_retention_hours: u64,
    /// Days hourly rollups are kept.
    #[serde(default = "default_hour_days")]
    pub hour_retention_days: u64,
    /// Days daily rollups are kept.
    #[serde(default = "default_day_days")]
    pub day_retention_days: u64,
    /// How often records are written to the database, in milliseconds.
    #[serde(default = "default_flush_ms")]
    pub flush_interval_ms: u64,
    /// Records the gateway may queue before it drops (and counts) them.
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// Seconds between two folding and retention passes.
    #[serde(default = "default_fold_seconds")]
    pub fold_interval_seconds: u64,
    /// `type = "elk"`: the size at which `apim_metrics.log` rolls over, in MB (WSO2: 1000).
    #[serde(default = "default_elk_mb")]
    pub elk_max_file_mb: u64,
    /// `type = "elk"`: rolled files kept (WSO2: 10).
    #[serde(default = "default_elk_files")]
    pub elk_max_files: usize,
    /// Bearer token `GET /metrics` requires; none: served to loopback callers only. May use
    /// `$env{NAME}`.
    #[serde(default)]
    pub metrics_token: Option<String>,
    /// `type`, parsed by [`Analytics::validate`].
    #[serde(skip)]
    pub kind: AnalyticsType,
}

impl Default for Analytics {
    fn default() -> Self {
        Analytics {
            enable: true,
            type_name: default_type(),
            raw_retention_hours: default_raw_hours(),
            minute_retention_hours: default_minute_hours(),
            hour_retention_days: default_hour_days(),
            day_retention_days: default_day_days(),
            flush_interval_ms: default_flush_ms(),
            queue_capacity: default_queue(),
            fold_interval_seconds: default_fold_seconds(),
            elk_max_file_mb: default_elk_mb(),
            elk_max_files: default_elk_files(),
            metrics_token: None,
            kind: AnalyticsType::default(),
        }
    }
}

fn default_type() -> String {
    "builtin".to_owned()
}
fn default_raw_hours() -> u64 {
    24
}
fn default_minute_hours() -> u64 {
    48
}
fn default_hour_days() -> u64 {
    30
}
fn default_day_days() -> u64 {
    90
}
fn default_flush_ms() -> u64 {
    1_000
}
fn default_queue() -> usize {
    65_536
}
fn default_fold_seconds() -> u64 {
    60
}
fn default_elk_mb() -> u64 {
    1_000
}
fn default_elk_files() -> usize {
    10
}

impl Analytics {
    /// Parses `type`, checks the ranges, expands `$env{}` in the metrics token.
    pub(super) fn validate(&mut self, c: &Checker<'_>) -> Result<(), ConfigError> {
        self.kind = match self.type_name.as_str() {
            "builtin" => AnalyticsType::Builtin,
            "elk" => AnalyticsType::Elk,
            "choreo" => {
                return Err(c.invalid(
                    "apim.analytics.type",
                    "choreo is WSO2's cloud service; use builtin or elk",
                ));
            }
            _ => return Err(c.invalid("apim.analytics.type", "must be one of builtin, elk")),
        };
        for (key, value, min) in [
            ("apim.analytics.minute_retention_hours", self.minute_retention_hours, 1),
            ("apim.analytics.hour_retention_days", self.hour_retention_days, 1),
            ("apim.analytics.day_retention_days", self.day_retention_days, 1),
            ("apim.analytics.flush_interval_ms", self.flush_interval_ms, 10),
            ("apim.analytics.fold_interval_seconds", self.fold_interval_seconds, 1),
            ("apim.analytics.elk_max_file_mb", self.elk_max_file_mb, 1),
        ] {
            if value < min {
                return Err(c.invalid(key, &format!("must be at least {min}")));
            }
        }
        if self.queue_capacity == 0 {
            return Err(c.invalid("apim.analytics.queue_capacity", "must be at least 1"));
        }
        if self.elk_max_files == 0 {
            return Err(c.invalid("apim.analytics.elk_max_files", "must be at least 1"));
        }
        self.metrics_token = c.expand_opt("apim.analytics.metrics_token", self.metrics_token.take())?;
        if self.metrics_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(c.invalid(
                "apim.analytics.metrics_token",
                "must not be empty (leave the key out instead)",
            ));
        }
        Ok(())
    }
}
