//! Revisions (immutable snapshots, at most 5 per API) and their deployments:
//! `/apis/{apiId}/revisions`, `deploy-revision`, `undeploy-revision`, `deployments`,
//! `restore-revision`.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portico_apis::input::{coerce_bool, coerce_string, get, kind_of, object};
use portico_apis::{Api, InputError};
use portico_store::{
    CreateRevision, DeleteRevision, DeploymentRow, DeploymentTarget, MAX_REVISIONS_PER_API, RevisionRow, now_millis,
};
use serde_json::{Value, json};

use super::apis::api_response;
use super::artifacts::Snapshot;
use super::forward;
use super::products::{self, product_response};
use crate::auth::Auth;
use crate::common::api_rows::{api_of, load_kind, product_of};
use crate::common::body::json_body;
use crate::common::time::rfc3339;
use crate::error::{ApiError, input_error};
use crate::state::RestState;

fn deployment_json(d: &DeploymentRow) -> Value {
    json!({
        "revisionUuid": d.revision_id,
        "name": d.environment,
        "vhost": d.vhost,
        "displayOnDevportal": d.display_on_devportal,
        "status": "APPROVED",
        "deployedTime": rfc3339(d.deployed_at),
        "successDeployedTime": rfc3339(d.deployed_at),
    })
}

fn revision_json(r: &RevisionRow, deployments: &[DeploymentRow]) -> Value {
    let info: Vec<Value> = deployments
        .iter()
        .filter(|d| d.revision_id == r.id)
        .map(deployment_json)
        .collect();
    json!({
        "displayName": format!("Revision {}", r.number),
        "id": r.id,
        "description": r.description,
        "createdTime": rfc3339(r.created_at),
        "apiInfo": { "id": r.api_id },
        "deploymentInfo": info,
    })
}

async fn load_revision(state: &RestState, api_id: &str, revision_id: &str) -> Result<RevisionRow, ApiError> {
    state
        .store
        .find_revision(api_id, revision_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Revision {revision_id} of API {api_id} not found")))
}

fn required_query<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("The query parameter `{name}` is required")))
}

/// `POST /apis/{apiId}/revisions` (body: `{"description": "..."}`, optional).
pub async fn create<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require_any(&[
        "apim:api_create",
        "apim:api_manage",
        "apim:api_publish",
        "apim:api_import_export",
    ])?;
    let description = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let body = json_body(&headers, &body)?;
        let obj = object(&body, "body").map_err(input_error)?;
        let description = coerce_string(get(obj, "description"), "description").map_err(input_error)?;
        if description.as_ref().is_some_and(|d| d.chars().count() > 255) {
            return Err(input_error(InputError::new(
                "description",
                "is longer than 255 characters",
            )));
        }
        description
    };
    let row = load_kind(&state.store, &api_id, PRODUCT).await?;
    let created = if PRODUCT {
        let backends = products::backends_of(&state, &product_of(&row)?).await?;
        state
            .store
            .create_revision(&api_id, description.as_deref(), |document, number, _| {
                products::snapshot(document, number, &backends)
            })
            .await?
    } else {
        state
            .store
            .create_revision(
                &api_id,
                description.as_deref(),
                |document, number, _| match serde_json::from_str::<Api>(document) {
                    Ok(mut api) => {
                        api.is_revision = true;
                        api.revisioned_api_id = Some(api.id.clone());
                        api.revision_id = number;
                        serde_json::to_string(&api).unwrap_or_else(|_| document.to_owned())
                    }
                    Err(_) => document.to_owned(),
                },
            )
            .await?
    };
    match created {
        CreateRevision::Created(row) => Ok((StatusCode::CREATED, Json(revision_json(&row, &[]))).into_response()),
        CreateRevision::LimitReached => Err(ApiError::bad_request(format!(
            "Maximum number of revisions per API ({MAX_REVISIONS_PER_API}) reached for API {api_id}; delete a revision that is not deployed first"
        ))),
    }
}

/// `GET /apis/{apiId}/revisions` (`query=deployed:true|false` filters).
pub async fn list<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&[
        "apim:api_view",
        "apim:api_create",
        "apim:api_manage",
        "apim:api_publish",
        "apim:api_import_export",
    ])?;
    load_kind(&state.store, &api_id, PRODUCT).await?;
    let deployed_filter = match params.get("query").map(|q| q.trim()) {
        None | Some("") => None,
        Some("deployed:true") => Some(true),
        Some("deployed:false") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "query: \"{other}\" is not supported; use deployed:true or deployed:false"
            )));
        }
    };
    let deployments = state.store.list_deployments(&api_id).await?;
    let list: Vec<Value> = state
        .store
        .list_revisions(&api_id)
        .await?
        .iter()
        .filter(|r| deployed_filter.is_none_or(|want| deployments.iter().any(|d| d.revision_id == r.id) == want))
        .map(|r| revision_json(r, &deployments))
        .collect();
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// `GET /apis/{apiId}/revisions/{revisionId}`.
pub async fn get_one<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path((api_id, revision_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&[
        "apim:api_view",
        "apim:api_create",
        "apim:api_manage",
        "apim:api_publish",
    ])?;
    load_kind(&state.store, &api_id, PRODUCT).await?;
    let revision = load_revision(&state, &api_id, &revision_id).await?;
    let deployments = state.store.list_deployments(&api_id).await?;
    Ok(Json(revision_json(&revision, &deployments)))
}

