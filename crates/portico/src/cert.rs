//! `portico cert create` and `portico cert show`: the node's key pair and certificate.

use std::path::{Path, PathBuf};

use portico_config::Config;
use portico_keystore::KeyType;

/// `portico cert create`: a new pair where the configuration's [keystore.tls] points.
pub fn create(home: &Path, hostnames: Vec<String>, key_type: KeyType, force: bool) -> anyhow::Result<()> {
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

/// `portico cert show`: the certificates of [keystore.tls] and [keystore.primary], or of one
/// PEM file.
pub fn show(home: &Path, file: Option<PathBuf>) -> anyhow::Result<()> {
    let targets: Vec<(String, PathBuf)> = match file {
        Some(f) => vec![(f.display().to_string(), f)],
        None => {
            let config = Config::load(home)?;
            vec![
                (
                    "[keystore.tls]".to_owned(),
                    config.resolve(&config.keystore.tls.certificate),
                ),
                (
                    "[keystore.primary]".to_owned(),
                    config.resolve(&config.keystore.primary.certificate),
                ),
            ]
        }
    };
    for (label, path) in targets {
        let info = portico_keystore::describe(&path)?;
        println!("{label} {}", path.display());
        println!("  subject:      {}", info.subject);
        println!(
            "  issuer:       {}{}",
            info.issuer,
            if info.self_signed { " (self-signed)" } else { "" }
        );
        println!("  names:        {}", info.subject_alt_names.join(", "));
        println!("  valid:        {} .. {}", info.not_before, info.not_after);
        println!("  key:          {}", info.key_algorithm);
        println!("  sha256:       {}", info.sha256_fingerprint);
    }
    Ok(())
}

/// The names a certificate for `hostname` is valid for: it and the loopback names.
pub fn certificate_names(hostname: &str) -> Vec<String> {
    let mut names = vec![hostname.to_owned()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_owned());
        }
    }
    names
}
