//! API Products (publisher-api.yaml `APIProduct`, `ProductAPI`): one context bundling
//! operations of several APIs. A product is stored beside the APIs (its own row type), offers its
//! own subscription tiers and follows its own lifecycle (`state`). Its runtime artifact routes
//! each operation to the endpoint of the API it comes from (see [`crate::artifact`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use portico_artifact::{Backend, RuntimeArtifact, SCHEMA};

use crate::artifact::{Placement, endpoint_config};
use crate::context::{normalize_context, validate_name, validate_version};
use crate::input::{InputError, coerce_enum, coerce_string, coerce_string_list, get, kind_of, object};
use crate::lifecycle::LifecycleStatus;
use crate::model::{Api, CorsConfiguration, Operation, TRANSPORTS, parse_cors, parse_operation, passthrough};

/// The row type of products in the store (WSO2's `APIPRODUCT`).
pub const PRODUCT_TYPE: &str = "APIPRODUCT";
/// A product's version when none is given (WSO2's).
pub const DEFAULT_PRODUCT_VERSION: &str = "1.0.0";
/// Visibilities of a product (publisher-api.yaml).
pub const PRODUCT_VISIBILITIES: &[&str] = &["PUBLIC", "PRIVATE", "RESTRICTED"];

/// One API of a product and the operations taken from it (`ProductAPI`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductApi {
    pub api_id: String,
    pub name: String,
    pub version: String,
    pub operations: Vec<Operation>,
}

/// An API Product as the Publisher REST API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub context: String,
    pub version: String,
    pub provider: String,
    pub state: LifecycleStatus,
    pub is_default_version: bool,
    pub is_revision: bool,
    #[serde(default)]
    pub revisioned_api_product_id: Option<String>,
    pub revision_id: i64,
    pub api_type: String,
    pub transport: Vec<String>,
    pub tags: Vec<String>,
    pub policies: Vec<String>,
    #[serde(default)]
    pub api_throttling_policy: Option<String>,
    pub security_scheme: Vec<String>,
    pub visibility: String,
    pub visible_roles: Vec<String>,
    pub cors_configuration: CorsConfiguration,
    pub apis: Vec<ProductApi>,
    pub created_time: String,
    pub last_updated_time: String,
    /// Passthrough fields (see [`crate::model::PASSTHROUGH`]).
    #[serde(flatten, default)]
    pub extra: Map<String, Value>,
}

/// The writable fields of a product create or update request; `None`: not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub context: Option<String>,
    pub version: Option<String>,
    pub provider: Option<String>,
    pub state: Option<LifecycleStatus>,
    pub transport: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub policies: Option<Vec<String>>,
    pub api_throttling_policy: Option<Option<String>>,
    pub security_scheme: Option<Vec<String>>,
    pub visibility: Option<String>,
    pub visible_roles: Option<Vec<String>>,
    pub cors_configuration: Option<CorsConfiguration>,
    /// `(apiId, operations)` per API, as requested (names and versions are filled from the APIs).
    pub apis: Option<Vec<(String, Vec<Operation>)>>,
    pub extra: Map<String, Value>,
}

impl ProductInput {
    /// Reads a request body. Unknown fields are ignored; every other problem names its field.
    pub fn from_json(body: &Value) -> Result<ProductInput, InputError> {
        let obj = object(body, "body")?;
        let string = |key: &str| coerce_string(get(obj, key), key);
        let list = |key: &str| coerce_string_list(get(obj, key), key);
        let name = string("name")?;
        if let Some(name) = &name {
            validate_name(name)?;
        }
        let version = string("version")?;
        if let Some(version) = &version {
            validate_version(version)?;
        }
        let context = string("context")?.map(|c| normalize_context(&c)).transpose()?;
        let state = match string("state")? {
            None => None,
            Some(s) => Some(LifecycleStatus::parse(&s).ok_or_else(|| {
                InputError::new(
                    "state",
                    format!(
                        "unknown value \"{s}\"; expected CREATED, PUBLISHED, PROTOTYPED, BLOCKED, DEPRECATED or RETIRED"
                    ),
                )
            })?),
        };
        if let Some(kind) = string("apiType")?
            && kind != PRODUCT_TYPE
        {
            return Err(InputError::new(
                "apiType",
                format!("must be {PRODUCT_TYPE}, not \"{kind}\""),
            ));
        }
        let transport = list("transport")?;
        for (i, t) in transport.iter().flatten().enumerate() {
            if !TRANSPORTS.contains(&t.as_str()) {
                return Err(InputError::new(
                    format!("transport[{i}]"),
                    format!("unknown value \"{t}\"; expected http or https"),
                ));
            }
        }
        let api_throttling_policy = match get(obj, "apiThrottlingPolicy") {
            Value::Null if obj.contains_key("apiThrottlingPolicy") => Some(None),
            v => coerce_string(v, "apiThrottlingPolicy")?.map(|p| Some(p).filter(|p| !p.is_empty())),
        };
        let cors_configuration = match get(obj, "corsConfiguration") {
            Value::Null => None,
            v => Some(parse_cors(v)?),
        };
        let apis = match get(obj, "apis") {
            Value::Null => None,
            Value::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse_product_api(item, i))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            other => {
                return Err(InputError::new(
                    "apis",
                    format!("must be an array of {{apiId, operations}}, not {}", kind_of(other)),
                ));
            }
        };
        Ok(ProductInput {
            name,
            description: string("description")?,
            context,
            version,
            provider: string("provider")?,
            state,
            transport,
            tags: list("tags")?,
            policies: list("policies")?,
            api_throttling_policy,
            security_scheme: list("securityScheme")?,
            visibility: coerce_enum(get(obj, "visibility"), "visibility", PRODUCT_VISIBILITIES)?,
            visible_roles: list("visibleRoles")?,
            cors_configuration,
            apis,
            extra: passthrough(obj)?,
        })
    }
}

