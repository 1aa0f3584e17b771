//! Reading PEM files: the bytes of a file and the certificates of a PEM chain or bundle, with
//! errors that name the file.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::KeystoreError;

/// The bytes of `path`.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, KeystoreError> {
    std::fs::read(path).map_err(|source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Every `CERTIFICATE` block of `bytes` (read from `path`, which is `what`), at least one.
pub(crate) fn certificates(
    bytes: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, KeystoreError> {
    let pem_err = |detail: String| KeystoreError::Pem {
        path: path.to_path_buf(),
        what,
        detail,
    };
    let certificates = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(e.to_string()))?;
    if certificates.is_empty() {
        return Err(pem_err("no CERTIFICATE block".into()));
    }
    Ok(certificates)
}
