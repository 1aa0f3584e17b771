//! The OAuth2 endpoints of the Key Manager: `/oauth2/token`, `/oauth2/revoke` (RFC 7009),
//! `/oauth2/introspect` (RFC 7662), `/oauth2/jwks` and the discovery documents. Errors here are
//! RFC 6749 §5.2 bodies (`{"error","error_description"}`), not WSO2 REST bodies.

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use portico_keymanager::login_guard::Refusal;
use portico_keymanager::{OAuthError, TokenRequest};
use portico_store::{OAuthClient, Role};
use serde_json::json;

use crate::auth::ClientAddress;
use crate::state::RestState;

pub fn routes() -> Router<RestState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/introspect", post(introspect))
        .route("/oauth2/jwks", get(jwks))
        .route("/oauth2/token/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/openid-configuration", get(discovery))
}

/// An RFC 6749 §5.2 error answer.
pub struct OAuthErrorResponse(pub OAuthError);

impl From<OAuthError> for OAuthErrorResponse {
    fn from(e: OAuthError) -> Self {
        OAuthErrorResponse(e)
    }
}

impl IntoResponse for OAuthErrorResponse {
    fn into_response(self) -> Response {
        let e = self.0;
        let (status, description) = match &e {
            OAuthError::InvalidClient(_) => (StatusCode::UNAUTHORIZED, e.to_string()),
            OAuthError::Store(s) if s.is_unavailable() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is not reachable; try again shortly".to_owned(),
            ),
            OAuthError::Store(_) | OAuthError::Internal(_) => {
                tracing::error!(error = %e, "token endpoint failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The server could not handle the request; the server log has the details".to_owned(),
                )
            }
            OAuthError::Refused(Refusal::Busy(_)) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            OAuthError::Refused(Refusal::LockedOut(_)) => (StatusCode::TOO_MANY_REQUESTS, e.to_string()),
            _ => (StatusCode::BAD_REQUEST, e.to_string()),
        };
        let mut response = (
            status,
            Json(json!({ "error": e.code(), "error_description": description })),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let OAuthError::Refused(refusal) = &e {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(refusal.retry_after_seconds()));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Portico OAuth2\", error=\"invalid_client\""),
            );
        }
        response
    }
}

type Params = HashMap<String, String>;

fn form(body: Result<Form<Params>, FormRejection>) -> Result<Params, OAuthError> {
    body.map(|Form(p)| p).map_err(|e| {
        OAuthError::InvalidRequest(format!(
            "The body must be application/x-www-form-urlencoded parameters: {e}"
        ))
    })
}

/// Client id and secret from HTTP Basic (RFC 6749 §2.3.1, form-urlencoded inside) or the form.
fn client_credentials(headers: &HeaderMap, params: &Params) -> Result<Option<(String, String)>, OAuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| OAuthError::InvalidClient("The Authorization header is not ASCII".into()))?;
        let (scheme, encoded) = value.trim().split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            if params.contains_key("client_secret") {
                return Err(OAuthError::InvalidRequest(
                    "Use one client authentication method: HTTP Basic or client_secret, not both".into(),
                ));
            }
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| OAuthError::InvalidClient("The Basic credentials are not base64".into()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| OAuthError::InvalidClient("The Basic credentials are not UTF-8".into()))?;
            let (id, secret) = text
                .split_once(':')
                .ok_or_else(|| OAuthError::InvalidClient("The Basic credentials lack a ':'".into()))?;
            return Ok(Some((percent_decode(id), percent_decode(secret))));
        }
    }
    match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Ok(Some((id.clone(), secret.clone()))),
        _ => Ok(None),
    }
}

