//! `/`: the page that offers the three portals.

use askama::Template;
use axum::Router;
use axum::response::Response;
use axum::routing::get;

use crate::session::Viewer;
use crate::state::PortalState;
use crate::views::{Chrome, page};

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    chrome: Chrome,
}

pub fn routes() -> Router<PortalState> {
    Router::new().route("/", get(home))
}

async fn home(viewer: Viewer) -> Response {
    page(&Home {
        chrome: Chrome::for_viewer("", "Welcome", &viewer),
    })
}
