//! The API resource with WSO2's JSON field names (publisher-api.yaml `API`, `APIOperations`,
//! `APICorsConfiguration`), and turning request bodies into it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::{normalize_context, validate_name, validate_version};
use crate::input::{InputError, coerce_bool, coerce_enum, coerce_string, coerce_string_list, get, kind_of, object};
use crate::lifecycle::LifecycleStatus;

/// An API's operations and CORS rules have the runtime artifact's shape (and WSO2's defaults),
/// so they are defined once, there.
pub use portico_artifact::{CorsConfiguration, DEFAULT_AUTH_TYPE, DEFAULT_THROTTLING_POLICY, Operation};

/// HTTP verbs an operation may have.
pub const VERBS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
/// WSO2's resource authentication types.
pub const AUTH_TYPES: &[&str] = &[
    "Any",
    "None",
    "Application",
    "Application User",
    "Application & Application User",
];
pub const VISIBILITIES: &[&str] = &["PUBLIC", "PRIVATE", "RESTRICTED", "CONTROLLED"];
/// The API types of the spec; only HTTP is served so far.
pub const API_TYPES: &[&str] = &[
    "HTTP",
    "WS",
    "SOAPTOREST",
    "SOAP",
    "GRAPHQL",
    "WEBSUB",
    "SSE",
    "WEBHOOK",
    "ASYNC",
];
pub const TRANSPORTS: &[&str] = &["http", "https"];
/// `endpoint_type` values Portico serves.
pub const ENDPOINT_TYPES: &[&str] = &["http", "load_balance", "failover"];

/// (field, policy name) of a throttling policy a request refers to.
pub type PolicyReference = (String, String);

/// An API as the Publisher REST API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Api {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Normalised: leading `/`, no trailing `/`.
    pub context: String,
    pub version: String,
    pub provider: String,
    pub life_cycle_status: LifecycleStatus,
    pub is_default_version: bool,
    pub is_revision: bool,
    #[serde(default)]
    pub revisioned_api_id: Option<String>,
    pub revision_id: i64,
    #[serde(rename = "type")]
    pub api_type: String,
    pub transport: Vec<String>,
    pub tags: Vec<String>,
    /// Subscription tiers offered to subscribers.
    pub policies: Vec<String>,
    /// API-level (advanced) throttling policy; resource-level policies apply when absent.
    #[serde(default)]
    pub api_throttling_policy: Option<String>,
    pub security_scheme: Vec<String>,
    pub visibility: String,
    pub visible_roles: Vec<String>,
    pub cors_configuration: CorsConfiguration,
    /// WSO2's `endpointConfig`, validated by [`validate_endpoint_config`] and kept as sent.
    #[serde(default)]
    pub endpoint_config: Option<Value>,
    pub operations: Vec<Operation>,
    /// Epoch milliseconds, as text (WSO2's format).
    pub created_time: String,
    pub last_updated_time: String,
    /// Fields WSO2 accepts and returns that Portico keeps without acting on them
    /// (`businessInformation`, `monetization`, `mediationPolicies`, ...; see [`PASSTHROUGH`]).
    #[serde(flatten, default)]
    pub extra: Map<String, Value>,
}

/// The writable fields of a create or update request; `None` means "not given".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub context: Option<String>,
    pub version: Option<String>,
    pub provider: Option<String>,
    pub is_default_version: Option<bool>,
    pub api_type: Option<String>,
    pub transport: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub policies: Option<Vec<String>>,
    /// `Some(None)` clears it.
    pub api_throttling_policy: Option<Option<String>>,
    pub security_scheme: Option<Vec<String>>,
    pub visibility: Option<String>,
    pub visible_roles: Option<Vec<String>>,
    pub cors_configuration: Option<CorsConfiguration>,
    pub endpoint_config: Option<Value>,
    pub operations: Option<Vec<Operation>>,
    /// Passthrough fields given (see [`PASSTHROUGH`]).
    pub extra: Map<String, Value>,
}

/// What a passthrough field must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Integer,
    Text,
    Array,
    Object,
    /// Any JSON value.
    Any,
}

