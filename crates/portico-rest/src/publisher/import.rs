//! OpenAPI intake: `POST /apis/validate-openapi`, `POST /apis/import-openapi` and
//! `PUT /apis/{apiId}/swagger`, from an uploaded file, inline text or a URL. URL fetches refuse
//! non-public addresses (unless `[apim.publisher] allow_private_import_urls`), follow no
//! redirects, and stop at `import_max_bytes` and `import_timeout_seconds`.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portico_apis::{ApiInput, Definition, InputError, parse_definition};
use portico_store::now_millis;
use serde_json::{Value, json};

use super::apis::create_api;
use crate::auth::Auth;
use crate::common::api_rows::{api_document, api_of, load_api};
use crate::common::definition::definition_response;
use crate::common::policies::check_policies;
use crate::common::row_version::OptimisticUpdate;
use crate::error::{ApiError, input_error};
use crate::fetch::{FetchRules, fetch_text};
use crate::state::RestState;

/// The parts of a multipart request this module reads.
#[derive(Default)]
struct Form {
    file: Option<Vec<u8>>,
    url: Option<String>,
    inline: Option<String>,
    additional_properties: Option<String>,
}

async fn read_form(multipart: Result<Multipart, MultipartRejection>) -> Result<Form, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            format!("Send multipart/form-data with a `file` or `url` part: {e}"),
        )
    })?;
    let mut form = Form::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("The multipart body is malformed: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad_request(format!("Cannot read the multipart part `{name}`: {e}")))?;
        let text = || {
            String::from_utf8(bytes.to_vec())
                .map_err(|_| ApiError::bad_request(format!("The multipart part `{name}` is not UTF-8 text")))
        };
        match name.as_str() {
            "file" => form.file = Some(bytes.to_vec()),
            "url" => form.url = Some(text()?.trim().to_owned()).filter(|u| !u.is_empty()),
            "inlineAPIDefinition" | "apiDefinition" => form.inline = Some(text()?).filter(|t| !t.trim().is_empty()),
            "additionalProperties" => form.additional_properties = Some(text()?),
            _ => {} // unknown parts are ignored, as unknown JSON fields are
        }
    }
    Ok(form)
}

