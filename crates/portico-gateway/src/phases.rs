//! The request path, one named phase per concern.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use crate::Snapshot;
use crate::credentials::CredentialKind;
use crate::endpoint::Target;
use crate::fields::RawHeaders;
use crate::identity::{ClientInfo, KeyType};
use crate::model::{ApiDef, ApiStatus};
use crate::response::{BackendResponse, GatewayResponse};
use crate::snapshot::{RouteError, RouteMatch};
use crate::upstream::{RequestBody, RequestFields, RequestTarget, UpstreamError, UpstreamRequest};
use crate::{BoxError, Gateway, GatewayBody, GatewayError};

/// What one request carries from phase to phase; after `authorize` it holds everything
/// throttling keys on, and `logging` turns it into an [`AnalyticsRecord`].
///
/// It shares what it can with the snapshot (the API by `Arc`, the resource by index) so that
/// filling it costs no copies on the hot path.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub method: Method,
    /// Normalised path; filled in for the analytics record only (when records are kept).
    pub path: String,
    pub client_ip: Option<IpAddr>,
    /// The API the request was routed to.
    pub api: Option<Arc<ApiDef>>,
    /// Index of the matched resource in the API's `resources`.
    pub resource_index: Option<usize>,
    /// Set by `authenticate` once tokens are validated (shared with the identity snapshot and
    /// the token cache, not copied).
    pub application: Option<Arc<crate::identity::AppInfo>>,
    pub credential: Option<Arc<crate::TokenClaims>>,
    pub subscription_tier: Option<Arc<str>>,
    /// `PRODUCTION` or `SANDBOX`.
    pub key_type: Option<&'static str>,
    /// The endpoint URL the request was last sent to.
    pub backend: Option<Arc<str>>,
    pub error_code: Option<&'static str>,
    pub request_bytes: u64,
    /// `Access-Control-Allow-Origin` to send, decided once the API is known.
    pub cors_origin: Option<String>,
    pub cors_credentials: bool,
}

impl RequestContext {
    pub fn application_id(&self) -> Option<&str> {
        self.application.as_deref().map(|a| a.id.as_str())
    }
    /// The end user (the credential's subject).
    pub fn user(&self) -> Option<&str> {
        self.credential.as_deref().and_then(|c| c.subject.as_deref())
    }
    pub fn api_id(&self) -> Option<&str> {
        self.api.as_deref().map(|a| a.id.as_str())
    }
    pub fn api_name(&self) -> Option<&str> {
        self.api.as_deref().map(|a| a.name.as_str())
    }
    pub fn api_version(&self) -> Option<&str> {
        self.api.as_deref().map(|a| a.version.as_str())
    }
    /// The matched resource's template (`/menu/{id}`).
    pub fn resource(&self) -> Option<&str> {
        let api = self.api.as_deref()?;
        api.resources.get(self.resource_index?).map(|r| r.template.as_str())
    }
}

/// A consumer's request head as the phases see it: from the gateway's HTTP/1.1 server with the
/// fields as they arrived, or from hyper (HTTP/2).
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub headers: RawHeaders,
}

/// Who is calling: the validated credential and the application it belongs to.
struct Caller {
    claims: Arc<crate::TokenClaims>,
    client: ClientInfo,
}

/// The API key of a request: the `apikey` header, else the `apikey` query parameter.
fn api_key_of(request: &RequestHead) -> Option<String> {
    if let Some(value) = request.headers.get(API_KEY_HEADER) {
        return std::str::from_utf8(value)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
    }
    request
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("apikey="))
        .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
        .filter(|v| !v.is_empty())
}

/// Phase 6 for one target: the request line's target (the target's base path, the path after
/// the API's context, the query) and the fields.
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

