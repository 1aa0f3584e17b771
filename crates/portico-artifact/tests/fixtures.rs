//! The golden artifacts: what the Publisher wrote with artifact schema 1 reads, and writes back
//! as the same document (nothing a gateway ignores is lost on the way); a hand-written artifact
//! that leaves out what it may reads with the documented defaults.

use portico_artifact::{EndpointType, LifecycleStatus, RuntimeArtifact, Setting, Side, from_slice};
use serde_json::Value;

const API: &str = include_str!("fixtures/api-schema1.json");
const PRODUCT: &str = include_str!("fixtures/product-schema1.json");
const HAND_WRITTEN: &str = include_str!("fixtures/api-hand-written-schema1.json");

fn read(text: &str) -> RuntimeArtifact {
    from_slice(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn written_artifacts_read_and_write_back_unchanged() {
    for text in [API, PRODUCT] {
        let artifact = read(text);
        let sent: Value = serde_json::from_str(text).expect("json");
        assert_eq!(serde_json::to_value(&artifact).expect("json"), sent);
    }
}

#[test]
fn the_api_artifact_reads_as_written() {
    let api = read(API);
    assert_eq!(api.schema, 1);
    assert_eq!(api.life_cycle_status, LifecycleStatus("PUBLISHED".into()));
    let config = api.endpoint_config.expect("endpoints");
    assert_eq!(config.endpoint_type, EndpointType::LoadBalance);
    let production = config.endpoints(Side::Production).expect("production").as_slice();
    assert_eq!(production.len(), 2);
    let tuning = production[0].config.as_ref().expect("config");
    assert_eq!(tuning.action_duration.as_ref().and_then(Setting::get), Some(3000));
    assert_eq!(tuning.factor.as_ref().and_then(Setting::get), Some(2.0));
    assert_eq!(tuning.other["retryTimeOut"], "1");
    assert_eq!(
        config.other["algoCombo"],
        "org.apache.synapse.endpoints.algorithms.RoundRobin"
    );
    assert_eq!(api.audiences, ["pizza-clients"]);
    assert!(api.backends.is_empty() && api.api_type.is_none());
}

#[test]
fn the_product_artifact_reads_as_written() {
    let product = read(PRODUCT);
    assert_eq!(product.api_type.as_deref(), Some("APIPRODUCT"));
    assert!(product.endpoint_config.is_none());
    assert_eq!(product.backends.len(), 2);
    let orders = product.backends[1].endpoint_config.as_ref().expect("orders");
    assert_eq!(orders.endpoint_type, EndpointType::Failover);
    assert_eq!(orders.failovers(Side::Production).map(|f| f.as_slice().len()), Some(1));
    assert_eq!(
        product
            .operations
            .iter()
            .map(|o| o.api_id.as_deref())
            .collect::<Vec<_>>(),
        [Some("api-menu"), Some("api-menu"), Some("api-orders")]
    );
}

#[test]
fn a_hand_written_artifact_reads_with_the_defaults() {
    let api = read(HAND_WRITTEN);
    assert!(!api.is_default_version);
    assert!(api.life_cycle_status.is("PROTOTYPED"), "written in lower case");
    let config = api.endpoint_config.expect("endpoints");
    assert_eq!(config.endpoint_type, EndpointType::Http, "`address` is `http`");
    assert!(config.endpoints(Side::Sandbox).is_none());
    let tuning = config.endpoints(Side::Production).expect("production").as_slice()[0]
        .config
        .clone();
    let tuning = tuning.expect("config");
    assert_eq!(tuning.suspend_duration.as_ref().and_then(Setting::get), Some(0));
    assert_eq!(
        tuning.tls_verification.as_ref().and_then(Setting::get),
        None,
        "`yes` is no boolean"
    );
    assert_eq!(api.operations[1].auth_type, portico_artifact::DEFAULT_AUTH_TYPE);
    assert_eq!(
        api.operations[1].throttling_policy,
        portico_artifact::DEFAULT_THROTTLING_POLICY
    );
    assert!(api.operations[0].scopes.is_empty());
    let cors = &api.cors_configuration;
    assert!(cors.cors_configuration_enabled && cors.access_control_allow_methods.is_empty());
    assert!(api.policies.is_empty() && api.revision_id.is_empty() && api.deployed_time == 0);
}
