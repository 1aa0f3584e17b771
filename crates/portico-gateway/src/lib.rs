//! The gateway data plane: what API consumers hit on :8280/:8243.
//!
//! A request travels through named phases (DESIGN.md §4, after pingora's `ProxyHttp`), one
//! module each under `pipeline/`, over one per-request session:
//!
//! 1. `route` — the API, version and resource for the normalised path;
//! 2. `authenticate` — the token or API key to a caller;
//! 3. `authorize` — lifecycle, subscription, scopes;
//! 4. `throttle` — deny policies (403, 900805), then throttling policies: the request's throttle
//!    keys against decisions and counts;
//! 5. `upstream_peer` — the endpoints to try;
//! 6. `upstream_request` — what the backend is sent, and the call with failover;
//! 7. `response` — errors made responses, CORS and preflights;
//! 8. `logging` — the analytics record, handed off without waiting.
//!
//! Everything a request needs is read from an immutable [`Snapshot`] swapped atomically when
//! deployments change; requests never wait on the database. No web framework sits on this path.
//! The folders:
//!
//! - `pipeline/`: the phases and the per-request session;
//! - `consumer`: the listeners' connections, served by `http1/` or, for HTTP/2, hyper (`http2`);
//! - `http1/`: the gateway's own HTTP/1.1 server (consumers) and client codec (backends), header
//!   fields;
//! - `upstream/`: connections to backends, their per-thread pools, endpoints and TLS;
//! - `auth/`: identity data, the validated-token cache, external key managers' keys,
//!   introspection, the backend JWT;
//! - `throttling`: the compiled throttling policies of the snapshot, the node's throttler, the
//!   rate-limit fields of answers;
//! - `routing`: the route table; `model` and `artifact`: API definitions and the files they
//!   come from; `path`: path normalisation; `error`: WSO2-coded errors; `response`: answers;
//!   `fuzzing`: hidden entry points of the crate-private parsers for the fuzz targets (`fuzz/`).
#![forbid(unsafe_code)]

pub mod artifact;
mod auth;
mod clock;
mod consumer;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod http1;
mod http2;
pub mod model;
pub mod path;
mod pipeline;
pub mod response;
mod routing;
pub mod throttling;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;

pub use auth::backend_jwt::BackendJwtSettings;
pub use auth::credentials::{CredentialKind, TokenClaims, TokenError};
pub use auth::{identity, introspection, issuers};
pub use consumer::ConsumerServer;
pub use error::GatewayError;
pub use pipeline::{AnalyticsRecord, RequestContext};
pub use routing::{BuildError, PoolCache, RouteError, RoutingTable};
pub use throttling::{GatewayThrottling, ThrottlePolicies};

/// Boxed error type of bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Body type of every gateway response and upstream request.
pub type GatewayBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A body of `bytes`, all there already.
pub(crate) fn full_body(bytes: Bytes) -> GatewayBody {
    Full::new(bytes).map_err(|never| match never {}).boxed_unsync()
}

/// Gateway-wide settings.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Request bodies up to this size are buffered so that failover can resend them; larger
    /// ones stream and are not retried on another endpoint.
    pub retry_buffer_limit: usize,
    /// Idle upstream connections kept per backend host (at least the client concurrency).
    pub upstream_idle_per_host: usize,
    pub upstream_idle_timeout: Duration,
    /// Gateway-wide CORS rules (`[apim.cors]`), for APIs without their own; `None` disables.
    pub cors: Option<model::CorsDef>,
    /// Send a signed backend JWT (`X-JWT-Assertion`) with authenticated requests.
    pub backend_jwt: Option<BackendJwtSettings>,
    /// Certificates https backends are verified against (`[truststore]`: system roots, the
    /// node's own certificate, a CA bundle).
    pub backend_roots: Arc<rustls::RootCertStore>,
    /// Proxies in front of the gateway (`[apim.gateway] trusted_proxies`) whose
    /// `X-Forwarded-For` is believed: the client address is then the right-most one that is not
    /// theirs. Empty: the client address is the TCP peer.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Request headers never forwarded to backends besides the built-in identity headers
    /// (`[apim.gateway] strip_request_headers`; `Name`, or `Prefix-*`).
    pub strip_request_headers: Vec<String>,
    /// Throttling policies are enforced with this throttler; `None` (`[apim.throttling]
    /// enable = false`): not at all.
    pub throttling: Option<GatewayThrottling>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            retry_buffer_limit: 64 * 1024,
            upstream_idle_per_host: 1024,
            upstream_idle_timeout: Duration::from_secs(90),
            cors: Some(model::CorsDef::wso2_default()),
            backend_jwt: None,
            backend_roots: Arc::new(rustls::RootCertStore::empty()),
            trusted_proxies: Vec::new(),
            strip_request_headers: Vec::new(),
            throttling: None,
        }
    }
}