/// Fields of WSO2's API and APIProduct that Portico accepts, stores and returns as sent but does
/// not act on. `null` is accepted for each; any other value must be of the kind listed.
pub const PASSTHROUGH: &[(&str, Kind)] = &[
    ("wsdlInfo", Kind::Object),
    ("wsdlUrl", Kind::Text),
    ("responseCachingEnabled", Kind::Bool),
    ("cacheTimeout", Kind::Integer),
    ("hasThumbnail", Kind::Bool),
    ("enableSchemaValidation", Kind::Bool),
    ("authorizationHeader", Kind::Text),
    ("apiKeyHeader", Kind::Text),
    ("maxTps", Kind::Object),
    ("visibleTenants", Kind::Array),
    ("mediationPolicies", Kind::Array),
    ("subscriptionAvailability", Kind::Text),
    ("subscriptionAvailableTenants", Kind::Array),
    ("additionalProperties", Kind::Array),
    ("monetization", Kind::Object),
    ("accessControl", Kind::Text),
    ("accessControlRoles", Kind::Array),
    ("businessInformation", Kind::Object),
    ("websubSubscriptionConfiguration", Kind::Object),
    ("workflowStatus", Kind::Text),
    ("endpointImplementationType", Kind::Text),
    ("scopes", Kind::Array),
    ("threatProtectionPolicies", Kind::Object),
    ("categories", Kind::Array),
    ("keyManagers", Kind::Array),
    ("serviceInfo", Kind::Object),
    ("advertiseInfo", Kind::Object),
    ("displayName", Kind::Text),
    ("gatewayVendor", Kind::Text),
    ("gatewayType", Kind::Text),
    ("audiences", Kind::Array),
    ("initiatedFromGateway", Kind::Bool),
    ("egress", Kind::Bool),
    ("subtype", Kind::Text),
    ("isEgress", Kind::Bool),
    ("apiPolicies", Kind::Object),
];

/// Reads the passthrough fields of a request body, refusing a wrong type by name.
pub fn passthrough(obj: &Map<String, Value>) -> Result<Map<String, Value>, InputError> {
    let mut out = Map::new();
    for (key, kind) in PASSTHROUGH {
        let Some(value) = obj.get(*key) else { continue };
        let ok = match (kind, value) {
            (_, Value::Null) | (Kind::Any, _) => true,
            (Kind::Bool, Value::Bool(_)) | (Kind::Text, Value::String(_)) => true,
            (Kind::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Kind::Array, Value::Array(_)) | (Kind::Object, Value::Object(_)) => true,
            _ => false,
        };
        if !ok {
            let expected = match kind {
                Kind::Bool => "a boolean",
                Kind::Integer => "an integer",
                Kind::Text => "a string",
                Kind::Array => "an array",
                Kind::Object => "an object",
                Kind::Any => "any value",
            };
            return Err(InputError::new(
                *key,
                format!("must be {expected} or null, not {}", kind_of(value)),
            ));
        }
        check_nested_integers(key, value)?;
        out.insert((*key).to_owned(), value.clone());
    }
    Ok(out)
}

/// Integer fields inside passthrough objects (WSO2's schema): (field, path below it, range).
/// JSON numbers beyond 64 bits parse as floats, which would be stored and answered as such.
const NESTED_INTEGERS: &[(&str, &[&str], (i64, i64))] = &[
    (
        "threatProtectionPolicies",
        &["list", "[]", "priority"],
        (i32::MIN as i64, i32::MAX as i64),
    ),
    ("maxTps", &["production"], (i64::MIN, i64::MAX)),
    ("maxTps", &["sandbox"], (i64::MIN, i64::MAX)),
];

/// Refuses a value at one of [`NESTED_INTEGERS`]' paths that is not an integer in its range,
/// naming the full path (`threatProtectionPolicies.list[0].priority`).
fn check_nested_integers(key: &str, value: &Value) -> Result<(), InputError> {
    for (field, path, range) in NESTED_INTEGERS {
        if *field == key {
            check_integer_at(value, path, key.to_owned(), *range)?;
        }
    }
    Ok(())
}

