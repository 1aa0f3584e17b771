//! The gateway listeners' connections (8280, 8243): each accepted connection is served by the
//! gateway's own HTTP/1.1 server ([`crate::http1::server`]) or, when ALPN picked HTTP/2, by
//! hyper ([`crate::http2`]); both run every request through the [`crate::pipeline`].

use std::sync::Arc;

use portico_net::{Accepted, HyperBuilders, ListenerLimits};

use crate::Gateway;
use crate::http1;
use crate::http2::GatewayService;
use crate::pipeline::ConnectionState;

/// Serves the gateway's consumer connections: HTTP/1.1 itself, HTTP/2 through hyper.
pub struct ConsumerServer {
    gateway: Arc<Gateway>,
    limits: ListenerLimits,
    hyper: Arc<HyperBuilders>,
}

impl ConsumerServer {
    pub fn new(gateway: Arc<Gateway>, limits: ListenerLimits) -> Arc<ConsumerServer> {
        Arc::new(ConsumerServer {
            hyper: Arc::new(HyperBuilders::new(&limits)),
            gateway,
            limits,
        })
    }

    /// Serves one accepted connection to its end (see `portico_net::serve_accepted`).
    pub async fn serve(self: Arc<Self>, accepted: Accepted) {
        let state = Arc::new(ConnectionState::new(self.gateway.clone(), accepted.info));
        if accepted.io.is_http2() {
            portico_net::serve_with_hyper(self.hyper.clone(), accepted, GatewayService::new(state)).await;
            return;
        }
        http1::server::serve(&self.limits, &state, accepted.io, accepted.drain).await;
    }
}