/// `DELETE /apis/{apiId}/revisions/{revisionId}`: refused (409) while deployed; answers the
/// remaining revisions, as WSO2.
pub async fn delete<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path((api_id, revision_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&[
        "apim:api_create",
        "apim:api_manage",
        "apim:api_publish",
        "apim:api_import_export",
    ])?;
    load_kind(&state.store, &api_id, PRODUCT).await?;
    match state.store.delete_revision(&api_id, &revision_id).await? {
        DeleteRevision::Deleted => {}
        DeleteRevision::NotFound => {
            return Err(ApiError::not_found(format!(
                "Revision {revision_id} of API {api_id} not found"
            )));
        }
        DeleteRevision::Deployed(environments) => {
            return Err(ApiError::conflict(format!(
                "Revision {revision_id} is deployed in {}; undeploy it before deleting it",
                environments.join(", ")
            )));
        }
    }
    let deployments = state.store.list_deployments(&api_id).await?;
    let list: Vec<Value> = state
        .store
        .list_revisions(&api_id)
        .await?
        .iter()
        .map(|r| revision_json(r, &deployments))
        .collect();
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// `GET /apis/{apiId}/deployments`.
pub async fn deployments<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&[
        "apim:api_view",
        "apim:api_create",
        "apim:api_manage",
        "apim:api_publish",
    ])?;
    load_kind(&state.store, &api_id, PRODUCT).await?;
    let list: Vec<Value> = state
        .store
        .list_deployments(&api_id)
        .await?
        .iter()
        .map(deployment_json)
        .collect();
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// Reads `[{name, vhost, displayOnDevportal}]`, checking names and vhosts against the
/// configured environments.
fn parse_targets(state: &RestState, body: &Value) -> Result<Vec<DeploymentTarget>, ApiError> {
    let Value::Array(items) = body else {
        return Err(input_error(InputError::new(
            "body",
            format!(
                "must be an array of {{name, vhost, displayOnDevportal}}, not {}",
                kind_of(body)
            ),
        )));
    };
    if items.is_empty() {
        return Err(input_error(InputError::new(
            "body",
            "must name at least one environment",
        )));
    }
    let environments = &state.config.apim.gateway.environment;
    let mut targets: Vec<DeploymentTarget> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = |k: &str| format!("[{i}].{k}");
        let obj = object(item, &format!("[{i}]")).map_err(input_error)?;
        let name = coerce_string(get(obj, "name"), &field("name"))
            .map_err(input_error)?
            .ok_or_else(|| input_error(InputError::new(field("name"), "is required")))?;
        let Some(env) = environments.iter().find(|e| e.name == name) else {
            let known: Vec<&str> = environments.iter().map(|e| e.name.as_str()).collect();
            return Err(input_error(InputError::new(
                field("name"),
                format!(
                    "unknown gateway environment \"{name}\"; configured: {}",
                    known.join(", ")
                ),
            )));
        };
        let vhost = match coerce_string(get(obj, "vhost"), &field("vhost")).map_err(input_error)? {
            Some(v) if env.vhosts.contains(&v) => v,
            Some(v) => {
                return Err(input_error(InputError::new(
                    field("vhost"),
                    format!(
                        "\"{v}\" is not a vhost of environment {name}; it has {}",
                        env.vhosts.join(", ")
                    ),
                )));
            }
            None => env
                .vhosts
                .first()
                .cloned()
                .unwrap_or_else(|| state.config.server.hostname.clone()),
        };
        let display_on_devportal = coerce_bool(get(obj, "displayOnDevportal"), &field("displayOnDevportal"))
            .map_err(input_error)?
            .unwrap_or(true);
        if targets.iter().any(|t| t.environment == name) {
            return Err(input_error(InputError::new(
                field("name"),
                format!("environment {name} is listed twice"),
            )));
        }
        targets.push(DeploymentTarget {
            environment: name,
            vhost,
            display_on_devportal,
        });
    }
    Ok(targets)
}

