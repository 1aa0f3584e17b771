//! Describing a certificate (`portico cert show`): subject, issuer, names, validity, key
//! algorithm and fingerprint.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

use crate::error::KeystoreError;
use crate::pem;

/// What `portico cert show` prints about a certificate.
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    pub subject_alt_names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub key_algorithm: String,
    pub sha256_fingerprint: String,
    pub self_signed: bool,
}

/// Reads the first certificate of a PEM file.
pub fn describe(cert_path: &Path) -> Result<CertificateInfo, KeystoreError> {
    let bytes = pem::read_file(cert_path)?;
    let pem_err = |detail: String| KeystoreError::Pem {
        path: cert_path.to_path_buf(),
        what: "certificate",
        detail,
    };
    let der = CertificateDer::from_pem_slice(&bytes).map_err(|e| pem_err(e.to_string()))?;
    describe_der(&der).map_err(pem_err)
}

pub(crate) fn describe_der(der: &CertificateDer<'_>) -> Result<CertificateInfo, String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).map_err(|e| e.to_string())?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                GeneralName::IPAddress(ip) => sans.push(match ip.len() {
                    4 => format!("IP:{}", std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
                    16 => {
                        let mut b = [0u8; 16];
                        b.copy_from_slice(ip);
                        format!("IP:{}", std::net::Ipv6Addr::from(b))
                    }
                    _ => "IP:?".to_owned(),
                }),
                other => sans.push(format!("{other:?}")),
            }
        }
    }
    let key_algorithm = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(ec)) => format!("EC P-{}", ec.key_size()),
        Ok(_) => "other".to_owned(),
        Err(_) => "unknown".to_owned(),
    };
    Ok(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        subject_alt_names: sans,
        not_before: cert.validity().not_before.to_string(),
        not_after: cert.validity().not_after.to_string(),
        key_algorithm,
        sha256_fingerprint: fingerprint(der.as_ref()),
        self_signed: cert.subject() == cert.issuer(),
    })
}

/// SHA-256 of `der`, colon-separated upper-case hex.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
