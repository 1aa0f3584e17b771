//! Phase 6, `upstream_request`: runs once the endpoints are picked. Works out what the backend
//! is sent and sends it: the request target (the endpoint's base path, the path after the API's
//! context, the query without an API key), the consumer's header fields less the hop-by-hop
//! ones, `Expect` (the gateway answers it), those the proxy replaces, the identity headers it
//! vouches for (see `identity_headers`) and the credentials (`Authorization` unless the API
//! passes it, the API key), plus `Content-Length` as one field, `Host`,
//! `X-Forwarded-For/-Proto/-Host`, `X-Real-IP`, the backend JWT and `X-Correlation-ID`; the body buffered when it is
//! small enough to resend, streamed otherwise, with its length or chunked when it has none (an
//! HTTP/2 body without `content-length`), the API's size limit applied either way. Each
//! endpoint is tried in turn: a connect failure or timeout suspends it and, when the body can be
//! resent, moves on to the next (101503/101504 when none answers).
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

use super::IdentityHeaders;
use super::authenticate::API_KEY_HEADER;
use super::client_address::{X_FORWARDED_FOR, x_forwarded_for};
use super::correlation::X_CORRELATION_ID;
use super::session::Session;
use crate::error::GatewayError;
use crate::http1::common::{Decimal, FramingFacts, hop_by_hop};
use crate::http1::fields::RawHeaders;
use crate::response::BackendResponse;
use crate::routing::RouteMatch;
use crate::upstream::endpoint::Target;
use crate::upstream::{RequestBody, RequestFields, RequestTarget, UpstreamError, UpstreamRequest};
use crate::{BoxError, Gateway, GatewayBody};

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
        let declared = FramingFacts::length_of(head.headers.get_all("content-length"))
            .ok_or_else(|| GatewayError::unreadable_body("its Content-Length fields are invalid or disagree"))?;
        let body = self
            .request_body(declared, body, route.api.def.max_request_body)
            .await?;
        // Copied out (36 bytes, or the consumer's own) as `send` changes the session meanwhile.
        let correlation_id = session.ctx.correlation_id.clone();
        let forwarding = self.forwarding(&route, session, declared, correlation_id.as_bytes());
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
    /// streams it (with the API's size limit applied as it flows), as it does a body without a
    /// declared length (chunked, or HTTP/2 without `content-length`).
    async fn request_body<B>(
        &self,
        declared: Option<u64>,
        body: B,
        limit: Option<u64>,
    ) -> Result<RequestBody, GatewayError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        if let (Some(limit), Some(len)) = (limit, declared)
            && len > limit
        {
            return Err(GatewayError::too_large(limit));
        }
        // The body knows whether any follows: an HTTP/2 request says so without any header.
        let no_body = declared == Some(0) || (declared.is_none() && body.is_end_stream());
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
    /// `X-Forwarded-*` and `X-Real-IP` set, the consumer's `Authorization` left out unless the
    /// API passes it, the API key and identity headers left out, the declared length as one
    /// field.
    fn forwarding<'a>(
        &'a self,
        route: &RouteMatch<'_, '_>,
        session: &Session<'a>,
        declared: Option<u64>,
        correlation_id: &'a [u8],
    ) -> Forwarding<'a> {
        let headers = &session.head.headers;
        let connection = session.connection;
        // `Connection: keep-alive` / `close` name nothing else to leave out; other tokens are
        // header names (RFC 9110 §7.6.1).
        let connection_named: Vec<&[u8]> = headers
            .get_all("connection")
            .flat_map(|v| v.split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(b"keep-alive") && !t.eq_ignore_ascii_case(b"close"))
            .collect();
        let length_named = connection_named
            .iter()
            .any(|named| named.eq_ignore_ascii_case(b"content-length"));
        let uri = &session.head.uri;
        // An absolute-form target's (or HTTP/2's) authority wins over `Host` (RFC 9112 §3.2.2).
        let x_forwarded_host = uri
            .authority()
            .map(|authority| authority.as_str().as_bytes())
            .or_else(|| headers.get("host"));
        Forwarding {
            pass_authorization: route.api.def.pass_authorization_header,
            strip_api_key: route.api.def.security.api_key,
            identity_headers: &self.identity_headers,
            connection_named,
            content_length: declared.filter(|_| !length_named).map(Decimal::new),
            backend_jwt_header: self.settings.backend_jwt.as_ref().map(|s| s.header.as_str().as_bytes()),
            x_forwarded_for: connection
                .peer_ip
                .as_ref()
                .map(|peer| x_forwarded_for(headers, peer.as_bytes())),
            x_forwarded_proto: if connection.info.tls { b"https" } else { b"http" },
            x_forwarded_host,
            x_real_ip: session.client_address,
            correlation_id,
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
    identity_headers: &'a IdentityHeaders,
    /// Headers the consumer's `Connection` header names (hop-by-hop by declaration).
    connection_named: Vec<&'a [u8]>,
    /// The length the consumer declared, written as one field (it may have sent `5` and `05`,
    /// or `5, 5`).
    content_length: Option<Decimal>,
    backend_jwt_header: Option<&'a [u8]>,
    x_forwarded_for: Option<Cow<'a, [u8]>>,
    x_forwarded_proto: &'static [u8],
    x_forwarded_host: Option<&'a [u8]>,
    x_real_ip: Option<&'a [u8]>,
    /// `X-Correlation-ID`.
    correlation_id: &'a [u8],
}