fn check_integer_at(value: &Value, path: &[&str], at: String, (min, max): (i64, i64)) -> Result<(), InputError> {
    let Some((step, rest)) = path.split_first() else {
        return match value {
            Value::Null => Ok(()),
            Value::Number(n) if n.as_i64().is_some_and(|i| (min..=max).contains(&i)) => Ok(()),
            Value::Number(n) => Err(InputError::new(
                at,
                format!("{n} is not an integer between {min} and {max}"),
            )),
            other => Err(InputError::new(
                at,
                format!("must be an integer, not {}", kind_of(other)),
            )),
        };
    };
    match (*step, value) {
        ("[]", Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_integer_at(item, rest, format!("{at}[{i}]"), (min, max))?;
            }
            Ok(())
        }
        ("[]", Value::Null) => Ok(()),
        ("[]", other) => Err(InputError::new(at, format!("must be an array, not {}", kind_of(other)))),
        (name, Value::Object(map)) => match map.get(name) {
            Some(inner) => check_integer_at(inner, rest, format!("{at}.{name}"), (min, max)),
            None => Ok(()),
        },
        (_, Value::Null) => Ok(()),
        (_, other) => Err(InputError::new(
            at,
            format!("must be an object, not {}", kind_of(other)),
        )),
    }
}

impl ApiInput {
    /// Reads a request body. Unknown fields are ignored; every other problem names its field.
    pub fn from_json(body: &Value) -> Result<ApiInput, InputError> {
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
        let description = string("description")?;
        if description.as_ref().is_some_and(|d| d.chars().count() > 32766) {
            return Err(InputError::new("description", "is longer than 32766 characters"));
        }
        let api_type = coerce_enum(get(obj, "type"), "type", API_TYPES)?;
        if let Some(t) = &api_type
            && t != "HTTP"
        {
            return Err(InputError::new(
                "type",
                format!("\"{t}\" APIs are not supported yet; only HTTP"),
            ));
        }
        let transport = list("transport")?;
        if let Some(transport) = &transport {
            for (i, t) in transport.iter().enumerate() {
                if !TRANSPORTS.contains(&t.as_str()) {
                    return Err(InputError::new(
                        format!("transport[{i}]"),
                        format!("unknown value \"{t}\"; expected http or https"),
                    ));
                }
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
        let endpoint_config = match get(obj, "endpointConfig") {
            Value::Null => None,
            v => {
                validate_endpoint_config(v)?;
                Some(v.clone())
            }
        };
        let operations = match get(obj, "operations") {
            Value::Null => None,
            Value::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, op)| parse_operation(op, &format!("operations[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            other => {
                return Err(InputError::new(
                    "operations",
                    format!("must be an array of operations, not {}", kind_of(other)),
                ));
            }
        };
        if let Some(ops) = &operations {
            check_duplicate_operations(ops)?;
        }
        Ok(ApiInput {
            name,
            description,
            context,
            version,
            provider: string("provider")?,
            is_default_version: coerce_bool(get(obj, "isDefaultVersion"), "isDefaultVersion")?,
            api_type,
            transport,
            tags: list("tags")?,
            policies: list("policies")?,
            api_throttling_policy,
            security_scheme: list("securityScheme")?,
            visibility: coerce_enum(get(obj, "visibility"), "visibility", VISIBILITIES)?,
            visible_roles: list("visibleRoles")?,
            cors_configuration,
            endpoint_config,
            operations,
            extra: passthrough(obj)?,
        })
    }

    /// Every throttling policy name the input refers to, with the field naming it:
    /// (`policies[i]` subscription tiers, then API-level ones).
    pub fn policy_references(&self) -> (Vec<PolicyReference>, Vec<PolicyReference>) {
        let subscription = self
            .policies
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| (format!("policies[{i}]"), p.clone()))
            .collect();
        let mut api_level: Vec<(String, String)> = Vec::new();
        if let Some(Some(p)) = &self.api_throttling_policy {
            api_level.push(("apiThrottlingPolicy".into(), p.clone()));
        }
        for (i, op) in self.operations.iter().flatten().enumerate() {
            api_level.push((
                format!("operations[{i}].throttlingPolicy"),
                op.throttling_policy.clone(),
            ));
        }
        (subscription, api_level)
    }
}

pub(crate) fn parse_operation(value: &Value, field: &str) -> Result<Operation, InputError> {
    let obj = object(value, field)?;
    let sub = |key: &str| format!("{field}.{key}");
    let target = coerce_string(get(obj, "target"), &sub("target"))?
        .ok_or_else(|| InputError::new(sub("target"), "is required"))?;
    if !target.starts_with('/') || target.contains(char::is_whitespace) || target.contains("..") {
        return Err(InputError::new(
            sub("target"),
            format!("\"{target}\" must start with `/` and contain no whitespace or `..`"),
        ));
    }
    let verb = coerce_string(get(obj, "verb"), &sub("verb"))?
        .ok_or_else(|| InputError::new(sub("verb"), "is required"))?
        .to_ascii_uppercase();
    if !VERBS.contains(&verb.as_str()) {
        return Err(InputError::new(
            sub("verb"),
            format!("unknown value \"{verb}\"; expected one of {}", VERBS.join(", ")),
        ));
    }
    let auth_type = coerce_enum(get(obj, "authType"), &sub("authType"), AUTH_TYPES)?
        .unwrap_or_else(|| DEFAULT_AUTH_TYPE.to_owned());
    Ok(Operation {
        id: coerce_string(get(obj, "id"), &sub("id"))?,
        target,
        verb,
        auth_type,
        throttling_policy: coerce_string(get(obj, "throttlingPolicy"), &sub("throttlingPolicy"))?
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_THROTTLING_POLICY.to_owned()),
        scopes: coerce_string_list(get(obj, "scopes"), &sub("scopes"))?.unwrap_or_default(),
        api_id: None,
    })
}

