//! Deployments made on an rsync worker (`[deployment] sync = "rsync"`, the seed's steps 4 and
//! 5): the rsync copy runs one way, from the manager to the workers, so a revision deployed on a
//! worker must be deployed on the manager, the node its environment's `service_url` names. The
//! worker sends the request on, over HTTPS (trusting the cluster's shared TLS certificate), as
//! the calling user, with a 60-second access token signed by the cluster's primary key, which
//! the manager checks as it checks any token. The manager's answer is the worker's.
//!
//! Nothing is recorded on the worker: when the manager cannot be reached, or no manager is
//! known (no `service_url`), the deployment is refused and nothing changes.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portico_config::{DeployManager, ServiceUrl};
use portico_keymanager::{AccessClaims, Principal};
use portico_store::DeploymentTarget;

use crate::error::ApiError;
use crate::state::RestState;

/// Marks a request a worker sent on: a node that would send it on again refuses instead (two
/// nodes whose `service_url`s name each other would otherwise bounce it forever).
const FORWARDED_HEADER: &str = "x-portico-forwarded-deployment";

/// How long the forwarded request's token lives.
const TOKEN_SECONDS: i64 = 60;

/// The scopes a deployment needs; the token carries those of them the caller holds.
const DEPLOY_SCOPES: [&str; 3] = ["apim:api_create", "apim:api_manage", "apim:api_publish"];

/// Where a deployment request is carried out.
pub(crate) enum Route {
    Here,
    Manager { url: ServiceUrl, environment: String },
}

/// Where the deployments to `targets` are made; refuses targets whose manager is unknown, or
/// that name environments with different managers.
pub(crate) async fn route(state: &RestState, targets: &[DeploymentTarget]) -> Result<Route, ApiError> {
    let mut route = None::<Route>;
    for target in targets {
        let next = match state.config.deploy_manager(&target.environment) {
            DeployManager::ThisNode => Route::Here,
            DeployManager::Other(url) => Route::Manager {
                url,
                environment: target.environment.clone(),
            },
            DeployManager::Unknown => return Err(no_manager(state, &target.environment).await),
        };
        route = match (route, next) {
            (None, next) => Some(next),
            (Some(Route::Here), Route::Here) => Some(Route::Here),
            (Some(Route::Manager { url, environment }), Route::Manager { url: other, .. }) if url == other => {
                Some(Route::Manager { url, environment })
            }
            _ => {
                return Err(ApiError::bad_request(
                    "these gateway environments are deployed on different nodes ([deployment] sync = \"rsync\": \
                     each environment's service_url names its manager); deploy to them one request at a time",
                ));
            }
        };
    }
    Ok(route.unwrap_or(Route::Here))
}

/// The refusal when an environment has no `service_url`: what to set, and the nodes that are up.
async fn no_manager(state: &RestState, environment: &str) -> ApiError {
    let node_id = state.config.node_id();
    let timeout = state.config.cluster.node_timeout();
    let others: Vec<String> = match state.store.node_registry().await {
        Ok(registry) => registry
            .live(timeout)
            .filter(|n| n.registration.node_id != node_id)
            .map(|n| {
                format!(
                    "https://{}:{}/services/",
                    n.registration.hostname, n.registration.management_port
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let nodes = if others.is_empty() {
        String::new()
    } else {
        format!(" (the other nodes up now: {})", others.join(", "))
    };
    ApiError::conflict(format!(
        "this node is an rsync worker ([deployment] sync = \"rsync\") and gateway environment `{environment}` \
         has no service_url, so it does not know the manager the rsync copy comes from: make this deployment \
         on the manager node, or set service_url of environment `{environment}` in {} to the manager's \
         management URL{nodes}; nothing was deployed",
        state.config.path.display()
    ))
}

/// Sends the deployment request on to the manager, as `caller`; answers what the manager
/// answered. `path` is the Publisher path after `/api/am/publisher/v4` (`/apis/{id}/deploy-revision`).
pub(crate) async fn deploy(
    state: &RestState,
    caller: &Principal,
    headers: &HeaderMap,
    (url, environment): (&ServiceUrl, &str),
    path: &str,
    revision_id: &str,
    body: Bytes,
) -> Result<Response, ApiError> {
    let origin = url.origin();
    if headers.contains_key(FORWARDED_HEADER) {
        return Err(ApiError::conflict(format!(
            "this deployment was sent here by another node as to its rsync manager, but this node sends \
             deployments to environment `{environment}` on to {origin} (its service_url): the service_url of \
             the manager must name the manager itself; nothing was deployed"
        )));
    }
    let token = token_for(state, caller)?;
    let unreachable = |e: &dyn std::error::Error| {
        let mut reason = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "Bad Gateway",
            format!(
                "this node is an rsync worker and makes deployments to environment `{environment}` on its manager \
                 {origin} (the environment's service_url), which cannot be reached: {reason}; nothing was deployed"
            ),
        )
    };
    let client = client(state)
        .await
        .map_err(|e| ApiError::internal(format!("cannot reach the rsync manager: {e}")))?;
    let answer = client
        .post(format!(
            "{origin}/api/am/publisher/v4{path}?revisionId={}",
            query_encoded(revision_id)
        ))
        .bearer_auth(token)
        .header(header::CONTENT_TYPE, "application/json")
        .header(FORWARDED_HEADER, "1")
        .body(body)
        .send()
        .await
        .map_err(|e| unreachable(&e))?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let body = answer.bytes().await.map_err(|e| unreachable(&e))?;
    tracing::info!(manager = %origin, %status, "deployment made on the rsync manager");
    let mut response = (status, body).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    response.headers_mut().insert(
        "x-portico-deployed-on",
        HeaderValue::from_str(&origin).unwrap_or(HeaderValue::from_static("manager")),
    );
    Ok(response)
}

/// A short-lived access token for `caller`, signed with the cluster's primary key, carrying the
/// deployment scopes the caller holds.
fn token_for(state: &RestState, caller: &Principal) -> Result<String, ApiError> {
    let signer = &state.oauth.validator().signer;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let scope: Vec<&str> = DEPLOY_SCOPES
        .into_iter()
        .filter(|s| caller.scopes.contains(*s))
        .collect();
    let claims = AccessClaims {
        sub: caller.username.clone(),
        aut: "APPLICATION_USER".into(),
        aud: "portico-cluster".into(),
        azp: "portico-cluster".into(),
        client_id: "portico-cluster".into(),
        scope: scope.join(" "),
        iss: signer.issuer().to_owned(),
        iat: now,
        nbf: now,
        exp: now + TOKEN_SECONDS,
        jti: uuid::Uuid::new_v4().to_string(),
        keytype: "PRODUCTION".into(),
    };
    signer
        .sign(&claims)
        .map_err(|e| ApiError::internal(format!("cannot sign the token for the rsync manager: {e}")))
}

/// An HTTPS client that trusts the cluster's TLS certificate (every node presents it).
async fn client(state: &RestState) -> Result<reqwest::Client, String> {
    let path = state.config.resolve(&state.config.keystore.tls.certificate);
    let pem = tokio::fs::read(&path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
    reqwest::Client::builder()
        .add_root_certificate(cert)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())
}

/// `value` percent-encoded for a query string (everything but RFC 3986's unreserved characters).
fn query_encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
