//! One API's lifecycle (buttons for the transitions allowed from its state), revisions (create,
//! restore, delete), deployments to gateway environments (deploy, undeploy, status), and its
//! subscriptions (block, unblock).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::api::{ApiHead, load};
use super::{P, str_of};
use crate::form::{Fields, FormErrors};
use crate::rest_client::q;
use crate::session::Session;
use crate::state::PortalState;
use crate::views::{Chrome, failure, page_with, see_other};

pub(crate) struct Transition {
    event: String,
    target: String,
    /// `Deploy as a Prototype` → `deploy-as-a-prototype` (the button's id).
    id: String,
}

pub(crate) struct Deployment {
    environment: String,
    vhost: String,
    status: String,
}

pub(crate) struct Revision {
    id: String,
    name: String,
    description: String,
    created: String,
    deployments: Vec<Deployment>,
}

pub(crate) struct Environment {
    name: String,
    vhost: String,
}

#[derive(Template)]
#[template(path = "publisher/lifecycle.html")]
struct LifecyclePage {
    chrome: Chrome,
    head: ApiHead,
    transitions: Vec<Transition>,
    revisions: Vec<Revision>,
    environments: Vec<Environment>,
    description: String,
    errors: FormErrors,
    done: Option<String>,
}

fn list_of(v: &Value) -> Vec<Value> {
    v.get("list").and_then(Value::as_array).cloned().unwrap_or_default()
}

