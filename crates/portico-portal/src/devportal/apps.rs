//! The user's applications on the Developer Portal: create, edit, delete; production and
//! sandbox OAuth keys (generate, regenerate the secret, a token with chosen scopes and
//! validity); API keys; and the application's subscriptions. Another user's application is
//! "not found", as the REST API answers.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::D;
use crate::form::{Fields, FormErrors};
use crate::publisher::str_of;
use crate::rest_client::q;
use crate::session::Session;
use crate::state::PortalState;
use crate::views::{Choice, Chrome, choices, failure, page_with, see_other};

const KEY_TYPES: [&str; 2] = ["PRODUCTION", "SANDBOX"];

pub(crate) struct AppItem {
    id: String,
    name: String,
    tier: String,
    description: String,
}

/// The application form's values.
#[derive(Default)]
pub(crate) struct AppForm {
    name: String,
    tier: String,
    description: String,
}

#[derive(Template)]
#[template(path = "devportal/applications.html")]
struct ListPage {
    chrome: Chrome,
    apps: Vec<AppItem>,
    form: AppForm,
    tiers: Vec<Choice>,
    errors: FormErrors,
}

const APP_FIELDS: &[&str] = &["name", "throttlingPolicy", "description"];

async fn app_tiers(state: &PortalState, token: &str) -> Vec<String> {
    state
        .rest
        .get(Some(token), &format!("{D}/throttling-policies/application"))
        .await
        .ok()
        .and_then(|v| v.get("list").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .map(|p| str_of(p, "name"))
        .collect()
}

async fn list_page(state: &PortalState, session: &Session, form: AppForm, errors: FormErrors) -> Response {
    let chrome = Chrome::new("devportal", "Applications", session);
    let apps = match state
        .rest
        .get(Some(&session.token), &format!("{D}/applications?limit=100"))
        .await
    {
        Ok(v) => v
            .get("list")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| AppItem {
                id: str_of(a, "applicationId"),
                name: str_of(a, "name"),
                tier: str_of(a, "throttlingPolicy"),
                description: str_of(a, "description"),
            })
            .collect(),
        Err(f) => return failure(chrome, &f),
    };
    let tiers = choices(&app_tiers(state, &session.token).await, &form.tier);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page_with(
        status,
        &ListPage {
            chrome,
            apps,
            form,
            tiers,
            errors,
        },
    )
}

pub async fn list(session: Session, State(state): State<PortalState>) -> Response {
    let form = AppForm {
        tier: "Unlimited".into(),
        ..AppForm::default()
    };
    list_page(&state, &session, form, FormErrors::default()).await
}

fn app_form(fields: &Fields) -> AppForm {
    AppForm {
        name: fields.get("name"),
        tier: fields.get("throttlingPolicy"),
        description: fields.get("description"),
    }
}

fn app_body(form: &AppForm) -> Value {
    json!({ "name": form.name, "throttlingPolicy": form.tier, "description": form.description, "tokenType": "JWT" })
}

pub async fn create(session: Session, State(state): State<PortalState>, body: Bytes) -> Response {
    let form = app_form(&Fields::from_body(&body));
    match state
        .rest
        .post(Some(&session.token), &format!("{D}/applications"), app_body(&form))
        .await
    {
        Ok(created) => see_other(&format!(
            "/devportal/applications/{}",
            q(&str_of(&created, "applicationId"))
        )),
        Err(f) => {
            let errors = FormErrors::from_rest(&f, APP_FIELDS);
            list_page(&state, &session, form, errors).await
        }
    }
}

/// One key type's keys.
pub(crate) struct KeyView {
    key_type: &'static str,
    /// Names of this key type's fields in the key errors.
    scopes_field: String,
    validity_field: String,
    mapping_id: Option<String>,
    consumer_key: String,
    key_manager: String,
}

pub(crate) struct SubscriptionItem {
    id: String,
    api_id: String,
    api: String,
    tier: String,
    status: String,
}

/// Something to show once: a new secret, token or API key.
pub(crate) struct Issued {
    what: String,
    key_type: String,
    value: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "devportal/application.html")]
struct AppPage {
    chrome: Chrome,
    id: String,
    form: AppForm,
    tiers: Vec<Choice>,
    errors: FormErrors,
    keys: Vec<KeyView>,
    key_errors: FormErrors,
    issued: Option<Issued>,
    subscriptions: Vec<SubscriptionItem>,
}

struct AppExtras {
    form: Option<AppForm>,
    errors: FormErrors,
    key_errors: FormErrors,
    issued: Option<Issued>,
}

