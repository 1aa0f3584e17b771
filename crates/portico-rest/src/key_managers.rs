//! Key managers: the Admin API's `/key-managers` (list, create, read, replace and delete the
//! external identity providers whose JWT access tokens the gateway accepts) and what the
//! DevPortal shows of them (`GET /key-managers`), with WSO2's fields (admin-api.yaml `KeyManager`,
//! `KeyManagerInfo`) and status codes.
//!
//! The built-in Resident Key Manager (type `default`) is this node's own Key Manager: always
//! listed, never stored, read-only here; so are the key managers of deployment.toml's
//! `[[apim.jwt.issuer]]`. External key managers are stored with their whole WSO2
//! resource; the gateway acts on `issuer`, `certificates` (a JWKS URL or a PEM key/certificate),
//! `consumerKeyClaim`, `scopesClaim` and `enabled`, which are validated; the other fields are
//! checked for their JSON type and kept as given.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portico_apis::InputError;
use portico_apis::input::{coerce_bool, coerce_enum, coerce_string, get, kind_of};
use portico_store::{KeyManagerRow, NewKeyManager, RESIDENT_KEY_MANAGER};
use serde_json::{Map, Value, json};

use crate::auth::Auth;
use crate::common::body::json_body;
use crate::common::ids::stable_id;
use crate::error::{ApiError, input_error};
use crate::fetch::{FetchRules, fetch_text, http_url};
use crate::state::RestState;

/// Scopes of reading, creating and changing key managers (admin-api.yaml).
const MANAGE_SCOPES: &[&str] = &["apim:admin", "apim:admin_operations", "apim:keymanagers_manage"];
/// Scopes of deleting one.
const DELETE_SCOPES: &[&str] = &["apim:admin", "apim:admin_operations"];
/// The resident key manager's type.
const RESIDENT_TYPE: &str = "default";
/// WSO2's code for a key manager that cannot be deleted (HTTP 412).
const KEY_MANAGER_DELETE_FAILED: i64 = 902015;

/// A UUID-shaped id that is the same on every node (the resident key manager's).
fn resident_id() -> String {
    stable_id(RESIDENT_KEY_MANAGER)
}

/// WSO2's `KeyManager` for this node's own Key Manager.
fn resident_json(state: &RestState) -> Value {
    let ports = state.config.ports();
    let base = format!("https://{}:{}", state.config.server.hostname, ports.management_https);
    json!({
        "id": resident_id(),
        "name": RESIDENT_KEY_MANAGER,
        "displayName": RESIDENT_KEY_MANAGER,
        "type": RESIDENT_TYPE,
        "description": "This is Resident Key Manager",
        "enabled": true,
        "issuer": state.oauth.settings().issuer,
        "certificates": {"type": "JWKS", "value": format!("{base}/oauth2/jwks")},
        "tokenEndpoint": format!("{base}/oauth2/token"),
        "displayTokenEndpoint": format!("{base}/oauth2/token"),
        "revokeEndpoint": format!("{base}/oauth2/revoke"),
        "displayRevokeEndpoint": format!("{base}/oauth2/revoke"),
        "introspectionEndpoint": format!("{base}/oauth2/introspect"),
        "clientRegistrationEndpoint": format!("{base}/client-registration/v0.17/register"),
        "availableGrantTypes": ["client_credentials", "password", "refresh_token"],
        "enableTokenGeneration": true,
        "enableTokenEncryption": false,
        "enableTokenHashing": false,
        "enableMapOAuthConsumerApps": false,
        "enableOAuthAppCreation": true,
        "enableSelfValidationJWT": true,
        "consumerKeyClaim": "azp",
        "scopesClaim": "scope",
        "claimMapping": [],
        "tokenValidation": [],
        "tokenType": "DIRECT",
        "alias": "",
        "global": false,
        "additionalProperties": {},
    })
}

