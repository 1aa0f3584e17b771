//! What every page shares: the frame ([`Chrome`]: which app, who is signed in, the CSRF token)
//! and turning a template or a failure into an answer.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::rest_client::RestFailure;
use crate::session::{Session, Viewer};

/// The frame of a page: the app's navigation, the user, the token forms carry.
pub struct Chrome {
    /// `publisher`, `devportal`, `admin`, or `` (the start page and the sign-in page).
    pub app: &'static str,
    pub title: String,
    pub user: Option<String>,
    pub csrf: String,
}

impl Chrome {
    pub fn new(app: &'static str, title: impl Into<String>, session: &Session) -> Chrome {
        Chrome {
            app,
            title: title.into(),
            user: Some(session.principal.username.clone()),
            csrf: session.csrf.clone(),
        }
    }

    pub fn for_viewer(app: &'static str, title: impl Into<String>, viewer: &Viewer) -> Chrome {
        Chrome {
            app,
            title: title.into(),
            user: viewer.username().map(str::to_owned),
            csrf: viewer.csrf.clone(),
        }
    }

    pub fn app_name(&self) -> &'static str {
        match self.app {
            "publisher" => "Publisher",
            "devportal" => "Developer Portal",
            "admin" => "Admin",
            _ => "Portico",
        }
    }
}

/// Renders a page (200).
pub fn page(template: &impl Template) -> Response {
    page_with(StatusCode::OK, template)
}

/// Renders a page with a status (a form with errors is 400, so scripts and tests see it).
pub fn page_with(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a portal page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page failed to render; the server log has the details",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    message: &'a str,
}

/// A page that says what went wrong (a REST refusal that belongs to no form).
pub fn failure(chrome: Chrome, failure: &RestFailure) -> Response {
    let status = failure.status;
    page_with(
        status,
        &ErrorPage {
            chrome,
            status: status.as_u16(),
            message: &failure.description,
        },
    )
}

/// A page with a message and a status.
pub fn message(chrome: Chrome, status: StatusCode, text: &str) -> Response {
    page_with(
        status,
        &ErrorPage {
            chrome,
            status: status.as_u16(),
            message: text,
        },
    )
}

/// After a successful form post: see the result with a GET (303).
pub fn see_other(location: &str) -> Response {
    axum::response::Redirect::to(location).into_response()
}

/// One option of a select or a checkbox list, with whether it is chosen.
pub struct Choice {
    pub value: String,
    pub chosen: bool,
}

/// The options of a select, `current` chosen.
pub fn choices<S: AsRef<str>>(options: &[S], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|o| Choice {
            value: o.as_ref().to_owned(),
            chosen: o.as_ref() == current,
        })
        .collect()
}

/// The boxes of a checkbox list, those in `checked` ticked.
pub fn checks<S: AsRef<str>>(options: &[S], checked: &[String]) -> Vec<Choice> {
    options
        .iter()
        .map(|o| Choice {
            value: o.as_ref().to_owned(),
            chosen: checked.iter().any(|c| c == o.as_ref()),
        })
        .collect()
}
