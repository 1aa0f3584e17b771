//! Admin (`/admin`): users and roles (SCIM 2.0), key managers, the gateway environments (read
//! only, from the configuration), throttling and deny policies, and the cluster's nodes, each
//! read and changed through the Admin REST v4 and SCIM APIs in-process with the admin's token.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use portico_store::Role;
use serde_json::{Value, json};

use crate::form::{Fields, FormErrors};
use crate::publisher::str_of;
use crate::rest_client::q;
use crate::session::Session;
use crate::state::PortalState;
use crate::views::{Choice, Chrome, checks, failure, page, page_with, see_other};

const A: &str = "/api/am/admin/v4";

pub fn routes() -> Router<PortalState> {
    Router::new()
        .route("/", get(overview))
        .route("/users", get(users).post(add_user))
        .route("/users/{user_id}/delete", post(delete_user))
        .route("/key-managers", get(key_managers))
        .route("/environments", get(environments))
        .route("/throttling", get(throttling))
        .route("/cluster", get(cluster))
        .merge(crate::login::app_routes("admin"))
}

fn list_of(v: &Value, key: &str) -> Vec<Value> {
    v.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// A table of text cells: the Admin pages that only list things.
pub(crate) struct Table {
    heading: String,
    intro: String,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

#[derive(Template)]
#[template(path = "admin/tables.html")]
struct TablesPage {
    chrome: Chrome,
    title: String,
    tables: Vec<Table>,
}

fn tables(session: &Session, title: &str, tables: Vec<Table>) -> Response {
    page(&TablesPage {
        chrome: Chrome::new("admin", title, session),
        title: title.to_owned(),
        tables,
    })
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    is_admin: bool,
}

async fn overview(session: Session) -> Response {
    page(&OverviewPage {
        is_admin: session.is_admin(),
        chrome: Chrome::new("admin", "Overview", &session),
    })
}

pub(crate) struct UserItem {
    id: String,
    name: String,
    roles: String,
}

#[derive(Default)]
pub(crate) struct NewUser {
    name: String,
    roles: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserItem>,
    form: NewUser,
    roles: Vec<Choice>,
    errors: FormErrors,
}

async fn users_page(state: &PortalState, session: &Session, form: NewUser, errors: FormErrors) -> Response {
    let chrome = Chrome::new("admin", "Users and roles", session);
    let list = match state.rest.get(Some(&session.token), "/scim2/Users?count=500").await {
        Ok(v) => v,
        Err(f) => return failure(chrome, &f),
    };
    let users = list_of(&list, "Resources")
        .iter()
        .map(|u| UserItem {
            id: str_of(u, "id"),
            name: str_of(u, "userName"),
            roles: list_of(u, "roles")
                .iter()
                .map(|r| str_of(r, "value"))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let names: Vec<&str> = Role::ALL.iter().map(|r| r.wso2_name()).collect();
    let roles = checks(&names, &form.roles);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page_with(
        status,
        &UsersPage {
            chrome,
            users,
            form,
            roles,
            errors,
        },
    )
}

async fn users(session: Session, State(state): State<PortalState>) -> Response {
    let form = NewUser {
        roles: vec![Role::Subscriber.wso2_name().to_owned()],
        ..NewUser::default()
    };
    users_page(&state, &session, form, FormErrors::default()).await
}

async fn add_user(session: Session, State(state): State<PortalState>, body: Bytes) -> Response {
    let fields = Fields::from_body(&body);
    let form = NewUser {
        name: fields.get("userName"),
        roles: fields.all("roles"),
    };
    let password = fields
        .0
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let body = json!({ "userName": form.name, "password": password, "roles": form.roles });
    match state.rest.post(Some(&session.token), "/scim2/Users", body).await {
        Ok(_) => see_other("/admin/users"),
        Err(f) => {
            let mut errors = FormErrors::from_rest(&f, &["userName", "password", "roles"]);
            if f.status == StatusCode::CONFLICT {
                errors = FormErrors::default();
                errors.set("userName", "That user name is taken");
            }
            users_page(&state, &session, form, errors).await
        }
    }
}

async fn delete_user(session: Session, State(state): State<PortalState>, Path(user_id): Path<String>) -> Response {
    match state
        .rest
        .delete(Some(&session.token), &format!("/scim2/Users/{}", q(&user_id)))
        .await
    {
        Ok(_) => see_other("/admin/users"),
        Err(f) => users_page(&state, &session, NewUser::default(), FormErrors::general(f.description)).await,
    }
}

async fn key_managers(session: Session, State(state): State<PortalState>) -> Response {
    let list = match state.rest.get(Some(&session.token), &format!("{A}/key-managers")).await {
        Ok(v) => v,
        Err(f) => return failure(Chrome::new("admin", "Key managers", &session), &f),
    };
    let rows = list_of(&list, "list")
        .iter()
        .map(|k| {
            vec![
                str_of(k, "name"),
                str_of(k, "type"),
                str_of(k, "issuer"),
                if k.get("enabled").and_then(Value::as_bool).unwrap_or(false) {
                    "enabled"
                } else {
                    "disabled"
                }
                .to_owned(),
            ]
        })
        .collect();
    tables(
        &session,
        "Key managers",
        vec![Table {
            heading: String::new(),
            intro: "Identity providers whose tokens the gateway accepts. Register one with POST /api/am/admin/v4/key-managers.".into(),
            columns: vec!["Name", "Type", "Issuer", "State"],
            rows,
        }],
    )
}

async fn environments(session: Session, State(state): State<PortalState>) -> Response {
    let list = match state.rest.get(Some(&session.token), &format!("{A}/environments")).await {
        Ok(v) => v,
        Err(f) => return failure(Chrome::new("admin", "Gateway environments", &session), &f),
    };
    let rows = list_of(&list, "list")
        .iter()
        .map(|e| {
            let hosts = list_of(e, "vhosts")
                .iter()
                .map(|v| {
                    format!(
                        "{} (http {}, https {})",
                        str_of(v, "host"),
                        v.get("httpPort").map(Value::to_string).unwrap_or_default(),
                        v.get("httpsPort").map(Value::to_string).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            vec![str_of(e, "name"), str_of(e, "type"), str_of(e, "description"), hosts]
        })
        .collect();
    tables(
        &session,
        "Gateway environments",
        vec![Table {
            heading: String::new(),
            intro: "Read-only: they come from [[apim.gateway.environment]] in deployment.toml.".into(),
            columns: vec!["Name", "Type", "Description", "Virtual hosts"],
            rows,
        }],
    )
}

async fn throttling(session: Session, State(state): State<PortalState>) -> Response {
    let token = Some(session.token.as_str());
    let (policies_path, deny_path) = (
        format!("{A}/throttling/policies/search?query={}", q("type:all")),
        format!("{A}/throttling/deny-policies"),
    );
    let (policies, deny) = tokio::join!(state.rest.get(token, &policies_path), state.rest.get(token, &deny_path));
    let chrome = || Chrome::new("admin", "Throttling", &session);
    let policies = match policies {
        Ok(v) => v,
        Err(f) => return failure(chrome(), &f),
    };
    let deny = match deny {
        Ok(v) => v,
        Err(f) => return failure(chrome(), &f),
    };
    let limit = |p: &Value| {
        let l = p.get("defaultLimit").cloned().unwrap_or(Value::Null);
        let inner = l
            .get("requestCount")
            .or_else(|| l.get("bandwidth"))
            .cloned()
            .unwrap_or(Value::Null);
        match inner.get("requestCount").or_else(|| inner.get("dataAmount")) {
            Some(n) => format!(
                "{n} per {} {}",
                inner.get("unitTime").map(Value::to_string).unwrap_or_default(),
                str_of(&inner, "timeUnit")
            ),
            None => "unlimited".into(),
        }
    };
    let policy_rows = list_of(&policies, "list")
        .iter()
        .map(|p| {
            vec![
                str_of(p, "policyName"),
                str_of(p, "type"),
                limit(p),
                str_of(p, "description"),
            ]
        })
        .collect();
    let deny_rows = list_of(&deny, "list")
        .iter()
        .map(|d| {
            vec![
                str_of(d, "conditionType"),
                d.get("conditionValue")
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .unwrap_or_default(),
                if d.get("conditionStatus").and_then(Value::as_bool).unwrap_or(false) {
                    "on"
                } else {
                    "off"
                }
                .to_owned(),
            ]
        })
        .collect();
    tables(
        &session,
        "Throttling",
        vec![
            Table {
                heading: "Policies".into(),
                intro: "Advanced (API), application and subscription tiers; change them with the Admin REST API's /throttling/policies.".into(),
                columns: vec!["Name", "Level", "Limit", "Description"],
                rows: policy_rows,
            },
            Table {
                heading: "Deny policies".into(),
                intro: "Requests matching an enabled condition are refused at every gateway (900805).".into(),
                columns: vec!["Condition", "Value", "Enabled"],
                rows: deny_rows,
            },
        ],
    )
}

async fn cluster(session: Session, State(state): State<PortalState>) -> Response {
    let list = match state
        .rest
        .get(Some(&session.token), &format!("{A}/cluster/nodes"))
        .await
    {
        Ok(v) => v,
        Err(f) => return failure(Chrome::new("admin", "Cluster", &session), &f),
    };
    let rows = list_of(&list, "list")
        .iter()
        .map(|n| {
            vec![
                str_of(n, "nodeId"),
                str_of(n, "status"),
                str_of(n, "version"),
                n.get("feedPosition").map(Value::to_string).unwrap_or_default(),
                n.get("silentForMillis").map(|m| format!("{m} ms")).unwrap_or_default(),
            ]
        })
        .collect();
    tables(
        &session,
        "Cluster",
        vec![Table {
            heading: String::new(),
            intro: format!(
                "Nodes sharing this database; the change feed is at {}.",
                list.get("latestFeedPosition").map(Value::to_string).unwrap_or_default()
            ),
            columns: vec!["Node", "Status", "Version", "Feed position", "Last heard"],
            rows,
        }],
    )
}
