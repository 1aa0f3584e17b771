//! Writing the runtime artifact of a deployed API revision. The document's types and the
//! meaning of its fields are `portico_artifact`'s, the one wire format between this deploy step
//! and every gateway; this module maps the Publisher's [`Api`] onto it ([`crate::product`] maps
//! API Products).

use portico_artifact::{EndpointConfig, RuntimeArtifact, SCHEMA};
use serde_json::Value;

use crate::input::InputError;
use crate::lifecycle::LifecycleStatus;
use crate::model::Api;

/// Where a revision is deployed.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    pub revision_id: &'a str,
    pub revision_number: i64,
    pub environment: &'a str,
    pub vhost: &'a str,
    pub deployed_time: i64,
}

impl From<LifecycleStatus> for portico_artifact::LifecycleStatus {
    fn from(status: LifecycleStatus) -> Self {
        portico_artifact::LifecycleStatus(status.wire().to_owned())
    }
}

/// The artifact of a revision snapshot (`snapshot` is the API as it was when revised) with the
/// API's current lifecycle status. Fails, naming the field, when the API's `endpointConfig`
/// does not read as the artifact's (which input validation already refuses).
pub fn api_artifact(
    snapshot: &Api,
    status: LifecycleStatus,
    at: &Placement<'_>,
) -> Result<RuntimeArtifact, InputError> {
    let endpoint_config = snapshot
        .endpoint_config
        .as_ref()
        .map(|config| endpoint_config(config, "endpointConfig"))
        .transpose()?;
    Ok(RuntimeArtifact {
        schema: SCHEMA,
        id: snapshot.id.clone(),
        name: snapshot.name.clone(),
        version: snapshot.version.clone(),
        context: snapshot.context.clone(),
        is_default_version: snapshot.is_default_version,
        life_cycle_status: status.into(),
        endpoint_config,
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
    })
}

/// An `endpointConfig` as the model keeps it (as sent), in the artifact's form; `field` names
/// it in errors.
pub(crate) fn endpoint_config(value: &Value, field: &str) -> Result<EndpointConfig, InputError> {
    EndpointConfig::from_json(value).map_err(|e| {
        let at = if e.field.is_empty() {
            field.to_owned()
        } else {
            format!("{field}.{}", e.field)
        };
        InputError::new(at, e.message)
    })
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
        let a = api_artifact(
            &api,
            LifecycleStatus::Published,
            &Placement {
                revision_id: "rev-1",
                revision_number: 1,
                environment: "Default",
                vhost: "localhost",
                deployed_time: 9,
            },
        )
        .expect("artifact");
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
