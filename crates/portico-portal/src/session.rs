//! Portal sessions: a `__Host-` cookie (HttpOnly, Secure, SameSite=Lax) holding the access token
//! the Key Manager issued at sign-in, valid for `[apim.portal] session_minutes`. Every node of a
//! cluster verifies it with the cluster's primary key; logging out revokes it, and the
//! revocation reaches the other nodes through the change feed.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use portico_keymanager::Principal;
use portico_store::Role;

use crate::security::{CsrfToken, cookie};
use crate::state::PortalState;

pub const SESSION_COOKIE: &str = "__Host-portico-session";

/// The signed-in user of a request.
pub struct Session {
    /// The access token, sent with every in-process REST call.
    pub token: String,
    pub principal: Principal,
    pub csrf: String,
}

impl Session {
    pub fn is_admin(&self) -> bool {
        self.principal.has_role(Role::Admin)
    }
}

/// A visitor who may be signed in (the DevPortal's catalogue is open to anonymous visitors).
pub struct Viewer {
    pub session: Option<Session>,
    pub csrf: String,
}

impl Viewer {
    pub fn token(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.token.as_str())
    }

    pub fn username(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.principal.username.as_str())
    }
}

fn csrf_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default()
}

async fn verify(parts: &Parts, state: &PortalState) -> Option<(String, Principal)> {
    let token = cookie(&parts.headers, SESSION_COOKIE)?;
    let principal = state.rest_state.authenticator.bearer(&token).await.ok()?;
    Some((token, principal))
}

impl FromRequestParts<PortalState> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &PortalState) -> Result<Viewer, Self::Rejection> {
        let csrf = csrf_of(parts);
        let session = verify(parts, state).await.map(|(token, principal)| Session {
            token,
            principal,
            csrf: csrf.clone(),
        });
        Ok(Viewer { session, csrf })
    }
}

impl FromRequestParts<PortalState> for Session {
    type Rejection = Response;

    /// No valid session: a GET goes to sign in and comes back; other methods too, to the app.
    async fn from_request_parts(parts: &mut Parts, state: &PortalState) -> Result<Session, Response> {
        if let Some((token, principal)) = verify(parts, state).await {
            return Ok(Session {
                token,
                principal,
                csrf: csrf_of(parts),
            });
        }
        let original = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |o| o.0.clone());
        let path = original.path();
        let app = path.trim_start_matches('/').split('/').next().unwrap_or("devportal");
        let next = if parts.method == axum::http::Method::GET {
            original.path_and_query().map_or(path, |pq| pq.as_str()).to_owned()
        } else {
            format!("/{app}")
        };
        let mut response = Redirect::to(&format!("/{app}/login?next={}", crate::rest_client::q(&next))).into_response();
        // A stale or revoked session cookie is dropped.
        if cookie(&parts.headers, SESSION_COOKIE).is_some() {
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
        }
        Err(response)
    }
}

/// `Set-Cookie` for a session of `seconds`.
pub fn session_cookie(token: &str, seconds: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={seconds}; Secure; HttpOnly; SameSite=Lax"
    ))
    .unwrap_or_else(|_| clear_cookie(SESSION_COOKIE))
}

/// `Set-Cookie` that deletes cookie `name`.
pub fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax"))
        .unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}
