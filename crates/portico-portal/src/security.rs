//! What every portal answer carries and every form post must prove.
//!
//! - Headers: a Content-Security-Policy that allows no script at all and only this origin's
//!   stylesheet and form targets, `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`,
//!   `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store` on pages.
//! - CSRF: a random token in a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict, this origin
//!   only), echoed by every form in a hidden `csrf` field (double submit). A POST whose field is
//!   missing or differs, or that a browser marks as cross-site (`Sec-Fetch-Site`, `Origin`),
//!   is refused with 403 before any handler runs. The token needs no server state, so any node
//!   of a cluster checks it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use portico_keymanager::secrets::random_token;
use subtle::ConstantTimeEq;

use crate::form::parse_urlencoded;

pub const CSRF_COOKIE: &str = "__Host-portico-csrf";
/// The hidden field every form carries.
pub const CSRF_FIELD: &str = "csrf";
/// Largest form body read (OpenAPI uploads are multipart and read by their handler).
const MAX_FORM_BYTES: usize = 1024 * 1024;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a page whose form is answered with a redirect to `redirect_uri` (the sign-in
/// page): browsers check `form-action` on the redirect too, so a client on another origin is
/// named there. `None` for this server's own paths.
pub fn policy_with_form_target(redirect_uri: &str) -> Option<HeaderValue> {
    let url = reqwest::Url::parse(redirect_uri).ok()?;
    if !matches!(url.scheme(), "https" | "http") {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    if origin.contains([' ', ';', ',', '\'', '"']) {
        return None;
    }
    let policy = CONTENT_SECURITY_POLICY.replace("form-action 'self'", &format!("form-action 'self' {origin}"));
    HeaderValue::from_str(&policy).ok()
}

/// This request's CSRF token (a request extension), for the forms a page renders.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// The value of cookie `name`, if the request sent it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn token_shaped(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Constant-time comparison of a form's token with the cookie's.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

fn refused(reason: &str) -> Response {
    let mut response = (
        StatusCode::FORBIDDEN,
        format!("Refused: {reason}. Reload the form and send it again."),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    add_headers(&mut response);
    response
}

/// Did a browser say this request came from another site?
fn cross_site(headers: &HeaderMap, authority: Option<&str>) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site")
    {
        return true;
    }
    // HTTP/2 requests name the host in `:authority`, HTTP/1.1 ones in `Host`.
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).or(authority);
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()), host) else {
        return false;
    };
    // `null` (sandboxed or opaque origins) or another host.
    origin.rsplit_once("://").is_none_or(|(_, authority)| authority != host)
}

/// The portals' middleware: the CSRF check of form posts, then the security headers.
pub async fn csrf_and_headers(request: Request, next: Next) -> Response {
    let existing = cookie(request.headers(), CSRF_COOKIE).filter(|t| token_shaped(t));
    let token = existing.clone().unwrap_or_else(|| random_token(32));
    let mut request = request;
    if request.method() == Method::POST {
        let authority = request.uri().authority().map(|a| a.as_str().to_owned());
        if cross_site(request.headers(), authority.as_deref()) {
            return refused("a form posted from another site (CSRF)");
        }
        let Some(expected) = existing.as_deref() else {
            return refused("the form's security token (CSRF) is missing: cookies must be enabled");
        };
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let (parts, body) = request.into_parts();
            let bytes = match http_body_util::Limited::new(body, MAX_FORM_BYTES).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large").into_response(),
            };
            let given = parse_urlencoded(&bytes)
                .into_iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v)
                .unwrap_or_default();
            if !tokens_match(expected, &given) {
                return refused("the form's security token (CSRF) is missing or wrong");
            }
            request = Request::from_parts(parts, Body::from(bytes));
        } else if !content_type.starts_with("multipart/form-data") {
            return refused("forms must be sent as application/x-www-form-urlencoded or multipart/form-data");
        }
        // Multipart forms (file uploads) are checked by their handler, which reads the parts.
    }
    request.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(request).await;
    if existing.is_none()
        && let Ok(value) = HeaderValue::from_str(&format!(
            "{CSRF_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"
        ))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    add_headers(&mut response);
    response
}

fn add_headers(response: &mut Response) {
    let headers = response.headers_mut();
    // A page may set its own (the sign-in page of a client on another origin), as strict.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-portico-csrf=xyz; b=2"),
        );
        assert_eq!(cookie(&h, CSRF_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("portal.example:9443"));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://portal.example:9443"));
        assert!(!cross_site(&h, None));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(cross_site(&h, None));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(cross_site(&h, None));
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h, None));
    }

    #[test]
    fn sign_in_pages_may_post_to_their_client() {
        let policy = policy_with_form_target("https://app.example:8443/cb?x=1").expect("policy");
        assert!(
            policy
                .to_str()
                .expect("ascii")
                .contains("form-action 'self' https://app.example:8443;")
        );
        assert!(policy_with_form_target("/publisher/callback").is_none());
        assert!(policy_with_form_target("javascript:alert(1)").is_none());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "ab"));
        assert!(!tokens_match("", ""));
    }
}
