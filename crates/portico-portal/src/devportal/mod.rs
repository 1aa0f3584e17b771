//! The Developer Portal (`/devportal`): the catalogue with search and tags (anonymous visitors
//! see PUBLIC APIs), an API's page with its documentation read from its OpenAPI document, the
//! subscribe form and the try-it console (this file), self sign-up (`signup`), and the
//! user's applications with their keys and subscriptions (`apps`). Every read and change is a
//! DevPortal REST v3 call made in-process with the user's token (none for anonymous visitors).

mod apps;
mod docs;
mod signup;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::form::{Fields, FormErrors};
use crate::publisher::{ApiItem, api_items, offset_of, paging, str_of};
use crate::rest_client::q;
use crate::session::{Session, Viewer};
use crate::state::PortalState;
use crate::views::{Choice, Chrome, choices, failure, page, page_with, see_other};

pub(crate) const D: &str = "/api/am/devportal/v3";
/// Largest answer body the try-it console shows.
const TRY_IT_MAX_BYTES: usize = 64 * 1024;

pub fn routes() -> Router<PortalState> {
    Router::new()
        .route("/", get(catalogue))
        .route("/apis/{api_id}", get(api_page))
        .route("/apis/{api_id}/subscribe", post(subscribe))
        .route("/apis/{api_id}/try", post(try_it))
        .route("/signup", get(signup::form).post(signup::submit))
        .route("/applications", get(apps::list).post(apps::create))
        .route("/applications/{app_id}", get(apps::show).post(apps::update))
        .route("/applications/{app_id}/delete", post(apps::delete))
        .route("/applications/{app_id}/keys", post(apps::keys))
        .route("/applications/{app_id}/unsubscribe", post(apps::unsubscribe))
        .merge(crate::login::app_routes("devportal"))
}

pub(crate) struct CatalogueItem {
    api: ApiItem,
    description: String,
    tags: Vec<String>,
}

#[derive(Template)]
#[template(path = "devportal/catalogue.html")]
struct CataloguePage {
    chrome: Chrome,
    query: String,
    tag: String,
    tags: Vec<String>,
    error: Option<String>,
    apis: Vec<CatalogueItem>,
    total: i64,
    prev: Option<i64>,
    next: Option<i64>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

async fn catalogue(
    viewer: Viewer,
    State(state): State<PortalState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let text = query.get("q").map(|s| s.trim().to_owned()).unwrap_or_default();
    let tag = query.get("tag").map(|s| s.trim().to_owned()).unwrap_or_default();
    let offset = offset_of(&query);
    let mut search = text.clone();
    if !tag.is_empty() {
        search = format!("{search} tag:{tag}");
    }
    let path = format!("{D}/apis?limit=25&offset={offset}&query={}", q(search.trim()));
    let chrome = Chrome::for_viewer("devportal", "APIs", &viewer);
    let (list, error) = match state.rest.get(viewer.token(), &path).await {
        Ok(v) => (v, None),
        Err(f) if f.status == StatusCode::BAD_REQUEST => (Value::Null, Some(f.description)),
        Err(f) => return failure(chrome, &f),
    };
    let total = list.pointer("/pagination/total").and_then(Value::as_i64).unwrap_or(0);
    let items = list.get("list").and_then(Value::as_array).cloned().unwrap_or_default();
    let apis: Vec<CatalogueItem> = api_items(&list)
        .into_iter()
        .zip(items.iter())
        .map(|(api, raw)| CatalogueItem {
            api,
            description: str_of(raw, "description"),
            tags: strings(raw, "tags"),
        })
        .collect();
    let tags: BTreeSet<String> = apis.iter().flat_map(|a| a.tags.iter().cloned()).collect();
    let (prev, next) = paging(offset, total);
    page(&CataloguePage {
        chrome,
        query: text,
        tag,
        tags: tags.into_iter().collect(),
        error,
        apis,
        total,
        prev,
        next,
    })
}

/// An application to subscribe with.
pub(crate) struct AppChoice {
    id: String,
    name: String,
    chosen: bool,
}

/// The try-it form's values (kept when shown again with the answer).
#[derive(Default)]
pub(crate) struct TryIt {
    method: String,
    path: String,
    token: String,
    body: String,
}

/// The gateway's answer to a try-it call.
pub(crate) struct TryAnswer {
    status: u16,
    content_type: String,
    body: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "devportal/api.html")]
