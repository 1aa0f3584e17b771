//! `portico config check`: validating a home's configuration without starting the node.

use std::path::Path;

/// Validates conf/deployment.toml and the key pairs it names, and prints what it configures.
pub fn run(home: &Path) -> anyhow::Result<()> {
    let config = portico_config::Config::load(home)?;
    // Loaded as `portico serve` loads them, so that what passes here starts.
    crate::node::keys::load(&config)?;
    crate::node::hardening::report(&config, &crate::node::hardening::config_refusals(&config))?;
    let ports = config.ports();
    println!("{} is valid", config.path.display());
    println!(
        "  database: {} ({})",
        config.database.apim_db.kind_name(),
        portico_store::redact(&config.database_url())
    );
    println!(
        "  ports: management {}, gateway http {}, gateway https {}, traffic manager {}",
        ports.management_https, ports.gateway_http, ports.gateway_https, ports.traffic_manager
    );
    let names: Vec<&str> = config
        .apim
        .gateway
        .environment
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    println!("  gateway environments: {}", names.join(", "));
    println!(
        "  mode: {}",
        match config.server.mode {
            portico_config::Mode::Dev => "dev (not for production)",
            portico_config::Mode::Production => "production (the stored admin password is checked at start)",
        }
    );
    if !config.secrets.aliases.is_empty() {
        let aliases: Vec<&str> = config.secrets.aliases.keys().map(String::as_str).collect();
        println!(
            "  secrets: {} alias(es), all decrypt: {}",
            aliases.len(),
            aliases.join(", ")
        );
    }
    Ok(())
}
