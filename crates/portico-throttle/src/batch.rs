//! Batching of request events between the gateway's queue and the counters (TM links or Redis):
//! add up counts per key over a short window, so a hot key costs its counter one entry per batch
//! instead of one per request.
//!
//! The window is leading-edge: an event that finds the counter idle for a whole interval is sent
//! at once (with whatever else is already queued), and only while events keep coming is a batch
//! held until one interval after the previous one. A quiet gateway's events so reach the TMs
//! without the batching delay, which is most of the decision latency and so of the overshoot
//! across nodes; a busy one still sends at most one batch per interval.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::event::RequestEvent;
use crate::window::WindowQuota;

/// Events taken from the queue per receive.
const DRAIN: usize = 256;

/// Per key: its latest quota and the requests since the last batch.
pub type Pending = HashMap<String, (WindowQuota, u64), foldhash::fast::RandomState>;

/// Adds an event's keys to a batch being collected.
pub fn add_event(pending: &mut Pending, event: &RequestEvent) {
    for k in event.keys() {
        match pending.get_mut(k.key) {
            Some(entry) => *entry = (k.quota, entry.1 + 1),
            None => {
                pending.insert(k.key.to_owned(), (k.quota, 1));
            }
        }
    }
}

/// When batches may leave: at most one per `interval`, the first after a pause at once.
#[derive(Debug)]
pub struct BatchWindow {
    interval: Duration,
    max_keys: usize,
    /// The earliest time the next batch may leave.
    next: Instant,
}

impl BatchWindow {
    pub fn new(interval: Duration, max_keys: usize) -> BatchWindow {
        BatchWindow {
            interval,
            max_keys,
            next: Instant::now(),
        }
    }

    /// Collects events into `pending` until the batch may leave (at once when the last batch
    /// left an interval ago or more), or until `max_keys` keys; `None` once the queue is closed
    /// and empty.
    pub async fn collect(&mut self, queue: &mut mpsc::Receiver<RequestEvent>, pending: &mut Pending) -> Option<()> {
        let mut drained = Vec::with_capacity(DRAIN);
        if queue.recv_many(&mut drained, DRAIN).await == 0 {
            return None;
        }
        let deadline = self.next.max(Instant::now());
        loop {
            for event in drained.drain(..) {
                add_event(pending, &event);
            }
            // `recv_many` took what was queued already; a due batch waits for nothing more.
            if pending.len() >= self.max_keys || Instant::now() >= deadline {
                break;
            }
            tokio::select! {
                n = queue.recv_many(&mut drained, DRAIN) => if n == 0 { break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.next = Instant::now() + self.interval;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_add_up_counts_per_key() {
        let mut pending = Pending::default();
        let q = WindowQuota::new(10, 1_000);
        for _ in 0..3 {
            let mut e = RequestEvent::new();
            e.application("a", "u", q, None).api("/c", "v", q);
            add_event(&mut pending, &e);
        }
        assert_eq!(pending.len(), 2);
        assert_eq!(pending.get("/c:v").map(|p| p.1), Some(3));
    }

    fn event(key: &str) -> RequestEvent {
        let mut e = RequestEvent::new();
        e.api(key, "v", WindowQuota::new(10, 1_000));
        e
    }

    #[tokio::test]
    async fn the_first_batch_after_a_pause_leaves_at_once_and_later_ones_wait_an_interval() {
        const INTERVAL: Duration = Duration::from_millis(300);
        let (tx, mut queue) = mpsc::channel(16);
        let mut window = BatchWindow::new(INTERVAL, 100);
        let mut pending = Pending::default();
        tx.try_send(event("/a")).expect("send");
        let started = Instant::now();
        window.collect(&mut queue, &mut pending).await.expect("batch");
        let first = started.elapsed();
        assert!(first < INTERVAL / 2, "idle: sent at once, not after {first:?}");
        assert_eq!(pending.len(), 1);
        pending.clear();
        // Busy: the next batch collects until one interval after the first.
        tx.try_send(event("/b")).expect("send");
        let sender = tokio::spawn(async move {
            tokio::time::sleep(INTERVAL / 3).await;
            tx.try_send(event("/c")).expect("send");
            tx
        });
        window.collect(&mut queue, &mut pending).await.expect("batch");
        assert!(started.elapsed() >= INTERVAL, "{:?}", started.elapsed());
        assert_eq!(pending.len(), 2, "{pending:?}");
        drop(sender.await.expect("sender"));
        assert!(
            window.collect(&mut queue, &mut pending).await.is_none(),
            "closed and empty"
        );
    }
}
