//! The Publisher (`/publisher`): the API list with search, creating an API from scratch or from
//! an OpenAPI file or URL (this file), one API's pages (`api`: overview and settings, resources,
//! endpoints) and its lifecycle, revisions, deployments and subscriptions (`deploy`). Every
//! read and change is a Publisher REST v4 call made in-process with the user's token.

mod api;
mod deploy;

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::form::{Fields, FormErrors};
use crate::rest_client::{Payload, q};
use crate::security::tokens_match;
use crate::session::Session;
use crate::state::PortalState;
use crate::views::{Choice, Chrome, checks, failure, message, page, page_with, see_other};

pub(crate) const P: &str = "/api/am/publisher/v4";
const PAGE_SIZE: i64 = 25;

pub fn routes() -> Router<PortalState> {
    Router::new()
        .route("/", get(list))
        .route("/apis/new", get(new_form).post(create))
        .route("/apis/import", get(import_form).post(import))
        .route("/apis/{api_id}", get(api::overview).post(api::save_settings))
        .route(
            "/apis/{api_id}/resources",
            get(api::resources).post(api::save_resources),
        )
        .route(
            "/apis/{api_id}/endpoints",
            get(api::endpoints).post(api::save_endpoints),
        )
        .route(
            "/apis/{api_id}/lifecycle",
            get(deploy::lifecycle).post(deploy::change_lifecycle),
        )
        .route("/apis/{api_id}/revisions", post(deploy::create_revision))
        .route("/apis/{api_id}/revisions/{revision_id}", post(deploy::revision_action))
        .route(
            "/apis/{api_id}/subscriptions",
            get(deploy::subscriptions).post(deploy::block),
        )
        .merge(crate::login::app_routes("publisher"))
}

/// One row of the API list.
pub(crate) struct ApiItem {
    pub id: String,
    pub name: String,
    pub version: String,
    pub context: String,
    pub state: String,
}