/// The key managers of `[[apim.jwt.issuer]]` in deployment.toml, shaped as stored ones (their id
/// is derived from the name, the same on every node; they cannot be changed through REST).
pub fn configured_key_managers(config: &portico_config::Config) -> Vec<KeyManagerRow> {
    config
        .apim
        .jwt
        .issuer
        .iter()
        .map(|issuer| {
            let configuration = json!({
                "displayName": issuer.name,
                "description": "Defined in deployment.toml ([[apim.jwt.issuer]])",
                "certificates": {"type": "JWKS", "value": issuer.jwks.url},
                "consumerKeyClaim": issuer.consumer_key_claim,
                "scopesClaim": issuer.scopes_claim,
                "tokenType": "DIRECT",
                "enableMapOAuthConsumerApps": true,
                "enableOAuthAppCreation": false,
                "introspectionEndpoint": issuer.introspection.as_ref().map(|i| &i.url),
                "additionalProperties": issuer.introspection.as_ref().map_or_else(
                    || json!({}),
                    |i| json!({"client_id": i.client_id, "client_secret": i.client_secret}),
                ),
            });
            KeyManagerRow {
                id: stable_id(&format!("apim.jwt.issuer:{}", issuer.name)),
                name: issuer.name.clone(),
                kind: "custom".into(),
                enabled: true,
                issuer: issuer.issuer().to_owned(),
                configuration: configuration.to_string(),
                created_at: 0,
                updated_at: 0,
            }
        })
        .collect()
}

/// The configured key manager with this id, name or issuer, if any.
fn configured(state: &RestState, matches: impl Fn(&KeyManagerRow) -> bool) -> Option<KeyManagerRow> {
    configured_key_managers(&state.config).into_iter().find(matches)
}

/// A name or issuer a configured key manager already has is a conflict.
fn check_not_configured(state: &RestState, new: &NewKeyManager) -> Result<(), ApiError> {
    if let Some(existing) = configured(state, |k| k.name == new.name || k.issuer == new.issuer) {
        return Err(ApiError::conflict(format!(
            "key manager `{}` (issuer `{}`) of deployment.toml already exists",
            existing.name, existing.issuer
        )));
    }
    Ok(())
}

/// What a key manager's `additionalProperties.client_secret` reads as in answers: the secret
/// the gateway introspects with is never sent back. A PUT that sends this keeps the stored one.
const MASKED_SECRET: &str = "********";

/// WSO2's `KeyManager` for a stored key manager: its stored resource with the columns on top,
/// the client secret masked.
fn km_json(row: &KeyManagerRow) -> Value {
    let mut body = match serde_json::from_str::<Value>(&row.configuration) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(secret) = body
        .get_mut("additionalProperties")
        .and_then(|p| p.get_mut("client_secret"))
        .filter(|s| s.as_str().is_some_and(|s| !s.is_empty()))
    {
        *secret = json!(MASKED_SECRET);
    }
    body.insert("id".into(), json!(row.id));
    body.insert("name".into(), json!(row.name));
    body.insert("type".into(), json!(row.kind));
    body.insert("enabled".into(), json!(row.enabled));
    body.insert("issuer".into(), json!(row.issuer));
    body.entry("displayName").or_insert_with(|| json!(row.name));
    body.entry("tokenType").or_insert_with(|| json!("DIRECT"));
    Value::Object(body)
}

/// WSO2's `KeyManagerInfo` (Admin list), from a full `KeyManager`.
fn admin_info(km: &Value, is_used: bool) -> Value {
    json!({
        "id": km["id"],
        "name": km["name"],
        "displayName": km["displayName"],
        "type": km["type"],
        "description": km.get("description").cloned().unwrap_or(json!("")),
        "enabled": km["enabled"],
        "isGlobal": false,
        "isUsed": is_used,
        "tokenType": km["tokenType"],
    })
}