fn parse_product_api(value: &Value, i: usize) -> Result<(String, Vec<Operation>), InputError> {
    let field = format!("apis[{i}]");
    let obj = object(value, &field)?;
    let api_id = coerce_string(get(obj, "apiId"), &format!("{field}.apiId"))?
        .filter(|id| !id.is_empty())
        .ok_or_else(|| InputError::new(format!("{field}.apiId"), "is required"))?;
    let operations = match get(obj, "operations") {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(j, op)| parse_operation(op, &format!("{field}.operations[{j}]")))
            .collect::<Result<Vec<_>, _>>()?,
        Value::Array(_) | Value::Null => {
            return Err(InputError::new(
                format!("{field}.operations"),
                "must list at least one operation of the API",
            ));
        }
        other => {
            return Err(InputError::new(
                format!("{field}.operations"),
                format!("must be an array of operations, not {}", kind_of(other)),
            ));
        }
    };
    let mut seen = std::collections::HashSet::new();
    for (j, op) in operations.iter().enumerate() {
        if !seen.insert((op.verb.clone(), op.target.clone())) {
            return Err(InputError::new(
                format!("{field}.operations[{j}]"),
                format!("{} {} is listed twice", op.verb, op.target),
            ));
        }
    }
    Ok((api_id, operations))
}

/// Finds the product's operations in their APIs: each requested operation must exist in its API
/// (same verb and target); the API's own settings (auth type, scopes, throttling policy) are
/// taken. `find` returns the API of an id, if there is one (and it is not a product).
pub fn resolve_apis(
    requested: &[(String, Vec<Operation>)],
    find: impl Fn(&str) -> Option<Api>,
) -> Result<Vec<ProductApi>, InputError> {
    if requested.is_empty() {
        return Err(InputError::new("apis", "must name at least one API"));
    }
    let mut out: Vec<ProductApi> = Vec::with_capacity(requested.len());
    for (i, (api_id, operations)) in requested.iter().enumerate() {
        let api = find(api_id)
            .ok_or_else(|| InputError::new(format!("apis[{i}].apiId"), format!("no API with id {api_id}")))?;
        if out.iter().any(|p| p.api_id == *api_id) {
            return Err(InputError::new(
                format!("apis[{i}].apiId"),
                format!("API {api_id} is listed twice"),
            ));
        }
        let mut resolved = Vec::with_capacity(operations.len());
        for (j, op) in operations.iter().enumerate() {
            let own = api
                .operations
                .iter()
                .find(|o| o.verb.eq_ignore_ascii_case(&op.verb) && o.target == op.target)
                .ok_or_else(|| {
                    InputError::new(
                        format!("apis[{i}].operations[{j}]"),
                        format!(
                            "the API {} ({api_id}) has no operation {} {}",
                            api.name, op.verb, op.target
                        ),
                    )
                })?;
            let mut own = own.clone();
            own.id = None;
            own.api_id = None;
            resolved.push(own);
        }
        out.push(ProductApi {
            api_id: api_id.clone(),
            name: api.name.clone(),
            version: api.version.clone(),
            operations: resolved,
        });
    }
    // One path and verb may come from one API only: the gateway routes it to one endpoint.
    let mut seen = std::collections::HashSet::new();
    for (i, p) in out.iter().enumerate() {
        for (j, op) in p.operations.iter().enumerate() {
            if !seen.insert((op.verb.clone(), op.target.clone())) {
                return Err(InputError::new(
                    format!("apis[{i}].operations[{j}]"),
                    format!(
                        "{} {} is already taken from another API of the product",
                        op.verb, op.target
                    ),
                ));
            }
        }
    }
    Ok(out)
}

