//! `/subscriptions`: the caller's applications' subscriptions to published APIs.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portico_apis::{Api, InputError, LifecycleStatus};
use portico_keymanager::Principal;
use portico_store::{NewSubscription, SubscriptionFilter, SubscriptionRow};
use serde_json::{Map, Value, json};

use super::access::{SUB_SCOPES, own_application};
use super::apis::visible_to;
use super::fields::{body_object, optional_string, required_string};
use crate::auth::Auth;
use crate::common::api_rows::api_of;
use crate::common::body::json_body;
use crate::common::paging::Page;
use crate::error::{ApiError, input_error};
use crate::state::RestState;

const BASE: &str = "/api/am/devportal/v3";

/// WSO2's `Subscription`.
fn subscription_json(s: &SubscriptionRow, api: Option<&Api>) -> Value {
    json!({
        "subscriptionId": s.id,
        "applicationId": s.application_id,
        "apiId": s.api_id,
        "apiInfo": api.map(Api::info),
        "applicationInfo": {
            "applicationId": s.application_id,
            "name": s.application_name,
            "throttlingPolicy": s.application_policy,
            "description": s.application_description,
            "status": s.application_status,
            "owner": s.application_owner,
        },
        "throttlingPolicy": s.throttling_policy,
        "requestedThrottlingPolicy": s.throttling_policy,
        "status": s.status,
        "redirectionParams": null,
    })
}

async fn with_api(state: &RestState, s: &SubscriptionRow) -> Result<Value, ApiError> {
    let api = match state.store.find_api(&s.api_id).await? {
        Some(row) => Some(api_of(&row)?),
        None => None,
    };
    Ok(subscription_json(s, api.as_ref()))
}

/// A validated subscription request.
struct Request {
    application_id: String,
    api_id: String,
    tier: String,
}

/// Checks a subscription body: the caller's application, a subscribable API the caller may see,
/// a tier the API offers.
async fn check_request(state: &RestState, caller: &Principal, obj: &Map<String, Value>) -> Result<Request, ApiError> {
    let application_id = required_string(obj, "applicationId")?;
    let api_id = required_string(obj, "apiId")?;
    let tier = required_string(obj, "throttlingPolicy")?;
    optional_string(obj, "requestedThrottlingPolicy")?;
    own_application(state, caller, &application_id).await?;
    let api = load_subscribable(state, caller, &api_id).await?;
    check_tier(&api, &tier)?;
    Ok(Request {
        application_id,
        api_id,
        tier,
    })
}

async fn load_subscribable(state: &RestState, caller: &Principal, api_id: &str) -> Result<Api, ApiError> {
    let not_found = || ApiError::not_found(format!("API with id {api_id} not found"));
    let row = state.store.find_api(api_id).await?.ok_or_else(not_found)?;
    let api = api_of(&row)?;
    if !visible_to(&api, Some(caller)) {
        return Err(not_found());
    }
    if !matches!(
        api.life_cycle_status,
        LifecycleStatus::Published | LifecycleStatus::Prototyped
    ) {
        return Err(input_error(InputError::new(
            "apiId",
            format!(
                "the API {api_id} is {} and cannot be subscribed to; only PUBLISHED or PROTOTYPED APIs can",
                api.life_cycle_status.wire()
            ),
        )));
    }
    Ok(api)
}

fn check_tier(api: &Api, tier: &str) -> Result<(), ApiError> {
    if api.policies.iter().any(|p| p == tier) {
        Ok(())
    } else {
        Err(input_error(InputError::new(
            "throttlingPolicy",
            format!(
                "the tier \"{tier}\" is not offered by the API {}; it offers: {}",
                api.id,
                api.policies.join(", ")
            ),
        )))
    }
}

/// The caller's subscription, or 404.
async fn own_subscription(state: &RestState, caller: &Principal, id: &str) -> Result<SubscriptionRow, ApiError> {
    match state.store.find_subscription(id).await? {
        Some(s) if s.application_owner == caller.username => Ok(s),
        _ => Err(ApiError::not_found(format!("Subscription with id {id} not found"))),
    }
}

/// `GET /subscriptions[?applicationId=][&apiId=]`.
pub async fn list(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(SUB_SCOPES)?;
    let page = Page::of(&params)?;
    let application_id = params.get("applicationId").filter(|v| !v.is_empty()).cloned();
    let api_id = params.get("apiId").filter(|v| !v.is_empty()).cloned();
    if let Some(app) = &application_id {
        own_application(&state, caller, app).await?;
    }
    let filter = SubscriptionFilter {
        application_id: application_id.clone(),
        api_id: api_id.clone(),
        owner: Some(caller.username.clone()),
    };
    let (rows, total) = state.store.find_subscriptions(&filter, page.limit, page.offset).await?;
    let mut list = Vec::with_capacity(rows.len());
    for s in &rows {
        list.push(with_api(&state, s).await?);
    }
    let mut extra = String::new();
    if let Some(a) = &application_id {
        extra.push_str(&format!("&applicationId={a}"));
    }
    if let Some(a) = &api_id {
        extra.push_str(&format!("&apiId={a}"));
    }
    Ok(page.list_body(list, total, "/subscriptions", &extra))
}