const API_KEY_HEADER: &str = "apikey";
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// One request's analytics record, handed off without waiting.
#[derive(Debug, Clone)]
pub struct AnalyticsRecord {
    pub context: RequestContext,
    pub status: u16,
    /// Whole request, as seen by the gateway.
    pub total_micros: u64,
    /// Time to the backend's response headers (None when no backend was called).
    pub backend_micros: Option<u64>,
    pub response_bytes: Option<u64>,
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
            || crate::upstream::codec::hop_by_hop(name).is_some()
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

fn full(body: Bytes) -> GatewayBody {
    Full::new(body).map_err(|never| match never {}).boxed_unsync()
}

/// What the gateway keeps about one client connection, worked out once when it is accepted
/// rather than on each of its requests.
pub struct ConnectionState {
    gateway: Arc<Gateway>,
    info: portico_net::ConnectionInfo,
    /// The client's address as an `X-Forwarded-For` value.
    client_ip: Option<HeaderValue>,
}

impl ConnectionState {
    pub(crate) fn new(gateway: Arc<Gateway>, info: portico_net::ConnectionInfo) -> ConnectionState {
        ConnectionState {
            gateway,
            client_ip: HeaderValue::try_from(info.peer.ip().to_string()).ok(),
            info,
        }
    }

    pub(crate) fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    pub(crate) fn peer(&self) -> std::net::SocketAddr {
        self.info.peer
    }
}

impl Gateway {
    /// Serves one request end to end. The body is hyper's (HTTP/2) or the gateway's own
    /// HTTP/1.1 server's.
    pub async fn handle<B>(&self, parts: &RequestHead, body: B, connection: &ConnectionState) -> GatewayResponse
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        // The clock is read only for analytics records (two reads per request otherwise wasted).
        let started = self.analytics.is_some().then(Instant::now);
        let snapshot = self.snapshot();
        if parts.uri.path() == "/health" {
            return GatewayResponse::Local(health(&snapshot));
        }
        let mut ctx = RequestContext {
            method: parts.method.clone(),
            client_ip: Some(connection.info.peer.ip()),
            ..RequestContext::default()
        };
        let origin = parts
            .headers
            .get("origin")
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned);
        if let Some(origin) = &origin {
            // Until the API is known (and for errors before routing) the gateway-wide rules apply.
            self.decide_cors(None, origin, &mut ctx);
        }
        let mut backend_micros = None;
        let is_preflight =
            parts.method == http::Method::OPTIONS && parts.headers.contains("access-control-request-method");
        let result = if is_preflight {
            self.preflight(&snapshot, parts, origin.as_deref(), &mut ctx)
                .map(GatewayResponse::Local)
        } else {
            self.process(
                &snapshot,
                parts,
                body,
                connection,
                &mut ctx,
                origin.as_deref(),
                &mut backend_micros,
            )
            .await
        };
        let mut response = match result {
            Ok(response) => response,
            Err(error) => {
                ctx.error_code = Some(error.code);
                GatewayResponse::Local(error.into_response())
            }
        };
        if let Some(allowed) = &ctx.cors_origin {
            add_cors_headers(response.headers_to_add(), allowed, ctx.cors_credentials);
        }
        self.logging(ctx, &response, started, backend_micros);
        response
    }

    /// The CORS rules for an API (its own, else the gateway's), applied to `origin`.
    fn decide_cors(&self, api: Option<&crate::model::ApiDef>, origin: &str, ctx: &mut RequestContext) {
        let rules = api.and_then(|a| a.cors.as_ref()).or(self.settings.cors.as_ref());
        ctx.cors_origin = rules.and_then(|r| r.allowed_origin(origin));
        ctx.cors_credentials = rules.is_some_and(|r| r.allow_credentials);
    }

    /// Answers a CORS preflight at the gateway, without authentication or a backend call, for
    /// any path where the API has a resource.
    fn preflight(
        &self,
        snapshot: &Snapshot,
        request: &RequestHead,
        origin: Option<&str>,
        ctx: &mut RequestContext,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        let path = crate::path::normalize(request.uri.path()).map_err(GatewayError::bad_path)?;
        let (api, methods) = snapshot
            .routes
            .methods_at(&path)
            .ok_or_else(GatewayError::no_matching_resource)?;
        ctx.api = Some(api.def.clone());
        if let Some(origin) = origin {
            self.decide_cors(Some(&api.def), origin, ctx);
        }
        let rules = api.def.cors.as_ref().or(self.settings.cors.as_ref());
        let mut response = Response::new(full(Bytes::new()));
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
            headers.insert(header::ALLOW, v);
        }
        if let Some(rules) = rules.filter(|_| ctx.cors_origin.is_some()) {
            if let Ok(v) = HeaderValue::from_str(&rules.allow_methods.join(",")) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
            }
            if let Ok(v) = HeaderValue::from_str(&rules.allow_headers.join(",")) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        Ok(response)
    }

    #[allow(clippy::too_many_arguments)]
    async fn process<B>(
        &self,
        snapshot: &Snapshot,
        parts: &RequestHead,
        body: B,
        connection: &ConnectionState,
        ctx: &mut RequestContext,
        origin: Option<&str>,
        backend_micros: &mut Option<u64>,
    ) -> Result<GatewayResponse, GatewayError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        check_framing(&parts.headers)?;
        let path = crate::path::normalize(parts.uri.path()).map_err(GatewayError::bad_path)?;
        let route = self.route(snapshot, &parts.method, &path, ctx)?;
        if let Some(origin) = origin {
            self.decide_cors(Some(&route.api.def), origin, ctx);
        }
        let caller = self.authenticate(snapshot, &route, parts, ctx).await?;
        self.authorize(snapshot, &route, caller.as_ref(), ctx)?;
        self.throttle(ctx)?;
        let assertion = caller.as_ref().and_then(|c| self.backend_assertion(&route, c, ctx));
        let targets = self.upstream_peer(&route, ctx)?;
        let limit = route.api.def.max_request_body;
        let body = self.request_body(&parts.headers, body, limit).await?;
        let forwarding = self.forwarding(&route, &parts.headers, &parts.uri, connection);
        let sent = self.analytics.is_some().then(Instant::now);
        let upstream = self
            .send(&route, parts, &forwarding, body, &targets, assertion.as_ref(), ctx)
            .await;
        *backend_micros = sent.map(|sent| u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
        Ok(GatewayResponse::Backend(upstream?))
    }

    /// Phase 1: find API, version and resource (900906) for the normalised path.
    fn route<'s, 'p>(
        &self,
        snapshot: &'s Snapshot,
        method: &Method,
        path: &'p str,
        ctx: &mut RequestContext,
    ) -> Result<RouteMatch<'s, 'p>, GatewayError> {
        if self.analytics.is_some() {
            ctx.path = path.to_owned();
        }
        let route = snapshot.routes.route(method, path).map_err(|e| match e {
            RouteError::NoApi | RouteError::NoResource => GatewayError::no_matching_resource(),
            RouteError::MethodNotAllowed { allowed } => GatewayError::method_not_allowed(allowed),
        })?;
        ctx.api = Some(route.api.def.clone());
        ctx.resource_index = Some(route.resource_index);
        Ok(route)
    }

    /// Phase 2: credentials to an identity (900902 when missing, 900901 when invalid). Secured
    /// resources take a bearer JWT access token (when the API's security scheme has `oauth2`) or
    /// an API key in the `apikey` header or query parameter (when it has `api_key`), both
    /// validated through the token cache; prototyped APIs and resources marked `None` take none.
    async fn authenticate(
        &self,
        snapshot: &Snapshot,
        route: &RouteMatch<'_, '_>,
        request: &RequestHead,
        ctx: &mut RequestContext,
    ) -> Result<Option<Caller>, GatewayError> {
        ctx.key_type = Some(KeyType::Production.as_str());
        let def = &route.api.def;
        let needs_credentials = route.resource.secured && def.status != ApiStatus::Prototyped;
        if !needs_credentials {
            return Ok(None);
        }
        let headers = &request.headers;
        // The token stays bytes: the cache compares it with the ones it holds, and only a token
        // it has not seen is checked as text.
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.split_at_checked(7))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
            .map(|(_, token)| token.trim_ascii())
            .filter(|t| !t.is_empty());
        let caller = match bearer {
            Some(token) if def.security.oauth2 => {
                let claims = self
                    .tokens
                    .validate_bearer(token, &snapshot.identity)
                    .await
                    .map_err(|e| GatewayError::invalid_credentials(format!("Invalid Credentials: {e}")))?;
                // An API with audiences takes only tokens meant for one of them (WSO2's
                // audience validation); without, any audience.
                if !def.audiences.is_empty() && !claims.audiences.iter().any(|a| def.audiences.contains(a)) {
                    return Err(GatewayError::invalid_credentials(
                        "Invalid Credentials: the token's audience (aud) is none of this API's audiences",
                    ));
                }
                let client = crate::credentials::client_of(&snapshot.identity, &claims)?;
                Caller { claims, client }
            }
            _ => {
                let api_key = def
                    .security
                    .api_key
                    .then(|| api_key_of(request))
                    .flatten()
                    .ok_or_else(GatewayError::missing_credentials)?;
                let claims = self
                    .tokens
                    .validate(api_key.as_bytes(), CredentialKind::ApiKey, &snapshot.identity)
                    .map_err(|e| GatewayError::invalid_api_key(format!("Invalid Credentials: {e}")))?;
                let app = claims
                    .application
                    .clone()
                    .ok_or_else(|| GatewayError::invalid_api_key("The API key names no application"))?;
                Caller {
                    client: ClientInfo {
                        app,
                        key_type: claims.key_type,
                    },
                    claims,
                }
            }
        };
        ctx.key_type = Some(caller.client.key_type.as_str());
        ctx.application = Some(caller.client.app.clone());
        ctx.credential = Some(caller.claims.clone());
        Ok(Some(caller))
    }

    /// Phase 3: lifecycle (700700 for blocked APIs), subscription (900908: none, or blocked for
    /// this key type), scopes (900910: the token holds none of the resource's scopes; API keys
    /// carry no scopes and are not scope-checked, as in WSO2).
    fn authorize(
        &self,
        snapshot: &Snapshot,
        route: &RouteMatch<'_, '_>,
        caller: Option<&Caller>,
        ctx: &mut RequestContext,
    ) -> Result<(), GatewayError> {
        if route.api.def.status == ApiStatus::Blocked {
            return Err(GatewayError::blocked());
        }
        let Some(caller) = caller else {
            return Ok(());
        };
        // The live subscription decides, not the list inside an API key: a subscription blocked
        // or deleted after the key was issued stops the key at once.
        let subscription = snapshot
            .identity
            .subscription(&caller.client.app.id, &route.api.def.id)
            .filter(|s| s.status.allows(caller.client.key_type))
            .ok_or_else(GatewayError::not_subscribed)?;
        let scopes = &route.resource.scopes;
        if caller.claims.kind == CredentialKind::AccessToken
            && !scopes.is_empty()
            && !scopes.iter().any(|s| caller.claims.scopes.contains(s))
        {
            return Err(GatewayError::insufficient_scope(scopes));
        }
        ctx.subscription_tier = Some(subscription.tier.clone());
        Ok(())
    }

    /// The backend JWT for an authenticated request, when enabled.
    fn backend_assertion(
        &self,
        route: &RouteMatch<'_, '_>,
        caller: &Caller,
        ctx: &RequestContext,
    ) -> Option<HeaderValue> {
        let settings = self.settings.backend_jwt.as_ref()?;
        let tier = ctx.subscription_tier.as_deref().unwrap_or("Unlimited");
        self.assertions
            .assertion(settings, &route.api.def, &caller.claims, &caller.client, tier)
    }

    /// Phase 4: deny policies and throttle decisions (the throttling slice fills this in).
    fn throttle(&self, _ctx: &RequestContext) -> Result<(), GatewayError> {
        Ok(())
    }

    /// Phase 5: the targets to try, in order (load balancing, failover, suspension).
    fn upstream_peer<'r>(
        &self,
        route: &'r RouteMatch<'_, '_>,
        ctx: &RequestContext,
    ) -> Result<crate::endpoint::Plan<'r>, GatewayError> {
        let (production, sandbox) = route.api.pools_for(route.resource);
        let (pool, kind) = match ctx.key_type {
            Some("SANDBOX") => (sandbox, "sandbox"),
            _ => (production, "production"),
        };
        let pool = pool.ok_or_else(|| GatewayError::no_endpoint(kind))?;
        Ok(pool.plan())
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
        let declared = headers
            .get("content-length")
            .and_then(|v| crate::upstream::codec::parse_length(v.trim_ascii()));
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
                .map_err(|e| GatewayError::bad_path(format!("could not read the request body: {}", e.into())))?
                .to_bytes();
            return Ok(RequestBody::Buffered(bytes));
        }
        let streamed: GatewayBody = match limit {
            Some(limit) => Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).boxed_unsync(),
            None => body.map_err(Into::into).boxed_unsync(),
        };
        Ok(RequestBody::Streamed(streamed))
    }

    /// Phase 6 and the call itself: build the upstream request for each target in turn and send
    /// it; connect failures and timeouts suspend the target and, when the body can be resent,
    /// move on to the next one.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        route: &RouteMatch<'_, '_>,
        parts: &RequestHead,
        forwarding: &Forwarding<'_>,
        body: RequestBody,
        targets: &[&Target],
        assertion: Option<&HeaderValue>,
        ctx: &mut RequestContext,
    ) -> Result<BackendResponse, GatewayError> {
        let assertion = forwarding.backend_jwt_header.zip(assertion.map(HeaderValue::as_bytes));
        let query = backend_query(route, &parts.uri);
        let mut body = Some(body);
        let mut last_error = None;
        for target in targets {
            let Some(attempt_body) = body.take() else { break };
            let retry_body = match &attempt_body {
                RequestBody::Buffered(bytes) => Some(RequestBody::Buffered(bytes.clone())),
                RequestBody::Streamed(_) => None,
            };
            ctx.request_bytes = 0;
            let fields = BackendFields {
                forwarding,
                consumer: &parts.headers,
                target,
                assertion,
            };
            let upstream = upstream_request(route, &parts.method, query.as_deref(), &fields, attempt_body, target);
            ctx.backend = Some(target.url.clone());
            match self.upstreams.send(target, upstream).await {
                Ok(response) => {
                    target.mark_success();
                    return Ok(response);
                }
                Err(UpstreamError::RequestBody(e)) => {
                    // The consumer's side failed, not the backend: no suspension, no failover.
                    if e.is::<http_body_util::LengthLimitError>() {
                        return Err(GatewayError::too_large(route.api.def.max_request_body.unwrap_or(0)));
                    }
                    return Err(GatewayError::bad_path(format!("could not read the request body: {e}")));
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

    /// Phase 6, the part shared by every target: hop-by-hop headers left out,
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

    // Phase 7, the answer to the consumer, is the backend's status, headers and streamed body
    // as they are: the backend codec left out the hop-by-hop headers as it parsed them.

    /// Phase 8: one analytics record, handed off without waiting (dropped if the consumer lags).
    fn logging(
        &self,
        context: RequestContext,
        response: &GatewayResponse,
        started: Option<Instant>,
        backend_micros: Option<u64>,
    ) {
        let (Some(sender), Some(started)) = (&self.analytics, started) else {
            return;
        };
        let response_bytes = response.content_length();
        let record = AnalyticsRecord {
            context,
            status: response.status().as_u16(),
            total_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            backend_micros,
            response_bytes,
        };
        let _ = sender.try_send(record);
    }
}

/// The gateway's hyper service for one connection (cheap to clone: one `Arc`).
#[derive(Clone)]
pub struct GatewayService(Arc<ConnectionState>);

impl GatewayService {
    pub(crate) fn new(state: Arc<ConnectionState>) -> GatewayService {
        GatewayService(state)
    }
}

impl hyper::service::Service<Request<Incoming>> for GatewayService {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response<GatewayBody>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let connection = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let head = RequestHead {
                method: parts.method,
                uri: parts.uri,
                headers: RawHeaders::from_header_map(&parts.headers),
            };
            Ok(connection.gateway.handle(&head, body, &connection).await.into_http())
        })
    }
}

fn add_cors_headers(headers: &mut HeaderMap, allowed_origin: &str, credentials: bool) {
    if let Ok(v) = HeaderValue::from_str(allowed_origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if allowed_origin != "*" {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// Refuses requests that carry both Content-Length and Transfer-Encoding (request smuggling).
fn check_framing(headers: &RawHeaders) -> Result<(), GatewayError> {
    if headers.contains("content-length") && headers.contains("transfer-encoding") {
        return Err(GatewayError::smuggling());
    }
    Ok(())
}

fn health(snapshot: &Snapshot) -> Response<GatewayBody> {
    if !snapshot.routes.loaded {
        return GatewayError::not_ready().into_response();
    }
    let body = serde_json::json!({ "status": "healthy", "apis": snapshot.routes.api_count() });
    let mut response = Response::new(full(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

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