struct ApiPage {
    chrome: Chrome,
    id: String,
    name: String,
    version: String,
    context: String,
    provider: String,
    description: String,
    tags: Vec<String>,
    gateway_url: String,
    operations: Vec<docs::OperationDoc>,
    doc_error: Option<String>,
    signed_in: bool,
    applications: Vec<AppChoice>,
    tiers: Vec<Choice>,
    subscribe_errors: FormErrors,
    subscribed: bool,
    methods: Vec<Choice>,
    try_it: TryIt,
    answer: Option<TryAnswer>,
}

struct ApiPageExtras {
    subscribe_errors: FormErrors,
    subscribed: bool,
    try_it: TryIt,
    answer: Option<TryAnswer>,
    application: String,
    tier: String,
}

impl Default for ApiPageExtras {
    fn default() -> Self {
        ApiPageExtras {
            subscribe_errors: FormErrors::default(),
            subscribed: false,
            try_it: TryIt {
                method: "GET".into(),
                ..TryIt::default()
            },
            answer: None,
            application: String::new(),
            tier: String::new(),
        }
    }
}

/// The gateway base URL of an API on this node (what the try-it console calls).
fn gateway_base(state: &PortalState, api: &Value) -> String {
    let port = state.rest_state.config.ports().gateway_http;
    format!(
        "http://127.0.0.1:{port}{}/{}",
        str_of(api, "context").trim_end_matches('/'),
        str_of(api, "version")
    )
}

async fn render_api(viewer: &Viewer, state: &PortalState, api_id: &str, extras: ApiPageExtras) -> Response {
    let chrome = Chrome::for_viewer("devportal", "API", viewer);
    let token = viewer.token();
    let id = q(api_id);
    let (api_path, definition_path) = (format!("{D}/apis/{id}"), format!("{D}/apis/{id}/swagger"));
    let (api, definition) = tokio::join!(
        state.rest.get(token, &api_path),
        state.rest.get(token, &definition_path)
    );
    let api = match api {
        Ok(a) => a,
        Err(f) => return failure(chrome, &f),
    };
    let (operations, doc_error) = match definition {
        Ok(d) => docs::operations(&d),
        Err(f) => (Vec::new(), Some(f.description)),
    };
    let applications = if token.is_some() {
        let apps = state
            .rest
            .get(token, &format!("{D}/applications?limit=100"))
            .await
            .unwrap_or(Value::Null);
        let names: Vec<(String, String)> = apps
            .get("list")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| (str_of(a, "applicationId"), str_of(a, "name")))
            .collect();
        names
            .into_iter()
            .map(|(id, name)| AppChoice {
                chosen: id == extras.application,
                id,
                name,
            })
            .collect()
    } else {
        Vec::new()
    };
    let tier_names: Vec<String> = api
        .get("tiers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| str_of(t, "tierName"))
        .collect();
    let status = if extras.subscribe_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let name = str_of(&api, "name");
    page_with(
        status,
        &ApiPage {
            chrome: Chrome::for_viewer("devportal", name.clone(), viewer),
            id: str_of(&api, "id"),
            name,
            version: str_of(&api, "version"),
            context: str_of(&api, "context"),
            provider: str_of(&api, "provider"),
            description: str_of(&api, "description"),
            tags: strings(&api, "tags"),
            gateway_url: gateway_base(state, &api),
            operations,
            doc_error,
            signed_in: token.is_some(),
            applications,
            tiers: choices(&tier_names, &extras.tier),
            subscribe_errors: extras.subscribe_errors,
            subscribed: extras.subscribed,
            methods: choices(portico_apis::model::VERBS, &extras.try_it.method),
            try_it: extras.try_it,
            answer: extras.answer,
        },
    )
}