/// The definition text of a form: exactly one of file, inline text or URL.
async fn definition_text(state: &RestState, form: &Form) -> Result<String, ApiError> {
    let given = [form.file.is_some(), form.inline.is_some(), form.url.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    if given == 0 {
        return Err(ApiError::bad_request(
            "Give the definition as a `file` part, an `inlineAPIDefinition` part or a `url` part",
        ));
    }
    if given > 1 {
        return Err(ApiError::bad_request(
            "Give only one of the `file`, `inlineAPIDefinition` and `url` parts",
        ));
    }
    if let Some(bytes) = &form.file {
        return String::from_utf8(bytes.clone())
            .map_err(|_| ApiError::bad_request("The uploaded `file` is not UTF-8 text"));
    }
    if let Some(text) = &form.inline {
        return Ok(text.clone());
    }
    match &form.url {
        Some(url) => fetch_definition(state, url).await,
        None => Err(ApiError::bad_request("No definition given")),
    }
}

/// Fetches a definition from a URL within the configured limits.
async fn fetch_definition(state: &RestState, raw: &str) -> Result<String, ApiError> {
    let limits = &state.config.apim.publisher;
    fetch_text(
        raw,
        &FetchRules {
            timeout: Duration::from_secs(limits.import_timeout_seconds),
            max_bytes: limits.import_max_bytes,
            allow_private: limits.allow_private_import_urls,
            setting: "[apim.publisher] import_timeout_seconds, import_max_bytes, allow_private_import_urls",
        },
    )
    .await
}

fn definition_error(e: portico_apis::DefinitionError) -> ApiError {
    input_error(InputError::new("definition", e.to_string()))
}

fn info_json(d: &Definition) -> Value {
    json!({
        "name": d.title,
        "version": d.version,
        "context": d.context,
        "description": d.description,
        "openAPIVersion": d.spec.label(),
        "endpoints": d.endpoints,
    })
}

/// `POST /apis/validate-openapi`: 200 with `isValid` true or false (and why).
pub async fn validate_openapi(
    auth: Auth,
    State(state): State<RestState>,
    Query(params): Query<HashMap<String, String>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(&["apim:api_create", "apim:api_manage"])?;
    let form = read_form(multipart).await?;
    let text = definition_text(&state, &form).await?;
    let return_content = params
        .get("returnContent")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(Json(match parse_definition(&text) {
        Ok(d) => {
            let mut body = json!({ "isValid": true, "info": info_json(&d) });
            if return_content && let Some(o) = body.as_object_mut() {
                o.insert("content".into(), Value::String(text));
            }
            body
        }
        Err(e) => json!({
            "isValid": false,
            "errorMessages": [e.to_string()],
        }),
    }))
}

/// `POST /apis/import-openapi`: creates an API from a definition; `additionalProperties` (API
/// JSON) supplies or overrides name, version, context, endpoints, policies...
pub async fn import_openapi(
    auth: Auth,
    State(state): State<RestState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let caller = auth
        .require_any(&["apim:api_create", "apim:api_manage"])?
        .username
        .clone();
    let form = read_form(multipart).await?;
    let mut input = match &form.additional_properties {
        Some(text) if !text.trim().is_empty() => {
            let value: Value = serde_json::from_str(text).map_err(|e| {
                input_error(InputError::new(
                    "additionalProperties",
                    format!("is not valid JSON: {e}"),
                ))
            })?;
            ApiInput::from_json(&value)
                .map_err(|e| input_error(InputError::new(format!("additionalProperties.{}", e.field), e.message)))?
        }
        _ => ApiInput::default(),
    };
    let text = definition_text(&state, &form).await?;
    let definition = parse_definition(&text).map_err(definition_error)?;
    if input.name.is_none() {
        let title = definition.title.clone().ok_or_else(|| {
            input_error(InputError::new(
                "additionalProperties.name",
                "is required (the definition has no info.title)",
            ))
        })?;
        portico_apis::context::validate_name(&title).map_err(input_error)?;
        input.name = Some(title);
    }
    if input.version.is_none() {
        let version = definition.version.clone().ok_or_else(|| {
            input_error(InputError::new(
                "additionalProperties.version",
                "is required (the definition has no info.version)",
            ))
        })?;
        portico_apis::context::validate_version(&version).map_err(input_error)?;
        input.version = Some(version);
    }
    if input.context.is_none() {
        let suggested = definition.context.clone().unwrap_or_else(|| {
            input
                .name
                .as_deref()
                .unwrap_or("api")
                .to_lowercase()
                .replace(char::is_whitespace, "")
        });
        input.context = Some(portico_apis::normalize_context(&suggested).map_err(input_error)?);
    }
    if input.description.is_none() {
        input.description = definition.description.clone();
    }
    if input.endpoint_config.is_none()
        && let Some(url) = definition.endpoints.first()
    {
        let config = json!({ "endpoint_type": "http", "production_endpoints": { "url": url }, "sandbox_endpoints": { "url": url } });
        if portico_apis::model::validate_endpoint_config(&config).is_ok() {
            input.endpoint_config = Some(config);
        }
    }
    input.operations = Some(definition.operations.clone());
    create_api(&state, input, &caller, Some(text)).await
}

/// `PUT /apis/{apiId}/swagger`: replaces the definition and, from it, the operations.
pub async fn put_swagger(
    auth: Auth,
    State(state): State<RestState>,
    Path(api_id): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    auth.require_any(&["apim:api_create", "apim:api_manage"])?;
    let mut update = OptimisticUpdate::start(&headers, load_api(&state.store, &api_id).await?)?;
    let form = read_form(multipart).await?;
    let text = definition_text(&state, &form).await?;
    let definition = parse_definition(&text).map_err(definition_error)?;
    let check = ApiInput {
        operations: Some(definition.operations.clone()),
        ..ApiInput::default()
    };
    check_policies(&state.store, &check).await?;
    loop {
        let mut api = api_of(update.row())?;
        api.operations = definition.operations.clone();
        api.last_updated_time = now_millis().to_string();
        let (version, document) = (update.row().row_version, api_document(&api)?);
        if let Some(updated) = state
            .store
            .update_api(&api_id, version, &document, Some(Some(&text)))
            .await?
        {
            return definition_response(&updated);
        }
        update.lost_race(&state.store).await?;
    }
}
