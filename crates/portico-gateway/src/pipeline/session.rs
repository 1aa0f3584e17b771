//! What one request is while it goes through the phases: the [`Session`] every phase takes by
//! `&mut`, the [`RequestContext`] it fills for throttling and analytics (the client address
//! first), and what the gateway keeps about the connection the request came on
//! ([`ConnectionState`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::HeaderValue;
use http::{Method, Uri};

use super::correlation::CorrelationId;
use crate::auth::credentials::TokenClaims;
use crate::auth::identity::{AppInfo, ClientInfo, KeyType};
use crate::error::GatewayError;
use crate::http1::fields::RawHeaders;
use crate::model::ApiDef;
use crate::path::PathError;
use crate::routing::RouteMatch;
use crate::throttling::RateLimitNote;
use crate::{Gateway, Snapshot};

/// A consumer's request head as the phases see it: from the gateway's HTTP/1.1 server with the
/// fields as they arrived, or from hyper (HTTP/2).
pub(crate) struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub headers: RawHeaders,
}

/// What the gateway keeps about one client connection, worked out once when it is accepted
/// rather than on each of its requests.
pub(crate) struct ConnectionState {
    gateway: Arc<Gateway>,
    pub info: portico_net::ConnectionInfo,
    /// The peer's address as header text (`X-Forwarded-For`, `X-Real-IP`).
    pub peer_ip: Option<HeaderValue>,
}

impl ConnectionState {
    pub(crate) fn new(gateway: Arc<Gateway>, info: portico_net::ConnectionInfo) -> ConnectionState {
        ConnectionState {
            gateway,
            peer_ip: HeaderValue::try_from(info.peer.ip().to_string()).ok(),
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

/// Who is calling: the validated credential and the application it belongs to.
pub(crate) struct Caller {
    pub claims: Arc<TokenClaims>,
    pub client: ClientInfo,
}

/// One request on its way through the phases: what it came with (head, connection, the snapshot
/// it is served from, its normalised path) and what the phases have found out so far. It lives
/// on the stack of [`Gateway::handle`] and borrows everything it can.
pub(crate) struct Session<'a> {
    pub head: &'a RequestHead,
    pub connection: &'a ConnectionState,
    pub snapshot: &'a Snapshot,
    /// The request path normalised (`crate::path`), or why it cannot be.
    pub path: Result<&'a str, &'a PathError>,
    /// The consumer's `Origin`, when it sent one (CORS).
    pub origin: Option<&'a str>,
    /// Set by `route`.
    pub route: Option<RouteMatch<'a, 'a>>,
    /// Set by `authenticate` when the resource is secured.
    pub caller: Option<Caller>,
    /// The client address as it came (the peer's text, or the `X-Forwarded-For` entry it was
    /// read from): the backend's `X-Real-IP`.
    pub client_address: Option<&'a [u8]>,
    /// Filled in by every phase; `logging` hands it off.
    pub ctx: RequestContext,
    /// When the request started (read only when analytics records are kept).
    pub started: Option<Instant>,
    /// Time to the backend's response head (measured only when analytics records are kept).
    pub backend_micros: Option<u64>,
    /// Set by `throttle` when the request counted against a limit: what the answer reports of
    /// the closest one (`RateLimit-Policy`, `RateLimit`).
    pub rate_limit: Option<RateLimitNote>,
}

impl<'a> Session<'a> {
    pub(crate) fn new(
        head: &'a RequestHead,
        connection: &'a ConnectionState,
        snapshot: &'a Snapshot,
        path: Result<&'a str, &'a PathError>,
        started: Option<Instant>,
    ) -> Session<'a> {
        let (client_ip, client_address) = super::client_address::client_address(
            &connection.gateway.settings.trusted_proxies,
            connection.info.peer.ip(),
            connection.peer_ip.as_ref().map(HeaderValue::as_bytes),
            &head.headers,
        );
        Session {
            head,
            connection,
            snapshot,
            path,
            origin: head.headers.get("origin").and_then(|v| std::str::from_utf8(v).ok()),
            route: None,
            caller: None,
            client_address,
            ctx: RequestContext {
                method: head.method.clone(),
                client_ip: Some(client_ip),
                correlation_id: CorrelationId::of(&head.headers),
                ..RequestContext::default()
            },
            started,
            backend_micros: None,
            rate_limit: None,
        }
    }

    /// The route `route` found; a phase that runs on a request not routed answers 900906.
    pub(crate) fn routed(&self) -> Result<RouteMatch<'a, 'a>, GatewayError> {
        self.route.ok_or_else(GatewayError::no_matching_resource)
    }

    /// Whether the request is a CORS preflight (answered by the gateway itself).
    pub(crate) fn is_preflight(&self) -> bool {
        self.head.method == Method::OPTIONS && self.head.headers.contains("access-control-request-method")
    }
}

/// What one request carries from phase to phase; after `authorize` it holds everything
/// throttling keys on, and `logging` turns it into an [`AnalyticsRecord`](super::AnalyticsRecord).
///
/// It shares what it can with the snapshot (the API by `Arc`, the resource by index) so that
/// filling it costs no copies on the hot path.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub method: Method,
    /// `X-Correlation-ID`: the consumer's, or one the gateway made; the backend receives it.
    pub correlation_id: CorrelationId,
    /// The client's address: the TCP peer, or behind trusted proxies the address they forwarded
    /// (see `client_address`). Throttling, analytics, deny policies and logs go by it.
    pub client_ip: Option<IpAddr>,
    /// The API the request was routed to.
    pub api: Option<Arc<ApiDef>>,
    /// Index of the matched resource in the API's `resources`.
    pub resource_index: Option<usize>,
    /// Set by `authenticate` once tokens are validated (shared with the identity snapshot and
    /// the token cache, not copied).
    pub application: Option<Arc<AppInfo>>,
    pub credential: Option<Arc<TokenClaims>>,
    pub subscription_tier: Option<Arc<str>>,
    /// Whose keys the credential is: production or sandbox.
    pub key_type: Option<KeyType>,
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
