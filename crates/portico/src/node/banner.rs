//! Step 9: what is where, printed once the node is ready.

use std::time::Instant;

use portico_cluster::IdentityCounts;
use portico_config::Mode;

use super::started::Node;

/// What the start-up loaded, for the banner.
pub struct Loaded {
    /// API revisions deployed in `deployment/server/` (`None`: not rebuilt, the database is away).
    pub deployed: Option<usize>,
    /// APIs the gateway routes.
    pub routable: usize,
    pub identity: IdentityCounts,
    /// Throttling policies loaded into the gateway.
    pub policies: usize,
    /// When the last-known-good snapshot the node started from was written, if it did.
    pub snapshot_written_at: Option<i64>,
}

pub async fn print(node: &Node, started: Instant, loaded: &Loaded) -> anyhow::Result<()> {
    let config = &node.config;
    let ports = config.ports();
    let host = &config.server.hostname;
    let mgmt = format!("https://{host}:{}", ports.management_https);
    let signer = &node.key_manager.validator.signer;
    let trust = &node.gateway.trust;
    println!(
        "Portico {} node ready in {} ms",
        env!("CARGO_PKG_VERSION"),
        started.elapsed().as_millis()
    );
    if config.server.mode == Mode::Dev {
        println!(
            "  DEV MODE:       not for production (sample backend, no password policy, relaxed checks); set [server] mode = \"production\" before going live"
        );
    }
    match loaded.snapshot_written_at {
        None => println!(
            "  store:          {} (schema v{})",
            node.store.backend(),
            node.store.schema_version().await?
        ),
        Some(written_at) => println!(
            "  store:          {} (unreachable: serving from the last-known-good snapshot written at {} ms since the epoch; not ready until the database is back)",
            node.store.backend(),
            written_at
        ),
    }
    println!("  management:     {mgmt}  (health: {mgmt}/health/ready)");
    println!("  admin REST:     {mgmt}/api/am/admin/v4");
    println!(
        "  gateway:        http://{host}:{}  https://{host}:{}",
        ports.gateway_http, ports.gateway_https
    );
    println!("  publisher REST: {mgmt}/api/am/publisher/v4");
    let deployed = loaded.deployed.map_or_else(
        || "as kept (the database is away) in".to_owned(),
        |n| format!("{n} deployed API revision(s) in"),
    );
    println!(
        "  artifacts:      {deployed} deployment/server/, {} routable here",
        loaded.routable
    );
    println!(
        "  devportal REST: {mgmt}/api/am/devportal/v3  ({} client id(s), {} subscription(s) loaded into the gateway)",
        loaded.identity.clients, loaded.identity.subscriptions
    );
    println!(
        "  OAuth2:         {mgmt}/oauth2/token  (DCR: {mgmt}/client-registration/v0.17/register, {} kid {})",
        signer.algorithm(),
        signer.kid()
    );
    println!(
        "  backend TLS:    trusts {} system root(s), this node's certificate, {} from [truststore] file_name",
        trust.system_roots, trust.bundle_certificates
    );
    if config.sample_backend_enabled() {
        println!(
            "  sample backend: {mgmt}{}/menu  (PizzaShack; [apim.sample_backend])",
            portico_rest::SAMPLE_BASE_PATH
        );
    }
    println!(
        "  throttling:     {} ({} policies)",
        node.throttling.summary, loaded.policies
    );
    println!(
        "  analytics:      {} ({mgmt}{}, {mgmt}/metrics)",
        node.analytics.summary,
        portico_rest::ANALYTICS_BASE
    );
    println!("  config:         {}", config.path.display());
    println!("Press Ctrl-C to stop.");
    Ok(())
}