/// The DevPortal's `KeyManagerInfo`, from a full `KeyManager`.
fn devportal_info(km: &Value) -> Value {
    let pick = |field: &str, default: Value| km.get(field).cloned().unwrap_or(default);
    json!({
        "id": km["id"],
        "name": km["name"],
        "type": km["type"],
        "displayName": km["displayName"],
        "description": pick("description", json!("")),
        "enabled": km["enabled"],
        "availableGrantTypes": pick("availableGrantTypes", json!([])),
        "tokenEndpoint": pick("tokenEndpoint", json!("")),
        "revokeEndpoint": pick("revokeEndpoint", json!("")),
        "userInfoEndpoint": pick("userInfoEndpoint", json!("")),
        "enableTokenGeneration": pick("enableTokenGeneration", json!(false)),
        "enableTokenEncryption": pick("enableTokenEncryption", json!(false)),
        "enableTokenHashing": pick("enableTokenHashing", json!(false)),
        "enableOAuthAppCreation": pick("enableOAuthAppCreation", json!(false)),
        "enableMapOAuthConsumerApps": pick("enableMapOAuthConsumerApps", json!(false)),
        "applicationConfiguration": [],
        "alias": pick("alias", json!("")),
        "additionalProperties": pick("additionalProperties", json!({})),
        "tokenType": km["tokenType"],
    })
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    input_error(InputError::new(field, message))
}

/// A string field that, when given, is at most `max` characters without control characters.
fn bounded_string(obj: &Map<String, Value>, field: &str, max: usize) -> Result<Option<String>, ApiError> {
    let Some(text) = coerce_string(get(obj, field), field).map_err(input_error)? else {
        return Ok(None);
    };
    let text = text.trim().to_owned();
    if text.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(Some(text))
}

/// Checks that `field`, when present, has the JSON type WSO2's schema gives it.
fn check_type(obj: &Map<String, Value>, field: &str, expected: &str) -> Result<(), ApiError> {
    let value = get(obj, field);
    let fits = match expected {
        "array" => value.is_array(),
        "object" => value.is_object(),
        "boolean" => coerce_bool(value, field).is_ok(),
        _ => coerce_string(value, field).is_ok(),
    };
    if value.is_null() || fits {
        Ok(())
    } else {
        Err(invalid(field, format!("must be {expected}, not {}", kind_of(value))))
    }
}

/// A validated key manager body: what the store keeps.
fn key_manager_input(state: &RestState, body: &Value, fixed_name: Option<&str>) -> Result<NewKeyManager, ApiError> {
    let obj = portico_apis::input::object(body, "body").map_err(input_error)?;
    let name = bounded_string(obj, "name", 100)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("name", "is required"))?;
    if let Some(current) = fixed_name
        && name != current
    {
        return Err(invalid(
            "name",
            format!("cannot change from \"{current}\" to \"{name}\" (application keys name their key manager)"),
        ));
    }
    let kind = bounded_string(obj, "type", 45)?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("type", "is required"))?;
    if kind == RESIDENT_TYPE {
        return Err(invalid(
            "type",
            format!("\"{RESIDENT_TYPE}\" is the type of the built-in {RESIDENT_KEY_MANAGER}"),
        ));
    }
    bounded_string(obj, "displayName", 100)?;
    bounded_string(obj, "description", 256)?;
    let issuer = bounded_string(obj, "issuer", 2048)?
        .filter(|i| !i.is_empty())
        .ok_or_else(|| invalid("issuer", format!("is required for key managers of type \"{kind}\"")))?;
    if issuer == state.oauth.settings().issuer {
        return Err(invalid(
            "issuer",
            format!("\"{issuer}\" is the issuer of this node's {RESIDENT_KEY_MANAGER}"),
        ));
    }
    check_certificates(obj)?;
    // Opaque (non-JWT) tokens of the key manager are checked there by the gateway.
    if let Some(url) = bounded_string(obj, "introspectionEndpoint", 2048)?.filter(|u| !u.trim().is_empty()) {
        http_url("introspectionEndpoint", url.trim())?;
    }
    for claim in ["consumerKeyClaim", "scopesClaim"] {
        if let Some(value) = bounded_string(obj, claim, 256)?
            && value.chars().any(char::is_whitespace)
        {
            return Err(invalid(claim, format!("\"{value}\" is not a claim name")));
        }
    }
    let enabled = coerce_bool(get(obj, "enabled"), "enabled")
        .map_err(input_error)?
        .unwrap_or(true);
    coerce_enum(get(obj, "tokenType"), "tokenType", &["EXCHANGED", "DIRECT", "BOTH"]).map_err(input_error)?;
    for field in [
        "enableTokenGeneration",
        "enableTokenEncryption",
        "enableTokenHashing",
        "enableMapOAuthConsumerApps",
        "enableOAuthAppCreation",
        "enableSelfValidationJWT",
        "global",
    ] {
        check_type(obj, field, "boolean")?;
    }
    for field in [
        "claimMapping",
        "tokenValidation",
        "endpoints",
        "availableGrantTypes",
        "allowedOrganizations",
    ] {
        check_type(obj, field, "array")?;
    }
    for field in ["additionalProperties", "permissions"] {
        check_type(obj, field, "object")?;
    }
    if let Some(Value::Array(entries)) = obj.get("claimMapping") {
        for (i, entry) in entries.iter().enumerate() {
            let field = format!("claimMapping[{i}]");
            let entry = portico_apis::input::object(entry, &field).map_err(input_error)?;
            for part in ["remoteClaim", "localClaim"] {
                coerce_string(get(entry, part), &format!("{field}.{part}")).map_err(input_error)?;
            }
        }
    }
    let mut configuration = obj.clone();
    for derived in ["id", "name", "type", "enabled", "issuer"] {
        configuration.remove(derived);
    }
    configuration.insert("enabled".into(), json!(enabled));
    Ok(NewKeyManager {
        name,
        kind,
        enabled,
        issuer,
        configuration: Value::Object(configuration).to_string(),
    })
}

