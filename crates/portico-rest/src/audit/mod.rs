//! The audit log (issue 20): every management write an authenticated caller makes (any method
//! but GET, HEAD and OPTIONS under the REST APIs, SCIM and DCR) is recorded once, by one
//! middleware around the whole router, in the store (`audit_log`) and as a JSON line in
//! `<home>/logs/audit.log`. Handlers take no part:
//!
//! - who: the [`Auth`](crate::Auth) extractor writes the caller's name into an [`AuditActor`]
//!   slot the middleware put in the request; a request nobody authenticated (a 401) is not a
//!   write and is not recorded;
//! - the object: its kind and id come from the path (`/apis/{id}/...`), else from the query's
//!   `apiId`-like parameter, else from the created object's `id` in the answer;
//! - before: for PUT, PATCH and DELETE, the answer of a GET of the same path through the same
//!   router with the caller's credentials, when it is a small JSON object;
//! - after: the write's answer, when it is small JSON;
//! - secrets are masked in both and in the query (`mask`), so no row holds a password, client
//!   secret, token or key.
//!
//! `list` serves the rows to admins: `GET /api/am/admin/v4/audit-log`, a Portico extension.

mod list;
pub mod mask;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Body as _;
use portico_store::{AuditEntry, NewAuditEntry};
use serde_json::{Value, json};
use tower::ServiceExt;

pub use list::list;

use crate::auth::AuditActor;
use crate::state::RestState;

/// Largest before or after body kept, in bytes: larger objects are recorded without it.
const SMALL: usize = 16 * 1024;

/// The middleware's state: the store (in `rest`), the router it reads "before" objects through,
/// and the file.
pub struct AuditHook {
    rest: RestState,
    reader: Router,
    file: Mutex<Option<std::fs::File>>,
    path: PathBuf,
}

impl AuditHook {
    /// `reader` is the router without this middleware (the GETs it sends are not writes).
    pub fn new(rest: RestState, reader: Router) -> Arc<AuditHook> {
        let path = rest.config.home.join("logs/audit.log");
        Arc::new(AuditHook {
            rest,
            reader,
            file: Mutex::new(None),
            path,
        })
    }
}

/// API roots whose writes are recorded.
const AUDITED_ROOTS: &[&str] = &["/api/am/", "/scim2/", "/client-registration/"];

/// Records the request when it is an authenticated management write.
pub async fn record(State(hook): State<Arc<AuditHook>>, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
        || !AUDITED_ROOTS.iter().any(|r| path.starts_with(r))
    {
        return next.run(request).await;
    }
    let actor = AuditActor::default();
    request.extensions_mut().insert(actor.clone());
    let query = request.uri().query().map(str::to_owned);
    let client = request
        .extensions()
        .get::<portico_net::ConnectionInfo>()
        .map(|info| info.peer.ip().to_string());
    let before = match matches!(method, Method::PUT | Method::PATCH | Method::DELETE)
        .then(|| same_path_get(&request))
        .flatten()
    {
        Some(get) => hook.read_before(get).await,
        None => None,
    };
    let response = next.run(request).await;
    let Some(actor) = actor.get() else {
        return response;
    };
    let (response, after) = small_json_body(response).await;
    let (object_type, path_id) = object_of(&path);
    let object_id = path_id
        .or_else(|| query.as_deref().and_then(id_in_query))
        .or_else(|| after.as_ref().and_then(id_in_body));
    let mut entry = NewAuditEntry {
        actor,
        client_address: client,
        method: method.to_string(),
        path: mask::mask_path(&path, query.as_deref()),
        object_type,
        object_id,
        status: i32::from(response.status().as_u16()),
        before: before.map(masked),
        after: after.filter(|_| method != Method::DELETE).map(masked),
    };
    if entry.before.as_deref().is_some_and(|b| b.len() > SMALL) {
        entry.before = None;
    }
    hook.write(&entry).await;
    response
}

/// A GET of the request's path and query with its credentials and connection.
fn same_path_get(request: &Request) -> Option<Request> {
    let mut get = Request::builder().method(Method::GET).uri(request.uri().clone());
    if let Some(authorization) = request.headers().get(header::AUTHORIZATION) {
        get = get.header(header::AUTHORIZATION, authorization.clone());
    }
    let mut get = get.body(Body::empty()).ok()?;
    if let Some(info) = request.extensions().get::<portico_net::ConnectionInfo>() {
        get.extensions_mut().insert(*info);
    }
    Some(get)
}

/// JSON text with secrets masked.
fn masked(mut value: Value) -> String {
    mask::mask_json(&mut value);
    value.to_string()
}

impl AuditHook {
    /// The object as `get` answers it, when small JSON.
    async fn read_before(&self, get: Request) -> Option<Value> {
        let response = self.reader.clone().oneshot(get).await.ok()?;
        if response.status() != StatusCode::OK {
            return None;
        }
        small_json_body(response).await.1
    }

