//! WSO2's REST error body: `{"code", "message", "description", "moreInfo", "error": []}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portico_keymanager::AuthError;
use portico_keymanager::login_guard::Refusal;
use serde::Serialize;

/// One entry of the body's `error` list (a field-level problem).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorListItem {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An error answer of the management REST APIs.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// WSO2's integer code: the HTTP status, or a 9xxxxx code for authentication problems.
    pub code: i64,
    pub message: String,
    pub description: String,
    pub errors: Vec<ErrorListItem>,
    /// Sent as `WWW-Authenticate` on 401.
    pub challenge: Option<&'static str>,
    /// Sent as `Retry-After` (seconds) on 429 and 503.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    code: i64,
    message: &'a str,
    description: &'a str,
    more_info: &'a str,
    error: &'a [ErrorListItem],
}

/// The challenge on 401s: both schemes the REST APIs take.
pub const CHALLENGE: &str = "Basic realm=\"Portico\", Bearer realm=\"Portico\"";

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>, description: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: i64::from(status.as_u16()),
            message: message.into(),
            description: description.into(),
            errors: Vec::new(),
            challenge: None,
            retry_after: None,
        }
    }

    pub fn bad_request(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "Bad Request", description)
    }

    pub fn not_found(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Not Found", description)
    }

    pub fn conflict(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "Conflict", description)
    }

    pub fn internal(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", description)
    }

    pub fn unavailable(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", description)
    }

    /// 401 with WSO2's 900902 ("Missing Credentials").
    pub fn missing_credentials() -> ApiError {
        ApiError {
            code: 900902,
            challenge: Some(CHALLENGE),
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Missing Credentials",
                "Invalid Credentials. Make sure your API invocation call has a header: 'Authorization : Bearer ACCESS_TOKEN' or 'Authorization : Basic ACCESS_TOKEN'",
            )
        }
    }

    /// 401 with WSO2's 900901 ("Invalid Credentials").
    pub fn invalid_credentials(description: impl Into<String>) -> ApiError {
        ApiError {
            code: 900901,
            challenge: Some(CHALLENGE),
            ..ApiError::new(StatusCode::UNAUTHORIZED, "Invalid Credentials", description)
        }
    }

    /// A password that was not checked: 503 when too many checks are running, 429 when the user
    /// name or the client address is locked out; both with `Retry-After`.
    pub fn password_check_refused(refusal: Refusal) -> ApiError {
        let (status, message) = match refusal {
            Refusal::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
            Refusal::LockedOut(_) => (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
        };
        ApiError {
            retry_after: Some(refusal.retry_after_seconds()),
            ..ApiError::new(status, message, AuthError::Refused(refusal).to_string())
        }
    }

    /// 403 with WSO2's 900910: the caller is known but lacks every scope the operation accepts.
    pub fn insufficient_scope(required: &[&str]) -> ApiError {
        ApiError {
            code: 900910,
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                "The access token does not allow you to access the requested resource",
                format!("This operation needs one of the scopes: {}", required.join(", ")),
            )
        }
    }
}

/// A 400 that names the field at fault, in the body's `error` list too.
pub(crate) fn input_error(e: portico_apis::InputError) -> ApiError {
    let mut error = ApiError::bad_request(format!("Invalid request: {e}"));
    error.errors.push(ErrorListItem {
        code: "400".into(),
        message: e.field.clone(),
        description: Some(e.message.clone()),
    });
    error
}

/// A 400 naming `field`, for an error whose text starts with that field (`field: message`,
/// `field is required`), as `portico-throttle`'s validation errors do.
pub(crate) fn field_error(field: &str, error: &impl std::fmt::Display) -> ApiError {
    let text = error.to_string();
    let message = text
        .strip_prefix(field)
        .map(|rest| rest.trim_start_matches(':').trim_start())
        .unwrap_or(&text);
    input_error(portico_apis::InputError::new(field, message))
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.message, self.description)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code,
            message: &self.message,
            description: &self.description,
            more_info: "",
            error: &self.errors,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(challenge) = self.challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<portico_store::StoreError> for ApiError {
    fn from(e: portico_store::StoreError) -> ApiError {
        use portico_store::StoreError as E;
        match &e {
            E::Conflict(_) => ApiError::conflict(e.to_string()),
            E::NotFound(_) => ApiError::not_found(e.to_string()),
            E::InUse(_) => ApiError::new(StatusCode::PRECONDITION_FAILED, "Precondition Failed", e.to_string()),
            _ if e.is_unavailable() => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::unavailable("The database is not reachable; try again shortly")
            }
            _ => {
                tracing::error!(error = %e, "store error");
                ApiError::internal("A database error occurred; the server log has the details")
            }
        }
    }
}
