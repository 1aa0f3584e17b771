//! Self sign-up (`/devportal/signup`), where `[apim.devportal] enable_self_signup` is on: an
//! `Internal/subscriber` account through WSO2's self-registration REST endpoint, which holds
//! the user name and password rules.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::form::{Fields, FormErrors};
use crate::session::Viewer;
use crate::state::PortalState;
use crate::views::{Chrome, message, page, page_with, see_other};

#[derive(Template)]
#[template(path = "devportal/signup.html")]
struct SignupPage {
    chrome: Chrome,
    username: String,
    errors: FormErrors,
}

fn off(viewer: &Viewer) -> Response {
    message(
        Chrome::for_viewer("devportal", "Sign up", viewer),
        StatusCode::NOT_FOUND,
        "Self sign-up is off on this server; ask an administrator for an account.",
    )
}

pub async fn form(viewer: Viewer, State(state): State<PortalState>) -> Response {
    if !state.self_signup() {
        return off(&viewer);
    }
    page(&SignupPage {
        chrome: Chrome::for_viewer("devportal", "Sign up", &viewer),
        username: String::new(),
        errors: FormErrors::default(),
    })
}

pub async fn submit(viewer: Viewer, State(state): State<PortalState>, body: Bytes) -> Response {
    if !state.self_signup() {
        return off(&viewer);
    }
    let fields = Fields::from_body(&body);
    let username = fields.get("userName");
    // Passwords are taken as typed (not trimmed).
    let password = fields
        .0
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let confirm = fields
        .0
        .iter()
        .find(|(k, _)| k == "confirm")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let retry = |errors: FormErrors| {
        page_with(
            StatusCode::BAD_REQUEST,
            &SignupPage {
                chrome: Chrome::for_viewer("devportal", "Sign up", &viewer),
                username: username.clone(),
                errors,
            },
        )
    };
    if password != confirm {
        let mut errors = FormErrors::default();
        errors.set("confirm", "The two passwords differ");
        return retry(errors);
    }
    let body = json!({ "user": { "username": username, "password": password } });
    match state.rest.post(None, "/api/identity/user/v1.0/me", body).await {
        Ok(_) => see_other("/devportal/login?next=/devportal/applications"),
        Err(f) if f.status == StatusCode::CONFLICT => {
            let mut errors = FormErrors::default();
            errors.set("userName", "That user name is taken");
            retry(errors)
        }
        Err(f) => retry(FormErrors::from_rest(&f, &["userName", "password"])),
    }
}
