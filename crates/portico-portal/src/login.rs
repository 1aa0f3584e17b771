//! Signing in and out: the Key Manager's sign-in page (`/oauth2/authorize`, the
//! authorization_code grant with PKCE S256), each app's `/login` (starts the grant), `/callback`
//! (redeems the code in-process for the session's token) and `/logout` (revokes it), and the
//! [`LoginThrottle`] hook that slows down repeated failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portico_keymanager::oauth::{AuthorizeRequest, s256_challenge};
use portico_keymanager::secrets::random_token;
use portico_keymanager::{AuthError, OAuthError, TokenRequest};
use portico_net::ConnectionInfo;

use crate::form::Fields;
use crate::security::{CsrfToken, cookie};
use crate::session::{SESSION_COOKIE, Session, clear_cookie, session_cookie};
use crate::state::{PORTAL_CLIENT_ID, PortalState};
use crate::views::{Chrome, message, page, page_with};

/// Holds the PKCE verifier, `state` and where to return while the user signs in.
const LOGIN_COOKIE: &str = "__Host-portico-login";

/// A hook on sign-in attempts at `/oauth2/authorize`, for per-user and per-address back-off
/// (the hardening issue's login throttling plugs in here). The default does nothing.
pub trait LoginThrottle: Send + Sync + 'static {
    /// Before a password is checked: `Err(wait)` refuses the attempt, to be retried after `wait`.
    fn before_attempt(&self, username: &str, address: Option<IpAddr>) -> Result<(), Duration>;
    /// After the password was checked.
    fn after_attempt(&self, username: &str, address: Option<IpAddr>, succeeded: bool);
}

/// No throttling of sign-in attempts.
pub struct NoLoginThrottle;

impl LoginThrottle for NoLoginThrottle {
    fn before_attempt(&self, _: &str, _: Option<IpAddr>) -> Result<(), Duration> {
        Ok(())
    }
    fn after_attempt(&self, _: &str, _: Option<IpAddr>, _: bool) {}
}

/// `/oauth2/authorize`.
pub fn routes() -> Router<PortalState> {
    Router::new().route("/oauth2/authorize", get(authorize_page).post(authorize_submit))
}

/// `/login`, `/callback` and `/logout` of one app.
pub fn app_routes(app: &'static str) -> Router<PortalState> {
    Router::new()
        .route(
            "/login",
            get(move |state: State<PortalState>, query: Query<HashMap<String, String>>| start(app, state, query)),
        )
        .route(
            "/callback",
            get(move |state: State<PortalState>, request: Request| callback(app, state, request)),
        )
        .route(
            "/logout",
            post(move |state: State<PortalState>, session: Session| logout(app, state, session)),
        )
}

/// Every scope the portals may use; the Key Manager grants the ones the user's roles allow.
fn portal_scopes() -> String {
    portico_keymanager::scopes::SCOPE_ROLES
        .iter()
        .map(|(s, _)| *s)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A local path to return to (never another origin).
fn local_path(next: Option<&String>, app: &str) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.clone(),
        _ => format!("/{app}"),
    }
}

