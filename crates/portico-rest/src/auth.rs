//! Authentication of REST requests: the [`Auth`] extractor.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use portico_keymanager::{AuthError, Principal};

use crate::error::ApiError;
use crate::state::RestState;

/// Where a request's authenticated caller is written for the audit log: its middleware puts an
/// empty one in each management write, and extracting [`Auth`] fills it.
#[derive(Clone, Default)]
pub struct AuditActor(Arc<OnceLock<String>>);

impl AuditActor {
    fn set(&self, username: &str) {
        let _ = self.0.set(username.to_owned());
    }

    /// The caller's name, once authenticated.
    pub fn get(&self) -> Option<String> {
        self.0.get().cloned()
    }
}

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
            state
                .authenticator
                .basic_header(credentials, client_address(parts))
                .await
        } else if scheme.eq_ignore_ascii_case("bearer") {
            state.authenticator.bearer(credentials.trim()).await
        } else {
            return Err(ApiError::invalid_credentials(format!(
                "Unsupported authorization scheme `{scheme}`; use Basic or Bearer"
            )));
        };
        match result {
            Ok(principal) => {
                if let Some(actor) = parts.extensions.get::<AuditActor>() {
                    actor.set(&principal.username);
                }
                Ok(Auth(principal))
            }
            Err(AuthError::InvalidCredentials) => Err(ApiError::invalid_credentials(
                "Invalid Credentials. Make sure you have provided the correct security credentials",
            )),
            Err(AuthError::Malformed(what)) => Err(ApiError::invalid_credentials(what)),
            Err(AuthError::Refused(refusal)) => Err(ApiError::password_check_refused(refusal)),
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

/// The TCP peer's address of the connection the request came on (the listener puts it in the
/// request's extensions); `None` for requests that did not come through a listener.
pub fn client_address(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<portico_net::ConnectionInfo>()
        .map(|info| info.peer.ip())
}

/// The caller's address as an extractor (see [`client_address`]).
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<ClientAddress, Self::Rejection> {
        Ok(ClientAddress(client_address(parts)))
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