impl Forwarding<'_> {
    /// Whether the consumer's field `name` goes to the backend. Not: hop-by-hop fields (the
    /// backend codec's list: RFC 9110 §7.6.1, `Proxy-Connection`, and `Transfer-Encoding` as the
    /// proxy frames the body itself), the ones the proxy sets (`Host`, `Content-Length`), `Expect`
    /// (the gateway has answered it), `Authorization` unless the API passes it, the API key,
    /// identity headers. Names are compared by length first: most fields have a length no
    /// excluded name has.
    fn forwards(&self, name: &[u8]) -> bool {
        let is = |excluded: &str| name.eq_ignore_ascii_case(excluded.as_bytes());
        let replaced_or_credential = match name.len() {
            4 => is("host"),
            6 => is("expect") || (self.strip_api_key && is(API_KEY_HEADER)),
            13 => !self.pass_authorization && is("authorization"),
            14 => is("content-length"),
            // The gateway sends the request's id itself (the consumer's when it was usable).
            16 => is(X_CORRELATION_ID),
            _ => false,
        };
        !(replaced_or_credential
            || hop_by_hop(name).is_some()
            || self.identity_headers.strips(name)
            || self
                .connection_named
                .iter()
                .any(|named| name.eq_ignore_ascii_case(named)))
    }
}

/// The header fields of the request to one target: the consumer's that pass, then
/// `Content-Length`, `Host`, the `X-Forwarded-*` set, `X-Real-IP` and the backend JWT.
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
        if let Some(length) = self.content_length() {
            each(b"content-length", length);
        }
        each(b"host", self.target.host.as_bytes());
        if let Some(value) = &forwarding.x_forwarded_for {
            each(X_FORWARDED_FOR.as_bytes(), value);
        }
        each(b"x-forwarded-proto", forwarding.x_forwarded_proto);
        if let Some(value) = forwarding.x_forwarded_host {
            each(b"x-forwarded-host", value);
        }
        if let Some(value) = forwarding.x_real_ip {
            each(b"x-real-ip", value);
        }
        if let Some((name, value)) = self.assertion {
            each(name, value);
        }
        if !forwarding.correlation_id.is_empty() {
            each(X_CORRELATION_ID.as_bytes(), forwarding.correlation_id);
        }
    }

    /// The consumer's declared length, unless its `Connection` header names `Content-Length`.
    fn content_length(&self) -> Option<&[u8]> {
        self.forwarding.content_length.as_ref().map(Decimal::as_bytes)
    }
}
