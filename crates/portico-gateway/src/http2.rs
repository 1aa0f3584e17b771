//! HTTP/2 consumer connections, which hyper serves (ALPN picks HTTP/2 on the TLS listener): the
//! adapter from hyper's service to the [`crate::pipeline`].

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::GatewayBody;
use crate::http1::fields::RawHeaders;
use crate::pipeline::{ConnectionState, RequestHead};

/// The gateway's hyper service for one connection (cheap to clone: one `Arc`).
#[derive(Clone)]
pub(crate) struct GatewayService(Arc<ConnectionState>);

impl GatewayService {
    pub(crate) fn new(state: Arc<ConnectionState>) -> GatewayService {
        GatewayService(state)
    }
}

impl hyper::service::Service<Request<Incoming>> for GatewayService {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response<GatewayBody>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let connection = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let head = RequestHead {
                method: parts.method,
                uri: parts.uri,
                headers: RawHeaders::from_header_map(&parts.headers),
            };
            Ok(connection.gateway().handle(&head, body, &connection).await.into_http())
        })
    }
}
