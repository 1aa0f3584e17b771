//! Reading artifacts: the schema first (a document of an unknown schema is refused before its
//! fields are read), then the document, with the JSON path of a field that does not read.

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;

use crate::{EndpointConfig, OLDEST_READABLE_SCHEMA, RuntimeArtifact, SCHEMA};

/// An artifact that cannot be read, with the API it claims to be (`<no id>` when it names none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("runtime artifact {api}: {reason}")]
pub struct ReadError {
    pub api: String,
    pub reason: String,
}

/// A JSON value that does not read as an artifact part, with the path of the field at fault
/// relative to that value (`production_endpoints[1]`; empty: the value itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// What is read before the rest: which API, which schema.
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    id: Option<Id>,
    #[serde(default)]
    schema: Option<u64>,
}

/// An `id` of any JSON type: only text names an API, and a wrong type is reported by the full
/// read, not here.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Other(IgnoredAny),
}

/// Reads one artifact document.
pub fn from_slice(bytes: &[u8]) -> Result<RuntimeArtifact, ReadError> {
    let no_id = || "<no id>".to_owned();
    let header: Header = read_path(&mut serde_json::Deserializer::from_slice(bytes)).map_err(|e| ReadError {
        api: no_id(),
        reason: e,
    })?;
    let api = match header.id {
        Some(Id::Text(id)) => id,
        _ => no_id(),
    };
    let fail = |reason: String| ReadError {
        api: api.clone(),
        reason,
    };
    let schema = header.schema.ok_or_else(|| fail("no `schema`".into()))?;
    if !(u64::from(OLDEST_READABLE_SCHEMA)..=u64::from(SCHEMA)).contains(&schema) {
        return Err(fail(format!(
            "schema {schema} is not supported (this version reads {})",
            readable_schemas()
        )));
    }
    read_path(&mut serde_json::Deserializer::from_slice(bytes)).map_err(fail)
}

fn readable_schemas() -> String {
    if OLDEST_READABLE_SCHEMA == SCHEMA {
        SCHEMA.to_string()
    } else {
        format!("{OLDEST_READABLE_SCHEMA} to {SCHEMA}")
    }
}

/// A `T` from JSON text, or why not: `not JSON: ...`, or the path of the field at fault.
fn read_path<T: DeserializeOwned>(
    json: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<T, String> {
    let value = serde_path_to_error::deserialize(&mut *json).map_err(|e| {
        if e.inner().is_data() {
            e.to_string()
        } else {
            format!("not JSON: {}", e.inner())
        }
    })?;
    json.end().map_err(|e| format!("not JSON: {e}"))?;
    Ok(value)
}

impl EndpointConfig {
    /// The endpoint config of a JSON value (an API's `endpointConfig` as its model keeps it).
    pub fn from_json(value: &Value) -> Result<EndpointConfig, FieldError> {
        serde_path_to_error::deserialize(value).map_err(|e| FieldError {
            field: e.path().to_string().trim_start_matches('.').to_owned(),
            message: e.into_inner().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(doc: &Value) -> Result<RuntimeArtifact, ReadError> {
        from_slice(doc.to_string().as_bytes())
    }

    fn minimal() -> Value {
        json!({"schema": 1, "id": "api-1", "name": "A", "version": "1", "context": "/a",
            "operations": [{"target": "/x", "verb": "get"}]})
    }

    #[test]
    fn a_minimal_document_reads_with_defaults() {
        let a = read(&minimal()).expect("reads");
        assert!(!a.is_default_version);
        assert!(a.life_cycle_status.is("CREATED"));
        assert_eq!(a.operations[0].auth_type, crate::DEFAULT_AUTH_TYPE);
        assert_eq!(a.operations[0].throttling_policy, "Unlimited");
        assert!(a.endpoint_config.is_none());
        assert!(!a.cors_configuration.cors_configuration_enabled);
        assert_eq!(a.deployed_time, 0);
    }

    #[test]
    fn errors_name_the_api_and_the_field() {
        let err = from_slice(b"{").expect_err("broken");
        assert_eq!(err.api, "<no id>");
        assert!(err.reason.starts_with("not JSON: "), "{err}");

        let mut d = minimal();
        d.as_object_mut().map(|o| o.remove("schema"));
        assert_eq!(
            read(&d).expect_err("no schema").to_string(),
            "runtime artifact api-1: no `schema`"
        );
        d["schema"] = json!(2);
        let err = read(&d).expect_err("schema 2");
        assert_eq!(err.reason, "schema 2 is not supported (this version reads 1)");

        let mut d = minimal();
        d["operations"][0].as_object_mut().map(|o| o.remove("verb"));
        let err = read(&d).expect_err("verb");
        assert_eq!(err.api, "api-1");
        assert!(err.reason.starts_with("operations[0]: missing field `verb`"), "{err}");

        let mut d = minimal();
        d["endpointConfig"] = json!({"endpoint_type": "load_balance", "production_endpoints": [{"url": "http://a"}, {"uri": "http://b"}]});
        let err = read(&d).expect_err("url");
        assert!(
            err.reason
                .starts_with("endpointConfig.production_endpoints[1]: missing field `url`"),
            "{err}"
        );
        d["endpointConfig"] = json!({"endpoint_type": "awslambda", "production_endpoints": {"url": "x"}});
        let err = read(&d).expect_err("type");
        assert!(
            err.reason
                .starts_with("endpointConfig.endpoint_type: unknown variant `awslambda`"),
            "{err}"
        );

        let mut d = minimal();
        d["id"] = json!(7);
        let err = read(&d).expect_err("id");
        assert_eq!(err.api, "<no id>");
        assert!(err.reason.starts_with("id: invalid type"), "{err}");
    }

    #[test]
    fn endpoint_configs_of_the_model_name_their_fields() {
        let err = EndpointConfig::from_json(
            &json!({"endpoint_type": "failover", "production_endpoints": {"url": "http://a"},
            "production_failovers": [{"url": "http://b", "config": "fast"}]}),
        )
        .expect_err("config");
        assert_eq!(err.field, "production_failovers[0].config");
        let err = EndpointConfig::from_json(&json!("http://a")).expect_err("text");
        assert_eq!(err.field, "");
    }
}
