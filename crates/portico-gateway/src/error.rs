//! Gateway errors: each carries WSO2's code and HTTP status, and becomes a response in one place.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::{GatewayBody, full_body};

/// An error answer of the gateway, WSO2-coded.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub status: StatusCode,
    /// WSO2's code as a string (`"900906"`), as WSO2's gateway sends it.
    pub code: &'static str,
    pub message: &'static str,
    pub description: String,
    /// `WWW-Authenticate` value for 401s.
    pub challenge: Option<&'static str>,
    /// `Allow` value for 405s.
    pub allow: Option<String>,
    /// Close the client connection after answering (request smuggling attempts).
    pub close: bool,
    /// Further fields of the answer (`Retry-After` and the rate-limit fields of a throttled
    /// request); boxed, as most errors have none.
    pub headers: Option<Box<http::HeaderMap>>,
}

impl GatewayError {
    fn new(status: StatusCode, code: &'static str, message: &'static str, description: impl Into<String>) -> Self {
        GatewayError {
            status,
            code,
            message,
            description: description.into(),
            challenge: None,
            allow: None,
            close: false,
            headers: None,
        }
    }

    pub fn no_matching_resource() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "900906",
            "No matching resource found for given API Request",
            "The requested resource is not available.",
        )
    }

    pub fn method_not_allowed(allowed: Vec<String>) -> Self {
        GatewayError {
            allow: Some(allowed.join(", ")),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "900906",
                "Method not allowed for given API resource",
                "The requested resource does not support this HTTP method.",
            )
        }
    }

    pub fn bad_path(reason: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "400",
            "Bad Request",
            format!("Invalid request path: {reason}"),
        )
    }

    /// The consumer's request body could not be read (the consumer went away, or sent a body
    /// that breaks its framing): 400, as for other malformed requests.
    pub fn unreadable_body(reason: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "400",
            "Bad Request",
            format!("The request body could not be read: {reason}"),
        )
    }

    pub fn smuggling() -> Self {
        GatewayError {
            close: true,
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "400",
                "Bad Request",
                "A request may not carry both Content-Length and Transfer-Encoding",
            )
        }
    }

    pub fn missing_credentials() -> Self {
        GatewayError {
            challenge: Some("Bearer realm=\"Portico\""),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "900902",
                "Missing Credentials",
                "Invalid Credentials. Make sure your API invocation call has a header: 'Authorization : Bearer ACCESS_TOKEN' or 'apikey: API_KEY'",
            )
        }
    }

    pub fn invalid_credentials(description: impl Into<String>) -> Self {
        GatewayError {
            challenge: Some("Bearer realm=\"Portico\", error=\"invalid_token\""),
            ..Self::new(StatusCode::UNAUTHORIZED, "900901", "Invalid Credentials", description)
        }
    }

    /// An API key that failed validation (WSO2 answers with an `API Key` challenge).
    pub fn invalid_api_key(description: impl Into<String>) -> Self {
        GatewayError {
            challenge: Some("API Key realm=\"Portico\", error=\"invalid_token\""),
            ..Self::new(StatusCode::UNAUTHORIZED, "900901", "Invalid Credentials", description)
        }
    }

    pub fn not_subscribed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "900908",
            "Resource forbidden ",
            "User is NOT authorized to access the Resource. API Subscription validation failed.",
        )
    }

    pub fn insufficient_scope(scopes: &[String]) -> Self {
        GatewayError {
            challenge: Some("Bearer realm=\"Portico\", error=\"insufficient_scope\""),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "900910",
                "The access token does not allow you to access the requested resource",
                format!(
                    "User is NOT authorized to access the Resource: one of the scopes {} is needed",
                    scopes.join(", ")
                ),
            )
        }
    }

    pub fn blocked() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "700700",
            "API blocked",
            "This API has been blocked temporarily. Please try again later or contact the system administrators.",
        )
    }

    /// A request a deny policy (WSO2's blocking condition) refuses: WSO2's 403 with 900805.
    pub fn denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "900805",
            "Message blocked",
            "You have been blocked from accessing the resource",
        )
    }

    /// A request over a throttling limit (WSO2's 900800-900809): 429 with `code`, saying when
    /// the client may try again, and the answer's further fields.
    pub fn throttled(code: &'static str, retry_at: std::time::SystemTime, headers: http::HeaderMap) -> Self {
        GatewayError {
            headers: Some(Box::new(headers)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                portico_throttle::key::THROTTLED_MESSAGE,
                format!(
                    "You have exceeded your quota .You can access API after {}",
                    httpdate::fmt_http_date(retry_at)
                ),
            )
        }
    }

    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "413",
            "Request Entity Too Large",
            format!("The request body is larger than this API's limit of {limit} bytes"),
        )
    }

    pub fn no_endpoint(kind: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "101503",
            "Error connecting to the back end",
            format!("This API has no {kind} endpoint"),
        )
    }

    pub fn backend_unreachable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "101503",
            "Error connecting to the back end",
            detail,
        )
    }

    pub fn backend_timeout(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "101504",
            "Timeout waiting for the back end",
            detail,
        )
    }

    pub fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "503",
            "Service Unavailable",
            "The gateway has not loaded its APIs yet",
        )
    }

    /// The response: `{"code","message","description"}` with the right headers.
    pub fn into_response(self) -> Response<GatewayBody> {
        let body = serde_json::json!({ "code": self.code, "message": self.message, "description": self.description });
        let mut response = Response::new(full_body(Bytes::from(body.to_string())));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        if let Some(challenge) = self.challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            headers.insert(header::ALLOW, allow);
        }
        if self.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(extra) = self.headers {
            headers.extend(*extra);
        }
        response
    }
}

/// An error and its sources, as one line (`a: b: c`).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
