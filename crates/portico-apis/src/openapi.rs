//! OpenAPI 3.0/3.1 and Swagger 2.0 documents (JSON or YAML) to API operations, and the OpenAPI
//! document Portico generates for an API created without one. The original text is kept
//! verbatim by callers; this module only reads it.

use serde_json::{Map, Value, json};

use crate::model::{DEFAULT_AUTH_TYPE, Operation, VERBS};

/// Why a definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("the definition is neither valid JSON nor valid YAML: {0}")]
    Syntax(String),
    #[error("the definition is not an OpenAPI 3.0/3.1 or Swagger 2.0 document: {0}")]
    NotOpenApi(String),
    #[error("invalid definition: {0}")]
    Invalid(String),
}

/// Which specification a document follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    Swagger2,
    OpenApi30,
    OpenApi31,
}

impl SpecVersion {
    pub fn label(self) -> &'static str {
        match self {
            SpecVersion::Swagger2 => "2.0",
            SpecVersion::OpenApi30 => "3.0",
            SpecVersion::OpenApi31 => "3.1",
        }
    }
}

/// What a valid definition says.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub spec: SpecVersion,
    /// The full document as JSON.
    pub document: Value,
    /// The exact text received.
    pub original: String,
    pub title: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    /// Context suggested by the document (Swagger `basePath`, or the path of the first server URL).
    pub context: Option<String>,
    /// Server URLs (OpenAPI `servers[].url`, Swagger `schemes`+`host`+`basePath`).
    pub endpoints: Vec<String>,
    pub operations: Vec<Operation>,
}

