//! Creating a key pair with a self-signed certificate (`portico cert create`) and writing it,
//! the private key readable by its owner only.

use std::fmt;
use std::path::Path;

use crate::error::KeystoreError;

/// Key algorithm of a generated pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// ECDSA P-256 with SHA-256 (ES256 tokens). The default: signing is 30x cheaper than RSA.
    #[default]
    EcP256,
    /// RSA 2048 with SHA-256 (RS256 tokens), for peers that only take RSA.
    Rsa2048,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::EcP256 => "EC P-256",
            KeyType::Rsa2048 => "RSA 2048",
        })
    }
}

/// A generated private key and its self-signed certificate, both PEM.
pub struct GeneratedPair {
    pub certificate_pem: String,
    pub private_key_pem: String,
}

/// Creates a key pair and a self-signed certificate valid for `hostnames` (DNS names or IPs),
/// for three years.
pub fn generate_self_signed(hostnames: &[String], key_type: KeyType) -> Result<GeneratedPair, KeystoreError> {
    let gen_err = |e: rcgen::Error| KeystoreError::Generate(e.to_string());
    let alg = match key_type {
        KeyType::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyType::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
    };
    let key = rcgen::KeyPair::generate_for(alg).map_err(gen_err)?;
    let mut params = rcgen::CertificateParams::new(hostnames.to_vec()).map_err(gen_err)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        hostnames.first().cloned().unwrap_or_else(|| "localhost".into()),
    );
    dn.push(rcgen::DnType::OrganizationName, "Portico");
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3 * 365);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.self_signed(&key).map_err(gen_err)?;
    Ok(GeneratedPair {
        certificate_pem: cert.pem(),
        private_key_pem: key.serialize_pem(),
    })
}

/// Writes a pair, the key readable by the owner only. Refuses to overwrite unless `force`.
pub fn write_pair(pair: &GeneratedPair, cert_path: &Path, key_path: &Path, force: bool) -> Result<(), KeystoreError> {
    for p in [cert_path, key_path] {
        if !force && p.exists() {
            return Err(KeystoreError::Exists { path: p.to_path_buf() });
        }
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|source| KeystoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    write_private(key_path, pair.private_key_pem.as_bytes())?;
    std::fs::write(cert_path, &pair.certificate_pem).map_err(|source| KeystoreError::Io {
        path: cert_path.to_path_buf(),
        source,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeystoreError> {
    use std::io::Write;
    let io = |source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)
}
