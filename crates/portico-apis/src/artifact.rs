//! The runtime artifact: the one JSON document a gateway reads to serve one deployed revision
//! of an API in one environment. It is written to
//! `<home>/deployment/server/<environment>/<apiId>.json` and its facts travel in the change feed.
//!
//! Fields (camelCase JSON; `schema` is [`ARTIFACT_SCHEMA`], raised on any incompatible change):
//!
//! | field | meaning |
//! |---|---|
//! | `schema` | document format version, currently 1 |
//! | `id` | API id (UUID) |
//! | `name`, `version` | the API's name and version |
//! | `context` | path prefix, leading `/`, no trailing `/`; may contain `{version}` |
//! | `isDefaultVersion` | also serve the API without the version segment |
//! | `lifeCycleStatus` | `CREATED`, `PRE_RELEASED`, `PROTOTYPED`, `PUBLISHED`, `BLOCKED`, `DEPRECATED`, `RETIRED` (the API's current status; rewritten when it changes) |
//! | `endpointConfig` | WSO2's endpointConfig: `endpoint_type` `http` / `load_balance` / `failover`, `production_endpoints`, `sandbox_endpoints` (`{"url"}` or arrays of them for `load_balance`), `production_failovers`, `sandbox_failovers`, and any extra WSO2 keys as sent (`algoCombo`, `endpoint_security`, ...); `null` when the API has no endpoint |
//! | `operations` | `[{target, verb, authType, throttlingPolicy, scopes}]`; `authType` is `None` for open resources |
//! | `policies` | subscription tiers the API offers |
//! | `apiThrottlingPolicy` | API-level policy, or `null` (then each operation's `throttlingPolicy` applies) |
//! | `corsConfiguration` | WSO2's APICorsConfiguration |
//! | `securityScheme` | e.g. `oauth2`, `api_key`, `basic_auth`, `oauth_basic_auth_api_key_mandatory` |
//! | `transport` | `http` and/or `https` |
//! | `revisionId` | the deployed revision's id (UUID); `revisionNumber` its number (1, 2, ...) |
//! | `environment`, `vhost` | where it is deployed |
//! | `deployedTime` | epoch milliseconds |
//! | `type` | `APIPRODUCT` for an API Product; absent for an API (additive, schema stays 1) |
//! | `backends` | products only: `[{apiId, name, version, endpointConfig}]`, the APIs the product's operations come from, with their endpoints when the product revision was made; absent for an API |
//! | `audiences` | the API's `audiences` (JWT `aud` values it accepts); absent when empty, which accepts any (additive, schema stays 1) |
//! | `operations[].apiId` | products only: the `backends` entry whose endpoint serves the operation (its `authType`, `scopes` and `throttlingPolicy` are that API's) |
//!
//! A product is served at `/{context}/{version}` and, being its own default version, at
//! `/{context}` (`isDefaultVersion` is true); subscriptions are checked against the product's id
//! and its `policies`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lifecycle::LifecycleStatus;
use crate::model::{Api, CorsConfiguration, Operation};

/// The artifact format version.
pub const ARTIFACT_SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeArtifact {
    pub schema: u32,
    pub id: String,
    pub name: String,
    pub version: String,
    pub context: String,
    pub is_default_version: bool,
    pub life_cycle_status: LifecycleStatus,
    pub endpoint_config: Option<Value>,
    pub operations: Vec<Operation>,
    pub policies: Vec<String>,
    pub api_throttling_policy: Option<String>,
    pub cors_configuration: CorsConfiguration,
    pub security_scheme: Vec<String>,
    pub transport: Vec<String>,
    pub revision_id: String,
    pub revision_number: i64,
    pub environment: String,
    pub vhost: String,
    pub deployed_time: i64,
    /// `APIPRODUCT` for products.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub api_type: Option<String>,
    /// Products only: the APIs their operations are served by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<ArtifactBackend>,
    /// The API's `audiences`: a JWT must name one of them in `aud`; absent when empty (no check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// One API a product's operations come from, with its endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactBackend {
    pub api_id: String,
    pub name: String,
    pub version: String,
    pub endpoint_config: Option<Value>,
}

/// Where a revision is deployed.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    pub revision_id: &'a str,
    pub revision_number: i64,
    pub environment: &'a str,
    pub vhost: &'a str,
    pub deployed_time: i64,
}

impl RuntimeArtifact {
    /// The artifact of a revision snapshot (`snapshot` is the API as it was when revised) with
    /// the API's current lifecycle status.
    pub fn new(snapshot: &Api, status: LifecycleStatus, at: &Placement<'_>) -> RuntimeArtifact {
        RuntimeArtifact {
            schema: ARTIFACT_SCHEMA,
            id: snapshot.id.clone(),
            name: snapshot.name.clone(),
            version: snapshot.version.clone(),
            context: snapshot.context.clone(),
            is_default_version: snapshot.is_default_version,
            life_cycle_status: status,
            endpoint_config: snapshot.endpoint_config.clone(),
            operations: snapshot.operations.clone(),
            policies: snapshot.policies.clone(),
            api_throttling_policy: snapshot.api_throttling_policy.clone(),
            cors_configuration: snapshot.cors_configuration.clone(),
            security_scheme: snapshot.security_scheme.clone(),
            transport: snapshot.transport.clone(),
            revision_id: at.revision_id.to_owned(),
            revision_number: at.revision_number,
            environment: at.environment.to_owned(),
            vhost: at.vhost.to_owned(),
            deployed_time: at.deployed_time,
            api_type: None,
            backends: Vec::new(),
            audiences: audiences_of(&snapshot.extra),
        }
    }
}

/// The strings of an API's `audiences` (WSO2: "the audiences of the API for jwt validation").
pub(crate) fn audiences_of(extra: &serde_json::Map<String, Value>) -> Vec<String> {
    extra
        .get("audiences")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn artifact_has_the_documented_fields() {
        let input = crate::ApiInput::from_json(&json!({"name": "A", "context": "/a", "version": "1",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://b"}},
            "operations": [{"target": "/x", "verb": "GET", "authType": "None"}]}))
        .expect("valid");
        let api = Api::create(input, "api-1".into(), "u", 5).expect("api");
        let a = RuntimeArtifact::new(
            &api,
            LifecycleStatus::Published,
            &Placement {
                revision_id: "rev-1",
                revision_number: 1,
                environment: "Default",
                vhost: "localhost",
                deployed_time: 9,
            },
        );
        let v = serde_json::to_value(&a).expect("json");
        for key in [
            "schema",
            "id",
            "name",
            "version",
            "context",
            "isDefaultVersion",
            "lifeCycleStatus",
            "endpointConfig",
            "operations",
            "policies",
            "apiThrottlingPolicy",
            "corsConfiguration",
            "securityScheme",
            "transport",
            "revisionId",
            "revisionNumber",
            "environment",
            "vhost",
            "deployedTime",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {v}");
        }
        assert_eq!(v["schema"], 1);
        assert_eq!(v["lifeCycleStatus"], "PUBLISHED");
        assert_eq!(v["operations"][0]["authType"], "None");
        assert_eq!(v["endpointConfig"]["production_endpoints"]["url"], "http://b");
        let back: RuntimeArtifact = serde_json::from_value(v).expect("round trip");
        assert_eq!(back, a);
    }
}
