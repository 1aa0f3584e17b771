//! Following the cluster's change feed: every node applies, in order, what any node appended.
//!
//! A follower keeps the last sequence number it applied, wakes on PostgreSQL's NOTIFY (on SQLite:
//! when a write of this process that appended commits), or every `poll` at the latest (the
//! safety net for a lost notification, and on SQLite what picks up other processes' writes),
//! and hands each batch of newer events to its handler. A node that was down
//! replays what it missed from where it stopped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use portico_store::{ChangeEvent, Store};

/// Events read per round.
const BATCH: i64 = 1000;

/// Where a follower stands, so that a writer on this node can wait until what it just committed
/// has been applied here (read-your-writes: when a REST call that changed a subscription answers,
/// this node's gateway already knows).
#[derive(Debug)]
pub struct FollowerProgress {
    wake: tokio::sync::Notify,
    applied: tokio::sync::watch::Sender<i64>,
}

impl FollowerProgress {
    pub fn new(position: i64) -> Arc<FollowerProgress> {
        Arc::new(FollowerProgress {
            wake: tokio::sync::Notify::new(),
            applied: tokio::sync::watch::Sender::new(position),
        })
    }

    /// The newest sequence number the follower has applied.
    pub fn applied(&self) -> i64 {
        *self.applied.borrow()
    }

    /// Wakes the follower and waits until it has applied every event up to `seq`, or `max` has
    /// passed. Returns whether it caught up.
    pub async fn caught_up(&self, seq: i64, max: Duration) -> bool {
        let mut applied = self.applied.subscribe();
        self.wake.notify_one();
        tokio::time::timeout(max, applied.wait_for(|p| *p >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Runs forever: waits for new events after `position` and passes each batch, oldest first, to
/// `on_events`. Spawn it and abort the task to stop.
pub async fn follow<F, Fut>(store: Store, position: i64, poll: Duration, on_events: F)
where
    F: FnMut(Vec<ChangeEvent>) -> Fut,
    Fut: Future<Output = ()>,
{
    follow_with_progress(store, FollowerProgress::new(position), poll, on_events).await
}

/// [`follow`], starting from `progress`'s position, reporting each applied batch to it and also
/// woken by [`FollowerProgress::caught_up`].
pub async fn follow_with_progress<F, Fut>(
    store: Store,
    progress: Arc<FollowerProgress>,
    poll: Duration,
    mut on_events: F,
) where
    F: FnMut(Vec<ChangeEvent>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut position = progress.applied();
    let mut listener = None;
    loop {
        if listener.is_none() {
            match store.feed_listener().await {
                Ok(l) => listener = Some(l),
                Err(e) => tracing::warn!(error = %e, "cannot listen for change-feed notifications; polling"),
            }
        }
        // Read what is there before waiting: the listener is subscribed by now, so a commit
        // made before this read is in it, and one made after wakes the wait below.
        loop {
            match store.events_after(position, BATCH).await {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    let full = events.len() as i64 == BATCH;
                    if let Some(last) = events.last() {
                        position = last.seq;
                    }
                    on_events(events).await;
                    progress.applied.send_replace(position);
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
        let wait = async {
            match &mut listener {
                Some(l) => l.wait(poll).await,
                None => tokio::time::sleep(poll).await,
            }
        };
        tokio::select! {
            () = wait => {}
            () = progress.wake.notified() => {}
        }
    }
}
