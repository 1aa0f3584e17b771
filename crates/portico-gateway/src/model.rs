//! What the gateway needs to know about a deployed API: the gateway's own, minimal view. The
//! runtime artifacts (`portico_artifact`) are turned into these by [`crate::artifact`].

use std::time::Duration;

/// One deployed API revision.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiDef {
    pub id: String,
    pub name: String,
    pub version: String,
    /// `/pizza`, or with the version inside: `/pizza/{version}/shop`.
    pub context: String,
    /// Also reachable without the version (WSO2's default version).
    pub is_default_version: bool,
    pub status: ApiStatus,
    pub resources: Vec<ResourceDef>,
    pub production: Option<EndpointDef>,
    pub sandbox: Option<EndpointDef>,
    /// Forward the consumer's `Authorization` header to the backend.
    pub pass_authorization_header: bool,
    /// Largest request body accepted for this API, in bytes.
    pub max_request_body: Option<u64>,
    /// The API's own CORS rules; the gateway-wide ones apply when `None`.
    pub cors: Option<CorsDef>,
    /// Which credentials secured resources accept.
    pub security: SecurityDef,
    /// An API Product's APIs: the endpoints its resources go to (see [`ResourceDef::backend`]).
    /// Empty for an API.
    pub backends: Vec<BackendDef>,
    /// The `aud` values an access token must name one of; empty: any.
    pub audiences: Vec<String>,
    /// The advanced policy limiting the whole API (`apiThrottlingPolicy`); when set, it
    /// replaces the resources' own `throttling_policy`, as in WSO2.
    pub api_throttling_policy: Option<String>,
}

/// The endpoints of one API an API Product's resources come from.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendDef {
    pub api_id: String,
    pub production: Option<EndpointDef>,
    pub sandbox: Option<EndpointDef>,
}

/// Which credentials an API accepts (WSO2's `securityScheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityDef {
    /// `oauth2`: bearer JWT access tokens.
    pub oauth2: bool,
    /// `api_key`: API keys in the `apikey` header or query parameter.
    pub api_key: bool,
}

impl Default for SecurityDef {
    fn default() -> Self {
        SecurityDef {
            oauth2: true,
            api_key: false,
        }
    }
}

impl SecurityDef {
    /// From WSO2's `securityScheme` list. An API naming neither `oauth2` nor `api_key` (only
    /// schemes this gateway does not implement, or none) takes OAuth2, WSO2's default.
    pub fn from_schemes<'a>(schemes: impl IntoIterator<Item = &'a str>) -> SecurityDef {
        let (mut oauth2, mut api_key) = (false, false);
        for scheme in schemes {
            match scheme {
                "oauth2" => oauth2 = true,
                "api_key" => api_key = true,
                _ => {}
            }
        }
        SecurityDef {
            oauth2: oauth2 || !api_key,
            api_key,
        }
    }
}

/// CORS rules (WSO2's `corsConfiguration` or `[apim.cors]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CorsDef {
    /// Origins allowed; `*` allows any.
    pub allow_origins: Vec<String>,
    pub allow_headers: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_credentials: bool,
}

impl CorsDef {
    /// WSO2's default `[apim.cors]` (defined once, by the runtime artifact's CORS type).
    pub fn wso2_default() -> CorsDef {
        CorsDef::from(&portico_artifact::CorsConfiguration::default())
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if it is allowed.
    pub fn allowed_origin(&self, origin: &str) -> Option<String> {
        if self.allow_origins.iter().any(|o| o == origin) {
            return Some(origin.to_owned());
        }
        if self.allow_origins.iter().any(|o| o == "*") {
            // A wildcard cannot be combined with credentials, so echo the origin then.
            return Some(if self.allow_credentials {
                origin.to_owned()
            } else {
                "*".to_owned()
            });
        }
        None
    }
}

impl From<&portico_artifact::CorsConfiguration> for CorsDef {
    /// The rules of an API's `corsConfiguration` (whether it is enabled is the caller's to check).
    fn from(cors: &portico_artifact::CorsConfiguration) -> CorsDef {
        CorsDef {
            allow_origins: cors.access_control_allow_origins.clone(),
            allow_headers: cors.access_control_allow_headers.clone(),
            allow_methods: cors.access_control_allow_methods.clone(),
            allow_credentials: cors.access_control_allow_credentials,
        }
    }
}

/// Lifecycle states that matter at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiStatus {
    Published,
    /// Invoked without security, as WSO2 does for prototypes.
    Prototyped,
    /// Answered with 700700.
    Blocked,
    Deprecated,
    /// Not routable.
    Retired,
    /// Deployed but not published: routable (WSO2 lets publishers test a deployed revision).
    Created,
}

impl ApiStatus {
    /// Parses WSO2's wire value (`PUBLISHED`, `PROTOTYPED`, ...); unknown values are `Created`.
    pub fn from_wire(s: &str) -> ApiStatus {
        match s.to_ascii_uppercase().as_str() {
            "PUBLISHED" => ApiStatus::Published,
            "PROTOTYPED" => ApiStatus::Prototyped,
            "BLOCKED" => ApiStatus::Blocked,
            "DEPRECATED" => ApiStatus::Deprecated,
            "RETIRED" => ApiStatus::Retired,
            _ => ApiStatus::Created,
        }
    }
}

/// One operation: verb plus URL template.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDef {
    /// Upper-case HTTP method.
    pub verb: String,
    /// `/menu`, `/menu/{id}`, `/*`, `/orders/*`.
    pub template: String,
    /// False for WSO2's `None` auth type (unsecured resources).
    pub secured: bool,
    /// Any one of these suffices (empty: no scope needed).
    pub scopes: Vec<String>,
    /// The advanced policy limiting this resource (unless the API has an API-level one).
    pub throttling_policy: String,
    /// Index into [`ApiDef::backends`] when the resource is served by another API's endpoints
    /// (API Products); `None`: the API's own.
    pub backend: Option<usize>,
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointDef {
    Single(TargetDef),
    /// Round robin over the targets that are not suspended.
    LoadBalance(Vec<TargetDef>),
    /// The first target that is not suspended, in order.
    Failover(Vec<TargetDef>),
}

/// One backend URL with its timeouts and suspension policy.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetDef {
    /// Base URL, e.g. `http://10.0.0.5:8080/api/`; the resource path is appended.
    pub url: String,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub suspend: SuspendPolicy,
    /// Verify an https backend's certificate (endpoint `config.tlsVerification`; default on).
    pub verify_tls: bool,
}

/// WSO2's `suspendOnFailure`: after a failure the target is skipped for `initial`, then each
/// further failure multiplies the pause by `progression_factor` up to `maximum`. A success
/// clears it. A zero `initial` disables suspension.
#[derive(Debug, Clone, PartialEq)]
pub struct SuspendPolicy {
    pub initial: Duration,
    pub progression_factor: f64,
    pub maximum: Duration,
}

impl Default for SuspendPolicy {
    fn default() -> Self {
        // WSO2's defaults: 30 s initial, factor 1, 30 s maximum.
        SuspendPolicy {
            initial: Duration::from_secs(30),
            progression_factor: 1.0,
            maximum: Duration::from_secs(30),
        }
    }
}

impl TargetDef {
    /// A target with WSO2's default timeouts (connect 10 s here, response 60 s) and suspension.
    pub fn new(url: impl Into<String>) -> TargetDef {
        TargetDef {
            url: url.into(),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(60),
            suspend: SuspendPolicy::default(),
            verify_tls: true,
        }
    }
}
