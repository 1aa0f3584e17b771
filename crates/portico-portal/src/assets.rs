//! The portals' static assets, embedded in the binary: one stylesheet (no scripts, no fonts).

use axum::Router;
use axum::http::header;
use axum::routing::get;

use crate::state::PortalState;

const PORTAL_CSS: &str = include_str!("../assets/portal.css");

pub fn routes() -> Router<PortalState> {
    Router::new().route(
        "/portal/static/portal.css",
        get(|| async {
            (
                [
                    (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=3600"),
                ],
                PORTAL_CSS,
            )
        }),
    )
}