/// `certificates`: required (the gateway verifies tokens with it); a JWKS http(s) URL, or a PEM
/// public key or certificate (or its base64 encoding).
fn check_certificates(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let certificates = get(obj, "certificates");
    if certificates.is_null() {
        return Err(invalid(
            "certificates",
            "is required: the gateway verifies the key manager's tokens with its JWKS URL or PEM certificate",
        ));
    }
    let certificates = portico_apis::input::object(certificates, "certificates").map_err(input_error)?;
    let kind = coerce_enum(get(certificates, "type"), "certificates.type", &["JWKS", "PEM"])
        .map_err(input_error)?
        .ok_or_else(|| invalid("certificates.type", "is required (JWKS or PEM)"))?;
    let value = coerce_string(get(certificates, "value"), "certificates.value")
        .map_err(input_error)?
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid("certificates.value", "is required"))?;
    if kind == "JWKS" {
        http_url("certificates.value", &value)?;
    } else {
        portico_keystore::parse_public_key_pem(&value).map_err(|e| invalid("certificates.value", e.to_string()))?;
    }
    Ok(())
}

/// How an identity provider's OpenID configuration is fetched: 10 s, 1 MiB; non-public
/// addresses only with `[apim.key_manager] allow_private_discovery_urls` (against SSRF).
fn discovery_rules(state: &RestState) -> FetchRules {
    FetchRules {
        timeout: std::time::Duration::from_secs(10),
        max_bytes: 1024 * 1024,
        allow_private: state.config.apim.key_manager.allow_private_discovery_urls,
        setting: "[apim.key_manager] allow_private_discovery_urls",
    }
}

