//! Admin REST API v4 (`/api/am/admin/v4`): what this slice serves of it (gateway environments;
//! key managers live in [`crate::key_managers`], the cluster's nodes in [`crate::cluster_nodes`],
//! throttling policies in [`crate::throttling`], the audit log in [`crate::audit`]).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::common::environments::environments_json;
use crate::error::ApiError;
use crate::key_managers;
use crate::state::RestState;
use crate::throttling;

pub fn routes() -> Router<RestState> {
    Router::new()
        .route("/environments", get(list_environments))
        .route("/cluster/nodes", get(crate::cluster_nodes::list))
        .route("/audit-log", get(crate::audit::list))
        .route(
            "/key-managers",
            get(key_managers::admin_list).post(key_managers::create),
        )
        .route("/key-managers/discover", axum::routing::post(key_managers::discover))
        .route(
            "/key-managers/{key_manager_id}",
            get(key_managers::get_one)
                .put(key_managers::update)
                .delete(key_managers::delete),
        )
        .merge(throttling::routes())
}

/// `GET /environments`: the gateway environments of `[[apim.gateway.environment]]`. They come
/// from the configuration, so they are read-only here, as in WSO2.
async fn list_environments(auth: Auth, State(state): State<RestState>) -> Result<Json<Value>, ApiError> {
    auth.require_any(&["apim:admin", "apim:environment_read"])?;
    let list: Vec<Value> = environments_json(&state.config);
    Ok(Json(json!({ "count": list.len(), "list": list })))
}