/// Everything a request reads, immutable: the routing table, the identity data, the
/// throttling policies and the deny policies. Swapped as a whole; requests in flight keep the
/// one they started with.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub routes: Arc<RoutingTable>,
    pub identity: Arc<identity::Identity>,
    pub policies: Arc<ThrottlePolicies>,
    /// The enabled deny policies (WSO2's blocking conditions), checked first in `throttle`.
    pub deny: Arc<portico_throttle::DenyPolicies>,
}

/// The gateway: current snapshot, upstream connection pools, token cache, analytics hand-off.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    tokens: auth::credentials::TokenCache,
    assertions: auth::backend_jwt::AssertionCache,
    pools: PoolCache,
    /// The consumer's headers never forwarded (they say what the gateway vouches for).
    identity_headers: pipeline::IdentityHeaders,
    /// Connections to backends (per-thread keep-alive pools, TLS verified against
    /// `backend_roots` or, for endpoints that switch verification off, not).
    upstreams: upstream::Upstreams,
    settings: GatewaySettings,
    analytics: Option<mpsc::Sender<AnalyticsRecord>>,
}

impl Gateway {
    /// A gateway with nothing loaded (its `/health` answers 503 until [`Gateway::install`]).
    /// Analytics records go to `analytics` when given, dropped when the channel is full.
    pub fn new(settings: GatewaySettings, analytics: Option<mpsc::Sender<AnalyticsRecord>>) -> Arc<Gateway> {
        let (backend_tls, backend_tls_unverified) = upstream::tls::client_configs(settings.backend_roots.clone());
        Arc::new(Gateway {
            upstreams: upstream::Upstreams::new(
                backend_tls,
                backend_tls_unverified,
                settings.upstream_idle_per_host,
                settings.upstream_idle_timeout,
            ),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            tokens: auth::credentials::TokenCache::default(),
            assertions: auth::backend_jwt::AssertionCache::default(),
            pools: PoolCache::default(),
            identity_headers: pipeline::IdentityHeaders::new(
                settings.strip_request_headers.iter().map(String::as_str),
                settings.backend_jwt.as_ref().map(|jwt| jwt.header.as_str()),
            ),
            settings,
            analytics,
        })
    }

    /// Compiles `apis` into a new snapshot and swaps it in. APIs that fail to compile are left
    /// out and returned; the others serve.
    pub fn install(&self, apis: Vec<model::ApiDef>) -> Vec<BuildError> {
        self.install_shared(apis.into_iter().map(Arc::new).collect())
    }

    /// [`Gateway::install`] for definitions shared with a cache: an API whose `Arc` is the one
    /// already compiled is reused without even comparing it.
    pub fn install_shared(&self, apis: Vec<Arc<model::ApiDef>>) -> Vec<BuildError> {
        let current = self.snapshot.load_full();
        let (routes, errors) = RoutingTable::build(apis, &self.pools, &current.routes);
        drop(current);
        for e in &errors {
            tracing::warn!(error = %e, "API left out of the gateway snapshot");
        }
        let routes = Arc::new(routes);
        self.snapshot.rcu(|current| Snapshot {
            routes: routes.clone(),
            ..Snapshot::clone(current)
        });
        self.pools.retain_used();
        errors
    }

    /// Swaps in new identity data (keys, applications, subscriptions, revocations, external key
    /// managers). Cached tokens are forgotten when the keys or key managers change.
    pub fn install_identity(&self, identity: identity::Identity) {
        let identity = Arc::new(identity);
        let previous = self.snapshot.rcu(|current| Snapshot {
            identity: identity.clone(),
            ..Snapshot::clone(current)
        });
        if previous.identity.verification_fingerprint() != identity.verification_fingerprint() {
            self.tokens.clear();
        }
    }

    /// Swaps in the cluster's throttling policies (all levels), compiled for the `throttle`
    /// phase.
    pub fn install_throttle_policies(&self, policies: &[portico_throttle::Policy]) {
        let policies = Arc::new(ThrottlePolicies::new(policies));
        self.snapshot.rcu(|current| Snapshot {
            policies: policies.clone(),
            ..Snapshot::clone(current)
        });
    }

    /// Swaps in the cluster's enabled deny policies, compiled for the `throttle` phase. They
    /// are enforced whether or not throttling is enabled (a security control, as in WSO2).
    pub fn install_deny_policies(&self, deny: portico_throttle::DenyPolicies) {
        let deny = Arc::new(deny);
        self.snapshot.rcu(|current| Snapshot {
            deny: deny.clone(),
            ..Snapshot::clone(current)
        });
    }

    /// The snapshot requests are served from now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }
}
