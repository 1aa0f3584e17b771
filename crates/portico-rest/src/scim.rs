//! SCIM 2.0 users and groups (`/scim2/Users`, `/scim2/Groups`) for admins. The groups are the four
//! roles under WSO2's names (`admin`, `Internal/creator`, ...); membership is the user's roles.
//! Deleting a user, removing a role or changing a password invalidates the user's tokens.

use std::collections::BTreeSet;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use portico_store::{NewUser, Role, StoreError, User};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::common::ids::stable_id;
use crate::common::time::rfc3339;
use crate::error::ApiError;
use crate::state::RestState;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const SCIM_JSON: &str = "application/scim+json";
/// Scopes that may manage users (any one suffices).
const USER_ADMIN_SCOPES: &[&str] = &["apim:admin", "apim:role_manage"];
/// Upper bound on users read when listing group members.
const MAX_USERS: i64 = 100_000;

pub fn routes() -> Router<RestState> {
    Router::new()
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/{id}", get(get_user).patch(patch_user).delete(delete_user))
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/{id}", get(get_group).patch(patch_group).delete(delete_group))
}

/// A SCIM error answer (RFC 7644 §3.12).
pub struct ScimError {
    status: StatusCode,
    detail: String,
    scim_type: Option<&'static str>,
}

impl ScimError {
    fn bad(detail: impl Into<String>, scim_type: &'static str) -> ScimError {
        ScimError {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
            scim_type: Some(scim_type),
        }
    }

