//! The node's loaded key material: a PEM certificate chain and private key, as rustls (TLS) and
//! the token signer (public key, JWK components) take them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::certificate::{describe_der, fingerprint};
use crate::error::KeystoreError;
use crate::generate::KeyType;
use crate::pem;

/// A loaded certificate chain and private key.
pub struct KeyMaterial {
    pub certificate_path: PathBuf,
    pub certificates: Vec<CertificateDer<'static>>,
    pub private_key: PrivateKeyDer<'static>,
    /// The key in PEM, as JWT libraries take it.
    pub private_key_pem: Vec<u8>,
    pub key_type: KeyType,
}

impl Clone for KeyMaterial {
    fn clone(&self) -> Self {
        KeyMaterial {
            certificate_path: self.certificate_path.clone(),
            certificates: self.certificates.clone(),
            private_key: self.private_key.clone_key(),
            private_key_pem: self.private_key_pem.clone(),
            key_type: self.key_type,
        }
    }
}

impl KeyMaterial {
    /// Loads a PEM certificate chain and a PEM private key.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<KeyMaterial, KeystoreError> {
        let cert_bytes = pem::read_file(cert_path)?;
        let key_bytes = pem::read_file(key_path)?;
        let certificates = pem::certificates(&cert_bytes, cert_path, "certificate")?;
        let private_key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| KeystoreError::Pem {
            path: key_path.to_path_buf(),
            what: "private key",
            detail: e.to_string(),
        })?;
        let key_type = match &private_key {
            PrivateKeyDer::Pkcs1(_) => KeyType::Rsa2048,
            PrivateKeyDer::Sec1(_) => KeyType::EcP256,
            _ => {
                let info = describe_der(&certificates[0]).map_err(|detail| KeystoreError::Pem {
                    path: cert_path.to_path_buf(),
                    what: "certificate",
                    detail,
                })?;
                if info.key_algorithm.starts_with("RSA") {
                    KeyType::Rsa2048
                } else {
                    KeyType::EcP256
                }
            }
        };
        Ok(KeyMaterial {
            certificate_path: cert_path.to_path_buf(),
            certificates,
            private_key,
            private_key_pem: key_bytes,
            key_type,
        })
    }

    /// A rustls server configuration for this key, offering the given ALPN protocols.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, KeystoreError> {
        let mut config = server_builder()?
            .with_no_client_auth()
            .with_single_cert(self.certificates.clone(), self.private_key.clone_key())
            .map_err(|e| KeystoreError::Tls(e.to_string()))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// The leaf certificate's public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), the form
    /// token verifiers take.
    pub fn public_key_pem(&self) -> Result<String, KeystoreError> {
        use base64::Engine;
        let der = self.public_key()?.spki_der;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Ok(pem)
    }

    /// The leaf certificate's public key: its SubjectPublicKeyInfo DER and its JWK components.
    pub fn public_key(&self) -> Result<PublicKey, KeystoreError> {
        use x509_parser::prelude::*;
        let pem_err = |detail: String| KeystoreError::Pem {
            path: self.certificate_path.clone(),
            what: "certificate",
            detail,
        };
        let (_, cert) = X509Certificate::from_der(self.certificates[0].as_ref()).map_err(|e| pem_err(e.to_string()))?;
        let spki = cert.public_key();
        let components = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::EC(point)) => {
                let data = point.data();
                // Uncompressed P-256 point: 0x04 || x (32) || y (32).
                if data.len() != 65 || data[0] != 4 {
                    return Err(pem_err("the EC public key is not an uncompressed P-256 point".into()));
                }
                PublicKeyComponents::Ec {
                    x: data[1..33].to_vec(),
                    y: data[33..65].to_vec(),
                }
            }
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => PublicKeyComponents::Rsa {
                n: strip_leading_zeros(rsa.modulus),
                e: strip_leading_zeros(rsa.exponent),
            },
            Ok(_) => return Err(pem_err("the public key is neither EC P-256 nor RSA".into())),
            Err(e) => return Err(pem_err(e.to_string())),
        };
        Ok(PublicKey {
            spki_der: spki.raw.to_vec(),
            components,
        })
    }

    /// SHA-256 fingerprint of the leaf certificate, colon-separated hex.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.certificates[0])
    }
}

/// The start of every server configuration: aws-lc-rs with its default cipher suites (TLS 1.3's
/// AES-GCM and ChaCha20-Poly1305; for TLS 1.2 only ECDHE with AEAD suites, no CBC, RC4 or static
/// RSA key exchange) and TLS 1.3 and 1.2 only: 1.0 and 1.1 are refused.
pub(crate) fn server_builder()
-> Result<rustls::ConfigBuilder<rustls::ServerConfig, rustls::WantsVerifier>, KeystoreError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| KeystoreError::Tls(e.to_string()))
}

/// A public key as JWKS publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// DER SubjectPublicKeyInfo (what a stable key id is computed from).
    pub spki_der: Vec<u8>,
    pub components: PublicKeyComponents,
}

/// Big-endian unsigned integers, as JWK's base64url fields carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyComponents {
    Ec { x: Vec<u8>, y: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    bytes[start..].to_vec()
}