/// `GET /<app>/login`: a PKCE verifier and a `state` in a short-lived cookie, then the sign-in page.
async fn start(
    app: &'static str,
    State(state): State<PortalState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let verifier = random_token(32);
    let nonce = random_token(16);
    let next = local_path(query.get("next"), app);
    let location = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge={}&code_challenge_method=S256",
        PORTAL_CLIENT_ID,
        crate::rest_client::q(&format!("/{app}/callback")),
        crate::rest_client::q(&portal_scopes()),
        nonce,
        s256_challenge(&verifier),
    );
    let cookie_value = format!(
        "{LOGIN_COOKIE}={nonce}~{verifier}~{}; Path=/; Max-Age=600; Secure; HttpOnly; SameSite=Lax",
        crate::rest_client::q(&next)
    );
    if let Err(e) = state.client().await {
        tracing::error!(error = %e, "the portals' OAuth2 client is not available");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is not available; the server log says why",
        )
            .into_response();
    }
    let mut response = Redirect::to(&location).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie_value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /<app>/callback?code&state`: the code and the verifier for the session's token.
async fn callback(app: &'static str, State(state): State<PortalState>, request: Request) -> Response {
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| crate::form::parse_urlencoded(q.as_bytes()).into_iter().collect())
        .unwrap_or_default();
    let chrome = Chrome {
        app,
        title: "Sign in".into(),
        user: None,
        csrf: request
            .extensions()
            .get::<CsrfToken>()
            .map(|t| t.0.clone())
            .unwrap_or_default(),
    };
    let Some(saved) = cookie(request.headers(), LOGIN_COOKIE) else {
        return message(
            chrome,
            StatusCode::BAD_REQUEST,
            "The sign-in expired or was started in another browser; sign in again.",
        );
    };
    let mut saved_parts = saved.splitn(3, '~');
    let (nonce, verifier, next) = (
        saved_parts.next().unwrap_or(""),
        saved_parts.next().unwrap_or(""),
        saved_parts.next().unwrap_or(""),
    );
    if query.get("state").map(String::as_str) != Some(nonce) || nonce.is_empty() {
        return message(
            chrome,
            StatusCode::BAD_REQUEST,
            "The sign-in answer does not belong to this browser's sign-in; sign in again.",
        );
    }
    let Some(code) = query.get("code") else {
        return message(
            chrome,
            StatusCode::BAD_REQUEST,
            "The sign-in answer has no code; sign in again.",
        );
    };
    let client = match state.client().await {
        Ok(c) => c,
        Err(e) => return message(chrome, StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let answer = state
        .rest_state
        .oauth
        .token(
            client,
            &TokenRequest {
                grant_type: "authorization_code".into(),
                code: Some(code.clone()),
                redirect_uri: Some(format!("/{app}/callback")),
                code_verifier: Some(verifier.to_owned()),
                validity_period: Some(state.session_seconds()),
                ..TokenRequest::default()
            },
        )
        .await;
    let token = match answer {
        Ok(t) => t,
        Err(e) => return message(chrome, StatusCode::BAD_REQUEST, &format!("Sign-in failed: {e}")),
    };
    let next = percent_encoding::percent_decode_str(next)
        .decode_utf8_lossy()
        .into_owned();
    let mut response = Redirect::to(&local_path(Some(&next), app)).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session_cookie(&token.access_token, token.expires_in),
    );
    headers.append(header::SET_COOKIE, clear_cookie(LOGIN_COOKIE));
    response
}

/// `POST /<app>/logout`: revokes the session's token and drops the cookie.
async fn logout(_app: &'static str, State(state): State<PortalState>, session: Session) -> Response {
    if let Ok(client) = state.client().await
        && let Err(e) = state.rest_state.oauth.revoke(client, &session.token).await
    {
        tracing::warn!(error = %e, "could not revoke a portal session's token");
    }
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
    response
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    request: AuthorizeRequest,
    username: String,
    error: Option<String>,
    signup: bool,
}

fn authorize_request(fields: &HashMap<String, String>) -> AuthorizeRequest {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    AuthorizeRequest {
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        scope: fields.get("scope").cloned(),
        state: fields.get("state").cloned(),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
    }
}

fn sign_in_chrome(csrf: String) -> Chrome {
    Chrome {
        app: "",
        title: "Sign in".into(),
        user: None,
        csrf,
    }
}

fn oauth_refusal(chrome: Chrome, e: &OAuthError) -> Response {
    message(
        chrome,
        StatusCode::BAD_REQUEST,
        &format!("This sign-in request is refused ({}): {e}", e.code()),
    )
}

fn signup_offered(state: &PortalState, request: &AuthorizeRequest) -> bool {
    state.self_signup() && request.redirect_uri == "/devportal/callback"
}

/// `GET /oauth2/authorize`: checks the request, then asks for the user name and password.
async fn authorize_page(State(state): State<PortalState>, request: Request) -> Response {
    let csrf = request
        .extensions()
        .get::<CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let fields: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| crate::form::parse_urlencoded(q.as_bytes()).into_iter().collect())
        .unwrap_or_default();
    let authorize = authorize_request(&fields);
    if let Err(e) = state.rest_state.oauth.check_authorize_request(&authorize).await {
        return oauth_refusal(sign_in_chrome(csrf), &e);
    }
    let signup = signup_offered(&state, &authorize);
    let target = crate::security::policy_with_form_target(&authorize.redirect_uri);
    let mut response = page(&LoginPage {
        chrome: sign_in_chrome(csrf),
        request: authorize,
        username: String::new(),
        error: None,
        signup,
    });
    if let Some(policy) = target {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// `POST /oauth2/authorize`: checks the password; on success, a code back to the client.
async fn authorize_submit(State(state): State<PortalState>, request: Request) -> Response {
    let csrf = request
        .extensions()
        .get::<CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    // The TCP peer (behind a load balancer, the balancer's address).
    let address = request.extensions().get::<ConnectionInfo>().map(|i| i.peer.ip());
    let bytes = match axum::body::to_bytes(request.into_body(), 64 * 1024).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large").into_response(),
    };
    let fields = Fields::from_body(&bytes);
    let map: HashMap<String, String> = fields.0.iter().cloned().collect();
    let authorize = authorize_request(&map);
    let client = match state.rest_state.oauth.check_authorize_request(&authorize).await {
        Ok(c) => c,
        Err(e) => return oauth_refusal(sign_in_chrome(csrf), &e),
    };
    let username = fields.get("username");
    let password = map.get("password").cloned().unwrap_or_default();
    let retry = |error: String, status: StatusCode| {
        let mut response = page_with(
            status,
            &LoginPage {
                chrome: sign_in_chrome(csrf.clone()),
                signup: signup_offered(&state, &authorize),
                request: authorize.clone(),
                username: username.clone(),
                error: Some(error),
            },
        );
        if let Some(policy) = crate::security::policy_with_form_target(&authorize.redirect_uri) {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        response
    };
    if username.is_empty() || password.is_empty() {
        return retry("Enter your user name and password.".into(), StatusCode::BAD_REQUEST);
    }
    if let Err(wait) = state.throttle.before_attempt(&username, address) {
        return retry(
            format!("Too many failed sign-ins; try again in {} s.", wait.as_secs().max(1)),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    // `login` bounds the password checks and slows repeated failures (per user and address).
    let principal = match state
        .rest_state
        .authenticator
        .login(&username, &password, address)
        .await
    {
        Ok(p) => p,
        Err(AuthError::InvalidCredentials | AuthError::Malformed(_)) => {
            state.throttle.after_attempt(&username, address, false);
            return retry("Wrong user name or password.".into(), StatusCode::UNAUTHORIZED);
        }
        Err(AuthError::Refused(refusal)) => {
            return retry(
                format!(
                    "Too many sign-in attempts; try again in {} s.",
                    refusal.retry_after_seconds()
                ),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed internally");
            return retry(
                "Sign-in failed; the server log has the details.".into(),
                StatusCode::INTERNAL_SERVER_ERROR,
            );
        }
    };
    state.throttle.after_attempt(&username, address, true);
    let code = match state.rest_state.oauth.issue_code(&client, &principal, &authorize).await {
        Ok(c) => c,
        Err(e) => return oauth_refusal(sign_in_chrome(csrf), &e),
    };
    let separator = if authorize.redirect_uri.contains('?') { '&' } else { '?' };
    let mut location = format!("{}{separator}code={code}", authorize.redirect_uri);
    if let Some(s) = &authorize.state {
        location.push_str(&format!("&state={}", crate::rest_client::q(s)));
    }
    Redirect::to(&location).into_response()
}
