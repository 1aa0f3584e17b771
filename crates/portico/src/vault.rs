//! `portico vault encrypt`: seals a value into `[secrets]` of a home's `deployment.toml`
//! (WSO2's cipher tool, done simply). The value comes from standard input or an environment
//! variable, never from the command line (which other users can read in `ps`), and is never
//! printed; the vault key is `PORTICO_VAULT_KEY`, else `conf/security/vault.key`, made (owner-only)
//! when neither exists.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use portico_config::vault::{VAULT_KEY_FILE, VAULT_KEY_VAR, VaultKey};
use portico_config::{Config, DEPLOYMENT_TOML, valid_alias, with_secret};

/// Where the value to seal comes from.
pub enum Plaintext<'a> {
    Stdin,
    Env(&'a str),
}

pub fn encrypt(home: &Path, alias: &str, from: Plaintext<'_>) -> anyhow::Result<()> {
    if !valid_alias(alias) {
        bail!("--alias `{alias}`: an alias is letters, digits, `_` and `-` (at most 128)");
    }
    let path = home.join(DEPLOYMENT_TOML);
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let value = match from {
        Plaintext::Env(var) => {
            std::env::var(var).with_context(|| format!("environment variable `{var}` is not set"))?
        }
        Plaintext::Stdin => {
            let mut value = String::new();
            std::io::stdin()
                .read_to_string(&mut value)
                .context("read the value from standard input")?;
            value
                .strip_suffix('\n')
                .map(|v| v.strip_suffix('\r').unwrap_or(v))
                .unwrap_or(&value)
                .to_owned()
        }
    };
    if value.is_empty() {
        bail!("the value for `{alias}` is empty: nothing to seal");
    }
    let (key, created) = match VaultKey::load(home)? {
        Some(key) => (key, false),
        None => {
            let file = home.join(VAULT_KEY_FILE);
            let (key, key_text) = VaultKey::generate(file.display().to_string())?;
            crate::init::write_owner_only(&file, format!("{key_text}\n").as_bytes())?;
            (key, true)
        }
    };
    let sealed = key.seal(alias, &value)?;
    let updated = with_secret(&text, alias, &sealed);
    // What is written must load, so that `serve` starts with it (errors name keys, not values).
    Config::parse(&updated, home, &path).context("the configuration would not be valid with this alias")?;
    replace_owner_only(&path, &updated)?;
    if created {
        println!(
            "Created the vault key {} (owner-only). Keep it with the home, or move its text to ${VAULT_KEY_VAR} and delete the file.",
            key.origin()
        );
    }
    println!(
        "Sealed `{alias}` into [secrets] of {} (AES-256-GCM, key from {}). Use it as \"$secret{{{alias}}}\".",
        path.display(),
        key.origin()
    );
    Ok(())
}

/// Writes `text` to a new owner-only file beside `path`, then renames it over `path`.
fn replace_owner_only(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.new");
    let _ = std::fs::remove_file(&tmp);
    crate::init::write_owner_only(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, path).with_context(|| format!("replace {}", path.display()))
}
