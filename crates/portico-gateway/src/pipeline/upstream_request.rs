//! Phase 6, `upstream_request`: runs once the endpoints are picked. Works out what the backend
//! is sent and sends it: the request target (the endpoint's base path, the path after the API's
//! context, the query without an API key), the consumer's header fields less the hop-by-hop
//! ones, those the proxy replaces and the credentials (`Authorization` unless the API passes
//! it, the API key), plus `Host`, `X-Forwarded-For/-Proto/-Host` and the backend JWT; the body
//! buffered when it is small enough to resend, streamed otherwise (with the API's size limit
//! applied either way). Each endpoint is tried in turn: a connect failure or timeout suspends it
//! and, when the body can be resent, moves on to the next (101503/101504 when none answers).
//!
//! Reads the route, the caller, the request head and the connection; sets the context's
//! backend and request bytes and the session's backend time.

use std::borrow::Cow;
use std::time::Instant;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Limited};

use super::authenticate::API_KEY_HEADER;
use super::session::{ConnectionState, Session};
use crate::error::GatewayError;
use crate::http1::common::{hop_by_hop, parse_length};
use crate::http1::fields::RawHeaders;
use crate::response::BackendResponse;
use crate::routing::RouteMatch;
use crate::upstream::endpoint::Target;
use crate::upstream::{RequestBody, RequestFields, RequestTarget, UpstreamError, UpstreamRequest};
use crate::{BoxError, Gateway, GatewayBody};

const X_FORWARDED_FOR: &str = "x-forwarded-for";

impl Gateway {
    /// Sends the request to each of `targets` in turn until one answers.
    pub(super) async fn upstream_request<B>(
        &self,
        session: &mut Session<'_>,
        targets: &[&Target],
        body: B,
    ) -> Result<BackendResponse, GatewayError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let route = session.routed()?;
        let head = session.head;
        let assertion = self.backend_assertion(session, &route);
        let body = self
            .request_body(&head.headers, body, route.api.def.max_request_body)
            .await?;
        let forwarding = self.forwarding(&route, &head.headers, &head.uri, session.connection);
        let sent = self.analytics.is_some().then(Instant::now);
        let upstream = self
            .send(session, &route, &forwarding, body, targets, assertion.as_ref())
            .await;
        session.backend_micros = sent.map(|sent| u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
        upstream
    }

    /// The backend JWT for an authenticated request, when enabled.
    fn backend_assertion(&self, session: &Session<'_>, route: &RouteMatch<'_, '_>) -> Option<HeaderValue> {
        let settings = self.settings.backend_jwt.as_ref()?;
        let caller = session.caller.as_ref()?;
        let tier = session.ctx.subscription_tier.as_deref().unwrap_or("Unlimited");
        self.assertions
            .assertion(settings, &route.api.def, &caller.claims, &caller.client, tier)
    }