fn check_duplicate_operations(ops: &[Operation]) -> Result<(), InputError> {
    let mut seen = std::collections::HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        if !seen.insert((op.target.as_str(), op.verb.as_str())) {
            return Err(InputError::new(
                format!("operations[{i}]"),
                format!("{} {} is listed twice", op.verb, op.target),
            ));
        }
    }
    Ok(())
}

pub(crate) fn parse_cors(value: &Value) -> Result<CorsConfiguration, InputError> {
    let obj = object(value, "corsConfiguration")?;
    let d = CorsConfiguration::default();
    let f = |k: &str| format!("corsConfiguration.{k}");
    Ok(CorsConfiguration {
        cors_configuration_enabled: coerce_bool(get(obj, "corsConfigurationEnabled"), &f("corsConfigurationEnabled"))?
            .unwrap_or(d.cors_configuration_enabled),
        access_control_allow_origins: coerce_string_list(
            get(obj, "accessControlAllowOrigins"),
            &f("accessControlAllowOrigins"),
        )?
        .unwrap_or(d.access_control_allow_origins),
        access_control_allow_credentials: coerce_bool(
            get(obj, "accessControlAllowCredentials"),
            &f("accessControlAllowCredentials"),
        )?
        .unwrap_or(d.access_control_allow_credentials),
        access_control_allow_headers: coerce_string_list(
            get(obj, "accessControlAllowHeaders"),
            &f("accessControlAllowHeaders"),
        )?
        .unwrap_or(d.access_control_allow_headers),
        access_control_allow_methods: coerce_string_list(
            get(obj, "accessControlAllowMethods"),
            &f("accessControlAllowMethods"),
        )?
        .unwrap_or(d.access_control_allow_methods),
    })
}

