//! This node's entry in the node registry: registered at start, a heartbeat every interval with
//! the change-feed position its gateway applied and the revisions it has deployed (sent again
//! only when they changed), and marked stopped on a graceful stop. A database that is away is
//! logged and retried at the next beat; a row that disappeared is written again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use portico_store::{NodeProgress, NodeRegistration, Store, StoreError};

use crate::deployed::{Deployed, DeployedRevisions};
use crate::follow::FollowerProgress;

/// Longest the registration at start-up waits for the database.
const FIRST_BEAT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the heartbeat of one node needs.
pub struct Heartbeat {
    pub store: Store,
    pub registration: NodeRegistration,
    pub interval: Duration,
    /// The gateway's follower of the change feed.
    pub progress: Arc<FollowerProgress>,
    /// The node's runtime artifacts.
    pub deployed: DeployedRevisions,
}

/// The running heartbeat; [`HeartbeatTask::stop`] ends it.
pub struct HeartbeatTask {
    task: tokio::task::JoinHandle<()>,
    store: Store,
    node_id: String,
}

/// The loop's state between beats.
struct Beat {
    store: Store,
    registration: NodeRegistration,
    progress: Arc<FollowerProgress>,
    /// Shared with the blocking task that reads the artifact directory.
    deployed: Arc<Mutex<DeployedRevisions>>,
    registered: bool,
    /// The deployments the registry holds for this node, when known.
    written: Option<String>,
}

impl Heartbeat {
    /// Registers the node now (so that it is listed before it reports ready; a failure, or no
    /// answer within 2 s, is logged and the loop registers later) and beats every interval until stopped.
    pub async fn start(self) -> HeartbeatTask {
        let store = self.store.clone();
        let node_id = self.registration.node_id.clone();
        let interval = self.interval;
        let mut beat = Beat {
            store: self.store,
            registration: self.registration,
            progress: self.progress,
            deployed: Arc::new(Mutex::new(self.deployed)),
            registered: false,
            written: None,
        };
        // A database that is away does not hold the start up: the loop registers later.
        if tokio::time::timeout(FIRST_BEAT_TIMEOUT, beat.once()).await.is_err() {
            tracing::warn!("cannot register in the node registry yet; retrying every heartbeat");
        }
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                beat.once().await;
            }
        });
        HeartbeatTask { task, store, node_id }
    }
}

impl HeartbeatTask {
    /// Ends the heartbeat and marks the node stopped in the registry.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        if let Err(e) = self.store.node_stopped(&self.node_id).await {
            tracing::warn!(error = %e, "cannot mark this node stopped in the node registry");
        }
    }
}

impl Beat {
    /// One heartbeat (or registration); errors are logged.
    async fn once(&mut self) {
        let deployed = self.read_deployed().await;
        let text = serde_json::to_string(&deployed).unwrap_or_else(|_| "{}".to_owned());
        let progress = NodeProgress {
            feed_position: self.progress.applied(),
            deployments: (self.written.as_ref() != Some(&text)).then(|| text.clone()),
        };
        match self.send(&progress).await {
            Ok(()) => self.written = Some(text),
            Err(e) => {
                // What the registry holds is unknown now: send everything next time.
                self.written = None;
                tracing::warn!(error = %e, "cannot heartbeat into the node registry");
            }
        }
    }

    async fn send(&mut self, progress: &NodeProgress) -> Result<(), StoreError> {
        if self.registered {
            if self.store.node_heartbeat(&self.registration.node_id, progress).await? {
                return Ok(());
            }
            tracing::info!(node_id = %self.registration.node_id, "this node's registry entry was gone; registering again");
        }
        let full = NodeProgress {
            feed_position: progress.feed_position,
            deployments: progress.deployments.clone().or_else(|| self.written.clone()),
        };
        self.store.register_node(&self.registration, &full).await?;
        self.registered = true;
        Ok(())
    }

    /// The artifact directory read off the async workers.
    async fn read_deployed(&self) -> Deployed {
        let deployed = self.deployed.clone();
        tokio::task::spawn_blocking(move || deployed.lock().map(|mut d| d.current()).unwrap_or_default())
            .await
            .unwrap_or_default()
    }
}