    /// Reads the body into memory when it is small enough to resend on failover; otherwise
    /// streams it (with the API's size limit applied as it flows).
    async fn request_body<B>(
        &self,
        headers: &RawHeaders,
        body: B,
        limit: Option<u64>,
    ) -> Result<RequestBody, GatewayError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let declared = headers.get("content-length").and_then(|v| parse_length(v.trim_ascii()));
        if let (Some(limit), Some(len)) = (limit, declared)
            && len > limit
        {
            return Err(GatewayError::too_large(limit));
        }
        let no_body = declared == Some(0) || (declared.is_none() && !headers.contains("transfer-encoding"));
        if no_body {
            return Ok(RequestBody::Buffered(Bytes::new()));
        }
        if declared.is_some_and(|len| len <= self.settings.retry_buffer_limit as u64) {
            let bytes = body
                .collect()
                .await
                .map_err(|e| GatewayError::unreadable_body(e.into()))?
                .to_bytes();
            return Ok(RequestBody::Buffered(bytes));
        }
        let streamed: GatewayBody = match limit {
            Some(limit) => Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).boxed_unsync(),
            None => body.map_err(Into::into).boxed_unsync(),
        };
        Ok(RequestBody::Streamed(streamed))
    }

    /// The call itself: the upstream request for each target in turn, sent; connect failures
    /// and timeouts suspend the target and, when the body can be resent, move on to the next
    /// one.
    async fn send(
        &self,
        session: &mut Session<'_>,
        route: &RouteMatch<'_, '_>,
        forwarding: &Forwarding<'_>,
        body: RequestBody,
        targets: &[&Target],
        assertion: Option<&HeaderValue>,
    ) -> Result<BackendResponse, GatewayError> {
        let head = session.head;
        let assertion = forwarding.backend_jwt_header.zip(assertion.map(HeaderValue::as_bytes));
        let query = backend_query(route, &head.uri);
        let mut body = Some(body);
        let mut last_error = None;
        for target in targets {
            let Some(attempt_body) = body.take() else { break };
            let retry_body = match &attempt_body {
                RequestBody::Buffered(bytes) => Some(RequestBody::Buffered(bytes.clone())),
                RequestBody::Streamed(_) => None,
            };
            session.ctx.request_bytes = 0;
            let fields = BackendFields {
                forwarding,
                consumer: &head.headers,
                target,
                assertion,
            };
            let upstream = upstream_request(route, &head.method, query.as_deref(), &fields, attempt_body, target);
            session.ctx.backend = Some(target.url.clone());
            match self.upstreams.send(target, upstream).await {
                Ok(response) => {
                    target.mark_success();
                    return Ok(response.into());
                }
                Err(UpstreamError::RequestBody(e)) => {
                    // The consumer's side failed, not the backend: no suspension, no failover.
                    if e.is::<http_body_util::LengthLimitError>() {
                        return Err(GatewayError::too_large(route.api.def.max_request_body.unwrap_or(0)));
                    }
                    return Err(GatewayError::unreadable_body(e));
                }
                Err(UpstreamError::Timeout) => {
                    tracing::warn!(endpoint = %target.def.url, timeout_ms = target.def.response_timeout.as_millis(), "backend timed out");
                    target.mark_failure();
                    last_error = Some(GatewayError::backend_timeout(format!(
                        "{} did not answer within {} ms",
                        target.def.url,
                        target.def.response_timeout.as_millis()
                    )));
                }
                Err(e) => {
                    tracing::warn!(endpoint = %target.def.url, error = %e, "backend call failed");
                    target.mark_failure();
                    last_error = Some(GatewayError::backend_unreachable(format!("{}: {e}", target.def.url)));
                }
            }
            body = retry_body;
        }
        Err(last_error.unwrap_or_else(|| GatewayError::backend_unreachable("no endpoint could be tried")))
    }

    /// What of the consumer's fields goes to every target: hop-by-hop headers left out,
    /// `X-Forwarded-*` set, the consumer's `Authorization` left out unless the API passes it,
    /// the API key left out.
    fn forwarding<'a>(
        &'a self,
        route: &RouteMatch<'_, '_>,
        headers: &'a RawHeaders,
        uri: &'a Uri,
        connection: &'a ConnectionState,
    ) -> Forwarding<'a> {
        // `Connection: keep-alive` / `close` name nothing else to leave out; other tokens are
        // header names (RFC 9110 §7.6.1).
        let connection_named = headers
            .get_all("connection")
            .flat_map(|v| v.split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(b"keep-alive") && !t.eq_ignore_ascii_case(b"close"))
            .collect();
        let x_forwarded_for = connection
            .client_ip
            .as_ref()
            .map(|ip| match headers.get(X_FORWARDED_FOR) {
                Some(previous) => {
                    let mut value = Vec::with_capacity(previous.len() + 2 + ip.len());
                    value.extend_from_slice(previous);
                    value.extend_from_slice(b", ");
                    value.extend_from_slice(ip.as_bytes());
                    Cow::Owned(value)
                }
                None => Cow::Borrowed(ip.as_bytes()),
            });
        let x_forwarded_host = headers.get("host").or_else(|| uri.host().map(str::as_bytes));
        Forwarding {
            pass_authorization: route.api.def.pass_authorization_header,
            strip_api_key: route.api.def.security.api_key,
            connection_named,
            backend_jwt_header: self.settings.backend_jwt.as_ref().map(|s| s.header.as_str().as_bytes()),
            x_forwarded_for,
            x_forwarded_proto: if connection.info.tls { b"https" } else { b"http" },
            x_forwarded_host,
        }
    }
}

