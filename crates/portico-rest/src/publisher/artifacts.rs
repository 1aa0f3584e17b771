//! The deploy pipeline's output: runtime artifact files,
//! `<home>/deployment/server/<environment>/<apiId>.json`, one per recorded deployment, written
//! to a temporary file and renamed so a gateway never reads half a document.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use portico_apis::{Api, LifecycleStatus, Placement, ProductSnapshot, RuntimeArtifact};
use portico_config::Config;
use portico_store::{ApiRow, DeploymentRow, RevisionRow, Store};
use tokio::sync::Notify;

use crate::common::api_rows::{api_of, is_product};
use crate::error::ApiError;

/// A revision's snapshot, of an API or of an API Product.
pub enum Snapshot {
    Api(Box<Api>),
    Product(Box<ProductSnapshot>),
}

impl Snapshot {
    /// Reads the revision of `row` (an API or a product).
    pub fn of(row: &ApiRow, revision: &RevisionRow) -> Result<Snapshot, ApiError> {
        let unreadable = |e: serde_json::Error| {
            tracing::error!(revision = %revision.id, error = %e, "stored revision does not parse");
            ApiError::internal(format!("The stored revision {} is unreadable", revision.id))
        };
        if is_product(row) {
            serde_json::from_str(&revision.snapshot)
                .map(|s| Snapshot::Product(Box::new(s)))
                .map_err(unreadable)
        } else {
            serde_json::from_str(&revision.snapshot)
                .map(|s| Snapshot::Api(Box::new(s)))
                .map_err(unreadable)
        }
    }

    /// The runtime artifact of this snapshot (of `revision`) as `deployment` placed it.
    pub fn artifact(
        &self,
        status: LifecycleStatus,
        revision: &RevisionRow,
        deployment: &DeploymentRow,
    ) -> Result<RuntimeArtifact, ApiError> {
        let at = Placement {
            revision_id: &revision.id,
            revision_number: revision.number,
            environment: &deployment.environment,
            vhost: &deployment.vhost,
            deployed_time: deployment.deployed_at,
        };
        match self {
            Snapshot::Api(api) => portico_apis::api_artifact(api, status, &at),
            Snapshot::Product(product) => portico_apis::product_artifact(product, status, &at),
        }
        .map_err(|e| ApiError::internal(format!("The revision cannot be written as a runtime artifact: {e}")))
    }
}

/// The runtime artifact files of the deployments recorded in the store, and what writing them
/// needs: the store (for the deployments), the artifact directory, the configured gateway
/// environments and the wake-up of this node's gateway. Cheap to clone.
#[derive(Clone)]
pub struct ArtifactFiles {
    store: Store,
    /// `<home>/deployment/server`.
    root: PathBuf,
    /// The configured gateway environments: stale files are removed from their directories.
    environments: Arc<[String]>,
    /// Woken whenever an artifact file is written or removed, so this node's gateway reloads at
    /// once instead of at its next poll.
    changed: Arc<Notify>,
}

impl ArtifactFiles {
    /// The artifact files under `config`'s home, for the deployments in `store`; `changed` is
    /// woken after every write and removal.
    pub fn new(store: Store, config: &Config, changed: Arc<Notify>) -> ArtifactFiles {
        ArtifactFiles {
            store,
            root: config.home.join("deployment/server"),
            environments: config.apim.gateway.environment.iter().map(|e| e.name.clone()).collect(),
            changed,
        }
    }

    /// The wake-up this node's gateway waits on: woken after every write and removal.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    fn path(&self, environment: &str, api_id: &str) -> PathBuf {
        self.root.join(environment).join(format!("{api_id}.json"))
    }

    /// Writes (or replaces) the artifact of one deployment.
    pub(crate) async fn write(&self, artifact: &RuntimeArtifact) -> Result<(), ApiError> {
        let target = self.path(&artifact.environment, &artifact.id);
        let text = serde_json::to_vec_pretty(artifact)
            .map_err(|e| ApiError::internal(format!("cannot serialise the runtime artifact: {e}")))?;
        let result = async {
            if let Some(dir) = target.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            let temp = target.with_extension(format!("json.{}.tmp", uuid::Uuid::new_v4().simple()));
            tokio::fs::write(&temp, &text).await?;
            if let Err(e) = tokio::fs::rename(&temp, &target).await {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e);
            }
            Ok::<(), std::io::Error>(())
        }
        .await;
        self.changed.notify_one();
        result.map_err(|e| {
            tracing::error!(path = %target.display(), error = %e, "cannot write runtime artifact");
            ApiError::internal(format!(
                "The deployment was recorded but its artifact could not be written to {}: {e}",
                target.display()
            ))
        })
    }

    /// Makes `deployment/server/` match the database: writes the artifact of every recorded
    /// deployment and removes artifact files (and leftover temporary files) of configured
    /// environments that no deployment accounts for. Returns how many artifacts were written.
    pub async fn reconcile(&self) -> Result<usize, ApiError> {
        let deployments = self.store.list_all_deployments().await?;
        let mut expected = HashSet::new();
        for d in &deployments {
            let (Some(row), Some(revision)) = (
                self.store.find_api(&d.api_id).await?,
                self.store.find_revision(&d.api_id, &d.revision_id).await?,
            ) else {
                continue;
            };
            let snapshot = Snapshot::of(&row, &revision)?;
            let status = api_of(&row)?.life_cycle_status;
            // One revision the artifact cannot carry must not keep the node from starting.
            let artifact = match snapshot.artifact(status, &revision, d) {
                Ok(artifact) => artifact,
                Err(e) => {
                    tracing::warn!(api = %d.api_id, environment = %d.environment, error = %e, "deployment not written");
                    continue;
                }
            };
            self.write(&artifact).await?;
            expected.insert(self.path(&d.environment, &d.api_id));
        }
        for environment in self.environments.iter() {
            let dir = self.root.join(environment);
            let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
                continue;
            };
            while let Ok(Some(entry)) = entries.next_entry().await {
                let file = entry.path();
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
                let stale = (name.ends_with(".json") && !expected.contains(&file)) || name.ends_with(".tmp");
                if stale && let Err(e) = tokio::fs::remove_file(&file).await {
                    tracing::warn!(path = %file.display(), error = %e, "cannot remove stale artifact");
                }
            }
        }
        Ok(expected.len())
    }

    /// Removes an artifact; a missing file is fine.
    pub(crate) async fn remove(&self, environment: &str, api_id: &str) {
        let target = self.path(environment, api_id);
        if let Err(e) = tokio::fs::remove_file(&target).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %target.display(), error = %e, "cannot remove runtime artifact");
        }
        self.changed.notify_one();
    }

    /// Rewrites the lifecycle status in every deployed artifact of an API.
    pub(crate) async fn refresh_status(&self, api_id: &str, status: LifecycleStatus) {
        let deployments = match self.store.list_deployments(api_id).await {
            Ok(deployments) => deployments,
            Err(e) => {
                tracing::warn!(api = %api_id, error = %e, "lifecycle status not written to the artifacts: cannot read the deployments");
                return;
            }
        };
        for deployment in deployments {
            let target = self.path(&deployment.environment, api_id);
            let Ok(text) = tokio::fs::read(&target).await else {
                continue;
            };
            let Ok(mut artifact) = serde_json::from_slice::<RuntimeArtifact>(&text) else {
                continue;
            };
            artifact.life_cycle_status = status.into();
            if let Err(e) = self.write(&artifact).await {
                tracing::warn!(error = %e, "lifecycle status not written to the artifact");
            }
        }
    }
}