/// Decodes `%XX` and `+` (application/x-www-form-urlencoded); malformed escapes stay as they are.
fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn authenticated_client(
    state: &RestState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<OAuthClient, OAuthError> {
    let Some((id, secret)) = client_credentials(headers, params)? else {
        return Err(OAuthError::InvalidClient(
            "Client authentication is required: HTTP Basic with the client id and secret, or client_id and client_secret parameters".into(),
        ));
    };
    state.oauth.authenticate_client(&id, &secret).await
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /oauth2/token`.
async fn token(
    State(state): State<RestState>,
    ClientAddress(client_address): ClientAddress,
    headers: HeaderMap,
    body: Result<Form<Params>, FormRejection>,
) -> Result<Response, OAuthErrorResponse> {
    let params = form(body)?;
    let client = authenticated_client(&state, &headers, &params).await?;
    let validity_period = match params.get("validity_period") {
        None => None,
        Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
            OAuthError::InvalidRequest(format!("validity_period must be a number of seconds, not `{v}`"))
        })?),
    };
    let request = TokenRequest {
        grant_type: params.get("grant_type").cloned().unwrap_or_default(),
        username: params.get("username").cloned(),
        password: params.get("password").cloned(),
        refresh_token: params.get("refresh_token").cloned(),
        scope: params.get("scope").cloned(),
        validity_period,
        client_address,
        code: params.get("code").cloned(),
        redirect_uri: params.get("redirect_uri").cloned(),
        code_verifier: params.get("code_verifier").cloned(),
    };
    let answer = state.oauth.token(&client, &request).await?;
    Ok(no_store(Json(answer).into_response()))
}

/// `POST /oauth2/revoke` (RFC 7009): 200 whether or not the token was known.
async fn revoke(
    State(state): State<RestState>,
    headers: HeaderMap,
    body: Result<Form<Params>, FormRejection>,
) -> Result<Response, OAuthErrorResponse> {
    let params = form(body)?;
    let client = authenticated_client(&state, &headers, &params).await?;
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::InvalidRequest("Missing parameter token".into()))?;
    state.oauth.revoke(&client, token).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// `POST /oauth2/introspect` (RFC 7662): needs client credentials, or an admin's Basic credentials.
async fn introspect(
    State(state): State<RestState>,
    ClientAddress(client_address): ClientAddress,
    headers: HeaderMap,
    body: Result<Form<Params>, FormRejection>,
) -> Result<Response, OAuthErrorResponse> {
    let params = form(body)?;
    let credentials = client_credentials(&headers, &params)?;
    let allowed = match &credentials {
        None => false,
        Some((id, secret)) => match state.oauth.authenticate_client(id, secret).await {
            Ok(_) => true,
            Err(OAuthError::InvalidClient(_)) => state
                .authenticator
                .login(id, secret, client_address)
                .await
                .is_ok_and(|p| p.has_role(Role::Admin)),
            Err(e) => return Err(e.into()),
        },
    };
    if !allowed {
        return Err(OAuthError::InvalidClient(
            "Introspection needs a client's credentials or an admin's, by HTTP Basic".into(),
        )
        .into());
    }
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::InvalidRequest("Missing parameter token".into()))?;
    Ok(no_store(Json(state.oauth.introspect(token).await?).into_response()))
}

/// `GET /oauth2/jwks`.
async fn jwks(State(state): State<RestState>) -> Json<serde_json::Value> {
    Json(state.oauth.jwks())
}

/// OpenID Provider metadata (the parts that apply to an OAuth2-only server).
async fn discovery(State(state): State<RestState>) -> Json<serde_json::Value> {
    let issuer = state.oauth.settings().issuer.clone();
    let base = issuer.trim_end_matches("/oauth2/token").to_owned();
    let alg = state.oauth.validator().signer.algorithm();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "introspection_endpoint": format!("{base}/oauth2/introspect"),
        "jwks_uri": format!("{base}/oauth2/jwks"),
        "registration_endpoint": format!("{base}/client-registration/v0.17/register"),
        "grant_types_supported": portico_keymanager::oauth::SUPPORTED_GRANTS,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint_auth_signing_alg_values_supported": [alg],
        "scopes_supported": portico_keymanager::scopes::SCOPE_ROLES.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding() {
        assert_eq!(super::percent_decode("a%3Ab+c"), "a:b c");
        assert_eq!(super::percent_decode("abc%"), "abc%");
        assert_eq!(super::percent_decode("%zz1"), "%zz1");
    }
}