/// The request to one target: the request line's target (the target's base path, the path
/// after the API's context, the query) and the fields.
fn upstream_request<'a>(
    route: &RouteMatch<'_, 'a>,
    method: &'a Method,
    query: Option<&'a str>,
    fields: &'a dyn RequestFields,
    body: RequestBody,
    target: &'a Target,
) -> UpstreamRequest<'a> {
    UpstreamRequest {
        method,
        target: RequestTarget {
            base_path: target.base.path().trim_end_matches('/'),
            path: route.backend_path,
            query,
        },
        fields,
        body,
    }
}

/// The query the backend receives: the consumer's, without an `apikey` parameter when the API
/// takes API keys (the key is a credential; backends never see it; a query left empty goes
/// away).
fn backend_query<'u>(route: &RouteMatch<'_, '_>, uri: &'u Uri) -> Option<Cow<'u, str>> {
    let query = uri.query()?;
    if !(route.api.def.security.api_key && query.contains("apikey")) {
        return Some(Cow::Borrowed(query));
    }
    let rest = query
        .split('&')
        .filter(|pair| !pair.starts_with("apikey=") && *pair != "apikey")
        .collect::<Vec<_>>()
        .join("&");
    (!rest.is_empty()).then_some(Cow::Owned(rest))
}

/// What of the consumer's request headers goes to the backend, worked out once per request:
/// the consumer's fields are left as they are and the backend request is written from them,
/// skipping what must not be forwarded and adding the proxy's own fields.
struct Forwarding<'a> {
    pass_authorization: bool,
    strip_api_key: bool,
    /// Headers the consumer's `Connection` header names (hop-by-hop by declaration).
    connection_named: Vec<&'a [u8]>,
    backend_jwt_header: Option<&'a [u8]>,
    x_forwarded_for: Option<Cow<'a, [u8]>>,
    x_forwarded_proto: &'static [u8],
    x_forwarded_host: Option<&'a [u8]>,
}

impl Forwarding<'_> {
    /// Whether the consumer's field `name` goes to the backend. Not: hop-by-hop fields (the
    /// backend codec's list: RFC 9110 §7.6.1, `Proxy-Connection`, and `Transfer-Encoding` as the
    /// proxy frames the body itself), the ones the proxy sets (`Host`, `X-Forwarded-*`, the
    /// backend JWT), `Authorization` unless the API passes it, the API key. Names are compared
    /// by length first: most fields have a length no excluded name has.
    fn forwards(&self, name: &[u8]) -> bool {
        let is = |excluded: &str| name.eq_ignore_ascii_case(excluded.as_bytes());
        let replaced_or_credential = match name.len() {
            4 => is("host"),
            6 => self.strip_api_key && is(API_KEY_HEADER),
            13 => !self.pass_authorization && is("authorization"),
            15 => is(X_FORWARDED_FOR),
            16 => is("x-forwarded-host"),
            17 => is("x-forwarded-proto"),
            _ => false,
        };
        !(replaced_or_credential
            || hop_by_hop(name).is_some()
            || self
                .backend_jwt_header
                .is_some_and(|jwt| name.eq_ignore_ascii_case(jwt))
            || self
                .connection_named
                .iter()
                .any(|named| name.eq_ignore_ascii_case(named)))
    }
}

/// The header fields of the request to one target: the consumer's that pass, then `Host`, the
/// `X-Forwarded-*` set and the backend JWT.
struct BackendFields<'a> {
    forwarding: &'a Forwarding<'a>,
    consumer: &'a RawHeaders,
    target: &'a Target,
    assertion: Option<(&'a [u8], &'a [u8])>,
}

impl RequestFields for BackendFields<'_> {
    fn for_each(&self, each: &mut dyn FnMut(&[u8], &[u8])) {
        let forwarding = self.forwarding;
        for (name, value) in self.consumer.iter() {
            if forwarding.forwards(name) {
                each(name, value);
            }
        }
        each(b"host", self.target.host.as_bytes());
        if let Some(value) = &forwarding.x_forwarded_for {
            each(X_FORWARDED_FOR.as_bytes(), value);
        }
        each(b"x-forwarded-proto", forwarding.x_forwarded_proto);
        if let Some(value) = forwarding.x_forwarded_host {
            each(b"x-forwarded-host", value);
        }
        if let Some((name, value)) = self.assertion {
            each(name, value);
        }
    }

    /// The consumer's, unless it does not pass (a `Connection` header can name it): the proxy
    /// adds none of its own.
    fn content_length(&self) -> Option<&[u8]> {
        self.consumer
            .get("content-length")
            .filter(|_| self.forwarding.forwards(b"content-length"))
    }
}
