//! Who may do what in the DevPortal: the scopes of its operations, and the caller's own
//! applications (another user's are "not found").

use portico_keymanager::Principal;
use portico_store::ApplicationRow;

use crate::error::ApiError;
use crate::state::RestState;

/// Scopes of the application and key operations (alternatives).
pub(super) const APP_SCOPES: &[&str] = &["apim:subscribe", "apim:app_manage"];
/// Scopes of the subscription operations.
pub(super) const SUB_SCOPES: &[&str] = &["apim:subscribe", "apim:sub_manage"];
/// Scopes of the API-key operations.
pub(super) const API_KEY_SCOPES: &[&str] = &["apim:subscribe", "apim:app_manage", "apim:api_key"];

/// The caller's application, or 404 (also for another user's).
pub(super) async fn own_application(
    state: &RestState,
    caller: &Principal,
    application_id: &str,
) -> Result<ApplicationRow, ApiError> {
    match state.store.find_application(application_id).await? {
        Some(app) if app.owner == caller.username => Ok(app),
        _ => Err(ApiError::not_found(format!(
            "Application with id {application_id} not found"
        ))),
    }
}
