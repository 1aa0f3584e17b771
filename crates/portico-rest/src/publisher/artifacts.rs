//! Runtime artifact files: `<home>/deployment/server/<environment>/<apiId>.json`, written to a
//! temporary file and renamed so a gateway never reads half a document.

use std::path::PathBuf;

use portico_apis::RuntimeArtifact;

use crate::{ApiError, RestState};

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
    result.map_err(|e| {
        tracing::error!(path = %target.display(), error = %e, "cannot write runtime artifact");
        ApiError::internal(format!(
            "The deployment was recorded but its artifact could not be written to {}: {e}",
            target.display()
        ))
    })
}

/// Removes an artifact; a missing file is fine.
pub async fn remove(state: &RestState, environment: &str, api_id: &str) {
    let target = path(state, environment, api_id);
    if let Err(e) = tokio::fs::remove_file(&target).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %target.display(), error = %e, "cannot remove runtime artifact");
    }
}

/// Rewrites the lifecycle status in every deployed artifact of an API.
pub async fn refresh_status(state: &RestState, api_id: &str, status: portico_apis::LifecycleStatus) {
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
        artifact.life_cycle_status = status;
        if let Err(e) = write(state, &artifact).await {
            tracing::warn!(error = %e, "lifecycle status not written to the artifact");
        }
    }
}
