//! Step 5b: analytics (`[apim.analytics]`), before the gateway that feeds it. The channel the
//! gateway's `logging` phase hands records to; the task that turns them into events for the
//! analytics sink (live metrics, the ELK log with `type = "elk"`, batched writes of raw rows and
//! this node's minute rollups); and the task that folds rollups and applies retention.
//!
//! This module is the one place that knows both the gateway's record and analytics' event.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use portico_analytics::elk::ElkLog;
use portico_analytics::prometheus::LiveMetrics;
use portico_analytics::{Clock, Event, Maintenance, Recorder, Retention, Sink, SystemClock};
use portico_config::{AnalyticsType, Config};
use portico_gateway::AnalyticsRecord;
use portico_store::Store;
use tokio::sync::mpsc;

/// Records taken from the channel at once.
const BATCH: usize = 1024;
/// Events kept before a write even when the flush interval has not passed.
const MAX_PENDING: usize = 10_000;

/// Analytics as this node runs it; kept until the node stops.
pub struct NodeAnalytics {
    /// Where the gateway hands its records; `None` when analytics is off.
    pub sender: Option<mpsc::Sender<AnalyticsRecord>>,
    /// The record reader (writes its last batch when the channel closes) and the maintenance.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    /// One line for the banner.
    pub summary: String,
}

pub fn start(config: &Config, store: &Store, metrics: Arc<LiveMetrics>) -> anyhow::Result<NodeAnalytics> {
    let settings = &config.apim.analytics;
    if !settings.enable {
        return Ok(NodeAnalytics {
            sender: None,
            tasks: Vec::new(),
            summary: "off ([apim.analytics] enable = false)".to_owned(),
        });
    }
    let node_id = super::store::node_id(config);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let hour_ms = 3_600_000i64;
    let ms = |hours: u64| {
        i64::try_from(hours)
            .unwrap_or(i64::MAX / hour_ms)
            .saturating_mul(hour_ms)
    };
    let retention = Retention {
        raw_ms: ms(settings.raw_retention_hours),
        minutes_ms: ms(settings.minute_retention_hours),
        hours_ms: ms(settings.hour_retention_days.saturating_mul(24)),
        days_ms: ms(settings.day_retention_days.saturating_mul(24)),
    };
    let elk = match settings.kind {
        AnalyticsType::Elk => {
            let dir = config.home.join("logs");
            let log = ElkLog::open(
                &dir,
                &node_id,
                settings.elk_max_file_mb.saturating_mul(1024 * 1024),
                settings.elk_max_files,
                clock.now_ms(),
            )
            .with_context(|| {
                format!(
                    "[apim.analytics] type = \"elk\": open {}",
                    dir.join(portico_analytics::elk::LOG_FILE).display()
                )
            })?;
            Some(log)
        }
        AnalyticsType::Builtin => None,
    };
    let recorder = Recorder::new(store.clone(), &node_id, clock.clone(), settings.raw_retention_hours > 0);
    let sink = Sink::new(recorder, metrics.clone(), elk, clock.clone());
    let (sender, receiver) = mpsc::channel(settings.queue_capacity);
    let flush = Duration::from_millis(settings.flush_interval_ms);
    let reader = tokio::spawn(read_records(receiver, sink, flush));
    let mut maintenance = Maintenance::new(store.clone(), &node_id, clock, retention);
    let every = Duration::from_secs(settings.fold_interval_seconds);
    let folding = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = maintenance.run_once().await {
                tracing::warn!(error = %e, "analytics folding and retention failed; retrying at the next pass");
            }
        }
    });
    let elk_note = if settings.kind == AnalyticsType::Elk {
        ", ELK log logs/apim_metrics.log"
    } else {
        ""
    };
    Ok(NodeAnalytics {
        sender: Some(sender),
        tasks: vec![reader, folding],
        summary: format!(
            "on: rollups per minute/hour/day (kept {} h / {} d / {} d, raw {} h){elk_note}",
            settings.minute_retention_hours,
            settings.hour_retention_days,
            settings.day_retention_days,
            settings.raw_retention_hours
        ),
    })
}

/// Reads records until the channel closes: each to the sink at once, batches written every
/// `flush` (or sooner when many wait).
async fn read_records(mut receiver: mpsc::Receiver<AnalyticsRecord>, mut sink: Sink, flush: Duration) {
    let mut records = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = receiver.recv_many(&mut records, BATCH) => {
                if received == 0 {
                    write(&mut sink).await;
                    return;
                }
                for record in records.drain(..) {
                    sink.accept(event(record));
                }
                if sink.pending() >= MAX_PENDING {
                    write(&mut sink).await;
                }
            }
            _ = tick.tick() => write(&mut sink).await,
        }
    }
}

async fn write(sink: &mut Sink) {
    let pending = sink.pending();
    if let Err(e) = sink.flush().await {
        tracing::warn!(error = %e, records = pending, "analytics records could not be written and are dropped");
    }
}

/// The gateway's record as analytics keeps it.
fn event(record: AnalyticsRecord) -> Event {
    let throttled = record.throttled();
    let throttle_policy = record.throttle_policy();
    let ctx = &record.context;
    let api = ctx.api.as_deref();
    let application = ctx.application.as_deref();
    let text = |s: Option<&str>| s.unwrap_or_default().to_owned();
    Event {
        timestamp_ms: record.timestamp_ms,
        correlation_id: ctx.correlation_id.as_str().to_owned(),
        api_id: text(api.map(|a| a.id.as_str())),
        api_name: text(api.map(|a| a.name.as_str())),
        api_version: text(api.map(|a| a.version.as_str())),
        api_context: text(api.map(|a| a.context.as_str())),
        api_creator: String::new(),
        resource: text(ctx.resource()),
        method: ctx.method.as_str().to_owned(),
        application_id: text(application.map(|a| a.id.as_str())),
        application_name: text(application.map(|a| a.name.as_str())),
        application_owner: text(application.map(|a| a.owner.as_str())),
        key_type: text(ctx.key_type.map(|k| k.as_str())),
        subscription_tier: text(ctx.subscription_tier.as_deref()),
        end_user: text(ctx.user()),
        client_ip: ctx.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        user_agent: record.user_agent.as_deref().unwrap_or_default().to_owned(),
        destination: text(ctx.backend.as_deref()),
        proxy_status: record.status,
        backend_status: record.backend_status,
        error_code: ctx.error_code.map(str::to_owned),
        backend_latency_us: record.backend_micros,
        total_latency_us: record.total_micros,
        request_bytes: record.request_bytes,
        response_bytes: record.response_bytes,
        throttled,
        throttle_policy,
    }
}
