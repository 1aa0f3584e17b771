//! An application's OAuth keys: clients of the node's own Key Manager (`generate-keys`,
//! `oauth-keys/...`) and client ids of external key managers (`map-keys`); and API keys
//! (`api-keys/{keyType}/generate|revoke`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use portico_apis::InputError;
use portico_apis::input::{coerce_enum, coerce_i64, coerce_string_list, get};
use portico_keymanager::oauth::WSO2_GRANT_TYPES;
use portico_keymanager::{OAuthError, Principal, TokenRequest};
use portico_store::{
    ApplicationRow, KeyMappingRow, NewKeyMapping, NewMappedKey, NewOAuthClient, RESIDENT_KEY_MANAGER, RevokedToken,
    SubscriptionFilter,
};
use serde_json::{Map, Value, json};

use super::access::{API_KEY_SCOPES, APP_SCOPES, own_application};
use super::fields::{body_object, json_column, optional_object, optional_string, required_string};
use crate::auth::Auth;
use crate::common::api_rows::api_of;
use crate::common::body::json_body;
use crate::error::{ApiError, input_error};
use crate::key_managers::enabled_external;
use crate::state::RestState;

const KEY_TYPES: &[&str] = &["PRODUCTION", "SANDBOX"];
/// Token lifetime when a request names none (seconds).
const DEFAULT_VALIDITY: i64 = 3600;
/// "No expiry" API keys are revoked until this long after their issue.
const HUNDRED_YEARS_SECONDS: i64 = 100 * 365 * 24 * 3600;

/// A Key Manager error as a REST answer.
fn oauth_error(e: OAuthError) -> ApiError {
    match e {
        OAuthError::Store(e) => e.into(),
        OAuthError::Internal(e) => {
            tracing::error!(error = %e, "key manager failed");
            ApiError::internal("The Key Manager failed; the server log has the details")
        }
        OAuthError::InvalidClient(m) => ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "Unauthorized", m),
        OAuthError::NotFound(m) => ApiError::not_found(m),
        OAuthError::Forbidden(m) => ApiError::new(axum::http::StatusCode::FORBIDDEN, "Forbidden", m),
        other => ApiError::bad_request(other.to_string()),
    }
}

/// WSO2's `ApplicationToken`.
fn token_json(access_token: &str, scope: &str, validity: i64) -> Value {
    json!({
        "accessToken": access_token,
        "tokenScopes": scope.split_whitespace().collect::<Vec<_>>(),
        "validityTime": validity,
    })
}

/// WSO2's `ApplicationKey`.
pub(super) fn key_json(mapping: &KeyMappingRow, secret: Option<&str>, token: Value) -> Value {
    json!({
        "keyMappingId": mapping.id,
        "keyManager": mapping.key_manager,
        "consumerKey": mapping.client_id,
        "consumerSecret": secret,
        "supportedGrantTypes": mapping.grant_types.split_whitespace().collect::<Vec<_>>(),
        "callbackUrl": mapping.callback_url,
        "keyState": "COMPLETED",
        "keyType": mapping.key_type,
        "mode": mapping.mode,
        "groupId": null,
        "token": token,
        "additionalProperties": json_column(&mapping.additional_properties, json!({})),
    })
}

/// Grant types of a request: space-free, no control characters, deduplicated.
fn grant_list(value: &Value, field: &str) -> Result<Option<Vec<String>>, ApiError> {
    let Some(list) = coerce_string_list(value, field).map_err(input_error)? else {
        return Ok(None);
    };
    let mut out: Vec<String> = Vec::new();
    for (i, g) in list.iter().enumerate() {
        let g = g.trim();
        if !WSO2_GRANT_TYPES.contains(&g) {
            return Err(input_error(InputError::new(
                format!("{field}[{i}]"),
                format!("\"{g}\" is not a grant type (one of: {})", WSO2_GRANT_TYPES.join(", ")),
            )));
        }
        if !out.iter().any(|o| o == g) {
            out.push(g.to_owned());
        }
    }
    Ok(Some(out))
}

fn scope_list(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    Ok(coerce_string_list(get(obj, field), field)
        .map_err(input_error)?
        .map(|l| l.join(" ")))
}