/// `POST /key-managers/discover` (multipart `url`, `type`): the identity provider's OpenID
/// configuration (its well-known endpoint) read into a key manager to create, as WSO2's
/// `KeyManagerWellKnownResponse`. `valid` is false, with the `reason` (Portico's addition),
/// when the document cannot be fetched (a non-public address is refused unless
/// `[apim.key_manager] allow_private_discovery_urls`) or lacks `issuer` or `jwks_uri`; a missing or non-http(s)
/// `url` is a 400 naming it.
pub async fn discover(
    auth: Auth,
    State(state): State<RestState>,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            format!("Send multipart/form-data with the `url` (and `type`) parts: {e}"),
        )
    })?;
    let (mut url, mut kind) = (None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("The multipart body is malformed: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let text = field
            .text()
            .await
            .map_err(|e| ApiError::bad_request(format!("Cannot read the multipart part `{name}`: {e}")))?;
        match name.as_str() {
            "url" => url = Some(text.trim().to_owned()).filter(|u| !u.is_empty()),
            "type" => kind = Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
            _ => {}
        }
    }
    let url = url.ok_or_else(|| invalid("url", "is required: the identity provider's well-known endpoint"))?;
    http_url("url", &url)?;
    let document = match fetch_text(&url, &discovery_rules(&state)).await {
        Ok(text) => text,
        Err(e) => return Ok(Json(json!({"valid": false, "reason": e.description}))),
    };
    let config = match serde_json::from_str::<Value>(&document) {
        Ok(Value::Object(config)) => config,
        _ => {
            return Ok(Json(
                json!({"valid": false, "reason": format!("{url} did not answer a JSON object")}),
            ));
        }
    };
    let text = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (issuer, jwks_uri) = (text("issuer"), text("jwks_uri"));
    if issuer.is_empty() || jwks_uri.is_empty() {
        return Ok(Json(json!({
            "valid": false,
            "reason": format!("{url} is not an OpenID configuration: it lacks `issuer` or `jwks_uri`"),
        })));
    }
    // WSO2 4.x lists the provider's endpoints by their OpenID names too.
    let endpoints: Vec<Value> = [
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "userinfo_endpoint",
        "authorization_endpoint",
        "registration_endpoint",
    ]
    .into_iter()
    .filter(|name| !text(name).is_empty())
    .map(|name| json!({"name": name, "value": text(name)}))
    .collect();
    let grant_types = config
        .get("grant_types_supported")
        .filter(|v| v.is_array())
        .cloned()
        .unwrap_or_else(|| json!([]));
    Ok(Json(json!({
        "valid": true,
        "value": {
            "type": kind.unwrap_or_else(|| "default".to_owned()),
            "wellKnownEndpoint": url,
            "issuer": issuer,
            "certificates": {"type": "JWKS", "value": jwks_uri},
            "tokenEndpoint": text("token_endpoint"),
            "displayTokenEndpoint": text("token_endpoint"),
            "revokeEndpoint": text("revocation_endpoint"),
            "displayRevokeEndpoint": text("revocation_endpoint"),
            "introspectionEndpoint": text("introspection_endpoint"),
            "userInfoEndpoint": text("userinfo_endpoint"),
            "authorizeEndpoint": text("authorization_endpoint"),
            "clientRegistrationEndpoint": text("registration_endpoint"),
            "scopeManagementEndpoint": "",
            "endpoints": endpoints,
            "availableGrantTypes": grant_types,
            "consumerKeyClaim": "azp",
            "scopesClaim": "scope",
            "enableTokenGeneration": false,
            "enableMapOAuthConsumerApps": true,
            "enableOAuthAppCreation": false,
            "enableSelfValidationJWT": true,
            "tokenType": "DIRECT",
            "enabled": true,
            "additionalProperties": {"self_validate_jwt": true},
        },
    })))
}