impl Product {
    /// A new product from a create request whose `apis` were resolved with [`resolve_apis`].
    /// `name` and `context` are required; the version defaults to 1.0.0, the provider to the
    /// caller and the state to CREATED (a given `state` is kept, as WSO2 does).
    pub fn create(
        input: ProductInput,
        apis: Vec<ProductApi>,
        id: String,
        caller: &str,
        now_millis: i64,
    ) -> Result<Product, InputError> {
        let name = input.name.ok_or_else(|| InputError::new("name", "is required"))?;
        let context = input.context.ok_or_else(|| InputError::new("context", "is required"))?;
        let now = now_millis.to_string();
        Ok(Product {
            id,
            name,
            description: input.description,
            context,
            version: input.version.unwrap_or_else(|| DEFAULT_PRODUCT_VERSION.to_owned()),
            provider: input
                .provider
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| caller.to_owned()),
            state: input.state.unwrap_or(LifecycleStatus::Created),
            is_default_version: true,
            is_revision: false,
            revisioned_api_product_id: None,
            revision_id: 0,
            api_type: PRODUCT_TYPE.into(),
            transport: input.transport.unwrap_or_else(|| vec!["http".into(), "https".into()]),
            tags: input.tags.unwrap_or_default(),
            policies: input.policies.unwrap_or_else(|| vec!["Unlimited".into()]),
            api_throttling_policy: input.api_throttling_policy.flatten(),
            security_scheme: input
                .security_scheme
                .unwrap_or_else(|| vec!["oauth2".into(), "oauth_basic_auth_api_key_mandatory".into()]),
            visibility: input.visibility.unwrap_or_else(|| "PUBLIC".into()),
            visible_roles: input.visible_roles.unwrap_or_default(),
            cors_configuration: input.cors_configuration.unwrap_or_default(),
            apis,
            created_time: now.clone(),
            last_updated_time: now,
            extra: input.extra,
        })
    }

    /// Applies `PUT /api-products/{id}`: given fields replace the current ones; id, name,
    /// context, version, provider and state never change here.
    pub fn apply_update(&mut self, input: ProductInput, apis: Option<Vec<ProductApi>>, now_millis: i64) {
        if let Some(v) = input.description {
            self.description = Some(v);
        }
        if let Some(v) = input.transport {
            self.transport = v;
        }
        if let Some(v) = input.tags {
            self.tags = v;
        }
        if let Some(v) = input.policies {
            self.policies = v;
        }
        if let Some(v) = input.api_throttling_policy {
            self.api_throttling_policy = v;
        }
        if let Some(v) = input.security_scheme {
            self.security_scheme = v;
        }
        if let Some(v) = input.visibility {
            self.visibility = v;
        }
        if let Some(v) = input.visible_roles {
            self.visible_roles = v;
        }
        if let Some(v) = input.cors_configuration {
            self.cors_configuration = v;
        }
        if let Some(v) = apis {
            self.apis = v;
        }
        self.extra.extend(input.extra);
        self.last_updated_time = now_millis.to_string();
    }

    /// The product seen as an API (type `APIPRODUCT`): what the DevPortal lists and what
    /// subscriptions check (visibility, tiers, state).
    pub fn as_api(&self) -> Api {
        Api {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            context: self.context.clone(),
            version: self.version.clone(),
            provider: self.provider.clone(),
            life_cycle_status: self.state,
            is_default_version: true,
            is_revision: self.is_revision,
            revisioned_api_id: self.revisioned_api_product_id.clone(),
            revision_id: self.revision_id,
            api_type: PRODUCT_TYPE.into(),
            transport: self.transport.clone(),
            tags: self.tags.clone(),
            policies: self.policies.clone(),
            api_throttling_policy: self.api_throttling_policy.clone(),
            security_scheme: self.security_scheme.clone(),
            visibility: self.visibility.clone(),
            visible_roles: self.visible_roles.clone(),
            cors_configuration: self.cors_configuration.clone(),
            endpoint_config: None,
            operations: self.apis.iter().flat_map(|a| a.operations.iter().cloned()).collect(),
            created_time: self.created_time.clone(),
            last_updated_time: self.last_updated_time.clone(),
            extra: Map::new(),
        }
    }

    /// WSO2's `APIProductInfo` (the list entry).
    pub fn info(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "context": self.context,
            "version": self.version,
            "description": self.description,
            "provider": self.provider,
            "hasThumbnail": false,
            "state": self.state.wire(),
            "securityScheme": self.security_scheme,
            "gatewayVendor": "wso2",
            "audiences": [],
            "monetizedInfo": false,
            "businessOwner": self.extra.get("businessInformation").and_then(|b| b.get("businessOwner")).cloned(),
            "createdTime": self.created_time,
            "updatedTime": self.last_updated_time,
        })
    }
}

