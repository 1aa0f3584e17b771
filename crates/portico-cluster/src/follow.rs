//! Following the cluster's change feed: every node applies, in order, what any node appended.
//!
//! A follower keeps the last sequence number it applied, wakes on PostgreSQL's NOTIFY (on SQLite:
//! when a write of this process that appended commits), or every `poll` at the latest (the
//! safety net for a lost notification, and on SQLite what picks up other processes' writes),
//! and hands each batch of newer events to its handler ([`FeedHandler`]). A node that was down
//! replays what it missed from where it stopped; one whose missed events were pruned, or whose
//! state came from a last-known-good snapshot, rebuilds from the tables first. A batch that
//! fails because the database is away is read again: the position only moves past what was
//! applied.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use portico_store::{ChangeEvent, Store, StoreError};

/// Events read per round.
const BATCH: i64 = 1000;

/// Where a follower stands, so that a writer on this node can wait until what it just committed
/// has been applied here (read-your-writes: when a REST call that changed a subscription answers,
/// this node's gateway already knows).
#[derive(Debug)]
pub struct FollowerProgress {
    wake: tokio::sync::Notify,
    applied: tokio::sync::watch::Sender<i64>,
    /// What the follower keeps was loaded from a last-known-good snapshot, not the tables: it
    /// rebuilds before it replays, and is not in step until it has.
    stale: AtomicBool,
}

impl FollowerProgress {
    pub fn new(position: i64) -> Arc<FollowerProgress> {
        FollowerProgress::starting(position, false)
    }

    /// A follower whose state came from a last-known-good snapshot taken at `position`: it
    /// rebuilds from the tables as soon as the database answers, then replays from there.
    pub fn from_snapshot(position: i64) -> Arc<FollowerProgress> {
        FollowerProgress::starting(position, true)
    }

    fn starting(position: i64, stale: bool) -> Arc<FollowerProgress> {
        Arc::new(FollowerProgress {
            wake: tokio::sync::Notify::new(),
            applied: tokio::sync::watch::Sender::new(position),
            stale: AtomicBool::new(stale),
        })
    }

    /// Whether the follower has applied everything up to `head` from the tables or the feed
    /// (not only from a snapshot).
    pub fn in_step_with(&self, head: i64) -> bool {
        !self.stale.load(Ordering::Acquire) && self.applied() >= head
    }

    /// Whether what the follower keeps still comes from a last-known-good snapshot.
    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }

    /// Wakes the follower now (readiness asks it to catch up rather than wait for its poll).
    pub fn wake(&self) {
        self.wake.notify_one();
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

/// A batch or a rebuild that must be tried again later: the database was away.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Retry(pub String);

impl From<StoreError> for Retry {
    fn from(e: StoreError) -> Retry {
        Retry(e.to_string())
    }
}

/// `Ok(Some(value))`; `Ok(None)` (logged with `what`) for a failure that retrying would not
/// mend; [`Retry`] when the database is away.
pub fn retry_if_unavailable<T>(result: Result<T, StoreError>, what: &str) -> Result<Option<T>, Retry> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_unavailable() => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot {what}");
            Ok(None)
        }
    }
}

/// What a follower does with the feed.
pub trait FeedHandler: Send {
    /// Applies one batch of events, oldest first. [`Retry`] (the database is away) leaves the
    /// position where it was: the batch is read again after the next wait. Other failures are
    /// the handler's to log.
    fn apply(&mut self, events: Vec<ChangeEvent>) -> impl Future<Output = Result<(), Retry>> + Send;

    /// Reloads everything this follower keeps from the tables: called instead of replaying when
    /// events it has not applied were pruned from the feed, and first of all when it starts
    /// from a last-known-good snapshot rather than from the tables.
    fn rebuild(&mut self) -> impl Future<Output = Result<(), Retry>> + Send;
}

/// A handler of events alone (it keeps nothing it could reload): a pruned gap is logged.
struct EventsOnly<F>(F);

impl<F, Fut> FeedHandler for EventsOnly<F>
where
    F: FnMut(Vec<ChangeEvent>) -> Fut + Send,
    Fut: Future<Output = ()> + Send,
{
    async fn apply(&mut self, events: Vec<ChangeEvent>) -> Result<(), Retry> {
        (self.0)(events).await;
        Ok(())
    }

    async fn rebuild(&mut self) -> Result<(), Retry> {
        tracing::warn!("change-feed events this follower had not applied were pruned; it goes on from the oldest kept");
        Ok(())
    }
}

/// Runs forever: waits for new events after `position` and passes each batch, oldest first, to
/// `on_events`. Spawn it and abort the task to stop.
pub async fn follow<F, Fut>(store: Store, position: i64, poll: Duration, on_events: F)
where
    F: FnMut(Vec<ChangeEvent>) -> Fut + Send,
    Fut: Future<Output = ()> + Send,
{
    follow_feed(store, FollowerProgress::new(position), poll, EventsOnly(on_events)).await
}

/// [`follow`] with a [`FeedHandler`], starting from `progress`'s position, reporting each
/// applied batch to it and also woken by [`FollowerProgress::caught_up`]. Before reading, it
/// compares its position with the feed's prune point: behind it, or when `progress` was made
/// [`FollowerProgress::from_snapshot`], the handler rebuilds from the tables and the follower
/// goes on from the feed's head as it was before the rebuild.
pub async fn follow_feed<H: FeedHandler>(
    store: Store,
    progress: Arc<FollowerProgress>,
    poll: Duration,
    mut handler: H,
) {
    let mut position = progress.applied();
    let mut listener = None;
    let mut unavailable = false;
    loop {
        if listener.is_none() {
            match store.feed_listener().await {
                Ok(l) => listener = Some(l),
                Err(e) => tracing::debug!(error = %e, "cannot listen for change-feed notifications; polling"),
            }
        }
        match read_and_apply(&store, &progress, &mut position, &mut handler).await {
            Ok(()) => {
                if unavailable {
                    tracing::info!(position, "the change feed is readable again");
                }
                unavailable = false;
            }
            Err(e) => {
                // Logged once per outage: the follower retries every wait.
                if !unavailable {
                    tracing::warn!(error = %e, position, "cannot read or apply the change feed; retrying");
                }
                unavailable = true;
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

/// Rebuilds when needed, then reads what is there and applies it, batch by batch. The listener
/// is subscribed by now, so a commit made before this read is in it, and one made after wakes
/// the next wait.
async fn read_and_apply<H: FeedHandler>(
    store: &Store,
    progress: &FollowerProgress,
    position: &mut i64,
    handler: &mut H,
) -> Result<(), Retry> {
    let pruned_through = store.feed_pruned_through().await?;
    if progress.stale.load(Ordering::Acquire) || *position < pruned_through {
        let head = store.latest_seq().await?.max(pruned_through);
        if *position < pruned_through {
            tracing::info!(
                position = *position,
                pruned_through,
                "events this node had not applied were pruned from the change feed; rebuilding from the tables"
            );
        }
        handler.rebuild().await?;
        *position = (*position).max(head);
        progress.stale.store(false, Ordering::Release);
        progress.applied.send_replace(*position);
    }
    loop {
        let events = store.events_after(*position, BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(());
        };
        let full = events.len() as i64 == BATCH;
        handler.apply(events).await?;
        *position = last;
        progress.applied.send_replace(last);
        if !full {
            return Ok(());
        }
    }
}
