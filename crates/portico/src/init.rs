//! `portico init` and `portico cert create`: creating a node's home.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use portico_config::{Config, DEPLOYMENT_TOML, InitOptions, render_deployment_toml};
use portico_keystore::KeyType;

use crate::cli::InitArgs;

/// Directories every home has (DESIGN.md §3).
const HOME_DIRS: &[&str] = &["conf/security", "database", "deployment/server", "logs"];
const CERT_FILE: &str = "conf/security/node-cert.pem";
const KEY_FILE: &str = "conf/security/node-key.pem";

/// Creates the home. Refuses when the home already has a configuration.
pub fn run(args: &InitArgs) -> anyhow::Result<PathBuf> {
    let home = &args.home.home;
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
    if let Some(url) = &args.database_url
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        bail!("--database-url must be a postgres:// URL (the embedded SQLite database needs no URL)");
    }
    println!("Creating node home {}", home.display());
    for dir in HOME_DIRS {
        std::fs::create_dir_all(home.join(dir)).with_context(|| format!("create {}", home.join(dir).display()))?;
    }

    let key_type: KeyType = args.key_type.into();
    let names = certificate_names(&args.hostname);
    println!(
        "  generating {key_type} key pair and self-signed certificate for {}",
        names.join(", ")
    );
    let pair = portico_keystore::generate_self_signed(&names, key_type)?;
    portico_keystore::write_pair(&pair, &home.join(CERT_FILE), &home.join(KEY_FILE), false)?;
    println!("  wrote {CERT_FILE} and {KEY_FILE} (used by [keystore.tls] and [keystore.primary])");

    let (password, generated) = match &args.admin_password {
        Some(p) if !p.is_empty() => (p.clone(), false),
        Some(_) => bail!("--admin-password must not be empty"),
        None => (generate_password(), true),
    };
    println!("  hashing the admin password (argon2id)");
    let hash = portico_keymanager::hash_password(&password)?;
    let text = render_deployment_toml(&InitOptions {
        hostname: args.hostname.clone(),
        offset: args.offset,
        admin_username: args.admin_username.clone(),
        admin_password_hash: hash,
        postgres_url: args.database_url.clone(),
        certificate: CERT_FILE.to_owned(),
        private_key: KEY_FILE.to_owned(),
    });
    // Validate what we are about to write, so init never leaves an unusable home behind.
    Config::parse(&text, home, &config_path)?;
    write_owner_only(&config_path, text.as_bytes())?;
    println!(
        "  wrote {DEPLOYMENT_TOML} ({} database)",
        if args.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    if generated {
        println!();
        println!("  Admin user:     {}", args.admin_username);
        println!("  Admin password: {password}");
        println!("  (shown once: it is stored only as an argon2id hash; keep it somewhere safe)");
        println!();
    }
    println!(
        "Node home ready. Start it with: portico serve --home {}",
        home.display()
    );
    Ok(home.clone())
}

/// `portico cert create`: a new pair where the configuration's [keystore.tls] points.
pub fn cert_create(home: &Path, hostnames: Vec<String>, key_type: KeyType, force: bool) -> anyhow::Result<()> {
    let config = Config::load(home)?;
    let names = if hostnames.is_empty() {
        certificate_names(&config.server.hostname)
    } else {
        hostnames
    };
    let cert = config.resolve(&config.keystore.tls.certificate);
    let key = config.resolve(&config.keystore.tls.private_key);
    println!(
        "Generating {key_type} key pair and self-signed certificate for {}",
        names.join(", ")
    );
    let pair = portico_keystore::generate_self_signed(&names, key_type)?;
    portico_keystore::write_pair(&pair, &cert, &key, force)?;
    println!("Wrote {} and {}", cert.display(), key.display());
    if config.keystore.primary.certificate == config.keystore.tls.certificate {
        println!("This pair is also [keystore.primary]: tokens signed with the old key are no longer valid.");
    }
    Ok(())
}

fn certificate_names(hostname: &str) -> Vec<String> {
    let mut names = vec![hostname.to_owned()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_owned());
        }
    }
    names
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
