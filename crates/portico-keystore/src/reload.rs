//! A TLS certificate that can be replaced while the listeners run: a rustls
//! [`ResolvesServerCert`] over an atomically swapped [`CertifiedKey`], re-read from the
//! configured files on [`ReloadableCert::reload`] (the node calls it on SIGHUP and when the
//! files change). Connections already open keep the certificate they started with.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::KeystoreError;
use crate::material::KeyMaterial;

/// The certificate every TLS listener of the node presents, replaceable at run time.
pub struct ReloadableCert {
    certificate: PathBuf,
    private_key: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// Modification times of the files the current certificate was read from.
    loaded_from: std::sync::Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableCert")
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn certified(material: &KeyMaterial) -> Result<CertifiedKey, KeystoreError> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    CertifiedKey::from_der(
        material.certificates.clone(),
        material.private_key.clone_key(),
        &provider,
    )
    .map_err(|e| KeystoreError::Tls(e.to_string()))
}

impl ReloadableCert {
    /// The certificate and key `material` was loaded from.
    pub fn new(material: &KeyMaterial, private_key: &Path) -> Result<Arc<ReloadableCert>, KeystoreError> {
        Ok(Arc::new(ReloadableCert {
            certificate: material.certificate_path.clone(),
            private_key: private_key.to_path_buf(),
            current: ArcSwap::from_pointee(certified(material)?),
            loaded_from: std::sync::Mutex::new((modified(&material.certificate_path), modified(private_key))),
        }))
    }

    /// Re-reads both files; on success new handshakes present the new certificate, which is
    /// returned. On failure the current certificate stays and the error names the file.
    pub fn reload(&self) -> Result<KeyMaterial, KeystoreError> {
        let stamps = (modified(&self.certificate), modified(&self.private_key));
        let material = KeyMaterial::load(&self.certificate, &self.private_key)?;
        self.current.store(Arc::new(certified(&material)?));
        if let Ok(mut loaded) = self.loaded_from.lock() {
            *loaded = stamps;
        }
        Ok(material)
    }

    /// Whether either file changed since it was last read.
    pub fn files_changed(&self) -> bool {
        let now = (modified(&self.certificate), modified(&self.private_key));
        self.loaded_from.lock().map(|loaded| *loaded != now).unwrap_or(false)
    }

    /// A rustls server configuration presenting this certificate (TLS 1.3 and 1.2 only, with
    /// rustls' default, modern cipher suites), offering the given ALPN protocols.
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, KeystoreError> {
        let mut config = crate::material::server_builder()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{KeyType, generate_self_signed, write_pair};

    #[test]
    fn reload_presents_the_new_certificate_and_keeps_the_old_one_on_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let pair = || generate_self_signed(&["localhost".into()], KeyType::EcP256).expect("generate");
        write_pair(&pair(), &cert, &key, false).expect("write");
        let material = KeyMaterial::load(&cert, &key).expect("load");
        let reloadable = ReloadableCert::new(&material, &key).expect("certified");
        let presented = |r: &ReloadableCert| r.current.load().cert[0].clone();
        assert_eq!(presented(&reloadable), material.certificates[0]);
        assert!(!reloadable.files_changed());

        write_pair(&pair(), &cert, &key, true).expect("replace");
        // Same-second writes may keep the modification time; the explicit reload still reads.
        let replaced = reloadable.reload().expect("reload");
        assert_ne!(replaced.certificates[0], material.certificates[0]);
        assert_eq!(presented(&reloadable), replaced.certificates[0]);
        assert!(!reloadable.files_changed());

        std::fs::write(&cert, "not pem").expect("break");
        let Err(err) = reloadable.reload() else {
            panic!("garbage refused")
        };
        assert!(err.to_string().contains("c.pem"), "{err}");
        assert_eq!(presented(&reloadable), replaced.certificates[0]);
        reloadable
            .server_config(&[b"http/1.1"])
            .expect("rustls takes the resolver");
    }
}
