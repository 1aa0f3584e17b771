//! Admin REST API v4 (`/api/am/admin/v4`): what this slice serves of it (gateway environments;
//! key managers live in [`crate::key_managers`], the cluster's nodes in [`crate::cluster_nodes`]).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::key_managers;
use crate::{ApiError, Auth, RestState};

pub fn routes() -> Router<RestState> {
    Router::new()
        .route("/environments", get(list_environments))
        .route("/cluster/nodes", get(crate::cluster_nodes::list))
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
}

/// `GET /environments`: the gateway environments of `[[apim.gateway.environment]]`. They come
/// from the configuration, so they are read-only here, as in WSO2.
async fn list_environments(auth: Auth, State(state): State<RestState>) -> Result<Json<Value>, ApiError> {
    auth.require_any(&["apim:admin", "apim:environment_read"])?;
    let list: Vec<Value> = environments_json(&state);
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// WSO2's `Environment` objects for the configured environments (shared with the Publisher API).
pub fn environments_json(state: &RestState) -> Vec<Value> {
    let ports = state.config.ports();
    state
        .config
        .apim
        .gateway
        .environment
        .iter()
        .map(|env| {
            let vhosts: Vec<Value> = env
                .vhosts
                .iter()
                .map(|host| {
                    json!({
                        "host": host,
                        "httpContext": "",
                        "httpPort": ports.gateway_http,
                        "httpsPort": ports.gateway_https,
                        "wsPort": 9099,
                        "wssPort": 8099,
                    })
                })
                .collect();
            let mut uris = Vec::new();
            if let Some(u) = &env.http_endpoint {
                uris.push(json!({ "protocol": "http", "endpointURI": u }));
            }
            if let Some(u) = &env.https_endpoint {
                uris.push(json!({ "protocol": "https", "endpointURI": u }));
            }
            json!({
                "id": stable_id(&env.name),
                "name": env.name,
                "displayName": env.display_name.clone().unwrap_or_else(|| env.name.clone()),
                "provider": env.provider,
                "type": env.kind,
                "gatewayType": env.gateway_type,
                "description": env.description.clone().unwrap_or_default(),
                "isReadOnly": true,
                "mode": "READ_WRITE",
                "vhosts": vhosts,
                "endpointURIs": uris,
                "additionalProperties": [],
                "showInApiConsole": env.show_in_api_console,
            })
        })
        .collect()
}

/// A UUID-shaped id that is the same on every node for the same environment name.
pub(crate) fn stable_id(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(name.as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
