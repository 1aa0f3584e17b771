//! What can go wrong with key material; every variant names the file or the value at fault.

use std::path::PathBuf;

/// Why key material could not be created, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a usable PEM {what}: {detail}", path.display())]
    Pem {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("cannot generate the certificate: {0}")]
    Generate(String),
    #[error("the TLS key and certificate do not work together: {0}")]
    Tls(String),
    #[error("{} already exists; remove it or pass --force", path.display())]
    Exists { path: PathBuf },
    #[error("not a usable public key: {0}")]
    PublicKey(String),
}