async fn lifecycle_page(
    state: &PortalState,
    session: &Session,
    api_id: &str,
    description: String,
    errors: FormErrors,
    done: Option<String>,
) -> Response {
    let token = Some(session.token.as_str());
    let api = match load(state, session, api_id).await {
        Ok(a) => a,
        Err(f) => return failure(Chrome::new("publisher", "API", session), &f),
    };
    let id = q(api_id);
    let paths = [
        format!("{P}/apis/{id}/lifecycle-state"),
        format!("{P}/apis/{id}/revisions"),
        format!("{P}/environments"),
    ];
    let (lifecycle, revisions, environments) = tokio::join!(
        state.rest.get(token, &paths[0]),
        state.rest.get(token, &paths[1]),
        state.rest.get(token, &paths[2]),
    );
    let transitions = lifecycle
        .ok()
        .and_then(|l| l.get("availableTransitions").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .map(|t| Transition {
            event: str_of(t, "event"),
            target: str_of(t, "targetState"),
            id: str_of(t, "event").to_lowercase().replace(' ', "-"),
        })
        .collect();
    let revisions = revisions
        .map(|r| list_of(&r))
        .unwrap_or_default()
        .iter()
        .map(|r| Revision {
            id: str_of(r, "id"),
            name: str_of(r, "displayName"),
            description: str_of(r, "description"),
            created: str_of(r, "createdTime"),
            deployments: r
                .get("deploymentInfo")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|d| Deployment {
                    environment: str_of(d, "name"),
                    vhost: str_of(d, "vhost"),
                    status: str_of(d, "status"),
                })
                .collect(),
        })
        .collect();
    let environments = environments
        .map(|e| list_of(&e))
        .unwrap_or_default()
        .iter()
        .map(|e| Environment {
            name: str_of(e, "name"),
            vhost: e
                .pointer("/vhosts/0/host")
                .and_then(Value::as_str)
                .unwrap_or("localhost")
                .to_owned(),
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page_with(
        status,
        &LifecyclePage {
            chrome: Chrome::new(
                "publisher",
                format!("{}: lifecycle and deployments", str_of(&api, "name")),
                session,
            ),
            head: ApiHead::of(&api, "lifecycle"),
            transitions,
            revisions,
            environments,
            description,
            errors,
            done,
        },
    )
}

pub async fn lifecycle(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    query: axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let done = query.get("done").cloned();
    lifecycle_page(&state, &session, &api_id, String::new(), FormErrors::default(), done).await
}

pub async fn change_lifecycle(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Response {
    let action = Fields::from_body(&body).get("action");
    let path = format!("{P}/apis/change-lifecycle?apiId={}&action={}", q(&api_id), q(&action));
    match state.rest.post_empty(Some(&session.token), &path).await {
        Ok(_) => see_other(&format!(
            "/publisher/apis/{}/lifecycle?done={}",
            q(&api_id),
            q(&format!("{action} done"))
        )),
        Err(f) => {
            lifecycle_page(
                &state,
                &session,
                &api_id,
                String::new(),
                FormErrors::general(f.description),
                None,
            )
            .await
        }
    }
}

pub async fn create_revision(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Response {
    let description = Fields::from_body(&body).get("description");
    let path = format!("{P}/apis/{}/revisions", q(&api_id));
    match state
        .rest
        .post(Some(&session.token), &path, json!({ "description": description }))
        .await
    {
        Ok(_) => see_other(&format!(
            "/publisher/apis/{}/lifecycle?done=Revision+created",
            q(&api_id)
        )),
        Err(f) => {
            let errors = FormErrors::from_rest(&f, &["description"]);
            lifecycle_page(&state, &session, &api_id, description, errors, None).await
        }
    }
}

/// `POST /publisher/apis/{id}/revisions/{revisionId}` with `action` = deploy (and `environment`,
/// `vhost`), undeploy, restore or delete.
pub async fn revision_action(
    session: Session,
    State(state): State<PortalState>,
    Path((api_id, revision_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let fields = Fields::from_body(&body);
    let action = fields.get("action");
    let (api, rev) = (q(&api_id), q(&revision_id));
    let token = Some(session.token.as_str());
    let target =
        json!([{ "name": fields.get("environment"), "vhost": fields.get("vhost"), "displayOnDevportal": true }]);
    let answer = match action.as_str() {
        "deploy" => {
            state
                .rest
                .post(
                    token,
                    &format!("{P}/apis/{api}/deploy-revision?revisionId={rev}"),
                    target,
                )
                .await
        }
        "undeploy" => {
            state
                .rest
                .post(
                    token,
                    &format!("{P}/apis/{api}/undeploy-revision?revisionId={rev}"),
                    target,
                )
                .await
        }
        "restore" => {
            state
                .rest
                .post_empty(token, &format!("{P}/apis/{api}/restore-revision?revisionId={rev}"))
                .await
        }
        "delete" => {
            state
                .rest
                .delete(token, &format!("{P}/apis/{api}/revisions/{rev}"))
                .await
        }
        other => {
            let errors = FormErrors::general(format!("Unknown revision action `{other}`"));
            return lifecycle_page(&state, &session, &api_id, String::new(), errors, None).await;
        }
    };
    match answer {
        Ok(_) => see_other(&format!(
            "/publisher/apis/{api}/lifecycle?done={}",
            q(&format!("{action} done"))
        )),
        Err(f) => {
            lifecycle_page(
                &state,
                &session,
                &api_id,
                String::new(),
                FormErrors::general(f.description),
                None,
            )
            .await
        }
    }
}

pub(crate) struct Subscription {
    id: String,
    application: String,
    subscriber: String,
    tier: String,
    status: String,
}

#[derive(Template)]
#[template(path = "publisher/subscriptions.html")]
struct SubscriptionsPage {
    chrome: Chrome,
    head: ApiHead,
    subscriptions: Vec<Subscription>,
    errors: FormErrors,
}

async fn subscriptions_page(state: &PortalState, session: &Session, api_id: &str, errors: FormErrors) -> Response {
    let api = match load(state, session, api_id).await {
        Ok(a) => a,
        Err(f) => return failure(Chrome::new("publisher", "API", session), &f),
    };
    let list = state
        .rest
        .get(
            Some(&session.token),
            &format!("{P}/subscriptions?apiId={}&limit=200", q(api_id)),
        )
        .await;
    let subscriptions = match list {
        Ok(v) => list_of(&v)
            .iter()
            .map(|s| Subscription {
                id: str_of(s, "subscriptionId"),
                application: s
                    .pointer("/applicationInfo/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                subscriber: s
                    .pointer("/applicationInfo/subscriber")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                tier: str_of(s, "throttlingPolicy"),
                status: str_of(s, "subscriptionStatus"),
            })
            .collect(),
        Err(f) => return failure(Chrome::new("publisher", "Subscriptions", session), &f),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page_with(
        status,
        &SubscriptionsPage {
            chrome: Chrome::new("publisher", format!("{}: subscriptions", str_of(&api, "name")), session),
            head: ApiHead::of(&api, "subscriptions"),
            subscriptions,
            errors,
        },
    )
}

pub async fn subscriptions(session: Session, State(state): State<PortalState>, Path(api_id): Path<String>) -> Response {
    subscriptions_page(&state, &session, &api_id, FormErrors::default()).await
}

/// `POST /publisher/apis/{id}/subscriptions`: `subscriptionId` and `action` = block,
/// block-production (PROD_ONLY_BLOCKED) or unblock.
pub async fn block(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Response {
    let fields = Fields::from_body(&body);
    let id = q(&fields.get("subscriptionId"));
    let path = match fields.get("action").as_str() {
        "unblock" => format!("{P}/subscriptions/unblock-subscription?subscriptionId={id}"),
        "block-production" => {
            format!("{P}/subscriptions/block-subscription?subscriptionId={id}&blockState=PROD_ONLY_BLOCKED")
        }
        _ => format!("{P}/subscriptions/block-subscription?subscriptionId={id}&blockState=BLOCKED"),
    };
    match state.rest.post_empty(Some(&session.token), &path).await {
        Ok(_) => see_other(&format!("/publisher/apis/{}/subscriptions", q(&api_id))),
        Err(f) => subscriptions_page(&state, &session, &api_id, FormErrors::general(f.description)).await,
    }
}
