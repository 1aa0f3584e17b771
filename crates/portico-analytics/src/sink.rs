//! Where a node's events go: counted into the live metrics and (with `type = "elk"`) written to
//! the ELK log as they come, and kept for the recorder's next batch.

use std::sync::Arc;

use crate::AnalyticsError;
use crate::clock::Clock;
use crate::elk::ElkLog;
use crate::event::Event;
use crate::prometheus::LiveMetrics;
use crate::recorder::Recorder;

/// A node's analytics sink.
pub struct Sink {
    recorder: Recorder,
    metrics: Arc<LiveMetrics>,
    elk: Option<ElkLog>,
    clock: Arc<dyn Clock>,
    pending: Vec<Event>,
}

impl Sink {
    pub fn new(recorder: Recorder, metrics: Arc<LiveMetrics>, elk: Option<ElkLog>, clock: Arc<dyn Clock>) -> Sink {
        Sink {
            recorder,
            metrics,
            elk,
            clock,
            pending: Vec::new(),
        }
    }

    /// Counts `event`, logs it, and keeps it for the next batch.
    pub fn accept(&mut self, event: Event) {
        self.metrics.observe(&event);
        if let Some(elk) = &mut self.elk
            && let Err(e) = elk.write(&event, self.clock.now_ms())
        {
            tracing::warn!(error = %e, "cannot write the ELK analytics log");
        }
        self.pending.push(event);
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Writes the kept events as one batch. Failed batches are dropped (and said so): records
    /// never pile up while the database is away.
    pub async fn flush(&mut self) -> Result<usize, AnalyticsError> {
        if let Some(elk) = &mut self.elk
            && let Err(e) = elk.flush()
        {
            tracing::warn!(error = %e, "cannot write the ELK analytics log");
        }
        let events = std::mem::take(&mut self.pending);
        self.recorder.write(&events).await?;
        Ok(events.len())
    }
}
