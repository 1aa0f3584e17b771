//! One API in the Publisher: its overview with the settings form (description, tags,
//! visibility, subscription tiers, CORS), its resources (verbs, paths, auth type, scopes,
//! resource tier) and its endpoints (single, load-balanced or failover, with timeouts and
//! suspension). Each form reads the API, changes its part and PUTs it back through the REST API.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use portico_apis::model::{AUTH_TYPES, VERBS, VISIBILITIES};
use serde_json::{Value, json};

use super::{P, str_of, subscription_tiers};
use crate::form::{Fields, FormErrors};
use crate::rest_client::RestFailure;
use crate::session::Session;
use crate::state::PortalState;
use crate::views::{Choice, Chrome, checks, choices, failure, page_with, see_other};

/// The API's header and tabs, on each of its pages.
pub(crate) struct ApiHead {
    pub id: String,
    pub name: String,
    pub version: String,
    pub context: String,
    pub state: String,
    /// Which tab is shown.
    pub tab: &'static str,
}

impl ApiHead {
    pub fn of(api: &Value, tab: &'static str) -> ApiHead {
        ApiHead {
            id: str_of(api, "id"),
            name: str_of(api, "name"),
            version: str_of(api, "version"),
            context: str_of(api, "context"),
            state: str_of(api, "lifeCycleStatus"),
            tab,
        }
    }
}

pub(crate) async fn load(state: &PortalState, session: &Session, api_id: &str) -> Result<Value, RestFailure> {
    state
        .rest
        .get(
            Some(&session.token),
            &format!("{P}/apis/{}", crate::rest_client::q(api_id)),
        )
        .await
}

