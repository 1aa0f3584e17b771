//! Step 2c, for a node that started from its last-known-good snapshot: the start-up steps that
//! need the database, run once it answers (its migrations, the super admin, the cluster's
//! settings); then readiness may report ready once the change feed's followers have rebuilt
//! from the tables and caught up. No restart is needed.

use std::sync::Arc;
use std::time::Duration;

use portico_cluster::Readiness;
use portico_config::Config;
use portico_store::Store;

/// Pause between two attempts to reach the database.
const RETRY: Duration = Duration::from_secs(1);

/// Runs the deferred steps in the background, each retried until it succeeds.
pub fn spawn(config: Arc<Config>, store: Store, kid: String, readiness: Arc<Readiness>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut attempts = 0_u64;
        loop {
            match steps(&config, &store, &kid).await {
                Ok(()) => break,
                Err(e) => {
                    attempts += 1;
                    // Once, then every minute: the readiness watch already says the database is away.
                    if attempts == 1 || attempts.is_multiple_of(60) {
                        tracing::warn!(error = %e, "start-up steps that need the database wait for it");
                    }
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
        tracing::info!("the database answers: migrations, super admin and cluster settings done");
        readiness.started();
    })
}

async fn steps(config: &Config, store: &Store, kid: &str) -> anyhow::Result<()> {
    store.prepare().await?;
    super::store::bootstrap_super_admin(config, store).await?;
    super::cluster_settings::settle(config, store, kid).await?;
    Ok(())
}