impl AppExtras {
    fn none() -> AppExtras {
        AppExtras {
            form: None,
            errors: FormErrors::default(),
            key_errors: FormErrors::default(),
            issued: None,
        }
    }
}

async fn app_page(state: &PortalState, session: &Session, app_id: &str, extras: AppExtras) -> Response {
    let token = Some(session.token.as_str());
    let id = q(app_id);
    let paths = [
        format!("{D}/applications/{id}"),
        format!("{D}/applications/{id}/keys"),
        format!("{D}/subscriptions?applicationId={id}&limit=100"),
    ];
    let (app, keys, subscriptions) = tokio::join!(
        state.rest.get(token, &paths[0]),
        state.rest.get(token, &paths[1]),
        state.rest.get(token, &paths[2]),
    );
    let app = match app {
        Ok(a) => a,
        Err(f) => return failure(Chrome::new("devportal", "Application", session), &f),
    };
    let key_list = keys
        .ok()
        .and_then(|k| k.get("list").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let keys = KEY_TYPES
        .iter()
        .map(|kt| {
            let found = key_list.iter().find(|k| str_of(k, "keyType") == *kt);
            KeyView {
                key_type: kt,
                scopes_field: format!("scopes-{kt}"),
                validity_field: format!("validity-{kt}"),
                mapping_id: found.map(|k| str_of(k, "keyMappingId")),
                consumer_key: found.map(|k| str_of(k, "consumerKey")).unwrap_or_default(),
                key_manager: found.map(|k| str_of(k, "keyManager")).unwrap_or_default(),
            }
        })
        .collect();
    let subscriptions = subscriptions
        .ok()
        .and_then(|s| s.get("list").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .map(|s| SubscriptionItem {
            id: str_of(s, "subscriptionId"),
            api_id: str_of(s, "apiId"),
            api: s
                .pointer("/apiInfo/name")
                .and_then(Value::as_str)
                .map(|n| {
                    format!(
                        "{n} {}",
                        s.pointer("/apiInfo/version").and_then(Value::as_str).unwrap_or("")
                    )
                })
                .unwrap_or_default(),
            tier: str_of(s, "throttlingPolicy"),
            status: str_of(s, "status"),
        })
        .collect();
    let form = extras.form.unwrap_or_else(|| AppForm {
        name: str_of(&app, "name"),
        tier: str_of(&app, "throttlingPolicy"),
        description: str_of(&app, "description"),
    });
    let tiers = choices(&app_tiers(state, &session.token).await, &form.tier);
    let status = if extras.errors.is_empty() && extras.key_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page_with(
        status,
        &AppPage {
            chrome: Chrome::new("devportal", str_of(&app, "name"), session),
            id: str_of(&app, "applicationId"),
            form,
            tiers,
            errors: extras.errors,
            keys,
            key_errors: extras.key_errors,
            issued: extras.issued,
            subscriptions,
        },
    )
}

pub async fn show(session: Session, State(state): State<PortalState>, Path(app_id): Path<String>) -> Response {
    app_page(&state, &session, &app_id, AppExtras::none()).await
}

pub async fn update(
    session: Session,
    State(state): State<PortalState>,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Response {
    let form = app_form(&Fields::from_body(&body));
    let path = format!("{D}/applications/{}", q(&app_id));
    match state.rest.put(Some(&session.token), &path, app_body(&form)).await {
        Ok(_) => see_other(&format!("/devportal/applications/{}", q(&app_id))),
        Err(f) => {
            let extras = AppExtras {
                errors: FormErrors::from_rest(&f, APP_FIELDS),
                form: Some(form),
                ..AppExtras::none()
            };
            app_page(&state, &session, &app_id, extras).await
        }
    }
}

pub async fn delete(session: Session, State(state): State<PortalState>, Path(app_id): Path<String>) -> Response {
    match state
        .rest
        .delete(Some(&session.token), &format!("{D}/applications/{}", q(&app_id)))
        .await
    {
        Ok(_) => see_other("/devportal/applications"),
        Err(f) => failure(Chrome::new("devportal", "Application", &session), &f),
    }
}

fn scope_list(text: &str) -> Vec<String> {
    text.split([' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /devportal/applications/{id}/keys`: `action` = generate, regenerate, token or apikey,
/// with `keyType`, `keyMappingId`, `scopes` and `validity` (seconds) as they apply.
pub async fn keys(
    session: Session,
    State(state): State<PortalState>,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Response {
    let fields = Fields::from_body(&body);
    let key_type = fields.get("keyType");
    let mapping = q(&fields.get("keyMappingId"));
    let id = q(&app_id);
    let token = Some(session.token.as_str());
    let validity = fields.get("validity");
    let validity_value = if validity.is_empty() {
        None
    } else {
        match validity.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                let mut key_errors = FormErrors::default();
                key_errors.set(&format!("validity-{key_type}"), "must be a whole number of seconds");
                let extras = AppExtras {
                    key_errors,
                    ..AppExtras::none()
                };
                return app_page(&state, &session, &app_id, extras).await;
            }
        }
    };
    let scopes = scope_list(&fields.get("scopes"));
    let action = fields.get("action");
    let answer = match action.as_str() {
        "generate" => {
            let mut body = json!({
                "keyType": key_type,
                "grantTypesToBeSupported": ["client_credentials"],
                "scopes": if scopes.is_empty() { vec!["default".to_owned()] } else { scopes.clone() },
            });
            if let Some(v) = validity_value {
                body["validityTime"] = json!(v);
            }
            state
                .rest
                .post(token, &format!("{D}/applications/{id}/generate-keys"), body)
                .await
                .map(|v| Issued {
                    what: "Consumer secret (shown once)".into(),
                    key_type: key_type.clone(),
                    value: str_of(&v, "consumerSecret"),
                    detail: format!("Consumer key {}", str_of(&v, "consumerKey")),
                })
        }
        "regenerate" => state
            .rest
            .post_empty(
                token,
                &format!("{D}/applications/{id}/oauth-keys/{mapping}/regenerate-secret"),
            )
            .await
            .map(|v| Issued {
                what: "New consumer secret (shown once; the old one and its tokens stopped working)".into(),
                key_type: key_type.clone(),
                value: str_of(&v, "consumerSecret"),
                detail: String::new(),
            }),
        "token" => {
            let mut body = json!({ "scopes": scopes });
            if let Some(v) = validity_value {
                body["validityPeriod"] = json!(v);
            }
            state
                .rest
                .post(
                    token,
                    &format!("{D}/applications/{id}/oauth-keys/{mapping}/generate-token"),
                    body,
                )
                .await
                .map(|v| Issued {
                    what: "Access token".into(),
                    key_type: key_type.clone(),
                    value: str_of(&v, "accessToken"),
                    detail: format!(
                        "Scopes: {}; valid for {} s",
                        v.get("tokenScopes")
                            .and_then(Value::as_array)
                            .map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
                            .unwrap_or_default(),
                        v.get("validityTime").and_then(Value::as_i64).unwrap_or_default()
                    ),
                })
        }
        "apikey" => state
            .rest
            .post(
                token,
                &format!("{D}/applications/{id}/api-keys/{}/generate", q(&key_type)),
                json!({ "validityPeriod": validity_value.unwrap_or(-1) }),
            )
            .await
            .map(|v| Issued {
                what: "API key (send it in the apikey header)".into(),
                key_type: key_type.clone(),
                value: str_of(&v, "apikey"),
                detail: String::new(),
            }),
        other => {
            let extras = AppExtras {
                key_errors: FormErrors::general(format!("Unknown key action `{other}`")),
                ..AppExtras::none()
            };
            return app_page(&state, &session, &app_id, extras).await;
        }
    };
    let extras = match answer {
        Ok(issued) => AppExtras {
            issued: Some(issued),
            ..AppExtras::none()
        },
        Err(f) => {
            let mut key_errors = FormErrors::default();
            match f.field.as_deref() {
                Some("scopes") => key_errors.set(&format!("scopes-{key_type}"), f.description.clone()),
                Some("validityPeriod" | "validityTime") => {
                    key_errors.set(&format!("validity-{key_type}"), f.description.clone())
                }
                _ => key_errors = FormErrors::general(format!("{key_type}: {}", f.description)),
            }
            AppExtras {
                key_errors,
                ..AppExtras::none()
            }
        }
    };
    app_page(&state, &session, &app_id, extras).await
}

pub async fn unsubscribe(
    session: Session,
    State(state): State<PortalState>,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Response {
    let subscription = Fields::from_body(&body).get("subscriptionId");
    match state
        .rest
        .delete(Some(&session.token), &format!("{D}/subscriptions/{}", q(&subscription)))
        .await
    {
        Ok(_) => see_other(&format!("/devportal/applications/{}", q(&app_id))),
        Err(f) => failure(Chrome::new("devportal", "Application", &session), &f),
    }
}