/// Issues a client_credentials token for a mapping's client.
async fn client_token(
    state: &RestState,
    client_id: &str,
    scope: &str,
    validity: i64,
) -> Result<(String, String, i64), ApiError> {
    let client = state
        .store
        .find_oauth_client(client_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("OAuth client {client_id} not found")))?;
    let validity = if validity > 0 { validity } else { DEFAULT_VALIDITY };
    let response = state
        .oauth
        .token(
            &client,
            &TokenRequest {
                grant_type: "client_credentials".into(),
                scope: Some(scope.to_owned()).filter(|s| !s.is_empty()),
                validity_period: Some(validity),
                ..TokenRequest::default()
            },
        )
        .await
        .map_err(oauth_error)?;
    Ok((response.access_token, response.scope, response.expires_in))
}

/// `POST /applications/{applicationId}/generate-keys`.
pub async fn generate(
    auth: Auth,
    State(state): State<RestState>,
    Path(application_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let app = own_application(&state, caller, &application_id).await?;
    let body = json_body(&headers, &body)?;
    let obj = body_object(&body)?;
    let key_type = required_key_type(obj)?;
    let grants = grant_list(get(obj, "grantTypesToBeSupported"), "grantTypesToBeSupported")?
        .filter(|g| !g.is_empty())
        .ok_or_else(|| {
            input_error(InputError::new(
                "grantTypesToBeSupported",
                "must name at least one grant type",
            ))
        })?;
    check_key_manager(obj)?;
    let callback_url = optional_string(obj, "callbackUrl")?
        .unwrap_or_default()
        .trim()
        .to_owned();
    let scopes = scope_list(obj, "scopes")?.unwrap_or_else(|| "default".into());
    let validity = coerce_i64(get(obj, "validityTime"), "validityTime")
        .map_err(input_error)?
        .filter(|v| *v > 0)
        .unwrap_or(DEFAULT_VALIDITY);
    let additional = optional_object(obj, "additionalProperties")?.unwrap_or_default();
    let (client_id, secret, secret_hash) = state.oauth.new_client_credentials();
    let mapping = state
        .store
        .create_key_mapping(&NewKeyMapping {
            id: uuid::Uuid::new_v4().to_string(),
            application_id: app.id.clone(),
            key_type: key_type.clone(),
            key_manager: RESIDENT_KEY_MANAGER.into(),
            additional_properties: Value::Object(additional).to_string(),
            scopes: scopes.clone(),
            validity_time: validity,
            client: NewOAuthClient {
                client_id,
                secret_hash,
                client_name: format!("{}_{}_{}", app.owner, app.id, key_type),
                owner_id: caller.user_id.clone(),
                grant_types: grants.join(" "),
                callback_url,
                key_type,
                saas_app: false,
            },
        })
        .await?;
    let token = if grants.iter().any(|g| g == "client_credentials") {
        let (access, scope, expires) = client_token(&state, &mapping.client_id, &scopes, validity).await?;
        token_json(&access, &scope, expires)
    } else {
        token_json("", "", validity)
    };
    Ok(Json(key_json(&mapping, Some(&secret), token)))
}

/// True when a request's `keyManager` (absent, blank, the name or `default`) is the node's own.
fn names_resident(key_manager: Option<&str>) -> bool {
    matches!(
        key_manager.map(str::trim),
        None | Some("") | Some(RESIDENT_KEY_MANAGER) | Some("default") | Some("Default")
    )
}

/// generate-keys creates clients of the node's own Key Manager only; an external key manager's
/// clients are created at the identity provider and mapped (`map-keys`).
fn check_key_manager(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let named = optional_string(obj, "keyManager")?;
    if names_resident(named.as_deref()) {
        return Ok(());
    }
    Err(input_error(InputError::new(
        "keyManager",
        format!(
            "\"{}\" is not the {RESIDENT_KEY_MANAGER}: create the client at that identity provider and map it with POST /applications/{{applicationId}}/map-keys",
            named.unwrap_or_default()
        ),
    )))
}

/// Keys of an external key manager are managed at its identity provider: this node issues no
/// tokens and keeps no secret for them.
/// The body's `keyType`: required, `PRODUCTION` or `SANDBOX`.
fn required_key_type(obj: &serde_json::Map<String, Value>) -> Result<String, ApiError> {
    coerce_enum(get(obj, "keyType"), "keyType", KEY_TYPES)
        .map_err(input_error)?
        .ok_or_else(|| input_error(InputError::new("keyType", "is required")))
}

fn resident_only(mapping: &KeyMappingRow, what: &str) -> Result<(), ApiError> {
    if mapping.is_resident() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "{what} is not available for keys of key manager \"{}\": its identity provider issues their tokens and secrets",
        mapping.key_manager
    )))
}

