//! What the gateway answers a request with: a response it made itself (errors, preflights,
//! health) or a backend's, whose header fields stay as the backend sent them until they are
//! written (see [`RawHeaders`]).

use http::{HeaderMap, Response, StatusCode, header};
use http_body_util::BodyExt;

use crate::GatewayBody;
pub use crate::http1::fields::RawHeaders;
use crate::upstream::{UpstreamBody, UpstreamResponse};

/// A backend's response on its way to the consumer.
pub struct BackendResponse {
    pub status: StatusCode,
    /// The backend's header fields (hop-by-hop ones left out).
    pub headers: RawHeaders,
    /// Fields the gateway adds (CORS); a field named here replaces the backend's of that name,
    /// except `Vary`, which is added to.
    pub extra: HeaderMap,
    pub(crate) body: UpstreamBody,
}

impl From<UpstreamResponse> for BackendResponse {
    fn from(response: UpstreamResponse) -> BackendResponse {
        BackendResponse {
            status: response.status,
            headers: response.headers,
            extra: HeaderMap::new(),
            body: response.body,
        }
    }
}

/// The gateway's answer to one request.
pub enum GatewayResponse {
    Local(Response<GatewayBody>),
    Backend(BackendResponse),
}

impl GatewayResponse {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayResponse::Local(r) => r.status(),
            GatewayResponse::Backend(r) => r.status,
        }
    }

    /// Where the gateway's own header fields go.
    pub fn headers_to_add(&mut self) -> &mut HeaderMap {
        match self {
            GatewayResponse::Local(r) => r.headers_mut(),
            GatewayResponse::Backend(r) => &mut r.extra,
        }
    }

    /// The body length the response declares.
    pub fn content_length(&self) -> Option<u64> {
        let value: &[u8] = match self {
            GatewayResponse::Local(r) => r.headers().get(header::CONTENT_LENGTH)?.as_bytes(),
            GatewayResponse::Backend(r) => r.headers.get("content-length")?,
        };
        std::str::from_utf8(value).ok()?.trim().parse().ok()
    }

    /// As an `http` response (for hyper's HTTP/2 server). A backend field that is not a valid
    /// `http` header is left out.
    pub fn into_http(self) -> Response<GatewayBody> {
        match self {
            GatewayResponse::Local(r) => r,
            GatewayResponse::Backend(r) => {
                let mut headers = r.headers.to_header_map();
                for name in r.extra.keys() {
                    if name != header::VARY {
                        headers.remove(name);
                    }
                }
                for (name, value) in r.extra {
                    if let Some(name) = name {
                        headers.append(name, value);
                    }
                }
                let mut response = Response::new(r.body.boxed_unsync());
                *response.status_mut() = r.status;
                *response.headers_mut() = headers;
                response
            }
        }
    }
}