    /// Into the store and the file; a failure is logged and does not fail the request.
    async fn write(&self, entry: &NewAuditEntry) {
        match self.rest.store.record_audit(entry).await {
            Ok(row) => self.append_line(&entry_json(&row)),
            Err(e) => {
                tracing::warn!(error = %e, path = %entry.path, "cannot record the audit entry in the store");
                let at = portico_store::now_millis();
                self.append_line(&json!({
                    "at": at, "user": entry.actor, "clientAddress": entry.client_address,
                    "method": entry.method, "path": entry.path, "objectType": entry.object_type,
                    "objectId": entry.object_id, "status": entry.status, "storeError": true,
                }));
            }
        }
    }

    fn append_line(&self, value: &Value) {
        let Ok(mut file) = self.file.lock() else { return };
        if file.is_none() {
            *file = open_append(&self.path)
                .map_err(|e| tracing::warn!(error = %e, path = %self.path.display(), "cannot open the audit log"))
                .ok();
        }
        if let Some(f) = file.as_mut()
            && let Err(e) = writeln!(f, "{value}")
        {
            tracing::warn!(error = %e, "cannot write the audit log");
            *file = None;
        }
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// One row as the REST list and the file show it.
pub fn entry_json(row: &AuditEntry) -> Value {
    let parse = |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok());
    json!({
        "id": row.id,
        "at": row.at,
        "node": row.node_id,
        "user": row.actor,
        "clientAddress": row.client_address,
        "method": row.method,
        "path": row.path,
        "objectType": row.object_type,
        "objectId": row.object_id,
        "status": row.status,
        "before": parse(&row.before_json),
        "after": parse(&row.after_json),
    })
}

/// The response again, and its body as JSON when it is JSON of at most [`SMALL`] bytes.
async fn small_json_body(response: Response) -> (Response, Option<Value>) {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let small = response.body().size_hint().exact().is_some_and(|n| n <= SMALL as u64);
    if !is_json || !small {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, SMALL).await.unwrap_or_else(|_| Bytes::new());
    let value = serde_json::from_slice::<Value>(&bytes).ok();
    (Response::from_parts(parts, Body::from(bytes)), value)
}

/// The object's kind and, when the path names it, its id: the collection segments after the
/// API's root up to the first segment that is an id (`apis`, `throttling/policies/subscription`).
fn object_of(path: &str) -> (String, Option<String>) {
    let rest = [
        "/api/am/publisher/",
        "/api/am/devportal/",
        "/api/am/admin/",
        "/client-registration/",
    ]
    .iter()
    .find_map(|root| path.strip_prefix(root))
    // Past the version segment.
    .map(|rest| rest.split_once('/').map_or("", |(_, r)| r))
    .or_else(|| path.strip_prefix("/scim2/"))
    .unwrap_or(path);
    let mut kind = Vec::new();
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        if is_id(segment) {
            return (kind.join("/"), Some(segment.to_owned()));
        }
        kind.push(segment);
    }
    (kind.join("/"), None)
}

/// Ids are UUIDs, client ids and the like: they hold a digit or are long; collection and
/// action names (`apis`, `deny-policies`, `change-lifecycle`) are neither.
fn is_id(segment: &str) -> bool {
    segment.len() >= 20 || segment.bytes().any(|b| b.is_ascii_digit())
}

/// `apiId`, `apiProductId`, `applicationId`, `subscriptionId` or `policyId` of the query.
fn id_in_query(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        ["apiId", "apiProductId", "applicationId", "subscriptionId", "policyId"]
            .contains(&name)
            .then(|| value.to_owned())
    })
}

/// The id of the object an answer describes.
fn id_in_body(body: &Value) -> Option<String> {
    [
        "id",
        "applicationId",
        "subscriptionId",
        "policyId",
        "conditionId",
        "clientId",
        "keyMappingId",
    ]
    .iter()
    .find_map(|field| body.get(*field).and_then(Value::as_str).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_read_from_the_path() {
        let id = "3f2a9c1e-1111-4d2e-9e6b-0c1d2e3f4a5b";
        assert_eq!(object_of("/api/am/publisher/v4/apis"), ("apis".into(), None));
        assert_eq!(
            object_of(&format!("/api/am/publisher/v4/apis/{id}/deploy-revision")),
            ("apis".into(), Some(id.into()))
        );
        assert_eq!(
            object_of("/api/am/publisher/v4/apis/change-lifecycle"),
            ("apis/change-lifecycle".into(), None)
        );
        assert_eq!(
            object_of(&format!("/api/am/admin/v4/throttling/policies/subscription/{id}")),
            ("throttling/policies/subscription".into(), Some(id.into()))
        );
        assert_eq!(
            object_of(&format!("/scim2/Users/{id}")),
            ("Users".into(), Some(id.into()))
        );
        assert_eq!(
            object_of("/client-registration/v0.17/register"),
            ("register".into(), None)
        );
        assert_eq!(id_in_query("action=Publish&apiId=a1"), Some("a1".into()));
    }
}
