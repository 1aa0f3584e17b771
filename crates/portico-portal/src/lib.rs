//! The three web portals on the management port, server-rendered: the Publisher (`/publisher`),
//! the Developer Portal (`/devportal`) and Admin (`/admin`), the page that offers them (`/`),
//! and the Key Manager's sign-in page (`/oauth2/authorize`).
//!
//! How the pages are made:
//! - **askama** templates (`templates/`): compiled into the binary and type-checked at build
//!   time, HTML-escaped by default, and rendered without a runtime template engine (the pages'
//!   p95 budget is 20 ms with 1,000 APIs). minijinja would let operators edit themes at run
//!   time, which nothing asks for yet.
//! - No JavaScript: every feature is a plain form and a server round trip, including the
//!   DevPortal's try-it console (the server calls the gateway with the token the user chose
//!   and shows the answer), so the Content-Security-Policy forbids scripts outright. The one
//!   stylesheet is embedded with `include_str!`; nothing is fetched from elsewhere.
//!
//! How the pages act: every read and change goes **through the REST APIs in-process**
//! (`rest_client`): a request built here, carrying the session's bearer token, is handed to
//! the same axum router that serves `/api/am/...`, so each rule (validation, scopes, visibility,
//! ownership) has one definition, in the REST handlers and the crates under them, and the
//! portals cannot drift from the API. Field errors come back in WSO2's error list, which names
//! the field, and are shown next to it.
//!
//! Sessions (`session`): signing in is the authorization_code grant with PKCE (S256) against
//! the Key Manager, as a first-party client; the session cookie holds the access token itself
//! (HttpOnly, Secure, SameSite=Lax, `[apim.portal] session_minutes`). Any node of a cluster
//! verifies it with the cluster's primary key and sees its revocation through the change
//! feed, so sessions need no table and no sticky load balancer; only the short-lived
//! authorization codes are in the store. Forms carry a CSRF token (`security`).
#![forbid(unsafe_code)]

mod admin;
mod assets;
mod devportal;
mod form;
mod home;
mod login;
mod publisher;
mod rest_client;
mod security;
mod session;
mod state;
mod views;

use axum::Router;
use portico_rest::RestState;

use crate::state::PortalState;

pub use login::{LoginThrottle, NoLoginThrottle};

/// The portals' routes, to merge into the management router. `rest` is the state the REST
/// router runs on; the portals call that router in-process.
pub fn routes(rest: RestState) -> Router {
    routes_with_throttle(rest, std::sync::Arc::new(NoLoginThrottle))
}

/// [`routes`] with a throttle on sign-in attempts (see [`LoginThrottle`]).
pub fn routes_with_throttle(rest: RestState, throttle: std::sync::Arc<dyn LoginThrottle>) -> Router {
    let state = PortalState::new(rest, throttle);
    Router::new()
        .merge(home::routes())
        .merge(assets::routes())
        .merge(login::routes())
        .nest("/publisher", publisher::routes())
        .nest("/devportal", devportal::routes())
        .nest("/admin", admin::routes())
        .layer(axum::middleware::from_fn(security::csrf_and_headers))
        .with_state(state)
}
