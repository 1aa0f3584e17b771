//! `GET /api/am/admin/v4/cluster/nodes`, a Portico extension of the Admin REST API (WSO2 has no
//! equivalent): the node registry, every node of the cluster with its state, as
//! `portico cluster status --json` prints it. Admins only.

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use crate::{ApiError, Auth, RestState};

pub async fn list(auth: Auth, State(state): State<RestState>) -> Result<Json<Value>, ApiError> {
    auth.require_any(&["apim:admin"])?;
    let status = portico_cluster::cluster_status(&state.store, state.config.cluster.node_timeout()).await?;
    Ok(Json(status.to_json()))
}