/// `POST /subscriptions`.
pub async fn create(
    auth: Auth,
    State(state): State<RestState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = auth.require_any(SUB_SCOPES)?;
    let body = json_body(&headers, &body)?;
    let request = check_request(&state, caller, body_object(&body)?).await?;
    let id = subscribe(&state, &request).await?;
    let row = own_subscription(&state, caller, &id).await?;
    let mut response = (StatusCode::CREATED, Json(with_api(&state, &row).await?)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{BASE}/subscriptions/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn subscribe(state: &RestState, request: &Request) -> Result<String, ApiError> {
    Ok(state
        .store
        .create_subscription(&NewSubscription {
            application_id: request.application_id.clone(),
            api_id: request.api_id.clone(),
            throttling_policy: request.tier.clone(),
            status: "UNBLOCKED".into(),
        })
        .await?)
}

/// `POST /subscriptions/multiple`: every subscription is checked before any is made.
pub async fn create_multiple(
    auth: Auth,
    State(state): State<RestState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(SUB_SCOPES)?;
    let body = json_body(&headers, &body)?;
    let Value::Array(items) = &body else {
        return Err(input_error(InputError::new(
            "body",
            "must be an array of subscriptions",
        )));
    };
    let mut requests: Vec<Request> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let obj = portico_apis::input::object(item, &format!("[{i}]")).map_err(input_error)?;
        let request = check_request(&state, caller, obj).await?;
        let filter = SubscriptionFilter {
            application_id: Some(request.application_id.clone()),
            api_id: Some(request.api_id.clone()),
            owner: None,
        };
        let duplicate = requests
            .iter()
            .any(|r| r.application_id == request.application_id && r.api_id == request.api_id)
            || state.store.find_subscriptions(&filter, 1, 0).await?.1 > 0;
        if duplicate {
            return Err(ApiError::conflict(format!(
                "[{i}]: the application {} is already subscribed to the API {}",
                request.application_id, request.api_id
            )));
        }
        requests.push(request);
    }
    let mut list = Vec::with_capacity(requests.len());
    for request in &requests {
        let id = subscribe(&state, request).await?;
        let row = own_subscription(&state, caller, &id).await?;
        list.push(with_api(&state, &row).await?);
    }
    Ok(Json(Value::Array(list)))
}

/// `GET /subscriptions/{subscriptionId}`.
pub async fn get_one(
    auth: Auth,
    State(state): State<RestState>,
    Path(subscription_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(SUB_SCOPES)?;
    let row = own_subscription(&state, caller, &subscription_id).await?;
    Ok(Json(with_api(&state, &row).await?))
}

/// `PUT /subscriptions/{subscriptionId}`: changes the tier (application and API stay).
pub async fn update(
    auth: Auth,
    State(state): State<RestState>,
    Path(subscription_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require_any(SUB_SCOPES)?;
    let row = own_subscription(&state, caller, &subscription_id).await?;
    let body = json_body(&headers, &body)?;
    let obj = body_object(&body)?;
    for (field, current) in [("applicationId", &row.application_id), ("apiId", &row.api_id)] {
        if let Some(given) = optional_string(obj, field)?
            && !given.is_empty()
            && &given != current
        {
            return Err(input_error(InputError::new(
                field,
                format!("cannot be changed (the subscription's is {current})"),
            )));
        }
    }
    let tier = match optional_string(obj, "throttlingPolicy")?.filter(|t| !t.is_empty()) {
        Some(t) => t,
        None => required_string(obj, "requestedThrottlingPolicy")?,
    };
    let api = load_subscribable(&state, caller, &row.api_id).await?;
    check_tier(&api, &tier)?;
    state.store.update_subscription(&row.id, &tier, &row.status).await?;
    let row = own_subscription(&state, caller, &subscription_id).await?;
    Ok(Json(with_api(&state, &row).await?))
}

/// `DELETE /subscriptions/{subscriptionId}`.
pub async fn delete(
    auth: Auth,
    State(state): State<RestState>,
    Path(subscription_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let caller = auth.require_any(SUB_SCOPES)?;
    let row = own_subscription(&state, caller, &subscription_id).await?;
    state.store.delete_subscription(&row.id).await?;
    Ok(StatusCode::OK)
}