async fn api_page(
    viewer: Viewer,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let extras = ApiPageExtras {
        subscribed: query.contains_key("subscribed"),
        ..ApiPageExtras::default()
    };
    render_api(&viewer, &state, &api_id, extras).await
}

/// `POST /devportal/apis/{id}/subscribe`: `application` (id) and `tier`.
async fn subscribe(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Response {
    let fields = Fields::from_body(&body);
    let application = fields.get("application");
    let tier = fields.get("tier");
    let body = json!({ "applicationId": application, "apiId": api_id, "throttlingPolicy": tier });
    let viewer = Viewer {
        csrf: session.csrf.clone(),
        session: Some(session),
    };
    match state
        .rest
        .post(viewer.token(), &format!("{D}/subscriptions"), body)
        .await
    {
        Ok(_) => see_other(&format!("/devportal/apis/{}?subscribed", q(&api_id))),
        Err(f) => {
            let mut errors = FormErrors::from_rest(&f, &["applicationId", "throttlingPolicy"]);
            if let Some(e) = errors.field("applicationId").map(str::to_owned) {
                errors.set("application", e);
            }
            if let Some(e) = errors.field("throttlingPolicy").map(str::to_owned) {
                errors.set("tier", e);
            }
            let extras = ApiPageExtras {
                subscribe_errors: errors,
                application,
                tier,
                ..ApiPageExtras::default()
            };
            render_api(&viewer, &state, &api_id, extras).await
        }
    }
}

/// `POST /devportal/apis/{id}/try`: calls the API on this node's gateway with the token the
/// user gave and shows the answer. The URL is always the gateway's own plus the API's context
/// and version, so only the path below the API is the user's.
async fn try_it(viewer: Viewer, State(state): State<PortalState>, Path(api_id): Path<String>, body: Bytes) -> Response {
    let fields = Fields::from_body(&body);
    let form = TryIt {
        method: fields.get("method"),
        path: fields.get("path"),
        token: fields.get("token"),
        body: fields.get("body"),
    };
    let api = match state
        .rest
        .get(viewer.token(), &format!("{D}/apis/{}", q(&api_id)))
        .await
    {
        Ok(a) => a,
        Err(f) => return failure(Chrome::for_viewer("devportal", "API", &viewer), &f),
    };
    let answer = call_gateway(&gateway_base(&state, &api), &form).await;
    let extras = ApiPageExtras {
        try_it: form,
        answer: Some(answer),
        ..ApiPageExtras::default()
    };
    render_api(&viewer, &state, &api_id, extras).await
}

async fn call_gateway(base: &str, form: &TryIt) -> TryAnswer {
    let failed = |error: String| TryAnswer {
        status: 0,
        content_type: String::new(),
        body: String::new(),
        error: Some(error),
    };
    if !form.path.starts_with('/') || form.path.contains(['\r', '\n', '#']) {
        return failed("The path must start with / (the resource below the API, e.g. /menu)".into());
    }
    let Ok(method) = reqwest::Method::from_bytes(form.method.as_bytes()) else {
        return failed(format!("Unknown method `{}`", form.method));
    };
    let client = match reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
    {
        Ok(c) => c,
        Err(e) => return failed(e.to_string()),
    };
    let mut request = client.request(method, format!("{base}{}", form.path));
    if !form.token.is_empty() {
        request = request.bearer_auth(&form.token);
    }
    if !form.body.is_empty() {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(form.body.clone());
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let bytes = response.bytes().await.unwrap_or_default();
            let shown = &bytes[..bytes.len().min(TRY_IT_MAX_BYTES)];
            let mut body = String::from_utf8_lossy(shown).into_owned();
            if bytes.len() > TRY_IT_MAX_BYTES {
                body.push_str("\n[... cut at 64 KiB]");
            }
            TryAnswer {
                status,
                content_type,
                body,
                error: None,
            }
        }
        Err(e) => failed(format!("The gateway did not answer: {e}")),
    }
}