/// Checks WSO2's `endpointConfig` shapes Portico serves:
/// - `http`: `production_endpoints` and/or `sandbox_endpoints`, each `{"url": ...}`;
/// - `load_balance`: each of those an array of `{"url": ...}` (a single object is accepted);
/// - `failover`: each an object, plus optional `production_failovers` / `sandbox_failovers`
///   arrays of `{"url": ...}`.
pub fn validate_endpoint_config(value: &Value) -> Result<(), InputError> {
    let obj = object(value, "endpointConfig")?;
    let kind = coerce_enum(
        get(obj, "endpoint_type"),
        "endpointConfig.endpoint_type",
        ENDPOINT_TYPES,
    )?
    .ok_or_else(|| InputError::new("endpointConfig.endpoint_type", "is required"))?;
    let mut any = false;
    for side in ["production_endpoints", "sandbox_endpoints"] {
        let field = format!("endpointConfig.{side}");
        let v = get(obj, side);
        if v.is_null() {
            continue;
        }
        any = true;
        match (kind.as_str(), v) {
            ("load_balance", Value::Array(items)) => {
                if items.is_empty() {
                    return Err(InputError::new(field, "must list at least one endpoint"));
                }
                for (i, item) in items.iter().enumerate() {
                    check_endpoint(item, &format!("{field}[{i}]"))?;
                }
            }
            ("load_balance", Value::Object(_)) => check_endpoint(v, &field)?,
            (_, Value::Object(_)) => check_endpoint(v, &field)?,
            (_, other) => {
                return Err(InputError::new(
                    field,
                    format!(
                        "must be an object {{\"url\": ...}}{}, not {}",
                        if kind == "load_balance" {
                            " or an array of them"
                        } else {
                            ""
                        },
                        kind_of(other)
                    ),
                ));
            }
        }
    }
    if !any {
        return Err(InputError::new(
            "endpointConfig",
            "needs production_endpoints or sandbox_endpoints",
        ));
    }
    if kind == "failover" {
        for side in ["production_failovers", "sandbox_failovers"] {
            let field = format!("endpointConfig.{side}");
            match get(obj, side) {
                Value::Null => {}
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        check_endpoint(item, &format!("{field}[{i}]"))?;
                    }
                }
                other => {
                    return Err(InputError::new(
                        field,
                        format!("must be an array of {{\"url\": ...}}, not {}", kind_of(other)),
                    ));
                }
            }
        }
    }
    // What the Publisher accepts it can deploy: the rest (an endpoint's `config`, failovers of
    // other endpoint types) must read as the runtime artifact's endpoint config.
    crate::artifact::endpoint_config(value, "endpointConfig")?;
    Ok(())
}

fn check_endpoint(value: &Value, field: &str) -> Result<(), InputError> {
    let obj = object(value, field)?;
    let url = coerce_string(get(obj, "url"), &format!("{field}.url"))?
        .ok_or_else(|| InputError::new(format!("{field}.url"), "is required"))?;
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or_default();
    let valid = !host.is_empty() && !host.starts_with('/') && !url.contains(char::is_whitespace);
    if !valid {
        return Err(InputError::new(
            format!("{field}.url"),
            format!("\"{url}\" is not an http:// or https:// URL"),
        ));
    }
    Ok(())
}

