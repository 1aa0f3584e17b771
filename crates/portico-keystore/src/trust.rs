//! The trust store for the gateway's calls to https backends.

use std::path::Path;

use crate::error::KeystoreError;
use crate::material::KeyMaterial;
use crate::pem;

/// What the gateway trusts when it calls https backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustCounts {
    pub system_roots: usize,
    pub node_certificates: usize,
    pub bundle_certificates: usize,
}

/// The trust store for calls to backends: the operating system's roots (when `system_roots`),
/// the node's own certificate(s) (so a backend on this node's management port, such as the
/// PizzaShack sample, is trusted), and the CA certificates of an optional PEM bundle. System
/// certificates that cannot be parsed are skipped, as every TLS client does.
pub fn backend_trust_store(
    system_roots: bool,
    node: &KeyMaterial,
    bundle: Option<&Path>,
) -> Result<(rustls::RootCertStore, TrustCounts), KeystoreError> {
    let mut store = rustls::RootCertStore::empty();
    let mut counts = TrustCounts {
        system_roots: 0,
        node_certificates: 0,
        bundle_certificates: 0,
    };
    if system_roots {
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = store.add_parsable_certificates(native.certs);
        counts.system_roots = added;
    }
    let (added, _) = store.add_parsable_certificates(node.certificates.iter().cloned());
    counts.node_certificates = added;
    if let Some(path) = bundle {
        let certs = pem::certificates(&pem::read_file(path)?, path, "CA bundle")?;
        for cert in certs {
            store.add(cert).map_err(|e| KeystoreError::Pem {
                path: path.to_path_buf(),
                what: "CA bundle",
                detail: e.to_string(),
            })?;
            counts.bundle_certificates += 1;
        }
    }
    Ok((store, counts))
}
