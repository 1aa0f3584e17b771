//! Authentication of REST requests: the [`Auth`] extractor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use portico_keymanager::{AuthError, Principal};

use crate::error::ApiError;
use crate::state::RestState;

/// The authenticated caller. Extracting it answers 401 when credentials are missing or wrong.
pub struct Auth(pub Principal);

impl Auth {
    /// Passes when the caller holds any one of `scopes` (WSO2's rule), 403 otherwise.
    pub fn require_any(&self, scopes: &[&str]) -> Result<&Principal, ApiError> {
        if self.0.has_any_scope(scopes) {
            Ok(&self.0)
        } else {
            Err(ApiError::insufficient_scope(scopes))
        }
    }
}

impl FromRequestParts<RestState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &RestState) -> Result<Auth, ApiError> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::missing_credentials());
        };
        let value = value
            .to_str()
            .map_err(|_| ApiError::invalid_credentials("The Authorization header is not ASCII"))?;
        let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
        let result = if scheme.eq_ignore_ascii_case("basic") {
            state.authenticator.basic_header(credentials).await
        } else if scheme.eq_ignore_ascii_case("bearer") {
            state.authenticator.bearer(credentials.trim()).await
        } else {
            return Err(ApiError::invalid_credentials(format!(
                "Unsupported authorization scheme `{scheme}`; use Basic or Bearer"
            )));
        };
        match result {
            Ok(principal) => Ok(Auth(principal)),
            Err(AuthError::InvalidCredentials) => Err(ApiError::invalid_credentials(
                "Invalid Credentials. Make sure you have provided the correct security credentials",
            )),
            Err(AuthError::Malformed(what)) => Err(ApiError::invalid_credentials(what)),
            Err(AuthError::Store(e)) => Err(e.into()),
            Err(AuthError::Internal(e)) => {
                tracing::error!(error = %e, "authentication failed internally");
                Err(ApiError::internal(
                    "Authentication failed; the server log has the details",
                ))
            }
        }
    }
}

/// A caller who may be anonymous: no `Authorization` header is `None`; wrong credentials are
/// still 401. The DevPortal's API listing takes it (public APIs are visible to everyone).
pub struct MaybeAuth(pub Option<Principal>);

impl FromRequestParts<RestState> for MaybeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &RestState) -> Result<MaybeAuth, ApiError> {
        if parts.headers.get(AUTHORIZATION).is_none() {
            return Ok(MaybeAuth(None));
        }
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        Ok(MaybeAuth(Some(principal)))
    }
}
