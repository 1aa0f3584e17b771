//! DevPortal REST API v3 (`/api/am/devportal/v3`): published APIs, applications, their OAuth keys
//! and API keys, subscriptions and throttling policies, with WSO2's paths, field names, status
//! codes and scopes (devportal-api.yaml). A caller sees and changes only their own applications
//! and subscriptions; another user's are "not found". This file holds the routes; each child
//! module owns a group of them, `access` and `fields` what they share.

mod access;
mod apis;
mod applications;
mod fields;
mod keys;
mod subscriptions;

use axum::Router;
use axum::routing::{get, post};

use crate::key_managers;
use crate::state::RestState;

pub fn routes() -> Router<RestState> {
    Router::new()
        .route("/apis", get(apis::list))
        .route("/apis/{api_id}", get(apis::get_one))
        .route("/apis/{api_id}/swagger", get(apis::swagger))
        .route("/throttling-policies/{policy_level}", get(apis::throttling_policies))
        .route("/applications", get(applications::list).post(applications::create))
        .route(
            "/applications/{application_id}",
            get(applications::get_one)
                .put(applications::update)
                .delete(applications::delete),
        )
        .route("/key-managers", get(key_managers::devportal_list))
        .route("/applications/{application_id}/generate-keys", post(keys::generate))
        .route("/applications/{application_id}/map-keys", post(keys::map_keys))
        .route("/applications/{application_id}/keys", get(keys::list))
        .route("/applications/{application_id}/keys/{key_type}", get(keys::get_of_type))
        .route("/applications/{application_id}/oauth-keys", get(keys::list))
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}",
            get(keys::get_one).put(keys::update).delete(keys::clean_up),
        )
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}/generate-token",
            post(keys::generate_token),
        )
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}/regenerate-secret",
            post(keys::regenerate_secret),
        )
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}/clean-up",
            post(keys::clean_up),
        )
        .route(
            "/applications/{application_id}/api-keys/{key_type}/generate",
            post(keys::generate_api_key),
        )
        .route(
            "/applications/{application_id}/api-keys/{key_type}/revoke",
            post(keys::revoke_api_key),
        )
        .route("/subscriptions", get(subscriptions::list).post(subscriptions::create))
        .route("/subscriptions/multiple", post(subscriptions::create_multiple))
        .route(
            "/subscriptions/{subscription_id}",
            get(subscriptions::get_one)
                .put(subscriptions::update)
                .delete(subscriptions::delete),
        )
}
