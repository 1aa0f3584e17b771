//! Throttling in the Admin API (`/api/am/admin/v4/throttling/...`): advanced, application and
//! subscription policies and their search (`policies`, with the JSON shapes in `policy_json`
//! and the in-use check against APIs in `usage`), and deny policies (`deny`). The rules
//! themselves live in `portico-throttle`; every change reaches the gateways through the store's
//! change feed.

mod deny;
mod policies;
mod policy_json;
mod usage;

use axum::Router;
use axum::routing::get;

use crate::state::RestState;

/// Where the Admin API is served (for `Location` headers).
const ADMIN_BASE: &str = "/api/am/admin/v4";

/// The throttling routes, relative to the Admin API's base.
pub(crate) fn routes() -> Router<RestState> {
    Router::new()
        .route("/throttling/policies/search", get(policies::search))
        .route(
            "/throttling/policies/custom",
            get(policies::list_custom).post(policies::add_custom),
        )
        .route("/throttling/policies/{level}", get(policies::list).post(policies::add))
        .route(
            "/throttling/policies/{level}/{policy_id}",
            get(policies::get_one).put(policies::update).delete(policies::delete),
        )
        .route("/throttling/deny-policies", get(deny::list).post(deny::add))
        .route(
            "/throttling/deny-policy/{condition_id}",
            get(deny::get_one).patch(deny::patch).delete(deny::delete),
        )
}
