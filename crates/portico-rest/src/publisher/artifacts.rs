//! Runtime artifact files: `<home>/deployment/server/<environment>/<apiId>.json`, written to a
//! temporary file and renamed so a gateway never reads half a document.

use std::path::PathBuf;

use portico_apis::{Api, LifecycleStatus, Placement, ProductSnapshot, RuntimeArtifact};
use portico_store::{API_TYPE_PRODUCT, ApiRow, RevisionRow};

use crate::{ApiError, RestState};

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
        if row.api_type == API_TYPE_PRODUCT {
            serde_json::from_str(&revision.snapshot)
                .map(|s| Snapshot::Product(Box::new(s)))
                .map_err(unreadable)
        } else {
            serde_json::from_str(&revision.snapshot)
                .map(|s| Snapshot::Api(Box::new(s)))
                .map_err(unreadable)
        }
    }

    /// The runtime artifact of this snapshot deployed at `at`.
    pub fn artifact(&self, status: LifecycleStatus, at: &Placement<'_>) -> Result<RuntimeArtifact, ApiError> {
        match self {
            Snapshot::Api(api) => portico_apis::api_artifact(api, status, at),
            Snapshot::Product(product) => portico_apis::product_artifact(product, status, at),
        }
        .map_err(|e| ApiError::internal(format!("The revision cannot be written as a runtime artifact: {e}")))
    }
}

pub fn path(state: &RestState, environment: &str, api_id: &str) -> PathBuf {
    state
        .config
        .home
        .join("deployment/server")
        .join(environment)
        .join(format!("{api_id}.json"))
}

/// Writes (or replaces) the artifact of one deployment.
pub async fn write(state: &RestState, artifact: &RuntimeArtifact) -> Result<(), ApiError> {
    let target = path(state, &artifact.environment, &artifact.id);
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
    state.artifacts_changed.notify_one();
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
pub async fn reconcile(state: &RestState) -> Result<usize, ApiError> {
    let deployments = state.store.list_all_deployments().await?;
    let mut expected = std::collections::HashSet::new();
    for d in &deployments {
        let (Some(row), Some(revision)) = (
            state.store.find_api(&d.api_id).await?,
            state.store.find_revision(&d.api_id, &d.revision_id).await?,
        ) else {
            continue;
        };
        let snapshot = Snapshot::of(&row, &revision)?;
        let status = super::api_of(&row)?.life_cycle_status;
        let artifact = snapshot.artifact(
            status,
            &Placement {
                revision_id: &revision.id,
                revision_number: revision.number,
                environment: &d.environment,
                vhost: &d.vhost,
                deployed_time: d.deployed_at,
            },
        );
        // One revision the artifact cannot carry must not keep the node from starting.
        let artifact = match artifact {
            Ok(artifact) => artifact,
            Err(e) => {
                tracing::warn!(api = %d.api_id, environment = %d.environment, error = %e, "deployment not written");
                continue;
            }
        };
        write(state, &artifact).await?;
        expected.insert(path(state, &d.environment, &d.api_id));
    }
    for env in &state.config.apim.gateway.environment {
        let dir = state.config.home.join("deployment/server").join(&env.name);
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
pub async fn remove(state: &RestState, environment: &str, api_id: &str) {
    let target = path(state, environment, api_id);
    if let Err(e) = tokio::fs::remove_file(&target).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %target.display(), error = %e, "cannot remove runtime artifact");
    }
    state.artifacts_changed.notify_one();
}

/// Rewrites the lifecycle status in every deployed artifact of an API.
pub async fn refresh_status(state: &RestState, api_id: &str, status: LifecycleStatus) {
    let Ok(deployments) = state.store.list_deployments(api_id).await else {
        return;
    };
    for deployment in deployments {
        let target = path(state, &deployment.environment, api_id);
        let Ok(text) = tokio::fs::read(&target).await else {
            continue;
        };
        let Ok(mut artifact) = serde_json::from_slice::<RuntimeArtifact>(&text) else {
            continue;
        };
        artifact.life_cycle_status = status.into();
        if let Err(e) = write(state, &artifact).await {
            tracing::warn!(error = %e, "lifecycle status not written to the artifact");
        }
    }
}