    fn not_found(detail: impl Into<String>) -> ScimError {
        ScimError {
            status: StatusCode::NOT_FOUND,
            detail: detail.into(),
            scim_type: None,
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        scim(self.status, body)
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> ScimError {
        match &e {
            StoreError::Conflict(_) => ScimError {
                status: StatusCode::CONFLICT,
                detail: e.to_string(),
                scim_type: Some("uniqueness"),
            },
            StoreError::NotFound(_) => ScimError::not_found(e.to_string()),
            _ => {
                let api: ApiError = e.into();
                ScimError {
                    status: api.status,
                    detail: api.description,
                    scim_type: None,
                }
            }
        }
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> ScimError {
        ScimError {
            status: e.status,
            detail: e.description,
            scim_type: None,
        }
    }
}

fn scim(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

/// A group id that is the same on every node for the same role.
fn group_id(role: Role) -> String {
    stable_id(&format!("portico-role:{}", role.as_str()))
}

fn role_by_group_ref(value: &str) -> Option<Role> {
    Role::ALL
        .into_iter()
        .find(|r| group_id(*r) == value)
        .or_else(|| value.parse().ok())
}

fn base_url(state: &RestState) -> String {
    format!(
        "https://{}:{}/scim2",
        state.config.server.hostname,
        state.config.ports().management_https
    )
}

fn user_json(state: &RestState, user: &User) -> Value {
    let base = base_url(state);
    let groups: Vec<Value> = user
        .roles
        .iter()
        .map(|r| {
            let id = group_id(*r);
            json!({ "value": id, "display": r.wso2_name(), "$ref": format!("{base}/Groups/{id}") })
        })
        .collect();
    let roles: Vec<Value> = user
        .roles
        .iter()
        .map(|r| json!({ "value": r.wso2_name(), "display": r.wso2_name() }))
        .collect();
    json!({
        "schemas": [USER_SCHEMA],
        "id": user.id,
        "userName": user.username,
        "groups": groups,
        "roles": roles,
        "meta": {
            "resourceType": "User",
            "created": rfc3339(user.created_at),
            "lastModified": rfc3339(user.updated_at),
            "location": format!("{base}/Users/{}", user.id),
        },
    })
}

fn group_json(state: &RestState, role: Role, users: &[User]) -> Value {
    let base = base_url(state);
    let id = group_id(role);
    let members: Vec<Value> = users
        .iter()
        .filter(|u| u.roles.contains(&role))
        .map(|u| json!({ "value": u.id, "display": u.username, "$ref": format!("{base}/Users/{}", u.id) }))
        .collect();
    json!({
        "schemas": [GROUP_SCHEMA],
        "id": id,
        "displayName": role.wso2_name(),
        "members": members,
        "meta": { "resourceType": "Group", "location": format!("{base}/Groups/{id}") },
    })
}

fn list_json(resources: Vec<Value>, total: usize, start: usize) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
}

/// Parses `<attribute> eq "value"` (the one filter form served), case-insensitive on the operator.
fn eq_filter(filter: &str, attribute: &str) -> Result<String, ScimError> {
    let unsupported = || {
        ScimError::bad(
            format!("Unsupported filter `{filter}`; use {attribute} eq \"value\""),
            "invalidFilter",
        )
    };
    let mut parts = filter.trim().splitn(3, ' ');
    let (Some(attr), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unsupported());
    };
    if !attr.eq_ignore_ascii_case(attribute) || !op.eq_ignore_ascii_case("eq") {
        return Err(unsupported());
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(unsupported)?;
    Ok(value.to_owned())
}

async fn list_users(
    auth: Auth,
    State(state): State<RestState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ScimError> {
    auth.require_any(USER_ADMIN_SCOPES)?;
    let start = query.start_index.unwrap_or(1).max(1);
    let count = query.count.unwrap_or(100).clamp(0, 1000);
    let users = match &query.filter {
        Some(filter) => {
            let name = eq_filter(filter, "userName")?;
            state.store.find_user(&name).await?.into_iter().collect::<Vec<_>>()
        }
        None => state.store.list_users(count, start - 1).await?,
    };
    let total = if query.filter.is_some() {
        users.len()
    } else {
        // Cheap enough for the user counts of an API manager; exact for the client's paging.
        state.store.list_users(MAX_USERS, 0).await?.len()
    };
    let resources = users.iter().map(|u| user_json(&state, u)).collect();
    Ok(scim(
        StatusCode::OK,
        list_json(resources, total, usize::try_from(start).unwrap_or(1)),
    ))
}

async fn find_user(state: &RestState, id: &str) -> Result<User, ScimError> {
    state
        .store
        .find_user_by_id(id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("No user with id `{id}`")))
}

async fn get_user(auth: Auth, State(state): State<RestState>, Path(id): Path<String>) -> Result<Response, ScimError> {
    auth.require_any(USER_ADMIN_SCOPES)?;
    let user = find_user(&state, &id).await?;
    Ok(scim(StatusCode::OK, user_json(&state, &user)))
}

/// Roles named in a SCIM value: `[{"value": "<group id or role>"}]`, `[{"display": ...}]` or strings.
fn roles_from(value: &Value, field: &str) -> Result<Vec<Role>, ScimError> {
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    let mut roles = Vec::new();
    for item in &items {
        let name = match item {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o
                .get("value")
                .and_then(Value::as_str)
                .or_else(|| o.get("display").and_then(Value::as_str)),
            _ => None,
        };
        let role = name.and_then(role_by_group_ref).ok_or_else(|| {
            ScimError::bad(
                format!(
                    "{field}: `{item}` is not a role; use admin, Internal/creator, Internal/publisher or Internal/subscriber (or a group id)"
                ),
                "invalidValue",
            )
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

fn check_username(name: &str) -> Result<(), ScimError> {
    if name.is_empty() || name.len() > 100 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ScimError::bad(
            format!("userName `{name}` must be 1 to 100 characters without spaces"),
            "invalidValue",
        ));
    }
    Ok(())
}

/// WSO2's default policy (5 to 30 characters; longer is allowed here), and in production mode
/// the password policy of `portico_keymanager::policy_violation`.
fn check_password(state: &RestState, username: &str, password: &str) -> Result<(), ScimError> {
    if password.chars().count() < 5 || password.len() > 1024 {
        return Err(ScimError::bad(
            "password must be at least 5 characters (and at most 1024 bytes)",
            "invalidValue",
        ));
    }
    if state.config.server.mode == portico_config::Mode::Production
        && let Some(why) = portico_keymanager::policy_violation(username, password)
    {
        return Err(ScimError::bad(
            format!("password {why} (the password policy of production mode)"),
            "invalidValue",
        ));
    }
    Ok(())
}

async fn hash(password: String) -> Result<String, ScimError> {
    tokio::task::spawn_blocking(move || portico_keymanager::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ScimError::from(ApiError::internal(e.to_string())))
}

fn json_body(body: Result<Json<Value>, JsonRejection>) -> Result<Value, ScimError> {
    body.map(|Json(v)| v).map_err(|e| {
        ScimError::bad(
            format!("The body is not valid JSON: {}", e.body_text()),
            "invalidSyntax",
        )
    })
}

/// `POST /Users`: `{"userName", "password", "roles"|"groups": [...]}`.
async fn create_user(
    auth: Auth,
    State(state): State<RestState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ScimError> {
    auth.require_any(USER_ADMIN_SCOPES)?;
    let body = json_body(body)?;
    let username = body
        .get("userName")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::bad("userName is required", "invalidValue"))?
        .to_owned();
    check_username(&username)?;
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::bad("password is required", "invalidValue"))?
        .to_owned();
    check_password(&state, &username, &password)?;
    let mut roles = roles_from(body.get("roles").unwrap_or(&Value::Null), "roles")?;
    for r in roles_from(body.get("groups").unwrap_or(&Value::Null), "groups")? {
        if !roles.contains(&r) {
            roles.push(r);
        }
    }
    let user = state
        .store
        .create_user(&NewUser {
            username,
            password_hash: hash(password).await?,
            roles,
        })
        .await?;
    let body = user_json(&state, &user);
    let mut response = scim(StatusCode::CREATED, body);
    if let Ok(location) = HeaderValue::from_str(&format!("{}/Users/{}", base_url(&state), user.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `POST /api/identity/user/v1.0/me`: WSO2's self-registration, `{"user": {"username",
/// "password"}}`, open to anyone when `[apim.devportal] enable_self_signup` is on (404
/// otherwise). The account gets the `Internal/subscriber` role only, whatever the body asks;
/// the user name and password follow the same rules as `POST /Users`.
pub(crate) async fn self_register(
    State(state): State<RestState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ScimError> {
    if !state.config.apim.devportal.enable_self_signup {
        return Err(ScimError::not_found(
            "Self sign-up is off ([apim.devportal] enable_self_signup)",
        ));
    }
    let body = json_body(body)?;
    let user = body.get("user").unwrap_or(&Value::Null);
    let username = user
        .get("username")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::bad("userName is required", "invalidValue"))?
        .to_owned();
    check_username(&username)?;
    let password = user
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::bad("password is required", "invalidValue"))?
        .to_owned();
    check_password(&state, &username, &password)?;
    let created = state
        .store
        .create_user(&NewUser {
            username,
            password_hash: hash(password).await?,
            roles: vec![Role::Subscriber],
        })
        .await?;
    Ok(scim(StatusCode::CREATED, user_json(&state, &created)))
}

#[derive(Deserialize)]
struct PatchRequest {
    #[serde(rename = "Operations")]
    operations: Vec<PatchOperation>,
}

#[derive(Deserialize)]
struct PatchOperation {
    op: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    value: Value,
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Add,
    Replace,
    Remove,
}

fn op(name: &str) -> Result<Op, ScimError> {
    match name.to_ascii_lowercase().as_str() {
        "add" => Ok(Op::Add),
        "replace" => Ok(Op::Replace),
        "remove" => Ok(Op::Remove),
        _ => Err(ScimError::bad(
            format!("Unknown op `{name}`; use add, replace or remove"),
            "invalidSyntax",
        )),
    }
}

fn apply_roles(current: &mut BTreeSet<Role>, op: Op, roles: Vec<Role>) {
    match op {
        Op::Replace => *current = roles.into_iter().collect(),
        Op::Add => current.extend(roles),
        Op::Remove => current.retain(|r| !roles.contains(r)),
    }
}

/// `PATCH /Users/{id}`: password (`replace`), roles or groups (`add`, `replace`, `remove`).
async fn patch_user(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ScimError> {
    auth.require_any(USER_ADMIN_SCOPES)?;
    let body = json_body(body)?;
    let patch: PatchRequest = serde_json::from_value(body)
        .map_err(|e| ScimError::bad(format!("Not a SCIM PatchOp: {e}"), "invalidSyntax"))?;
    let user = find_user(&state, &id).await?;
    let old_roles: BTreeSet<Role> = user.roles.iter().copied().collect();
    let mut roles = old_roles.clone();
    let mut new_password: Option<String> = None;
    for operation in patch.operations {
        let op = op(&operation.op)?;
        // Without a path the value is an object of attributes.
        let pairs: Vec<(String, Value)> = match operation.path.as_deref().map(str::trim) {
            Some(path) => vec![(path.to_owned(), operation.value.clone())],
            None => match &operation.value {
                Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                _ => {
                    return Err(ScimError::bad(
                        "An operation without a path needs an object value",
                        "invalidSyntax",
                    ));
                }
            },
        };
        for (path, value) in pairs {
            match path.as_str() {
                "password" => {
                    if op == Op::Remove {
                        return Err(ScimError::bad("password cannot be removed", "mutability"));
                    }
                    let pw = value
                        .as_str()
                        .ok_or_else(|| ScimError::bad("password must be a string", "invalidValue"))?;
                    check_password(&state, &user.username, pw)?;
                    new_password = Some(pw.to_owned());
                }
                "roles" | "groups" => {
                    let list = roles_from(&value, &path)?;
                    apply_roles(&mut roles, op, list);
                }
                other => {
                    return Err(ScimError::bad(
                        format!("Cannot patch `{other}`; patchable attributes are password, roles and groups"),
                        "invalidPath",
                    ));
                }
            }
        }
    }
    let password_changed = new_password.is_some();
    if let Some(pw) = new_password {
        state.store.set_password_hash(&user.id, &hash(pw).await?).await?;
        // A reset also lifts the user's lock-out (the failures were against the old password).
        state.authenticator.password_reset(&user.username);
    }
    let lost_role = old_roles.iter().any(|r| !roles.contains(r));
    if roles != old_roles {
        let list: Vec<Role> = roles.into_iter().collect();
        state.store.set_user_roles(&user.id, &list).await?;
    }
    if lost_role || password_changed {
        state.oauth.revoke_user_tokens(&user.username).await?;
    }
    let user = find_user(&state, &id).await?;
    Ok(scim(StatusCode::OK, user_json(&state, &user)))
}

/// `DELETE /Users/{id}`: the user and every token issued to them.
async fn delete_user(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let caller = auth.require_any(USER_ADMIN_SCOPES)?;
    let user = find_user(&state, &id).await?;
    if user.id == caller.user_id {
        return Err(ScimError::bad("You cannot delete your own user", "mutability"));
    }
    // Cut tokens off first: if the delete then fails, the user merely signs in again.
    state.oauth.revoke_user_tokens(&user.username).await?;
    state.store.delete_user(&user.id).await?;
    state.authenticator.forget_all();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn all_users(state: &RestState) -> Result<Vec<User>, ScimError> {
    Ok(state.store.list_users(MAX_USERS, 0).await?)
}

async fn list_groups(
    auth: Auth,
    State(state): State<RestState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ScimError> {
    auth.require_any(USER_ADMIN_SCOPES)?;
    let users = all_users(&state).await?;
    let wanted: Vec<Role> = match &query.filter {
        Some(f) => {
            let name = eq_filter(f, "displayName")?;
            Role::ALL.into_iter().filter(|r| r.wso2_name() == name).collect()
        }
        None => Role::ALL.to_vec(),
    };
    let resources: Vec<Value> = wanted.iter().map(|r| group_json(&state, *r, &users)).collect();
    let total = resources.len();
    Ok(scim(StatusCode::OK, list_json(resources, total, 1)))
}

fn find_group(id: &str) -> Result<Role, ScimError> {
    Role::ALL
        .into_iter()
        .find(|r| group_id(*r) == id)
        .ok_or_else(|| ScimError::not_found(format!("No group with id `{id}`")))
}

async fn get_group(auth: Auth, State(state): State<RestState>, Path(id): Path<String>) -> Result<Response, ScimError> {
    auth.require_any(USER_ADMIN_SCOPES)?;
    let role = find_group(&id)?;
    let users = all_users(&state).await?;
    Ok(scim(StatusCode::OK, group_json(&state, role, &users)))
}

/// `PATCH /Groups/{id}`: add or remove members (`path: "members"`, value `[{"value": userId}]`).
async fn patch_group(
    auth: Auth,
    State(state): State<RestState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ScimError> {
    auth.require_any(USER_ADMIN_SCOPES)?;
    let role = find_group(&id)?;
    let body = json_body(body)?;
    let patch: PatchRequest = serde_json::from_value(body)
        .map_err(|e| ScimError::bad(format!("Not a SCIM PatchOp: {e}"), "invalidSyntax"))?;
    for operation in patch.operations {
        let op = op(&operation.op)?;
        let path = operation.path.as_deref().unwrap_or("members").trim();
        let value = match (path, &operation.value) {
            ("members", v) => v.clone(),
            (_, Value::Object(map)) if operation.path.is_none() => map.get("members").cloned().unwrap_or(Value::Null),
            (other, _) => {
                return Err(ScimError::bad(
                    format!("Cannot patch `{other}` of a group; only members"),
                    "invalidPath",
                ));
            }
        };
        let ids: Vec<String> = match &value {
            Value::Array(items) => items
                .iter()
                .filter_map(|i| i.get("value").and_then(Value::as_str).map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        for user_id in ids {
            let user = find_user(&state, &user_id).await?;
            let mut roles: BTreeSet<Role> = user.roles.iter().copied().collect();
            match op {
                Op::Add | Op::Replace => {
                    roles.insert(role);
                }
                Op::Remove => {
                    roles.remove(&role);
                }
            }
            let list: Vec<Role> = roles.iter().copied().collect();
            if list != user.roles {
                state.store.set_user_roles(&user.id, &list).await?;
                if op == Op::Remove {
                    state.oauth.revoke_user_tokens(&user.username).await?;
                }
            }
        }
    }
    let users = all_users(&state).await?;
    Ok(scim(StatusCode::OK, group_json(&state, role, &users)))
}

async fn create_group(auth: Auth) -> Result<Response, ScimError> {
    auth.require_any(USER_ADMIN_SCOPES)?;
    Err(fixed_roles())
}

async fn delete_group(auth: Auth, Path(_id): Path<String>) -> Result<Response, ScimError> {
    auth.require_any(USER_ADMIN_SCOPES)?;
    Err(fixed_roles())
}

fn fixed_roles() -> ScimError {
    ScimError::bad(
        "The groups are Portico's four roles (admin, Internal/creator, Internal/publisher, Internal/subscriber); they cannot be created or deleted, only their members changed",
        "mutability",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        assert_eq!(eq_filter("userName eq \"bob\"", "userName").ok(), Some("bob".into()));
        assert_eq!(eq_filter("username EQ \"a b\"", "userName").ok(), Some("a b".into()));
        assert!(eq_filter("userName co \"b\"", "userName").is_err());
        assert!(eq_filter("userName eq bob", "userName").is_err());
    }

    #[test]
    fn group_ids_are_stable_and_resolve() {
        for role in Role::ALL {
            assert_eq!(role_by_group_ref(&group_id(role)), Some(role));
            assert_eq!(role_by_group_ref(role.wso2_name()), Some(role));
        }
    }
}
