//! The request path: one [`Session`] per request goes through named phases, each in its own
//! module with one concern (DESIGN.md §4, after pingora's `ProxyHttp`):
//!
//! 1. [`route`]: the API, version and resource for the normalised path (900906);
//! 2. [`authenticate`]: token or API key to a caller, via the validated-token cache
//!    (900901/900902);
//! 3. [`authorize`]: lifecycle, subscription, scopes (700700, 900908, 900910);
//! 4. [`throttle`]: deny policies first ([`deny`], 900805, even with throttling disabled), then
//!    throttling policies, decisions and counts (900800–900809);
//! 5. [`upstream_peer`]: the endpoints to try, in order;
//! 6. [`upstream_request`]: what the backend is sent (X-Forwarded-*, backend JWT, header rules)
//!    and the call itself, with failover;
//! 7. [`response`]: the answer to the consumer: errors made responses, CORS (and preflights);
//! 8. [`logging`]: one analytics record, handed off without waiting.
//!
//! Before any of them, a request framed both by length and by chunks (smuggling) is refused, on
//! every path (`/health` and preflights too). A phase that fails returns a [`GatewayError`]; the
//! phases after it are skipped except `response` and `logging`, which every request goes
//! through. This module is the driver only; [`client_address`] and [`identity_headers`] are the
//! policies the session and `upstream_request` apply.

mod authenticate;
mod authorize;
mod client_address;
mod correlation;
mod deny;
mod identity_headers;
mod logging;
mod response;
mod route;
mod session;
mod throttle;
mod upstream_peer;
mod upstream_request;

use bytes::Bytes;
use http_body::Body;

pub use correlation::CorrelationId;
pub(crate) use identity_headers::IdentityHeaders;
pub use logging::AnalyticsRecord;
pub use session::RequestContext;
pub(crate) use session::{ConnectionState, RequestHead, Session};

use crate::error::GatewayError;
use crate::http1::fields::RawHeaders;
use crate::response::GatewayResponse;
use crate::{BoxError, Gateway};

impl Gateway {
    /// Serves one request end to end. The body is hyper's (HTTP/2) or the gateway's own
    /// HTTP/1.1 server's.
    pub(crate) async fn handle<B>(&self, head: &RequestHead, body: B, connection: &ConnectionState) -> GatewayResponse
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        // The clock is read only for analytics records (two reads per request otherwise wasted).
        let started = self.analytics.is_some().then(std::time::Instant::now);
        let snapshot = self.snapshot();
        let framing = check_framing(&head.headers);
        if framing.is_ok() && head.uri.path() == "/health" {
            return GatewayResponse::Local(crate::health::answer(&snapshot));
        }
        let path = crate::path::normalize(head.uri.path());
        let mut session = Session::new(head, connection, &snapshot, path.as_deref(), started);
        // Until the API is known (and for errors before routing) the gateway-wide rules apply.
        self.decide_cors(&mut session);
        let result = if let Err(refused) = framing {
            Err(refused)
        } else if session.is_preflight() {
            self.preflight(&mut session).map(GatewayResponse::Local)
        } else {
            self.proxy(&mut session, body).await
        };
        let response = self.response(&mut session, result);
        self.logging(&mut session, &response);
        response
    }

    /// Phases 1 to 6 for a request that goes to a backend.
    async fn proxy<B>(&self, session: &mut Session<'_>, body: B) -> Result<GatewayResponse, GatewayError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        self.route(session)?;
        // The API's own CORS rules, now that it is known.
        self.decide_cors(session);
        self.authenticate(session).await?;
        self.authorize(session)?;
        self.deny(session)?;
        self.throttle(session)?;
        let targets = self.upstream_peer(session)?;
        let response = self.upstream_request(session, &targets, body).await?;
        Ok(GatewayResponse::Backend(response))
    }
}

/// Refuses requests that carry both Content-Length and Transfer-Encoding (request smuggling).
fn check_framing(headers: &RawHeaders) -> Result<(), GatewayError> {
    if headers.contains("content-length") && headers.contains("transfer-encoding") {
        return Err(GatewayError::smuggling());
    }
    Ok(())
}
