//! The OAuth2 error (RFC 6749 §5.2) every operation of the token service returns.

use portico_store::StoreError;

use crate::authenticator::AuthError;
use crate::jwt::JwtError;
use crate::login_guard::Refusal;

/// An RFC 6749 §5.2 error (and the few DCR errors that are not OAuth ones).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidRequest(String),
    /// DCR: the caller may not act for that owner or client.
    #[error("{0}")]
    Forbidden(String),
    /// DCR: no such client (or not the caller's).
    #[error("{0}")]
    NotFound(String),
    /// The password grant's password was not checked (busy, or locked out): the answer says
    /// when to come back.
    #[error("{}", AuthError::Refused(*.0))]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl OAuthError {
    /// The RFC 6749 `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::Forbidden(_) => "access_denied",
            OAuthError::Refused(Refusal::Busy(_)) => "temporarily_unavailable",
            OAuthError::Refused(Refusal::LockedOut(_)) => "invalid_grant",
            OAuthError::NotFound(_) => "invalid_client",
            OAuthError::Store(_) | OAuthError::Internal(_) => "server_error",
        }
    }
}

impl From<JwtError> for OAuthError {
    fn from(e: JwtError) -> OAuthError {
        OAuthError::Internal(e.to_string())
    }
}