/// `POST /applications/{applicationId}/map-keys`: ties a client id of an external key manager to
/// the application's key type (WSO2's "provide existing OAuth keys"). The consumer secret is
/// checked by the identity provider, never stored here.
pub async fn map_keys(
    auth: Auth,
    State(state): State<RestState>,
    Path(application_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let app = own_application(&state, caller, &application_id).await?;
    let body = json_body(&headers, &body)?;
    let obj = body_object(&body)?;
    let consumer_key = required_string(obj, "consumerKey")?;
    if consumer_key.len() > 512 || consumer_key.chars().any(char::is_control) {
        return Err(input_error(InputError::new(
            "consumerKey",
            "must be at most 512 characters without control characters",
        )));
    }
    let secret = optional_string(obj, "consumerSecret")?;
    let key_type = required_key_type(obj)?;
    let named = optional_string(obj, "keyManager")?;
    if names_resident(named.as_deref()) {
        return Err(input_error(InputError::new(
            "keyManager",
            format!(
                "mapping existing clients of the {RESIDENT_KEY_MANAGER} is not supported; use generate-keys, or name an external key manager"
            ),
        )));
    }
    let key_manager = enabled_external(&state, named.as_deref().unwrap_or_default().trim()).await?;
    let additional = optional_object(obj, "additionalProperties")?.unwrap_or_default();
    let mapping = state
        .store
        .create_mapped_key(&NewMappedKey {
            id: uuid::Uuid::new_v4().to_string(),
            application_id: app.id.clone(),
            key_type,
            key_manager: key_manager.name.clone(),
            client_id: consumer_key,
            additional_properties: Value::Object(additional).to_string(),
        })
        .await?;
    Ok(Json(key_json(&mapping, secret.as_deref(), Value::Null)))
}

/// `GET /applications/{applicationId}/keys/{keyType}`: the application's keys of that type (of
/// the resident key manager when it has those, else the first external ones).
pub async fn get_of_type(
    auth: Auth,
    State(state): State<RestState>,
    Path((application_id, key_type)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let key_type = path_key_type(&key_type)?;
    let app = own_application(&state, caller, &application_id).await?;
    let mappings = state.store.list_key_mappings(&app.id).await?;
    let mut of_type: Vec<&KeyMappingRow> = mappings.iter().filter(|m| m.key_type == key_type).collect();
    of_type.sort_by_key(|m| !m.is_resident());
    let mapping = of_type
        .first()
        .ok_or_else(|| ApiError::not_found(format!("Application {application_id} has no {key_type} keys")))?;
    Ok(Json(key_json(mapping, None, Value::Null)))
}

async fn own_mapping(
    state: &RestState,
    caller: &Principal,
    application_id: &str,
    mapping_id: &str,
) -> Result<(ApplicationRow, KeyMappingRow), ApiError> {
    let app = own_application(state, caller, application_id).await?;
    let mapping = state
        .store
        .find_key_mapping(&app.id, mapping_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Key mapping {mapping_id} of application {application_id} not found"
            ))
        })?;
    Ok((app, mapping))
}

