//! Step 10: the listeners, until a signal; then the drain. The gateway serves consumers on
//! `[transport.passthru_http]` and `[transport.passthru_https]`, the management router (REST,
//! OAuth2, health) on `[transport.https]`. The HTTPS listeners present the TLS certificate the
//! keys' reloader keeps current (SIGHUP or a change of its files).

use std::time::Duration;

use portico_config::Config;
use tokio::net::TcpListener;

use super::started::Node;

/// The management port, bound before the node says it is ready (a port in use stops the start).
pub async fn bind_management(config: &Config) -> anyhow::Result<TcpListener> {
    let address = (config.server.bind_address, config.ports().management_https);
    Ok(portico_net::bind(address.into()).await?)
}

/// Serves until SIGTERM or Ctrl-C, then stops accepting and returns once in-flight requests
/// have drained (or `[server] shutdown_grace_seconds` has passed).
pub async fn serve_until_stopped(node: &Node, management: TcpListener) -> anyhow::Result<()> {
    let config = &node.config;
    let ports = config.ports();
    let bind = config.server.bind_address;
    // Every HTTPS listener presents the certificate the reloader keeps current.
    let tls_config = node.keys.tls_reload.server_config(&[b"h2", b"http/1.1"])?;
    let reloader = super::keys::spawn_reloader(config, &node.keys, node.key_manager.validator.clone());
    let grace = Duration::from_secs(config.server.shutdown_grace_seconds);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let limits = portico_net::ListenerLimits::default();
    // The gateway listeners are bound before the management server answers, so that
    // `/health/ready` never says ready while the gateway ports still refuse connections.
    // They run on single-threaded runtimes, one per core unless configured
    // (DESIGN.md: measured faster for proxying than a work-stealing runtime).
    let io_threads = config.gateway_io_threads();
    let mut gateway_threads = Vec::new();
    for (port, tls) in [
        (ports.gateway_http, None),
        (ports.gateway_https, Some(tls_config.clone())),
    ] {
        let server = portico_gateway::ConsumerServer::new(node.gateway.gateway.clone(), limits.clone());
        gateway_threads.extend(portico_net::serve_on_threads(
            (bind, port).into(),
            tls,
            move |_info| {
                let server = server.clone();
                move |accepted| server.serve(accepted)
            },
            limits.clone(),
            stopped.clone(),
            grace,
            io_threads,
        )?);
    }
    let management = tokio::spawn(portico_net::serve(
        management,
        Some(tls_config),
        portico_rest::router(node.rest.clone()).into_service(),
        limits.clone(),
        until_stopped(stopped.clone()),
        grace,
    ));
    shutdown_signal().await;
    reloader.abort();
    let _ = stop.send(true);
    let _ = management.await;
    let _ = tokio::task::spawn_blocking(move || {
        for thread in gateway_threads {
            let _ = thread.join();
        }
    })
    .await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    println!("Shutdown requested: no new connections; draining in-flight requests.");
}
