//! `portico keys rotate`: a new signing key for the cluster. It writes the pair into
//! `conf/security/signing/` beside `[keystore.primary]`, records its public half in the store
//! with a `signing_key.changed` event (every node validates it and lists it in its JWKS at
//! once), and sets when the keys it supersedes retire: after the last token they signed has
//! expired. The node of this home signs with it within seconds (it watches `signing/`); other
//! nodes once the operator has copied `conf/security/signing/` to them, as the command prints.

use std::path::Path;

use anyhow::Context;
use portico_config::Config;
use portico_keymanager::PublishedKey;
use portico_keymanager::jwt::LEEWAY_SECONDS;
use portico_keystore::KeyMaterial;
use portico_store::{NewSigningKey, Store};

/// Rotates the signing key of the cluster `home` belongs to. Superseded keys keep validating
/// for `keep_old_seconds` (default: the access token lifetime plus the clock leeway).
pub fn rotate(home: &Path, keep_old_seconds: Option<u64>) -> anyhow::Result<()> {
    let config = Config::load(home)?;
    let primary_key = config.resolve(&config.keystore.primary.private_key);
    let primary = KeyMaterial::load(&config.resolve(&config.keystore.primary.certificate), &primary_key)
        .with_context(|| format!("[keystore.primary] in {}", config.path.display()))?;
    let dir = portico_keystore::signing_dir(&primary_key);
    // The keys held so far, recorded first in case no node has started on this store yet (the
    // rotation retires them).
    let mut held = vec![PublishedKey::of(&primary)?];
    for files in portico_keystore::rotated_keys(&dir)? {
        held.push(PublishedKey::of(&files.load()?)?);
    }
    let pair = portico_keystore::generate_self_signed(
        &[config.server.hostname.clone(), "localhost".to_owned()],
        primary.key_type,
    )?;
    let files = portico_keystore::add_rotated_key(&dir, &pair)?;
    let key = PublishedKey::of(&files.load()?)?;
    let keep = keep_old_seconds
        .unwrap_or_else(|| u64::try_from(config.oauth.access_token_validity_seconds).unwrap_or(0) + LEEWAY_SECONDS);
    let retire_at = portico_store::now_millis().saturating_add(i64::try_from(keep.saturating_mul(1000))?);
    let recorded = record(&config, &held, &key, retire_at);
    if let Err(e) = recorded {
        // Without its public half in the store, no other node would accept its tokens.
        for path in [&files.private_key, &files.certificate] {
            let _ = std::fs::remove_file(path);
        }
        return Err(e.context("record the new key in the database (the key files were removed again)"));
    }
    let security = primary_key.parent().unwrap_or(home);
    println!("Rotated the signing key: key id {} ({})", key.kid, key.algorithm);
    println!(
        "  wrote {} and {}",
        files.private_key.display(),
        files.certificate.display()
    );
    println!(
        "  every node validates it now; the keys it supersedes stay in the JWKS and keep validating for {keep} s (until their last token has expired)"
    );
    println!("  the node of this home signs with it within seconds (or at once: kill -HUP <its pid>)");
    println!("Other nodes of the cluster sign with the newest key they hold. On each of them:");
    println!(
        "  1. copy {}/ to the node's conf/security/signing/ (keep the files readable by the node's user only: chmod 600 *-key.pem)",
        dir.display()
    );
    println!(
        "  2. send it SIGHUP (kill -HUP <pid>) or restart it: it signs with key id {}",
        key.kid
    );
    println!(
        "  3. do it within {keep} s: a node still signing with a retired key issues tokens the other nodes refuse"
    );
    println!(
        "  (new nodes: `portico init --join <copy of {}>` copies signing/ too)",
        security.display()
    );
    Ok(())
}

fn record(config: &Config, held: &[PublishedKey], key: &PublishedKey, retire_at: i64) -> anyhow::Result<()> {
    let row = |key: &PublishedKey| NewSigningKey {
        kid: key.kid.clone(),
        algorithm: key.algorithm.clone(),
        public_key_pem: key.public_key_pem.clone(),
        jwk: key.jwk.to_string(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async {
        let store = Store::connect_existing(&crate::node::store::options(config)).await?;
        let mut recorded = Ok(());
        for old in held {
            recorded = store.register_signing_key(&row(old)).await;
            if recorded.is_err() {
                break;
            }
        }
        if recorded.is_ok() {
            recorded = store.rotate_signing_key(&row(key), retire_at).await;
        }
        store.close().await;
        anyhow::Ok(recorded?)
    })
}