/// `GET /applications/{applicationId}/oauth-keys`.
pub async fn list(
    auth: Auth,
    State(state): State<RestState>,
    Path(application_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let app = own_application(&state, caller, &application_id).await?;
    let list: Vec<Value> = state
        .store
        .list_key_mappings(&app.id)
        .await?
        .iter()
        .map(|m| key_json(m, None, Value::Null))
        .collect();
    Ok(Json(json!({ "count": list.len(), "list": list })))
}

/// `GET /applications/{applicationId}/oauth-keys/{keyMappingId}`.
pub async fn get_one(
    auth: Auth,
    State(state): State<RestState>,
    Path((application_id, mapping_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let (_, mapping) = own_mapping(&state, caller, &application_id, &mapping_id).await?;
    Ok(Json(key_json(&mapping, None, Value::Null)))
}

/// `PUT /applications/{applicationId}/oauth-keys/{keyMappingId}`: grant types, callback URL and
/// additional properties.
pub async fn update(
    auth: Auth,
    State(state): State<RestState>,
    Path((application_id, mapping_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let (_, mapping) = own_mapping(&state, caller, &application_id, &mapping_id).await?;
    let body = json_body(&headers, &body)?;
    let obj = body_object(&body)?;
    let grants = match grant_list(get(obj, "supportedGrantTypes"), "supportedGrantTypes")? {
        Some(g) if g.is_empty() => {
            return Err(input_error(InputError::new(
                "supportedGrantTypes",
                "must name at least one grant type",
            )));
        }
        Some(g) => g.join(" "),
        None => mapping.grant_types.clone(),
    };
    let callback = optional_string(obj, "callbackUrl")?
        .map(|c| c.trim().to_owned())
        .unwrap_or_else(|| mapping.callback_url.clone());
    let additional = match optional_object(obj, "additionalProperties")? {
        Some(m) => Value::Object(m).to_string(),
        None => mapping.additional_properties.clone(),
    };
    state
        .store
        .update_key_mapping(&mapping, &grants, &callback, &additional)
        .await?;
    if mapping.is_resident() {
        state.oauth.forget_client(&mapping.client_id);
    }
    let (_, mapping) = own_mapping(&state, caller, &application_id, &mapping_id).await?;
    Ok(Json(key_json(&mapping, None, Value::Null)))
}

/// `POST .../oauth-keys/{keyMappingId}/generate-token`: a client_credentials token.
pub async fn generate_token(
    auth: Auth,
    State(state): State<RestState>,
    Path((application_id, mapping_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let (_, mapping) = own_mapping(&state, caller, &application_id, &mapping_id).await?;
    resident_only(&mapping, "generate-token")?;
    let body = if body.is_empty() {
        json!({})
    } else {
        json_body(&headers, &body)?
    };
    let obj = body_object(&body)?;
    let grant = coerce_enum(
        get(obj, "grantType"),
        "grantType",
        &["CLIENT_CREDENTIALS", "TOKEN_EXCHANGE"],
    )
    .map_err(input_error)?;
    if grant.as_deref() == Some("TOKEN_EXCHANGE") {
        return Err(input_error(InputError::new(
            "grantType",
            "TOKEN_EXCHANGE is not supported; use CLIENT_CREDENTIALS",
        )));
    }
    if let Some(secret) = optional_string(obj, "consumerSecret")?.filter(|s| !s.is_empty()) {
        state
            .oauth
            .authenticate_client(&mapping.client_id, &secret)
            .await
            .map_err(oauth_error)?;
    }
    let validity = coerce_i64(get(obj, "validityPeriod"), "validityPeriod")
        .map_err(input_error)?
        .filter(|v| *v > 0)
        .unwrap_or(mapping.validity_time);
    let scopes = scope_list(obj, "scopes")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| mapping.scopes.clone());
    if let Some(old) = optional_string(obj, "revokeToken")?.filter(|t| !t.is_empty()) {
        let client = state
            .store
            .find_oauth_client(&mapping.client_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("OAuth client {} not found", mapping.client_id)))?;
        state.oauth.revoke(&client, &old).await.map_err(oauth_error)?;
    }
    let (access, scope, expires) = client_token(&state, &mapping.client_id, &scopes, validity).await?;
    Ok(Json(token_json(&access, &scope, expires)))
}

/// `POST .../oauth-keys/{keyMappingId}/regenerate-secret`: a new secret; the old one and every
/// token issued so far stop working.
pub async fn regenerate_secret(
    auth: Auth,
    State(state): State<RestState>,
    Path((application_id, mapping_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let (_, mapping) = own_mapping(&state, caller, &application_id, &mapping_id).await?;
    resident_only(&mapping, "regenerate-secret")?;
    let secret = state
        .oauth
        .regenerate_client_secret(&mapping.client_id)
        .await
        .map_err(oauth_error)?;
    Ok(Json(
        json!({ "consumerKey": mapping.client_id, "consumerSecret": secret }),
    ))
}

/// `POST .../oauth-keys/{keyMappingId}/clean-up` (and `DELETE .../{keyMappingId}`): removes the
/// key mapping and its client; the client's tokens stop working.
pub async fn clean_up(
    auth: Auth,
    State(state): State<RestState>,
    Path((application_id, mapping_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let caller = auth.require_any(APP_SCOPES)?;
    let (_, mapping) = own_mapping(&state, caller, &application_id, &mapping_id).await?;
    state.store.delete_key_mapping(&mapping).await?;
    if mapping.is_resident() {
        state.oauth.revoke_client_tokens(&mapping.client_id).await?;
    }
    Ok(StatusCode::OK)
}

fn path_key_type(key_type: &str) -> Result<String, ApiError> {
    coerce_enum(&Value::String(key_type.to_owned()), "keyType", KEY_TYPES)
        .map_err(input_error)?
        .ok_or_else(|| input_error(InputError::new("keyType", "is required")))
}

/// The gateway's context of an API: its context with `{version}` substituted, or
/// `<context>/<version>`.
fn versioned_context(context: &str, version: &str) -> String {
    if context.contains("{version}") {
        context.replace("{version}", version)
    } else {
        format!("{}/{version}", context.trim_end_matches('/'))
    }
}

/// `POST /applications/{applicationId}/api-keys/{keyType}/generate`: a JWT API key signed by the
/// primary key, in WSO2's format.
pub async fn generate_api_key(
    auth: Auth,
    State(state): State<RestState>,
    Path((application_id, key_type)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(API_KEY_SCOPES)?;
    let key_type = path_key_type(&key_type)?;
    let app = own_application(&state, caller, &application_id).await?;
    let body = if body.is_empty() {
        json!({})
    } else {
        json_body(&headers, &body)?
    };
    let obj = body_object(&body)?;
    let validity = coerce_i64(get(obj, "validityPeriod"), "validityPeriod")
        .map_err(input_error)?
        .unwrap_or(-1);
    if validity < -1 {
        return Err(input_error(InputError::new(
            "validityPeriod",
            "must be a positive number of seconds, or -1 or 0 for no expiry",
        )));
    }
    let key_name = optional_string(obj, "keyName")?;
    optional_object(obj, "additionalProperties")?;
    let filter = SubscriptionFilter {
        application_id: Some(app.id.clone()),
        ..SubscriptionFilter::default()
    };
    let (subscriptions, _) = state.store.find_subscriptions(&filter, 100_000, 0).await?;
    let mut subscribed = Vec::new();
    for s in &subscriptions {
        let Some(row) = state.store.find_api(&s.api_id).await? else {
            continue;
        };
        let api = api_of(&row)?;
        subscribed.push(json!({
            "name": api.name,
            "context": versioned_context(&api.context, &api.version),
            "version": api.version,
            "publisher": api.provider,
            "subscriptionTier": s.throttling_policy,
            "subscriberTenantDomain": "carbon.super",
        }));
    }
    let signer = &state.oauth.validator().signer;
    let iat = portico_keymanager::jwt::now_seconds();
    let mut claims = json!({
        "sub": app.owner,
        "iss": state.oauth.settings().issuer,
        "iat": iat,
        "jti": uuid::Uuid::new_v4().to_string(),
        "token_type": "apiKey",
        "keytype": key_type,
        "application": {
            "id": app.id,
            "uuid": app.id,
            "name": app.name,
            "owner": app.owner,
            "tier": app.throttling_policy,
        },
        "subscribedAPIs": subscribed,
        "tierInfo": {},
        "permittedIP": "",
        "permittedReferer": "",
    });
    if validity > 0 {
        claims["exp"] = json!(iat.saturating_add(validity));
    }
    let apikey = signer.sign_value(&claims).map_err(|e| {
        tracing::error!(error = %e, "cannot sign an API key");
        ApiError::internal("Cannot sign the API key; the server log has the details")
    })?;
    Ok(Json(json!({
        "keyName": key_name,
        "apikey": apikey,
        "validityTime": if validity > 0 { validity } else { -1 },
    })))
}

/// `POST /applications/{applicationId}/api-keys/{keyType}/revoke`: the key's `jti` joins the
/// revoked tokens (and the change feed).
pub async fn revoke_api_key(
    auth: Auth,
    State(state): State<RestState>,
    Path((application_id, key_type)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let caller = auth.require_any(API_KEY_SCOPES)?;
    let key_type = path_key_type(&key_type)?;
    let app = own_application(&state, caller, &application_id).await?;
    let body = json_body(&headers, &body)?;
    let obj = body_object(&body)?;
    let apikey = required_string(obj, "apikey")?;
    let invalid = |why: &str| input_error(InputError::new("apikey", why.to_owned()));
    let claims = state
        .oauth
        .validator()
        .signer
        .verify_value(&apikey)
        .map_err(|e| invalid(&format!("is not a valid API key of this server: {e}")))?;
    if claims["token_type"] != "apiKey" {
        return Err(invalid("is not an API key"));
    }
    if claims["application"]["uuid"] != app.id.as_str() || claims["keytype"] != key_type.as_str() {
        return Err(invalid(&format!(
            "is not a {key_type} API key of application {}",
            app.id
        )));
    }
    let jti = claims["jti"].as_str().ok_or_else(|| invalid("has no jti"))?.to_owned();
    let iat = claims["iat"]
        .as_i64()
        .unwrap_or_else(portico_keymanager::jwt::now_seconds);
    let exp = claims["exp"]
        .as_i64()
        .unwrap_or_else(|| iat.saturating_add(HUNDRED_YEARS_SECONDS));
    let revoked = [RevokedToken {
        jti,
        expires_at: exp.saturating_mul(1000),
    }];
    state.store.revoke_access_tokens(&revoked).await?;
    state.oauth.validator().revocations.revoke(&revoked);
    Ok(StatusCode::OK)
}