/// A stored key manager, or 404.
async fn stored(state: &RestState, id: &str) -> Result<KeyManagerRow, ApiError> {
    state
        .store
        .find_key_manager(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Key Manager {id} not found")))
}

/// `GET /key-managers` (Admin): the resident key manager and every stored one.
pub async fn admin_list(auth: Auth, State(state): State<RestState>) -> Result<Json<Value>, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    let used = state.store.key_mapping_counts().await?;
    let is_used = |name: &str| used.iter().any(|(km, n)| km == name && *n > 0);
    let mut list = vec![admin_info(&resident_json(&state), is_used(RESIDENT_KEY_MANAGER))];
    for row in configured_key_managers(&state.config)
        .into_iter()
        .chain(state.store.list_key_managers().await?)
    {
        list.push(admin_info(&km_json(&row), is_used(&row.name)));
    }
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// `POST /key-managers`: 201 with the key manager; a name or issuer in use is 409.
pub async fn create(
    auth: Auth,
    State(state): State<RestState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    let body = json_body(&headers, &body)?;
    let new = key_manager_input(&state, &body, None)?;
    if new.name == RESIDENT_KEY_MANAGER {
        return Err(ApiError::conflict(format!(
            "key manager `{RESIDENT_KEY_MANAGER}` already exists"
        )));
    }
    check_not_configured(&state, &new)?;
    let row = state.store.create_key_manager(&new).await?;
    Ok((StatusCode::CREATED, Json(km_json(&row))).into_response())
}

/// `GET /key-managers/{keyManagerId}`.
pub async fn get_one(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    if id == resident_id() {
        return Ok(Json(resident_json(&state)));
    }
    if let Some(row) = configured(&state, |k| k.id == id) {
        return Ok(Json(km_json(&row)));
    }
    Ok(Json(km_json(&stored(&state, &id).await?)))
}

/// `PUT /key-managers/{keyManagerId}`: replaces everything but the name; the resident key
/// manager is read-only (400).
pub async fn update(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(MANAGE_SCOPES)?;
    if id == resident_id() {
        return Err(ApiError::bad_request(format!(
            "The {RESIDENT_KEY_MANAGER} is this node's own Key Manager; its settings come from deployment.toml"
        )));
    }
    if let Some(row) = configured(&state, |k| k.id == id) {
        return Err(ApiError::bad_request(format!(
            "Key manager \"{}\" is defined in deployment.toml ([[apim.jwt.issuer]]); change it there",
            row.name
        )));
    }
    let current = stored(&state, &id).await?;
    let mut body = json_body(&headers, &body)?;
    // A body read back from GET carries the masked secret: keep the stored one.
    if let Some(secret) = body
        .get_mut("additionalProperties")
        .and_then(|p| p.get_mut("client_secret"))
        .filter(|s| s.as_str() == Some(MASKED_SECRET))
    {
        *secret = json!(current.settings().client_secret);
    }
    let new = key_manager_input(&state, &body, Some(&current.name))?;
    check_not_configured(&state, &new)?;
    let row = state.store.update_key_manager(&id, &new).await?;
    Ok(Json(km_json(&row)))
}

/// `DELETE /key-managers/{keyManagerId}`: 200; refused (412, WSO2's 902015) for the resident key
/// manager and for one whose keys applications still hold.
pub async fn delete(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(DELETE_SCOPES)?;
    let refused = |description: String| ApiError {
        code: KEY_MANAGER_DELETE_FAILED,
        ..ApiError::new(StatusCode::PRECONDITION_FAILED, "Key Manager Delete error", description)
    };
    if id == resident_id() {
        return Err(refused(format!(
            "Error while deleting the Key Manager. {RESIDENT_KEY_MANAGER} couldn't delete"
        )));
    }
    if let Some(row) = configured(&state, |k| k.id == id) {
        return Err(refused(format!(
            "Error while deleting the Key Manager. {} is defined in deployment.toml ([[apim.jwt.issuer]])",
            row.name
        )));
    }
    match state.store.delete_key_manager(&id).await {
        Ok(()) => Ok(StatusCode::OK),
        Err(portico_store::StoreError::InUse(what)) => Err(refused(format!(
            "Error while deleting the Key Manager. Key Manager is already used by an Application: {what}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `GET /key-managers` (DevPortal): the enabled key managers, the resident one first.
pub async fn devportal_list(auth: Auth, State(state): State<RestState>) -> Result<Json<Value>, ApiError> {
    auth.require_any(&["apim:subscribe"])?;
    let mut list = vec![devportal_info(&resident_json(&state))];
    for row in configured_key_managers(&state.config)
        .into_iter()
        .chain(state.store.list_key_managers().await?)
    {
        if row.enabled {
            list.push(devportal_info(&km_json(&row)));
        }
    }
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// The enabled key manager a DevPortal request names (by name, or by id as WSO2's UI may send),
/// or 400 naming it.
pub(crate) async fn enabled_external(state: &RestState, name: &str) -> Result<KeyManagerRow, ApiError> {
    let row = match configured(state, |k| k.name == name || k.id == name) {
        Some(row) => Some(row),
        None => match state.store.find_key_manager_by_name(name).await? {
            Some(row) => Some(row),
            None => state.store.find_key_manager(name).await?,
        },
    };
    match row {
        Some(row) if row.enabled => Ok(row),
        Some(row) => Err(invalid(
            "keyManager",
            format!("key manager \"{}\" is disabled", row.name),
        )),
        None => Err(invalid("keyManager", format!("unknown key manager \"{name}\""))),
    }
}
