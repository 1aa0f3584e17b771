//! `portico init`: creating a node's home (also what `portico serve` does first when there is
//! none).

use std::path::Path;

use anyhow::{Context, bail};
use portico_config::{Config, DEPLOYMENT_TOML, InitOptions, InitSecrets, render_deployment_toml};
use portico_keystore::KeyType;

use crate::cert::certificate_names;

/// Environment variable with the admin password of a new home.
pub const ADMIN_PASSWORD_VAR: &str = "PORTICO_ADMIN_PASSWORD";
/// Directories every home has (DESIGN.md §3).
const HOME_DIRS: &[&str] = &["conf/security", "database", "deployment/server", "logs"];
const CERT_FILE: &str = "conf/security/node-cert.pem";
const KEY_FILE: &str = "conf/security/node-key.pem";

/// Creates the home with a `key_type` key pair and the admin's password (generated and printed
/// once when `None`). Refuses when the home already has a configuration.
pub fn run(
    home: &Path,
    options: &InitOptions,
    key_type: KeyType,
    admin_password: Option<String>,
) -> anyhow::Result<()> {
    let config_path = home.join(DEPLOYMENT_TOML);
    if config_path.exists() {
        bail!(
            "{} already exists: refusing to overwrite an existing node home",
            config_path.display()
        );
    }
    if home.join("conf").exists() {
        bail!(
            "{} already has a conf/ directory: refusing to overwrite an existing node home",
            home.display()
        );
    }
    if let Some(url) = &options.postgres_url
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        bail!("--database-url must be a postgres:// URL (the embedded SQLite database needs no URL)");
    }
    println!("Creating node home {}", home.display());
    for dir in HOME_DIRS {
        std::fs::create_dir_all(home.join(dir)).with_context(|| format!("create {}", home.join(dir).display()))?;
    }

    let names = certificate_names(&options.hostname);
    println!(
        "  generating {key_type} key pair and self-signed certificate for {}",
        names.join(", ")
    );
    let pair = portico_keystore::generate_self_signed(&names, key_type)?;
    portico_keystore::write_pair(&pair, &home.join(CERT_FILE), &home.join(KEY_FILE), false)?;
    println!("  wrote {CERT_FILE} and {KEY_FILE} (used by [keystore.tls] and [keystore.primary])");

    let (password, generated) = match admin_password {
        Some(p) if !p.is_empty() => (p, false),
        Some(_) => bail!("--admin-password must not be empty"),
        None => (generate_password(), true),
    };
    println!("  hashing the admin password (argon2id)");
    let hash = portico_keymanager::hash_password(&password)?;
    let text = render_deployment_toml(
        options,
        &InitSecrets {
            admin_password_hash: hash,
            certificate: CERT_FILE.to_owned(),
            private_key: KEY_FILE.to_owned(),
        },
    );
    // Validate what we are about to write, so init never leaves an unusable home behind.
    Config::parse(&text, home, &config_path)?;
    write_owner_only(&config_path, text.as_bytes())?;
    println!(
        "  wrote {DEPLOYMENT_TOML} ({} database)",
        if options.postgres_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    if generated {
        println!();
        println!("  Admin user:     {}", options.admin_username);
        println!("  Admin password: {password}");
        println!("  (shown once: it is stored only as an argon2id hash; keep it somewhere safe)");
        println!();
    }
    println!(
        "Node home ready. Start it with: portico serve --home {}",
        home.display()
    );
    Ok(())
}

/// 24 characters from a 144-bit random value, URL-safe.
fn generate_password() -> String {
    use base64::Engine;
    let bytes: [u8; 18] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn write_owner_only(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("write {}", path.display()))
}
