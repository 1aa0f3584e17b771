//! `portico init`: creating a node's home (also what `portico serve` does first when there is
//! none). Everything the home will hold is prepared and checked first and written last, so a
//! refusal leaves nothing behind; `join` makes a home the same way from an existing cluster.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use portico_config::{Config, DEPLOYMENT_TOML, InitOptions, InitSecrets, render_deployment_toml};
use portico_keystore::KeyType;

use crate::cert::certificate_names;

/// Environment variable with the admin password of a new home.
pub const ADMIN_PASSWORD_VAR: &str = "PORTICO_ADMIN_PASSWORD";
/// Directories every home has (DESIGN.md §3).
const HOME_DIRS: &[&str] = &["conf/security", "database", "deployment/server", "logs"];
/// Where a new home's key pair lives, for [keystore.tls] and [keystore.primary] alike.
const SECURITY_DIR: &str = "conf/security";
pub const CERT_NAME: &str = "node-cert.pem";
pub const KEY_NAME: &str = "node-key.pem";

/// Creates the home with a `key_type` key pair and the admin's password (generated and printed
/// once when `None`). Refuses when the home already has a configuration.
pub fn run(
    home: &Path,
    options: &InitOptions,
    key_type: KeyType,
    admin_password: Option<String>,
) -> anyhow::Result<()> {
    refuse_existing(home, options)?;
    println!("Creating node home {}", home.display());
    let names = certificate_names(&options.hostname);
    println!(
        "  generating {key_type} key pair and self-signed certificate for {}",
        names.join(", ")
    );
    let pair = portico_keystore::generate_self_signed(&names, key_type)?;
    let (password, generated) = match admin_password {
        Some(p) if !p.is_empty() => (p, false),
        Some(_) => bail!("--admin-password must not be empty"),
        None => (generate_password(), true),
    };
    println!("  hashing the admin password (argon2id)");
    let hash = portico_keymanager::hash_password(&password)?;
    let (config, _) = render_config(home, options, hash)?;
    write_home(
        home,
        &[
            (security_file(CERT_NAME), pair.certificate_pem.into_bytes()),
            (security_file(KEY_NAME), pair.private_key_pem.into_bytes()),
            (PathBuf::from(DEPLOYMENT_TOML), config.into_bytes()),
        ],
    )?;
    println!(
        "  wrote {SECURITY_DIR}/{CERT_NAME} and {SECURITY_DIR}/{KEY_NAME} (used by [keystore.tls] and [keystore.primary])"
    );
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

/// Refuses a home that already has a configuration, and a database URL that is not PostgreSQL.
pub fn refuse_existing(home: &Path, options: &InitOptions) -> anyhow::Result<()> {
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
    Ok(())
}

/// `conf/security/<name>`.
pub fn security_file(name: &str) -> PathBuf {
    Path::new(SECURITY_DIR).join(name)
}

/// The home's `deployment.toml`, validated before anything is written (init never leaves an
/// unusable home behind).
pub fn render_config(
    home: &Path,
    options: &InitOptions,
    admin_password_hash: String,
) -> anyhow::Result<(String, Config)> {
    let text = render_deployment_toml(
        options,
        &InitSecrets {
            admin_password_hash,
            certificate: security_file(CERT_NAME).display().to_string(),
            private_key: security_file(KEY_NAME).display().to_string(),
        },
    );
    let config = Config::parse(&text, home, &home.join(DEPLOYMENT_TOML))?;
    Ok((text, config))
}

/// Creates the home's directories and `files` (paths relative to the home, each created new and
/// readable by the owner only). On failure, removes every file and directory it created.
pub fn write_home(home: &Path, files: &[(PathBuf, Vec<u8>)]) -> anyhow::Result<()> {
    let mut created = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for dir in HOME_DIRS {
            create_dir(&home.join(dir), &mut created)
                .with_context(|| format!("create {}", home.join(dir).display()))?;
        }
        for (path, bytes) in files {
            let path = home.join(path);
            if let Some(parent) = path.parent() {
                // conf/security/signing/ of a joined cluster that rotated its keys.
                create_dir(parent, &mut created).with_context(|| format!("create {}", parent.display()))?;
            }
            write_owner_only(&path, bytes)?;
            created.push(path);
        }
        Ok(())
    })();
    if result.is_err() {
        for path in created.iter().rev() {
            let _ = if path.is_dir() {
                std::fs::remove_dir(path)
            } else {
                std::fs::remove_file(path)
            };
        }
    }
    result
}

/// `create_dir_all` that records each directory it made, parents first.
fn create_dir(path: &Path, created: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dir(parent, created)?;
    }
    std::fs::create_dir(path)?;
    created.push(path.to_path_buf());
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