/// What a product revision holds: the product as it was, and the endpoints of its APIs then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductSnapshot {
    pub product: Product,
    pub backends: Vec<ArtifactBackend>,
}

/// One API of a product as the product's revision records it: its endpoint config as the API
/// held it (kept as sent, like [`Api::endpoint_config`]). The artifact's
/// [`portico_artifact::Backend`] is written from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactBackend {
    pub api_id: String,
    pub name: String,
    pub version: String,
    pub endpoint_config: Option<Value>,
}

/// The artifact of a product revision with the product's current state: every operation
/// carries the `apiId` whose backend (in `backends`) serves it. Fails, naming the field, when
/// a backend's `endpointConfig` does not read as the artifact's.
pub fn product_artifact(
    snapshot: &ProductSnapshot,
    status: LifecycleStatus,
    at: &Placement<'_>,
) -> Result<RuntimeArtifact, InputError> {
    let p = &snapshot.product;
    let operations = p
        .apis
        .iter()
        .flat_map(|a| {
            a.operations.iter().map(|op| Operation {
                api_id: Some(a.api_id.clone()),
                ..op.clone()
            })
        })
        .collect();
    let backends = snapshot
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            Ok(Backend {
                api_id: b.api_id.clone(),
                name: b.name.clone(),
                version: b.version.clone(),
                endpoint_config: b
                    .endpoint_config
                    .as_ref()
                    .map(|config| endpoint_config(config, &format!("backends[{i}].endpointConfig")))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    Ok(RuntimeArtifact {
        schema: SCHEMA,
        id: p.id.clone(),
        name: p.name.clone(),
        version: p.version.clone(),
        context: p.context.clone(),
        is_default_version: true,
        life_cycle_status: status.into(),
        endpoint_config: None,
        operations,
        policies: p.policies.clone(),
        api_throttling_policy: p.api_throttling_policy.clone(),
        cors_configuration: p.cors_configuration.clone(),
        security_scheme: p.security_scheme.clone(),
        transport: p.transport.clone(),
        revision_id: at.revision_id.to_owned(),
        revision_number: at.revision_number,
        environment: at.environment.to_owned(),
        vhost: at.vhost.to_owned(),
        deployed_time: at.deployed_time,
        api_type: Some(PRODUCT_TYPE.to_owned()),
        backends,
        audiences: crate::artifact::audiences_of(&p.extra),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pizza() -> Api {
        let input = crate::ApiInput::from_json(&json!({"name": "Pizza", "context": "/pizza", "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://b"}},
            "operations": [{"target": "/menu", "verb": "GET", "scopes": ["read"]}, {"target": "/order", "verb": "POST"}]}))
        .expect("valid");
        Api::create(input, "api-1".into(), "u", 5).expect("api")
    }

    #[test]
    fn products_resolve_operations_in_their_apis() {
        let input = ProductInput::from_json(&json!({"name": "P", "context": "/p", "state": "PUBLISHED",
            "monetization": null, "businessInformation": {"businessOwner": "Jane"},
            "apis": [{"apiId": "api-1", "operations": [{"target": "/menu", "verb": "get"}]}]}))
        .expect("valid");
        let apis = resolve_apis(input.apis.as_deref().unwrap_or_default(), |id| {
            (id == "api-1").then(pizza)
        })
        .expect("resolves");
        assert_eq!(apis[0].name, "Pizza");
        assert_eq!(apis[0].operations[0].scopes, ["read"]);
        let product = Product::create(input, apis, "prod-1".into(), "admin", 7).expect("product");
        assert_eq!(product.version, "1.0.0");
        assert_eq!(product.state, LifecycleStatus::Published);
        let v = serde_json::to_value(&product).expect("json");
        assert_eq!(v["businessInformation"]["businessOwner"], "Jane");
        assert_eq!(v["apis"][0]["apiId"], "api-1");
        assert_eq!(product.as_api().api_type, "APIPRODUCT");

        let missing = ProductInput::from_json(&json!({"name": "P", "context": "/p",
            "apis": [{"apiId": "api-1", "operations": [{"target": "/nope", "verb": "GET"}]}]}))
        .expect("valid");
        let err = resolve_apis(missing.apis.as_deref().unwrap_or_default(), |_| Some(pizza())).expect_err("unknown op");
        assert_eq!(err.field, "apis[0].operations[0]");
        let err = resolve_apis(missing.apis.as_deref().unwrap_or_default(), |_| None).expect_err("unknown api");
        assert_eq!(err.field, "apis[0].apiId");
        let wrong = ProductInput::from_json(&json!({"name": "P", "cacheTimeout": "x"})).expect_err("type");
        assert_eq!(wrong.field, "cacheTimeout");
    }
}
