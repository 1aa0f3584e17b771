//! The runtime artifact: the one wire format between the Publisher's deploy step and every
//! gateway. A deployed revision of an API or API Product in one environment is one JSON document,
//! `<home>/deployment/server/<environment>/<apiId>.json`; the Publisher writes it from its model
//! (`portico-apis`), a gateway reads it into its own routing model (`portico-gateway`), and files
//! placed by hand or copied from another node follow the same format. Both sides use the types
//! here and nothing else, so neither depends on the other.
//!
//! Fields (camelCase JSON; `schema` is [`SCHEMA`], raised on any incompatible change; fields
//! added without raising it are marked additive):
//!
//! | field | meaning |
//! |---|---|
//! | `schema` | document format version, currently 1; readers refuse versions they do not know |
//! | `id` | API id (UUID) |
//! | `name`, `version` | the API's name and version |
//! | `context` | path prefix, leading `/`, no trailing `/`; may contain `{version}` |
//! | `isDefaultVersion` | also serve the API without the version segment; absent: false |
//! | `lifeCycleStatus` | `CREATED`, `PRE_RELEASED`, `PROTOTYPED`, `PUBLISHED`, `BLOCKED`, `DEPRECATED`, `RETIRED` (the API's current status; rewritten when it changes); compared case-insensitively; absent: `CREATED` ([`LifecycleStatus`]) |
//! | `endpointConfig` | WSO2's endpointConfig ([`EndpointConfig`]); `null` when the API has no endpoint |
//! | `operations` | `[{target, verb, authType, throttlingPolicy, scopes}]` ([`Operation`]); `authType` is `None` for open resources |
//! | `policies` | subscription tiers the API offers |
//! | `apiThrottlingPolicy` | API-level policy, or `null` (then each operation's `throttlingPolicy` applies) |
//! | `corsConfiguration` | WSO2's APICorsConfiguration ([`CorsConfiguration`]); absent: disabled |
//! | `securityScheme` | e.g. `oauth2`, `api_key`, `basic_auth`, `oauth_basic_auth_api_key_mandatory` |
//! | `transport` | `http` and/or `https` |
//! | `revisionId` | the deployed revision's id (UUID); `revisionNumber` its number (1, 2, ...) |
//! | `environment`, `vhost` | where it is deployed |
//! | `deployedTime` | epoch milliseconds; when one API is deployed to several served environments, a gateway serves the newest |
//! | `type` | `APIPRODUCT` for an API Product; absent for an API (additive) |
//! | `backends` | products only: `[{apiId, name, version, endpointConfig}]` ([`Backend`]), the APIs the product's operations come from, with their endpoints when the product revision was made; absent for an API (additive) |
//! | `audiences` | the API's `audiences` (JWT `aud` values it accepts); absent when empty, which accepts any (additive) |
//! | `operations[].apiId` | products only: the `backends` entry whose endpoint serves the operation (its `authType`, `scopes` and `throttlingPolicy` are that API's) |
//!
//! A product is served at `/{context}/{version}` and, being its own default version, at
//! `/{context}` (`isDefaultVersion` is true); subscriptions are checked against the product's id
//! and its `policies`.
//!
//! What a document may leave out (a hand-written artifact, say) is listed above or marked
//! `#[serde(default)]` below; `schema`, `id`, `name`, `version`, `context`, `operations` and each
//! operation's `target` and `verb` are required. Unknown fields are ignored (a newer writer's
//! additive fields). The artifact carries nothing an API resource does not hold: there is no
//! per-API "forward the `Authorization` header" switch or request body limit in WSO2's API
//! (publisher-api.yaml), so a gateway applies its own behaviour for those.
//!
//! [`from_slice`] reads a file: it checks the schema first and names the field at fault
//! (as in `operations[1]: missing field "verb"`) when the document does not read.

mod cors;
mod endpoint;
mod read;
mod status;

pub use cors::CorsConfiguration;
pub use endpoint::{Endpoint, EndpointConfig, EndpointTuning, EndpointType, Endpoints, Setting, SettingValue, Side};
pub use read::{FieldError, ReadError, from_slice};
pub use status::LifecycleStatus;

use serde::{Deserialize, Serialize};

/// The artifact format version writers write.
pub const SCHEMA: u32 = 1;
/// The oldest format version readers still accept (`OLDEST_READABLE_SCHEMA..=SCHEMA`).
pub const OLDEST_READABLE_SCHEMA: u32 = 1;

/// WSO2's default `authType` of an operation (secured: an application's token or key).
pub const DEFAULT_AUTH_TYPE: &str = "Application & Application User";
/// The throttling policy of an operation that names none.
pub const DEFAULT_THROTTLING_POLICY: &str = "Unlimited";

/// One deployed revision of an API or API Product in one environment (see the module docs for
/// each field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeArtifact {
    pub schema: u32,
    pub id: String,
    pub name: String,
    pub version: String,
    pub context: String,
    #[serde(default)]
    pub is_default_version: bool,
    #[serde(default)]
    pub life_cycle_status: LifecycleStatus,
    #[serde(default)]
    pub endpoint_config: Option<EndpointConfig>,
    pub operations: Vec<Operation>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub api_throttling_policy: Option<String>,
    #[serde(default)]
    pub cors_configuration: CorsConfiguration,
    #[serde(default)]
    pub security_scheme: Vec<String>,
    #[serde(default)]
    pub transport: Vec<String>,
    #[serde(default)]
    pub revision_id: String,
    #[serde(default)]
    pub revision_number: i64,
    #[serde(default)]
    pub environment: String,
    #[serde(default)]
    pub vhost: String,
    #[serde(default)]
    pub deployed_time: i64,
    /// `APIPRODUCT` for products.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub api_type: Option<String>,
    /// Products only: the APIs their operations are served by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<Backend>,
    /// The API's `audiences`: a JWT must name one of them in `aud`; absent when empty (no check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// One resource of an API (WSO2's `APIOperations`, the shape the Publisher REST API shows too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Path template, e.g. `/order/{orderId}`.
    pub target: String,
    /// HTTP verb; written upper case, read in any case.
    pub verb: String,
    /// `None` for an open resource; absent: [`DEFAULT_AUTH_TYPE`].
    #[serde(default = "default_auth_type")]
    pub auth_type: String,
    /// Absent: [`DEFAULT_THROTTLING_POLICY`].
    #[serde(default = "default_throttling_policy")]
    pub throttling_policy: String,
    /// Any one of them suffices; empty: no scope needed.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// In an API Product's runtime artifact: the API whose endpoint serves this operation.
    /// Never set on an API's own operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
}

fn default_auth_type() -> String {
    DEFAULT_AUTH_TYPE.to_owned()
}

fn default_throttling_policy() -> String {
    DEFAULT_THROTTLING_POLICY.to_owned()
}

/// One API a product's operations come from, with its endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backend {
    pub api_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub endpoint_config: Option<EndpointConfig>,
}