impl Api {
    /// A new API in CREATED state from a create request. `name`, `version` and `context` are
    /// required; the provider defaults to the caller.
    pub fn create(input: ApiInput, id: String, caller: &str, now_millis: i64) -> Result<Api, InputError> {
        let name = input.name.ok_or_else(|| InputError::new("name", "is required"))?;
        let version = input.version.ok_or_else(|| InputError::new("version", "is required"))?;
        let context = input.context.ok_or_else(|| InputError::new("context", "is required"))?;
        let now = now_millis.to_string();
        Ok(Api {
            id,
            name,
            description: input.description,
            context,
            version,
            provider: input
                .provider
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| caller.to_owned()),
            life_cycle_status: LifecycleStatus::Created,
            is_default_version: input.is_default_version.unwrap_or(false),
            is_revision: false,
            revisioned_api_id: None,
            revision_id: 0,
            api_type: "HTTP".into(),
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
            endpoint_config: input.endpoint_config,
            operations: input.operations.unwrap_or_default(),
            created_time: now.clone(),
            last_updated_time: now,
            extra: input.extra,
        })
    }

    /// Applies an update (`PUT /apis/{id}`): given fields replace the current ones; name,
    /// version, context, provider, id and lifecycle status never change (as in WSO2, which
    /// overrides them with the stored values).
    pub fn apply_update(&mut self, input: ApiInput, now_millis: i64) {
        if let Some(v) = input.description {
            self.description = Some(v);
        }
        if let Some(v) = input.is_default_version {
            self.is_default_version = v;
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
        if let Some(v) = input.endpoint_config {
            self.endpoint_config = Some(v);
        }
        if let Some(v) = input.operations {
            self.operations = v;
        }
        self.extra.extend(input.extra);
        self.last_updated_time = now_millis.to_string();
    }

    /// WSO2's `APIInfo` (the list entry).
    pub fn info(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), Value::String(self.id.clone()));
        m.insert("name".into(), Value::String(self.name.clone()));
        m.insert(
            "description".into(),
            self.description.clone().map(Value::String).unwrap_or(Value::Null),
        );
        m.insert("context".into(), Value::String(self.context.clone()));
        m.insert("version".into(), Value::String(self.version.clone()));
        m.insert("provider".into(), Value::String(self.provider.clone()));
        m.insert("type".into(), Value::String(self.api_type.clone()));
        m.insert(
            "lifeCycleStatus".into(),
            Value::String(self.life_cycle_status.wire().into()),
        );
        m.insert("hasThumbnail".into(), Value::Bool(false));
        m.insert(
            "securityScheme".into(),
            serde_json::to_value(&self.security_scheme).unwrap_or(Value::Null),
        );
        m.insert("createdTime".into(), Value::String(self.created_time.clone()));
        m.insert("updatedTime".into(), Value::String(self.last_updated_time.clone()));
        m.insert("isDefaultVersion".into(), Value::Bool(self.is_default_version));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(body: Value) -> Result<Api, InputError> {
        Api::create(ApiInput::from_json(&body)?, "id-1".into(), "alice", 1000)
    }

    #[test]
    fn a_minimal_api_gets_wso2_defaults() {
        let api = create(json!({"name": "Pizza", "context": "pizza", "version": 1})).expect("valid");
        assert_eq!(api.context, "/pizza");
        assert_eq!(api.version, "1", "a numeric version is coerced to text");
        assert_eq!(api.provider, "alice");
        assert_eq!(api.life_cycle_status, LifecycleStatus::Created);
        assert_eq!(api.policies, ["Unlimited"]);
        let json = serde_json::to_value(&api).expect("json");
        assert_eq!(json["lifeCycleStatus"], "CREATED");
        assert_eq!(json["isDefaultVersion"], false);
        assert_eq!(json["corsConfiguration"]["accessControlAllowOrigins"][0], "*");
        assert_eq!(json["type"], "HTTP");
    }

    #[test]
    fn nested_integers_out_of_range_are_refused_by_path() {
        let body = |priority: Value| {
            json!({"name": "P", "context": "p", "version": "1",
                   "threatProtectionPolicies": {"list": [{"policyId": "a", "priority": 1}, {"policyId": "b", "priority": priority}]}})
        };
        let huge: Value = serde_json::from_str("-30035858951153255431798784").expect("number");
        let err = create(body(huge)).expect_err("beyond 64 bits");
        assert_eq!(err.field, "threatProtectionPolicies.list[1].priority", "{err}");
        assert!(
            err.message
                .contains("is not an integer between -2147483648 and 2147483647"),
            "{err}"
        );
        assert_eq!(
            create(body(json!(3_000_000_000i64))).expect_err("beyond i32").field,
            "threatProtectionPolicies.list[1].priority"
        );
        assert_eq!(
            create(body(json!(1.5))).expect_err("fraction").field,
            "threatProtectionPolicies.list[1].priority"
        );
        assert_eq!(
            create(body(json!("2"))).expect_err("text").field,
            "threatProtectionPolicies.list[1].priority"
        );
        let api = create(body(json!(7))).expect("in range");
        assert_eq!(
            serde_json::to_value(&api).expect("json")["threatProtectionPolicies"]["list"][1]["priority"],
            7
        );
        let err = create(json!({"name": "P", "context": "p", "version": "1", "maxTps": {"production": 1e30}}))
            .expect_err("float");
        assert_eq!(err.field, "maxTps.production");
    }

    #[test]
    fn required_fields_and_wrong_shapes_are_named() {
        assert_eq!(
            create(json!({"context": "/a", "version": "1"}))
                .expect_err("name")
                .field,
            "name"
        );
        let e = create(json!({"name": ["x"], "context": "/a", "version": "1"})).expect_err("array");
        assert_eq!(e.field, "name");
        let e = create(json!({"name": "a", "context": "/a", "version": "1", "tags": "x"})).expect_err("tags");
        assert_eq!(e.field, "tags");
        let e = create(json!({"name": "a", "context": "/a", "version": "1", "visibility": "EVERYONE"}))
            .expect_err("visibility");
        assert_eq!(e.field, "visibility");
        let e = create(
            json!({"name": "a", "context": "/a", "version": "1", "operations": [{"target": "/x", "verb": "FETCH"}]}),
        )
        .expect_err("verb");
        assert_eq!(e.field, "operations[0].verb");
        let e = create(json!({"name": "a", "context": "/a", "version": "1", "operations": {"target": "/x"}}))
            .expect_err("operations");
        assert_eq!(e.field, "operations");
        let e = create(json!({"name": "a", "context": "/a", "version": "1", "isDefaultVersion": "maybe"}))
            .expect_err("bool");
        assert_eq!(e.field, "isDefaultVersion");
        assert!(ApiInput::from_json(&json!([1, 2])).is_err());
    }

    #[test]
    fn unknown_fields_are_ignored_and_strings_coerced() {
        let api = create(json!({
            "name": "a", "context": "/a", "version": "1", "somethingNew": {"x": 1},
            "isDefaultVersion": "true", "tags": [1, "two"],
            "operations": [{"target": "/x", "verb": "get", "scopes": ["read"]}]
        }))
        .expect("valid");
        assert!(api.is_default_version);
        assert_eq!(api.tags, ["1", "two"]);
        assert_eq!(api.operations[0].verb, "GET");
        assert_eq!(api.operations[0].auth_type, DEFAULT_AUTH_TYPE);
        assert_eq!(api.operations[0].throttling_policy, "Unlimited");
    }

    #[test]
    fn endpoint_config_shapes() {
        let ok = [
            json!({"endpoint_type": "http", "production_endpoints": {"url": "http://b:8080/x"}}),
            json!({"endpoint_type": "load_balance", "algoCombo": "roundRobin",
                   "production_endpoints": [{"url": "http://a"}, {"url": "https://b"}]}),
            json!({"endpoint_type": "failover", "production_endpoints": {"url": "http://a"},
                   "production_failovers": [{"url": "http://b"}], "sandbox_endpoints": {"url": "http://s"}}),
        ];
        for c in ok {
            validate_endpoint_config(&c).unwrap_or_else(|e| panic!("{c}: {e}"));
        }
        let bad = [
            (
                json!({"production_endpoints": {"url": "http://a"}}),
                "endpointConfig.endpoint_type",
            ),
            (
                json!({"endpoint_type": "awslambda", "production_endpoints": {"url": "http://a"}}),
                "endpointConfig.endpoint_type",
            ),
            (
                json!({"endpoint_type": "http", "production_endpoints": [{"url": "http://a"}]}),
                "endpointConfig.production_endpoints",
            ),
            (
                json!({"endpoint_type": "http", "production_endpoints": {"url": "ftp://a"}}),
                "endpointConfig.production_endpoints.url",
            ),
            (json!({"endpoint_type": "http"}), "endpointConfig"),
            (
                json!({"endpoint_type": "load_balance", "production_endpoints": [{"url": "http://a"}, 3]}),
                "endpointConfig.production_endpoints[1]",
            ),
            (
                json!({"endpoint_type": "failover", "production_endpoints": {"url": "http://a"}, "production_failovers": {"url": "http://b"}}),
                "endpointConfig.production_failovers",
            ),
            (json!("http://a"), "endpointConfig"),
        ];
        for (c, field) in bad {
            let e = validate_endpoint_config(&c).expect_err(&c.to_string());
            assert_eq!(e.field, field, "{c}: {e}");
        }
    }

    #[test]
    fn update_keeps_identity_fields() {
        let mut api = create(json!({"name": "a", "context": "/a", "version": "1"})).expect("valid");
        let input = ApiInput::from_json(&json!({"name": "b", "context": "/b", "version": "2", "provider": "eve",
            "description": "new", "tags": ["t"]}))
        .expect("valid");
        api.apply_update(input, 2000);
        assert_eq!(
            (api.name.as_str(), api.context.as_str(), api.version.as_str()),
            ("a", "/a", "1")
        );
        assert_eq!(api.provider, "alice");
        assert_eq!(api.description.as_deref(), Some("new"));
        assert_eq!(api.tags, ["t"]);
        assert_eq!(api.last_updated_time, "2000");
    }

    #[test]
    fn duplicate_operations_are_refused() {
        let e = create(json!({"name": "a", "context": "/a", "version": "1",
            "operations": [{"target": "/x", "verb": "GET"}, {"target": "/x", "verb": "get"}]}))
        .expect_err("dup");
        assert_eq!(e.field, "operations[1]");
    }
}