pub(crate) fn api_items(list: &Value) -> Vec<ApiItem> {
    list.get("list")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|a| ApiItem {
                    id: str_of(a, "id"),
                    name: str_of(a, "name"),
                    version: str_of(a, "version"),
                    context: str_of(a, "context"),
                    state: str_of(a, "lifeCycleStatus"),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Paging links of a list: (previous offset, next offset).
pub(crate) fn paging(offset: i64, total: i64) -> (Option<i64>, Option<i64>) {
    let prev = (offset > 0).then(|| (offset - PAGE_SIZE).max(0));
    let next = (offset + PAGE_SIZE < total).then_some(offset + PAGE_SIZE);
    (prev, next)
}

pub(crate) fn offset_of(query: &HashMap<String, String>) -> i64 {
    query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .filter(|o| *o >= 0)
        .unwrap_or(0)
}

#[derive(Template)]
#[template(path = "publisher/list.html")]
struct ListPage {
    chrome: Chrome,
    query: String,
    error: Option<String>,
    apis: Vec<ApiItem>,
    total: i64,
    prev: Option<i64>,
    next: Option<i64>,
}

async fn list(
    session: Session,
    State(state): State<PortalState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let text = query.get("q").map(|s| s.trim().to_owned()).unwrap_or_default();
    let offset = offset_of(&query);
    let path = format!("{P}/apis?limit={PAGE_SIZE}&offset={offset}&query={}", q(&text));
    let chrome = Chrome::new("publisher", "APIs", &session);
    let (apis, total, error) = match state.rest.get(Some(&session.token), &path).await {
        Ok(v) => {
            let total = v.pointer("/pagination/total").and_then(Value::as_i64).unwrap_or(0);
            (api_items(&v), total, None)
        }
        Err(f) if f.status == StatusCode::BAD_REQUEST => (Vec::new(), 0, Some(f.description)),
        Err(f) => return failure(chrome, &f),
    };
    let (prev, next) = paging(offset, total);
    page(&ListPage {
        chrome,
        query: text,
        error,
        apis,
        total,
        prev,
        next,
    })
}

/// The subscription tiers an API may offer (for the tier checkboxes).
pub(crate) async fn subscription_tiers(state: &PortalState, token: &str) -> Vec<String> {
    state
        .rest
        .get(Some(token), &format!("{P}/throttling-policies/subscription"))
        .await
        .ok()
        .and_then(|v| v.get("list").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .map(|p| str_of(p, "name"))
        .filter(|n| !n.is_empty())
        .collect()
}

/// What the create form holds (kept on an error).
#[derive(Default)]
struct NewApi {
    name: String,
    context: String,
    version: String,
    description: String,
    endpoint: String,
    policies: Vec<String>,
}

#[derive(Template)]
#[template(path = "publisher/new.html")]
struct NewPage {
    chrome: Chrome,
    form: NewApi,
    tiers: Vec<Choice>,
    errors: FormErrors,
}

async fn new_form(session: Session, State(state): State<PortalState>) -> Response {
    let form = NewApi {
        version: "1.0.0".into(),
        policies: vec!["Unlimited".into()],
        ..NewApi::default()
    };
    let tiers = checks(&subscription_tiers(&state, &session.token).await, &form.policies);
    page(&NewPage {
        chrome: Chrome::new("publisher", "Create an API", &session),
        form,
        tiers,
        errors: FormErrors::default(),
    })
}

const NEW_FIELDS: &[&str] = &[
    "name",
    "context",
    "version",
    "description",
    "endpointConfig",
    "policies",
];

async fn create(session: Session, State(state): State<PortalState>, body: Bytes) -> Response {
    let fields = Fields::from_body(&body);
    let form = NewApi {
        name: fields.get("name"),
        context: fields.get("context"),
        version: fields.get("version"),
        description: fields.get("description"),
        endpoint: fields.get("endpoint"),
        policies: fields.all("policies"),
    };
    // WSO2's Publisher starts an API with the five verbs on `/*`.
    let operations: Vec<Value> = ["GET", "PUT", "POST", "DELETE", "PATCH"]
        .iter()
        .map(|verb| json!({"target": "/*", "verb": verb}))
        .collect();
    let mut body = json!({
        "description": form.description,
        "policies": form.policies,
        "operations": operations,
    });
    // A blank required field is left out, so the REST API says it is required.
    for (key, value) in [
        ("name", &form.name),
        ("context", &form.context),
        ("version", &form.version),
    ] {
        if !value.is_empty() {
            body[key] = json!(value);
        }
    }
    if !form.endpoint.is_empty() {
        body["endpointConfig"] = json!({"endpoint_type": "http", "production_endpoints": {"url": form.endpoint}});
    }
    match state.rest.post(Some(&session.token), &format!("{P}/apis"), body).await {
        Ok(created) => see_other(&format!("/publisher/apis/{}", str_of(&created, "id"))),
        Err(f) => {
            let tiers = checks(&subscription_tiers(&state, &session.token).await, &form.policies);
            page_with(
                StatusCode::BAD_REQUEST,
                &NewPage {
                    chrome: Chrome::new("publisher", "Create an API", &session),
                    errors: FormErrors::from_rest(&f, NEW_FIELDS),
                    form,
                    tiers,
                },
            )
        }
    }
}

#[derive(Default)]
struct ImportForm {
    url: String,
    context: String,
    name: String,
    version: String,
    policies: Vec<String>,
}

#[derive(Template)]
#[template(path = "publisher/import.html")]
struct ImportPage {
    chrome: Chrome,
    form: ImportForm,
    tiers: Vec<Choice>,
    errors: FormErrors,
}

async fn import_form(session: Session, State(state): State<PortalState>) -> Response {
    let form = ImportForm {
        policies: vec!["Unlimited".into()],
        ..ImportForm::default()
    };
    let tiers = checks(&subscription_tiers(&state, &session.token).await, &form.policies);
    page(&ImportPage {
        chrome: Chrome::new("publisher", "Import an OpenAPI definition", &session),
        form,
        tiers,
        errors: FormErrors::default(),
    })
}

const IMPORT_FIELDS: &[&str] = &["file", "url", "context", "name", "version", "policies"];

/// `POST /publisher/apis/import` (multipart: the definition file, or a URL).
async fn import(
    session: Session,
    State(state): State<PortalState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let chrome = || Chrome::new("publisher", "Import an OpenAPI definition", &session);
    let Ok(mut multipart) = multipart else {
        return message(
            chrome(),
            StatusCode::BAD_REQUEST,
            "Send the form as multipart/form-data",
        );
    };
    let mut form = ImportForm::default();
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut csrf = String::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return message(
                    chrome(),
                    StatusCode::BAD_REQUEST,
                    &format!("The form is malformed: {e}"),
                );
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let Ok(bytes) = field.bytes().await else {
            return message(chrome(), StatusCode::BAD_REQUEST, "The form could not be read");
        };
        let text = || String::from_utf8_lossy(&bytes).trim().to_owned();
        match name.as_str() {
            "csrf" => csrf = text(),
            "file" if !bytes.is_empty() => file = Some((file_name.unwrap_or_else(|| "openapi".into()), bytes.to_vec())),
            "url" => form.url = text(),
            "context" => form.context = text(),
            "name" => form.name = text(),
            "version" => form.version = text(),
            "policies" => form.policies.push(text()),
            _ => {}
        }
    }
    // Multipart forms are not read by the CSRF middleware; the token is checked here.
    if !tokens_match(&session.csrf, &csrf) {
        return message(
            chrome(),
            StatusCode::FORBIDDEN,
            "Refused: the form's security token (CSRF) is missing or wrong.",
        );
    }
    let mut additional = json!({ "context": form.context, "policies": form.policies });
    if !form.name.is_empty() {
        additional["name"] = json!(form.name);
    }
    if !form.version.is_empty() {
        additional["version"] = json!(form.version);
    }
    let mut parts = vec![(
        "additionalProperties".to_owned(),
        None,
        additional.to_string().into_bytes(),
    )];
    match (&file, form.url.is_empty()) {
        (Some((file_name, content)), _) => parts.push(("file".into(), Some(file_name.clone()), content.clone())),
        (None, false) => parts.push(("url".into(), None, form.url.clone().into_bytes())),
        (None, true) => {
            let mut errors = FormErrors::default();
            errors.set("file", "Choose an OpenAPI file, or give its URL");
            let tiers = checks(&subscription_tiers(&state, &session.token).await, &form.policies);
            return page_with(
                StatusCode::BAD_REQUEST,
                &ImportPage {
                    chrome: chrome(),
                    form,
                    tiers,
                    errors,
                },
            );
        }
    }
    let answer = state
        .rest
        .call(
            Some(&session.token),
            axum::http::Method::POST,
            &format!("{P}/apis/import-openapi"),
            Payload::Multipart(parts),
        )
        .await;
    match answer {
        Ok(created) => see_other(&format!("/publisher/apis/{}", str_of(&created, "id"))),
        Err(f) => {
            let mut errors = FormErrors::from_rest(&f, IMPORT_FIELDS);
            if errors.general.is_some() && file.is_some() {
                // A definition that does not read is the file's fault.
                errors = FormErrors::default();
                errors.set("file", f.description.clone());
            }
            let tiers = checks(&subscription_tiers(&state, &session.token).await, &form.policies);
            page_with(
                StatusCode::BAD_REQUEST,
                &ImportPage {
                    chrome: chrome(),
                    form,
                    tiers,
                    errors,
                },
            )
        }
    }
}