/// `POST /apis/{apiId}/deploy-revision?revisionId=`: records the deployments and their
/// `api.deployed` events in one transaction, then writes the runtime artifacts.
pub async fn deploy<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require_any(&["apim:api_create", "apim:api_manage", "apim:api_publish"])?;
    let revision_id = required_query(&params, "revisionId")?;
    let raw_body = body;
    let body = json_body(&headers, &raw_body)?;
    let targets = parse_targets(&state, &body)?;
    // An rsync worker deploys on its manager (the rsync copy runs from there).
    if let forward::Route::Manager { url, environment } = forward::route(&state, &targets).await? {
        let kind = if PRODUCT { "api-products" } else { "apis" };
        let path = format!("/{kind}/{api_id}/deploy-revision");
        let manager = (&url, environment.as_str());
        return forward::deploy(&state, &auth.0, &headers, manager, &path, revision_id, raw_body).await;
    }
    let row = load_kind(&state.store, &api_id, PRODUCT).await?;
    let revision = load_revision(&state, &api_id, revision_id).await?;
    // Parsed before recording the deployment, so an unreadable revision is refused first.
    let snapshot = Snapshot::of(&row, &revision)?;
    let deployed = state.store.deploy_revision(&api_id, revision_id, &targets).await?;
    let status = api_of(&row)?.life_cycle_status;
    for d in &deployed {
        state.artifacts.write(&snapshot.artifact(status, &revision, d)?).await?;
    }
    let list: Vec<Value> = deployed.iter().map(deployment_json).collect();
    // publisher-api.yaml lists 200 for this operation.
    Ok((StatusCode::OK, Json(Value::Array(list))).into_response())
}

/// `POST /apis/{apiId}/undeploy-revision?revisionId=[&allEnvironments=true]` (body: the
/// environments to undeploy from). Answers the API's remaining deployments.
pub async fn undeploy<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require_any(&[
        "apim:api_create",
        "apim:api_manage",
        "apim:api_publish",
        "apim:api_import_export",
    ])?;
    load_kind(&state.store, &api_id, PRODUCT).await?;
    let revision_id = match (params.get("revisionId"), params.get("revisionNum")) {
        (Some(id), _) if !id.is_empty() => id.clone(),
        (_, Some(num)) => {
            let num: i64 = num
                .parse()
                .map_err(|_| ApiError::bad_request(format!("`revisionNum` must be an integer, not \"{num}\"")))?;
            state
                .store
                .list_revisions(&api_id)
                .await?
                .into_iter()
                .find(|r| r.number == num)
                .map(|r| r.id)
                .ok_or_else(|| ApiError::not_found(format!("Revision number {num} of API {api_id} not found")))?
        }
        _ => return Err(ApiError::bad_request("The query parameter `revisionId` is required")),
    };
    load_revision(&state, &api_id, &revision_id).await?;
    let all = match params.get("allEnvironments").map(|v| v.to_ascii_lowercase()) {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "`allEnvironments` must be true or false, not \"{v}\""
            )));
        }
    };
    // The body is read and checked with the flag too (a body that is not a list of
    // environments is a 400 either way); only an empty body may go with the flag.
    let names: Option<Vec<String>> = if all && body.is_empty() {
        None
    } else {
        let body = json_body(&headers, &body)?;
        Some(
            parse_targets(&state, &body)?
                .into_iter()
                .map(|t| t.environment)
                .collect(),
        )
    };
    let removed = state
        .store
        .undeploy_revision(&api_id, &revision_id, names.as_deref().filter(|_| !all))
        .await?;
    for d in &removed {
        state.artifacts.remove(&d.environment, &api_id).await;
    }
    let list: Vec<Value> = state
        .store
        .list_deployments(&api_id)
        .await?
        .iter()
        .map(deployment_json)
        .collect();
    Ok((StatusCode::CREATED, Json(Value::Array(list))).into_response())
}

/// `POST /apis/{apiId}/restore-revision?revisionId=`: the revision becomes the working copy.
pub async fn restore<const PRODUCT: bool>(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    auth.require_any(&["apim:api_create", "apim:api_manage", "apim:api_publish"])?;
    let revision_id = required_query(&params, "revisionId")?;
    load_kind(&state.store, &api_id, PRODUCT).await?;
    let now = now_millis();
    let restored = state
        .store
        .restore_revision(&api_id, revision_id, |snapshot| {
            if PRODUCT {
                return products::restored(snapshot, now);
            }
            match serde_json::from_str::<Api>(snapshot) {
                Ok(mut api) => {
                    api.is_revision = false;
                    api.revisioned_api_id = None;
                    api.revision_id = 0;
                    api.last_updated_time = now.to_string();
                    serde_json::to_string(&api).unwrap_or_else(|_| snapshot.to_owned())
                }
                Err(_) => snapshot.to_owned(),
            }
        })
        .await?;
    if restored.is_none() {
        return Err(ApiError::not_found(format!(
            "Revision {revision_id} of API {api_id} not found"
        )));
    }
    let row = load_kind(&state.store, &api_id, PRODUCT).await?;
    if PRODUCT {
        return product_response(StatusCode::CREATED, &row);
    }
    api_response(StatusCode::CREATED, &row)
}