/// Parses a definition given as text (JSON or YAML).
pub fn parse_definition(text: &str) -> Result<Definition, DefinitionError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(DefinitionError::Syntax("the document is empty".into()));
    }
    let document: Value = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| DefinitionError::Syntax(format!("JSON: {e}")))?
    } else {
        serde_yaml_ng::from_str(trimmed).map_err(|e| DefinitionError::Syntax(format!("YAML: {e}")))?
    };
    let root = document
        .as_object()
        .ok_or_else(|| DefinitionError::NotOpenApi("the document is not an object".into()))?;
    let spec = match (root.get("openapi"), root.get("swagger")) {
        (Some(v), _) => {
            let text = scalar_text(v);
            if text.starts_with("3.0") {
                SpecVersion::OpenApi30
            } else if text.starts_with("3.1") {
                SpecVersion::OpenApi31
            } else {
                return Err(DefinitionError::NotOpenApi(format!(
                    "openapi version \"{text}\" is not 3.0 or 3.1"
                )));
            }
        }
        (None, Some(v)) => {
            let text = scalar_text(v);
            if text == "2.0" || text == "2" {
                SpecVersion::Swagger2
            } else {
                return Err(DefinitionError::NotOpenApi(format!(
                    "swagger version \"{text}\" is not 2.0"
                )));
            }
        }
        (None, None) => {
            return Err(DefinitionError::NotOpenApi(
                "it has neither an `openapi` nor a `swagger` field".into(),
            ));
        }
    };
    let info = root
        .get("info")
        .and_then(Value::as_object)
        .ok_or_else(|| DefinitionError::Invalid("`info` (an object) is required".into()))?;
    let paths = match root.get("paths") {
        Some(Value::Object(p)) => p.clone(),
        None if spec == SpecVersion::OpenApi31 => Map::new(),
        _ => return Err(DefinitionError::Invalid("`paths` (an object) is required".into())),
    };
    let root_security = root.get("security");
    let mut operations = Vec::new();
    for (path, item) in &paths {
        if !path.starts_with('/') {
            return Err(DefinitionError::Invalid(format!(
                "path \"{path}\" does not start with `/`"
            )));
        }
        let Some(item) = item.as_object() else {
            return Err(DefinitionError::Invalid(format!("path \"{path}\" is not an object")));
        };
        for (method, op) in item {
            let verb = method.to_ascii_uppercase();
            if !VERBS.contains(&verb.as_str()) {
                continue; // parameters, summary, servers, $ref, x-...
            }
            let Some(op) = op.as_object() else {
                return Err(DefinitionError::Invalid(format!("{method} {path} is not an object")));
            };
            let security = op.get("security").or(root_security);
            operations.push(Operation {
                id: None,
                target: path.clone(),
                verb,
                auth_type: op
                    .get("x-auth-type")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| DEFAULT_AUTH_TYPE.to_owned()),
                throttling_policy: op
                    .get("x-throttling-tier")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| "Unlimited".to_owned()),
                scopes: security_scopes(security),
                api_id: None,
            });
        }
    }
    let (context, endpoints) = match spec {
        SpecVersion::Swagger2 => {
            let base = root.get("basePath").and_then(Value::as_str).map(str::to_owned);
            let host = root.get("host").and_then(Value::as_str);
            let schemes: Vec<String> = root
                .get("schemes")
                .and_then(Value::as_array)
                .map(|s| s.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_else(|| vec!["https".into()]);
            let endpoints = host
                .map(|h| {
                    schemes
                        .iter()
                        .map(|s| format!("{s}://{h}{}", base.as_deref().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            (base.filter(|b| b != "/"), endpoints)
        }
        _ => {
            let urls: Vec<String> = root
                .get("servers")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter_map(|srv| srv.get("url").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let context = urls.first().and_then(|u| url_path(u)).filter(|p| p != "/");
            (context, urls.into_iter().filter(|u| u.starts_with("http")).collect())
        }
    };
    Ok(Definition {
        spec,
        title: info.get("title").map(scalar_text).filter(|t| !t.is_empty()),
        version: info.get("version").map(scalar_text).filter(|t| !t.is_empty()),
        description: info.get("description").and_then(Value::as_str).map(str::to_owned),
        document,
        original: text.to_owned(),
        context,
        endpoints,
        operations,
    })
}

/// Every scope named in a security requirement list (`[{"scheme": ["scope", ...]}, ...]`).
fn security_scopes(security: Option<&Value>) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for requirement in security.and_then(Value::as_array).into_iter().flatten() {
        for list in requirement.as_object().into_iter().flat_map(|o| o.values()) {
            for scope in list.as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !scopes.iter().any(|s| s == scope) {
                    scopes.push(scope.to_owned());
                }
            }
        }
    }
    scopes
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The path of an absolute or relative server URL.
fn url_path(url: &str) -> Option<String> {
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => url,
    };
    let path = rest.split(['?', '#']).next().unwrap_or("/").trim_end_matches('/');
    if path.is_empty() || path.contains('{') {
        None
    } else {
        Some(path.to_owned())
    }
}

/// The OpenAPI 3.0 document WSO2-style generation gives an API created without one.
pub fn generate_openapi(api: &crate::Api) -> Value {
    let mut paths = Map::new();
    for op in &api.operations {
        let entry = paths
            .entry(op.target.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let mut operation = json!({
            "responses": {"200": {"description": "OK"}},
            "security": [{"default": op.scopes}],
            "x-auth-type": op.auth_type,
            "x-throttling-tier": op.throttling_policy,
        });
        let params: Vec<Value> = path_parameters(&op.target)
            .into_iter()
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty()
            && let Some(o) = operation.as_object_mut()
        {
            o.insert("parameters".into(), Value::Array(params));
        }
        if let Some(o) = entry.as_object_mut() {
            o.insert(op.verb.to_ascii_lowercase(), operation);
        }
    }
    json!({
        "openapi": "3.0.1",
        "info": {"title": api.name, "version": api.version, "description": api.description},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"securitySchemes": {"default": {
            "type": "oauth2",
            "flows": {"implicit": {"authorizationUrl": "https://test.com", "scopes": {}}}
        }}},
    })
}

fn path_parameters(target: &str) -> Vec<String> {
    target
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OAS30_YAML: &str = r#"
openapi: 3.0.1
info:
  title: PizzaShack
  version: 1.0.0
  description: Pizza ordering
servers:
  - url: https://backend.example/pizzashack/v1
security:
  - default: []
paths:
  /menu:
    get:
      responses: {"200": {description: OK}}
  /order/{orderId}:
    parameters:
      - {name: orderId, in: path, required: true}
    put:
      security:
        - default: [order:write]
      x-throttling-tier: Bronze
      x-auth-type: Application
      responses: {"200": {description: OK}}
    delete:
      responses: {"200": {description: OK}}
"#;

    #[test]
    fn openapi_30_yaml_becomes_operations() {
        let d = parse_definition(OAS30_YAML).expect("valid");
        assert_eq!(d.spec, SpecVersion::OpenApi30);
        assert_eq!(d.title.as_deref(), Some("PizzaShack"));
        assert_eq!(d.version.as_deref(), Some("1.0.0"));
        assert_eq!(d.context.as_deref(), Some("/pizzashack/v1"));
        assert_eq!(d.endpoints, ["https://backend.example/pizzashack/v1"]);
        let ops: Vec<(String, String)> = d
            .operations
            .iter()
            .map(|o| (o.verb.clone(), o.target.clone()))
            .collect();
        assert_eq!(ops.len(), 3, "{ops:?}");
        let put = d.operations.iter().find(|o| o.verb == "PUT").expect("put");
        assert_eq!(put.target, "/order/{orderId}");
        assert_eq!(put.scopes, ["order:write"]);
        assert_eq!(put.throttling_policy, "Bronze");
        assert_eq!(put.auth_type, "Application");
        assert_eq!(d.original, OAS30_YAML, "kept verbatim");
    }

    #[test]
    fn swagger_20_json_becomes_operations() {
        let text = r#"{"swagger": "2.0", "info": {"title": "Pets", "version": "2"},
            "host": "pets.example", "basePath": "/pets", "schemes": ["http"],
            "paths": {"/pet": {"post": {"responses": {}}, "get": {"security": [{"petstore_auth": ["read:pets"]}]}}}}"#;
        let d = parse_definition(text).expect("valid");
        assert_eq!(d.spec, SpecVersion::Swagger2);
        assert_eq!(d.context.as_deref(), Some("/pets"));
        assert_eq!(d.endpoints, ["http://pets.example/pets"]);
        assert_eq!(d.operations.len(), 2);
        let get = d.operations.iter().find(|o| o.verb == "GET").expect("get");
        assert_eq!(get.scopes, ["read:pets"]);
    }

    #[test]
    fn openapi_31_without_paths_is_valid() {
        let d = parse_definition(r#"{"openapi": "3.1.0", "info": {"title": "W", "version": "1"}, "webhooks": {}}"#)
            .expect("valid");
        assert_eq!(d.spec, SpecVersion::OpenApi31);
        assert!(d.operations.is_empty());
    }

    #[test]
    fn invalid_documents_say_why() {
        assert!(matches!(parse_definition("{not json"), Err(DefinitionError::Syntax(_))));
        assert!(matches!(parse_definition("a: [b"), Err(DefinitionError::Syntax(_))));
        assert!(matches!(
            parse_definition("{\"info\": {}}"),
            Err(DefinitionError::NotOpenApi(_))
        ));
        assert!(matches!(
            parse_definition("{\"openapi\": \"2.5\", \"info\": {}, \"paths\": {}}"),
            Err(DefinitionError::NotOpenApi(_))
        ));
        assert!(matches!(
            parse_definition("openapi: 3.0.0\npaths: {}\n"),
            Err(DefinitionError::Invalid(_))
        ));
        assert!(matches!(parse_definition("  "), Err(DefinitionError::Syntax(_))));
    }

    #[test]
    fn generated_document_round_trips() {
        let input = crate::ApiInput::from_json(&json!({"name": "G", "context": "/g", "version": "1",
            "operations": [{"target": "/items/{id}", "verb": "GET", "scopes": ["s1"]}, {"target": "/items", "verb": "POST"}]}))
        .expect("valid");
        let api = crate::Api::create(input, "i".into(), "u", 0).expect("api");
        let doc = generate_openapi(&api);
        let d = parse_definition(&doc.to_string()).expect("generated doc parses");
        assert_eq!(d.operations.len(), 2);
        let get = d.operations.iter().find(|o| o.verb == "GET").expect("get");
        assert_eq!(get.scopes, ["s1"]);
        assert_eq!(get.target, "/items/{id}");
    }
}
