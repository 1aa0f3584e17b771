//! Batching of request events between the gateway's queue and the counters (TM links or Redis):
//! drain the queue for a few milliseconds after the first event and add up counts per key, so
//! a hot key costs its counter one entry per batch instead of one per request.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;

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

/// Collects events for up to `interval` after the first one, or until `max_keys` keys; `None`
/// once the queue is closed and empty.
pub async fn collect_batch(
    queue: &mut mpsc::Receiver<RequestEvent>,
    pending: &mut Pending,
    interval: Duration,
    max_keys: usize,
) -> Option<()> {
    let mut drained = Vec::with_capacity(DRAIN);
    if queue.recv_many(&mut drained, DRAIN).await == 0 {
        return None;
    }
    let deadline = tokio::time::Instant::now() + interval;
    loop {
        for event in drained.drain(..) {
            add_event(pending, &event);
        }
        if pending.len() >= max_keys {
            return Some(());
        }
        tokio::select! {
            n = queue.recv_many(&mut drained, DRAIN) => if n == 0 { return Some(()) },
            _ = tokio::time::sleep_until(deadline) => return Some(()),
        }
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
}
