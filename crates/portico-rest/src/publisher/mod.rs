//! Publisher REST API v4 (`/api/am/publisher/v4`): APIs, OpenAPI import, lifecycle, revisions,
//! deployments, environments, throttling policies and subscriptions, with WSO2's paths, field
//! names, status codes and scopes (publisher-api.yaml). The API domain lives in `portico-apis`;
//! this module turns HTTP into calls on it and on the store. This file holds the routes; each
//! child module owns a group of them, `artifacts` the runtime artifact files deployments write.

mod apis;
pub(crate) mod artifacts;
mod forward;
mod import;
mod lifecycle;
mod policies;
mod products;
mod revisions;

use axum::Router;
use axum::routing::{get, post};

use crate::state::RestState;

pub fn routes() -> Router<RestState> {
    Router::new()
        .route("/apis", get(apis::list).post(apis::create))
        .route("/apis/validate-openapi", post(import::validate_openapi))
        .route("/apis/import-openapi", post(import::import_openapi))
        .route("/apis/change-lifecycle", post(lifecycle::change::<false>))
        .route("/apis/export", get(apis::export_not_served))
        .route("/api-products/export", get(apis::export_not_served))
        .route(
            "/apis/{api_id}",
            get(apis::get_one).put(apis::update).delete(apis::delete::<false>),
        )
        .route(
            "/apis/{api_id}/swagger",
            get(apis::get_swagger).put(import::put_swagger),
        )
        .route("/apis/{api_id}/lifecycle-history", get(lifecycle::history::<false>))
        .route("/apis/{api_id}/lifecycle-state", get(lifecycle::state::<false>))
        .route(
            "/apis/{api_id}/revisions",
            get(revisions::list::<false>).post(revisions::create::<false>),
        )
        .route(
            "/apis/{api_id}/revisions/{revision_id}",
            get(revisions::get_one::<false>).delete(revisions::delete::<false>),
        )
        .route("/apis/{api_id}/deployments", get(revisions::deployments::<false>))
        .route("/apis/{api_id}/deploy-revision", post(revisions::deploy::<false>))
        .route("/apis/{api_id}/undeploy-revision", post(revisions::undeploy::<false>))
        .route("/apis/{api_id}/restore-revision", post(revisions::restore::<false>))
        .route("/api-products", get(products::list).post(products::create))
        .route("/api-products/change-lifecycle", post(lifecycle::change::<true>))
        .route(
            "/api-products/{api_product_id}",
            get(products::get_one)
                .put(products::update)
                .delete(apis::delete::<true>),
        )
        .route(
            "/api-products/{api_product_id}/revisions",
            get(revisions::list::<true>).post(revisions::create::<true>),
        )
        .route(
            "/api-products/{api_product_id}/revisions/{revision_id}",
            get(revisions::get_one::<true>).delete(revisions::delete::<true>),
        )
        .route(
            "/api-products/{api_product_id}/deployments",
            get(revisions::deployments::<true>),
        )
        .route(
            "/api-products/{api_product_id}/deploy-revision",
            post(revisions::deploy::<true>),
        )
        .route(
            "/api-products/{api_product_id}/undeploy-revision",
            post(revisions::undeploy::<true>),
        )
        .route(
            "/api-products/{api_product_id}/restore-revision",
            post(revisions::restore::<true>),
        )
        .route(
            "/api-products/{api_product_id}/lifecycle-history",
            get(lifecycle::history::<true>),
        )
        .route(
            "/api-products/{api_product_id}/lifecycle-state",
            get(lifecycle::state::<true>),
        )
        .route("/environments", get(policies::environments))
        .route(
            "/throttling-policies/{policy_level}",
            get(policies::throttling_policies),
        )
        .route("/subscriptions", get(policies::subscriptions))
        .route("/subscriptions/block-subscription", post(policies::block_subscription))
        .route(
            "/subscriptions/unblock-subscription",
            post(policies::unblock_subscription),
        )
}
