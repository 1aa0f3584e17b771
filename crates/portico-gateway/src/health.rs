//! `/health` on the gateway listeners: 200 with the number of routable APIs once a snapshot is
//! loaded (whatever the database's state), 503 before.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use crate::error::GatewayError;
use crate::{GatewayBody, Snapshot, full_body};

pub(crate) fn answer(snapshot: &Snapshot) -> Response<GatewayBody> {
    if !snapshot.routes.loaded {
        return GatewayError::not_ready().into_response();
    }
    let body = serde_json::json!({ "status": "healthy", "apis": snapshot.routes.api_count() });
    let mut response = Response::new(full_body(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
