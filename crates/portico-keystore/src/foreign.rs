//! Other parties' public keys (external identity providers), read from PEM as token verifiers
//! take them.

use crate::error::KeystoreError;

/// The kind of a [`ForeignPublicKey`], which decides the JWS algorithms it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignKeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

/// A signing key of another party (an external identity provider), as token verifiers take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignPublicKey {
    pub kind: ForeignKeyKind,
    /// RSA: the PKCS#1 `RSAPublicKey` DER; EC: the uncompressed point; Ed25519: the 32 key bytes.
    pub key: Vec<u8>,
}

/// Reads the first PEM block of `text`: a `PUBLIC KEY` (SubjectPublicKeyInfo), an `RSA PUBLIC
/// KEY` (PKCS#1) or a `CERTIFICATE` (its subject's key). `text` may also be the base64 encoding
/// of such a PEM (WSO2's admin portal sends certificates that way). RSA, EC P-256/P-384 and
/// Ed25519 keys are usable; anything else is an error that says what was found.
pub fn parse_public_key_pem(text: &str) -> Result<ForeignPublicKey, KeystoreError> {
    use base64::Engine;
    use x509_parser::prelude::*;
    use x509_parser::public_key::RSAPublicKey;
    let err = |detail: String| KeystoreError::PublicKey(detail);
    let decoded;
    let text = if text.contains("-----BEGIN ") {
        text
    } else {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        decoded = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default();
        decoded.as_str()
    };
    let start = text
        .find("-----BEGIN ")
        .ok_or_else(|| err("no PEM block (`-----BEGIN ...-----`) found".into()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text.as_bytes()[start..])
        .map_err(|e| err(format!("the PEM block cannot be read: {e}")))?;
    match pem.label.as_str() {
        "RSA PUBLIC KEY" => {
            RSAPublicKey::from_der(&pem.contents).map_err(|e| err(format!("bad PKCS#1 RSA public key: {e}")))?;
            Ok(ForeignPublicKey {
                kind: ForeignKeyKind::Rsa,
                key: pem.contents,
            })
        }
        "PUBLIC KEY" => {
            let (_, spki) = SubjectPublicKeyInfo::from_der(&pem.contents)
                .map_err(|e| err(format!("bad SubjectPublicKeyInfo: {e}")))?;
            foreign_key(&spki).map_err(err)
        }
        "CERTIFICATE" => {
            let (_, cert) =
                X509Certificate::from_der(&pem.contents).map_err(|e| err(format!("bad certificate: {e}")))?;
            foreign_key(cert.public_key()).map_err(err)
        }
        other => Err(err(format!(
            "a `{other}` PEM block; expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE"
        ))),
    }
}

fn foreign_key(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Result<ForeignPublicKey, String> {
    let algorithm = spki.algorithm.algorithm.to_id_string();
    let key = spki.subject_public_key.data.to_vec();
    let kind = match algorithm.as_str() {
        "1.2.840.113549.1.1.1" => ForeignKeyKind::Rsa,
        "1.3.101.112" => ForeignKeyKind::Ed25519,
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => ForeignKeyKind::EcP256,
                "1.3.132.0.34" => ForeignKeyKind::EcP384,
                other => return Err(format!("EC curve `{other}` is not supported (P-256 and P-384 are)")),
            }
        }
        other => {
            return Err(format!(
                "key algorithm `{other}` is not supported (RSA, EC P-256/P-384 and Ed25519 are)"
            ));
        }
    };
    Ok(ForeignPublicKey { kind, key })
}
