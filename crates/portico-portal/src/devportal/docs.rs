//! An API's documentation, read from its OpenAPI (3.x) or Swagger (2.0) document: each
//! operation with its summary, description, parameters and responses. The text is the
//! publisher's and is shown escaped, never as HTML.

use serde_json::Value;

pub(crate) struct ParamDoc {
    pub name: String,
    pub location: String,
    pub required: bool,
    pub description: String,
}

pub(crate) struct OperationDoc {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub parameters: Vec<ParamDoc>,
    pub responses: Vec<(String, String)>,
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn params(list: Option<&Value>) -> Vec<ParamDoc> {
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|p| ParamDoc {
                    name: text(p, "name"),
                    location: text(p, "in"),
                    required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                    description: text(p, "description"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The operations of a definition (JSON, or YAML text), or why it cannot be read.
pub(crate) fn operations(definition: &Value) -> (Vec<OperationDoc>, Option<String>) {
    let parsed;
    let doc = match definition {
        Value::String(source) => match serde_yaml_ng::from_str::<Value>(source) {
            Ok(v) => {
                parsed = v;
                &parsed
            }
            Err(e) => return (Vec::new(), Some(format!("The API's definition does not read: {e}"))),
        },
        v => v,
    };
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return (Vec::new(), Some("The API's definition lists no paths".into()));
    };
    let mut out = Vec::new();
    for (path, item) in paths {
        let shared = params(item.get("parameters"));
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let mut parameters = params(op.get("parameters"));
            parameters.extend(shared.iter().map(|p| ParamDoc {
                name: p.name.clone(),
                location: p.location.clone(),
                required: p.required,
                description: p.description.clone(),
            }));
            if op.get("requestBody").is_some() {
                parameters.push(ParamDoc {
                    name: "body".into(),
                    location: "body".into(),
                    required: op
                        .pointer("/requestBody/required")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    description: op
                        .pointer("/requestBody/description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                });
            }
            let responses = op
                .get("responses")
                .and_then(Value::as_object)
                .map(|r| {
                    r.iter()
                        .map(|(code, v)| (code.clone(), text(v, "description")))
                        .collect()
                })
                .unwrap_or_default();
            out.push(OperationDoc {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                summary: text(op, "summary"),
                description: text(op, "description"),
                parameters,
                responses,
            });
        }
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn operations_are_listed_from_json_and_yaml() {
        let doc = json!({"openapi": "3.0.1", "paths": {"/pets/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": true}],
            "get": {"summary": "One pet", "responses": {"200": {"description": "OK"}}},
            "post": {"requestBody": {"required": true}, "responses": {}}}}});
        let (ops, error) = super::operations(&doc);
        assert!(error.is_none());
        assert_eq!(ops.len(), 2);
        assert_eq!((ops[0].method.as_str(), ops[0].summary.as_str()), ("GET", "One pet"));
        assert_eq!(ops[0].parameters[0].name, "id");
        assert_eq!(ops[1].parameters.last().map(|p| p.name.as_str()), Some("body"));
        let yaml = json!("openapi: 3.0.1\npaths:\n  /a:\n    get: {responses: {}}\n");
        assert_eq!(super::operations(&yaml).0.len(), 1);
        assert!(super::operations(&json!("[")).1.is_some());
    }
}