async fn put(state: &PortalState, session: &Session, api: &Value) -> Result<Value, RestFailure> {
    let id = str_of(api, "id");
    state
        .rest
        .put(
            Some(&session.token),
            &format!("{P}/apis/{}", crate::rest_client::q(&id)),
            api.clone(),
        )
        .await
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The settings form's values.
struct Settings {
    description: String,
    tags: String,
    visibility: String,
    visible_roles: String,
    policies: Vec<String>,
    cors_enabled: bool,
    cors_origins: String,
}

impl Settings {
    fn of(api: &Value) -> Settings {
        let cors = api.get("corsConfiguration").cloned().unwrap_or(Value::Null);
        Settings {
            description: str_of(api, "description"),
            tags: strings(api, "tags").join(", "),
            visibility: str_of(api, "visibility"),
            visible_roles: strings(api, "visibleRoles").join(", "),
            policies: strings(api, "policies"),
            cors_enabled: cors
                .get("corsConfigurationEnabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            cors_origins: strings(&cors, "accessControlAllowOrigins").join(", "),
        }
    }

    fn from_form(fields: &Fields) -> Settings {
        Settings {
            description: fields.get("description"),
            tags: fields.get("tags"),
            visibility: fields.get("visibility"),
            visible_roles: fields.get("visibleRoles"),
            policies: fields.all("policies"),
            cors_enabled: fields.has("corsEnabled"),
            cors_origins: fields.get("corsOrigins"),
        }
    }

    fn apply(&self, api: &mut Value) {
        api["description"] = json!(self.description);
        api["tags"] = json!(comma_list(&self.tags));
        api["visibility"] = json!(self.visibility);
        api["visibleRoles"] = json!(comma_list(&self.visible_roles));
        api["policies"] = json!(self.policies);
        if !api.get("corsConfiguration").is_some_and(Value::is_object) {
            api["corsConfiguration"] = json!({});
        }
        api["corsConfiguration"]["corsConfigurationEnabled"] = json!(self.cors_enabled);
        api["corsConfiguration"]["accessControlAllowOrigins"] = json!(comma_list(&self.cors_origins));
    }
}

#[derive(Template)]
#[template(path = "publisher/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    head: ApiHead,
    provider: String,
    endpoint: String,
    form: Settings,
    tiers: Vec<Choice>,
    visibilities: Vec<Choice>,
    errors: FormErrors,
    saved: bool,
}

const SETTINGS_FIELDS: &[&str] = &[
    "description",
    "tags",
    "visibility",
    "visibleRoles",
    "policies",
    "corsConfiguration",
];

fn first_endpoint(api: &Value) -> String {
    let production = api.pointer("/endpointConfig/production_endpoints");
    let first = match production {
        Some(Value::Array(list)) => list.first(),
        other => other,
    };
    first
        .and_then(|e| e.get("url"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

async fn overview_page(
    state: &PortalState,
    session: &Session,
    api: &Value,
    form: Settings,
    errors: FormErrors,
    saved: bool,
) -> Response {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let tiers = checks(&subscription_tiers(state, &session.token).await, &form.policies);
    let visibilities = choices(VISIBILITIES, &form.visibility);
    page_with(
        status,
        &OverviewPage {
            chrome: Chrome::new("publisher", str_of(api, "name"), session),
            head: ApiHead::of(api, "overview"),
            provider: str_of(api, "provider"),
            endpoint: first_endpoint(api),
            form,
            tiers,
            visibilities,
            errors,
            saved,
        },
    )
}

pub async fn overview(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    query: axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    match load(&state, &session, &api_id).await {
        Ok(api) => {
            let form = Settings::of(&api);
            overview_page(
                &state,
                &session,
                &api,
                form,
                FormErrors::default(),
                query.contains_key("saved"),
            )
            .await
        }
        Err(f) => failure(Chrome::new("publisher", "API", &session), &f),
    }
}

pub async fn save_settings(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Response {
    let mut api = match load(&state, &session, &api_id).await {
        Ok(api) => api,
        Err(f) => return failure(Chrome::new("publisher", "API", &session), &f),
    };
    let form = Settings::from_form(&Fields::from_body(&body));
    form.apply(&mut api);
    match put(&state, &session, &api).await {
        Ok(_) => see_other(&format!("/publisher/apis/{api_id}?saved")),
        Err(f) => {
            let errors = FormErrors::from_rest(&f, SETTINGS_FIELDS);
            overview_page(&state, &session, &api, form, errors, false).await
        }
    }
}

/// One resource row of the form.
pub(crate) struct ResourceRow {
    verb: String,
    target: String,
    auth_type: String,
    scopes: String,
    throttling_policy: String,
    error: Option<String>,
}

/// A resource row as the form shows it, with its selects' options.
pub(crate) struct RowView {
    index: usize,
    target: String,
    scopes: String,
    verbs: Vec<Choice>,
    auth_types: Vec<Choice>,
    tiers: Vec<Choice>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "publisher/resources.html")]
struct ResourcesPage {
    chrome: Chrome,
    head: ApiHead,
    rows: Vec<RowView>,
    errors: FormErrors,
    saved: bool,
}

fn rows_of(api: &Value) -> Vec<ResourceRow> {
    api.get("operations")
        .and_then(Value::as_array)
        .map(|ops| {
            ops.iter()
                .map(|op| ResourceRow {
                    verb: str_of(op, "verb"),
                    target: str_of(op, "target"),
                    auth_type: str_of(op, "authType"),
                    scopes: strings(op, "scopes").join(", "),
                    throttling_policy: str_of(op, "throttlingPolicy"),
                    error: None,
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn resource_tiers(state: &PortalState, session: &Session) -> Vec<String> {
    state
        .rest
        .get(Some(&session.token), &format!("{P}/throttling-policies/api"))
        .await
        .ok()
        .and_then(|v| v.get("list").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .map(|p| str_of(p, "name"))
        .filter(|n| !n.is_empty())
        .collect()
}

async fn resources_page(
    state: &PortalState,
    session: &Session,
    api: &Value,
    rows: Vec<ResourceRow>,
    errors: FormErrors,
    saved: bool,
) -> Response {
    let status = if errors.is_empty() && rows.iter().all(|r| r.error.is_none()) {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut tiers = resource_tiers(state, session).await;
    tiers.insert(0, String::new());
    // The last row is empty, for adding a resource.
    let blank = ResourceRow {
        verb: "GET".into(),
        target: String::new(),
        auth_type: portico_apis::model::DEFAULT_AUTH_TYPE.into(),
        scopes: String::new(),
        throttling_policy: String::new(),
        error: None,
    };
    let rows = rows
        .into_iter()
        .chain(std::iter::once(blank))
        .enumerate()
        .map(|(index, r)| RowView {
            index,
            verbs: choices(VERBS, &r.verb),
            auth_types: choices(AUTH_TYPES, &r.auth_type),
            tiers: choices(&tiers, &r.throttling_policy),
            target: r.target,
            scopes: r.scopes,
            error: r.error,
        })
        .collect();
    page_with(
        status,
        &ResourcesPage {
            chrome: Chrome::new("publisher", format!("{}: resources", str_of(api, "name")), session),
            head: ApiHead::of(api, "resources"),
            rows,
            errors,
            saved,
        },
    )
}

pub async fn resources(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    query: axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    match load(&state, &session, &api_id).await {
        Ok(api) => {
            let rows = rows_of(&api);
            resources_page(
                &state,
                &session,
                &api,
                rows,
                FormErrors::default(),
                query.contains_key("saved"),
            )
            .await
        }
        Err(f) => failure(Chrome::new("publisher", "API", &session), &f),
    }
}

/// Rows of the posted resources form: `verb`, `target`, `authType`, `scopes`,
/// `throttlingPolicy` repeated per row, and `remove` naming the rows to drop. The last row is
/// the empty "add" row, kept only when it has a path.
pub async fn save_resources(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Response {
    let mut api = match load(&state, &session, &api_id).await {
        Ok(api) => api,
        Err(f) => return failure(Chrome::new("publisher", "API", &session), &f),
    };
    let fields = Fields::from_body(&body);
    let (verbs, targets, auths, scopes, tiers) = (
        fields.all("verb"),
        fields.all("target"),
        fields.all("authType"),
        fields.all("scopes"),
        fields.all("throttlingPolicy"),
    );
    let removed = fields.all("remove");
    let mut rows = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        if removed.contains(&i.to_string()) || (i + 1 == targets.len() && target.trim().is_empty()) {
            continue;
        }
        let pick = |list: &Vec<String>| list.get(i).map(|s| s.trim().to_owned()).unwrap_or_default();
        rows.push(ResourceRow {
            verb: pick(&verbs),
            target: target.trim().to_owned(),
            auth_type: pick(&auths),
            scopes: pick(&scopes),
            throttling_policy: pick(&tiers),
            error: None,
        });
    }
    api["operations"] = rows
        .iter()
        .map(|r| {
            let mut op = json!({
                "verb": r.verb,
                "target": r.target,
                "authType": r.auth_type,
                "scopes": comma_list(&r.scopes),
            });
            if !r.throttling_policy.is_empty() {
                op["throttlingPolicy"] = json!(r.throttling_policy);
            }
            op
        })
        .collect();
    match put(&state, &session, &api).await {
        Ok(_) => see_other(&format!("/publisher/apis/{api_id}/resources?saved")),
        Err(f) => {
            // `operations[2].target` belongs to the third row.
            let row = f
                .field
                .as_deref()
                .and_then(|p| p.strip_prefix("operations["))
                .and_then(|p| p.split(']').next())
                .and_then(|i| i.parse::<usize>().ok());
            let mut errors = FormErrors::default();
            match row.and_then(|i| rows.get_mut(i)) {
                Some(r) => r.error = Some(format!("{}: {}", f.field.clone().unwrap_or_default(), f.description)),
                None => errors = FormErrors::general(f.description.clone()),
            }
            resources_page(&state, &session, &api, rows, errors, false).await
        }
    }
}

/// The endpoints form's values.
#[derive(Default)]
struct Endpoints {
    kind: String,
    production: String,
    sandbox: String,
    action_duration: String,
    connect_timeout: String,
    suspend_duration: String,
    suspend_max_duration: String,
    factor: String,
}

const TUNING: [(&str, &str); 5] = [
    ("actionDuration", "actionDuration"),
    ("connectTimeout", "connectTimeout"),
    ("suspendDuration", "suspendDuration"),
    ("suspendMaxDuration", "suspendMaxDuration"),
    ("factor", "factor"),
];

fn urls_of(config: &Value, side: &str, failovers: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut push = |v: &Value| {
        if let Some(u) = v.get("url").and_then(Value::as_str) {
            urls.push(u.to_owned());
        }
    };
    match config.get(side) {
        Some(Value::Array(list)) => list.iter().for_each(&mut push),
        Some(v) => push(v),
        None => {}
    }
    if let Some(Value::Array(list)) = config.get(failovers) {
        list.iter().for_each(&mut push);
    }
    urls
}

impl Endpoints {
    fn of(api: &Value) -> Endpoints {
        let config = api.get("endpointConfig").cloned().unwrap_or(Value::Null);
        let first = match config.get("production_endpoints") {
            Some(Value::Array(l)) => l.first().cloned().unwrap_or(Value::Null),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        let tuning = first.get("config").cloned().unwrap_or(Value::Null);
        let setting = |k: &str| match tuning.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        };
        Endpoints {
            kind: config
                .get("endpoint_type")
                .and_then(Value::as_str)
                .unwrap_or("http")
                .to_owned(),
            production: urls_of(&config, "production_endpoints", "production_failovers").join("\n"),
            sandbox: urls_of(&config, "sandbox_endpoints", "sandbox_failovers").join("\n"),
            action_duration: setting("actionDuration"),
            connect_timeout: setting("connectTimeout"),
            suspend_duration: setting("suspendDuration"),
            suspend_max_duration: setting("suspendMaxDuration"),
            factor: setting("factor"),
        }
    }

    fn from_form(fields: &Fields) -> Endpoints {
        Endpoints {
            kind: fields.get("endpointType"),
            production: fields.get("production"),
            sandbox: fields.get("sandbox"),
            action_duration: fields.get("actionDuration"),
            connect_timeout: fields.get("connectTimeout"),
            suspend_duration: fields.get("suspendDuration"),
            suspend_max_duration: fields.get("suspendMaxDuration"),
            factor: fields.get("factor"),
        }
    }

    /// WSO2's `endpointConfig` for the form, or the form's own errors (numbers that are not).
    fn to_config(&self) -> Result<Value, FormErrors> {
        let mut errors = FormErrors::default();
        let mut tuning = serde_json::Map::new();
        for ((key, field), value) in TUNING.iter().zip([
            &self.action_duration,
            &self.connect_timeout,
            &self.suspend_duration,
            &self.suspend_max_duration,
            &self.factor,
        ]) {
            if value.is_empty() {
                continue;
            }
            let number = if *key == "factor" {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f >= 1.0)
                    .map(|f| json!(f))
            } else {
                value.parse::<u64>().ok().map(|n| json!(n))
            };
            match number {
                Some(n) => {
                    tuning.insert((*key).to_owned(), n);
                }
                None if *key == "factor" => errors.set(field, "must be a number of at least 1"),
                None => errors.set(field, "must be a whole number of milliseconds"),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let endpoint = |url: &str| {
            let mut e = json!({ "url": url });
            if !tuning.is_empty() {
                e["config"] = Value::Object(tuning.clone());
            }
            e
        };
        let lines = |text: &str| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let mut config = json!({ "endpoint_type": self.kind });
        for (side, failovers, text) in [
            ("production_endpoints", "production_failovers", &self.production),
            ("sandbox_endpoints", "sandbox_failovers", &self.sandbox),
        ] {
            let urls = lines(text);
            if urls.is_empty() {
                continue;
            }
            match self.kind.as_str() {
                "load_balance" => {
                    config[side] = urls.iter().map(|u| endpoint(u)).collect();
                    config["algoCombo"] = json!("roundRobin");
                }
                "failover" => {
                    config[side] = endpoint(&urls[0]);
                    config[failovers] = urls[1..].iter().map(|u| endpoint(u)).collect();
                }
                _ => config[side] = endpoint(&urls[0]),
            }
        }
        Ok(config)
    }
}

#[derive(Template)]
#[template(path = "publisher/endpoints.html")]
struct EndpointsPage {
    chrome: Chrome,
    head: ApiHead,
    form: Endpoints,
    kinds: Vec<Choice>,
    errors: FormErrors,
    saved: bool,
}

fn endpoints_page(session: &Session, api: &Value, form: Endpoints, errors: FormErrors, saved: bool) -> Response {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page_with(
        status,
        &EndpointsPage {
            chrome: Chrome::new("publisher", format!("{}: endpoints", str_of(api, "name")), session),
            head: ApiHead::of(api, "endpoints"),
            kinds: choices(portico_apis::model::ENDPOINT_TYPES, &form.kind),
            form,
            errors,
            saved,
        },
    )
}

pub async fn endpoints(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    query: axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    match load(&state, &session, &api_id).await {
        Ok(api) => endpoints_page(
            &session,
            &api,
            Endpoints::of(&api),
            FormErrors::default(),
            query.contains_key("saved"),
        ),
        Err(f) => failure(Chrome::new("publisher", "API", &session), &f),
    }
}

pub async fn save_endpoints(
    session: Session,
    State(state): State<PortalState>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Response {
    let mut api = match load(&state, &session, &api_id).await {
        Ok(api) => api,
        Err(f) => return failure(Chrome::new("publisher", "API", &session), &f),
    };
    let form = Endpoints::from_form(&Fields::from_body(&body));
    let config = match form.to_config() {
        Ok(c) => c,
        Err(errors) => return endpoints_page(&session, &api, form, errors, false),
    };
    api["endpointConfig"] = config;
    match put(&state, &session, &api).await {
        Ok(_) => see_other(&format!("/publisher/apis/{api_id}/endpoints?saved")),
        Err(f) => {
            let mut errors = FormErrors::default();
            // `endpointConfig.production_endpoints[1].url` is about the production list.
            let field = f.field.clone().unwrap_or_default();
            if field.contains("sandbox") {
                errors.set("sandbox", f.description.clone());
            } else if field.contains("production") || field == "endpointConfig" {
                errors.set("production", f.description.clone());
            } else if field.contains("endpoint_type") {
                errors.set("endpointType", f.description.clone());
            } else {
                errors = FormErrors::from_rest(&f, &[]);
            }
            endpoints_page(&session, &api, form, errors, false)
        }
    }
}
