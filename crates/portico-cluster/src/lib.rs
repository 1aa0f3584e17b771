//! Following the cluster's change feed: every node applies, in order, what any node appended.
//!
//! A follower keeps the last sequence number it applied, wakes on PostgreSQL's NOTIFY (or every
//! `poll` at the latest, which is also the safety net when a notification is lost or the
//! database is SQLite) and hands each batch of newer events to its handler. A node that was down
//! replays what it missed from where it stopped.
#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Duration;

use portico_store::{ChangeEvent, Store};

/// Events read per round.
const BATCH: i64 = 1000;

/// Runs forever: waits for new events after `position` and passes each batch, oldest first, to
/// `on_events`. Spawn it and abort the task to stop.
pub async fn follow<F, Fut>(store: Store, mut position: i64, poll: Duration, mut on_events: F)
where
    F: FnMut(Vec<ChangeEvent>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut listener = None;
    loop {
        if listener.is_none() {
            match store.feed_listener().await {
                Ok(l) => listener = Some(l),
                Err(e) => tracing::warn!(error = %e, "cannot listen for change-feed notifications; polling"),
            }
        }
        match &mut listener {
            Some(l) => l.wait(poll).await,
            None => tokio::time::sleep(poll).await,
        }
        loop {
            match store.events_after(position, BATCH).await {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    let full = events.len() as i64 == BATCH;
                    if let Some(last) = events.last() {
                        position = last.seq;
                    }
                    on_events(events).await;
                    if !full {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the change feed");
                    break;
                }
            }
        }
    }
}
