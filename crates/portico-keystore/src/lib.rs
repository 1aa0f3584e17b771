//! The node's key material: creating a key pair with a self-signed certificate (`portico cert
//! create`), describing a certificate (`portico cert show`), and loading PEM files into what
//! rustls and the token signer need.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

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

/// A loaded certificate chain and private key.
pub struct KeyMaterial {
    pub certificate_path: PathBuf,
    pub certificates: Vec<CertificateDer<'static>>,
    pub private_key: PrivateKeyDer<'static>,
    /// The key in PEM, as JWT libraries take it.
    pub private_key_pem: Vec<u8>,
    pub key_type: KeyType,
}

impl KeyMaterial {
    /// Loads a PEM certificate chain and a PEM private key.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<KeyMaterial, KeystoreError> {
        let cert_bytes = std::fs::read(cert_path).map_err(|source| KeystoreError::Io {
            path: cert_path.to_path_buf(),
            source,
        })?;
        let key_bytes = std::fs::read(key_path).map_err(|source| KeystoreError::Io {
            path: key_path.to_path_buf(),
            source,
        })?;
        let certificates = CertificateDer::pem_slice_iter(&cert_bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KeystoreError::Pem {
                path: cert_path.to_path_buf(),
                what: "certificate",
                detail: e.to_string(),
            })?;
        if certificates.is_empty() {
            return Err(KeystoreError::Pem {
                path: cert_path.to_path_buf(),
                what: "certificate",
                detail: "no CERTIFICATE block".into(),
            });
        }
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
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| KeystoreError::Tls(e.to_string()))?
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

fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

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
    let bytes = std::fs::read(cert_path).map_err(|source| KeystoreError::Io {
        path: cert_path.to_path_buf(),
        source,
    })?;
    let pem_err = |detail: String| KeystoreError::Pem {
        path: cert_path.to_path_buf(),
        what: "certificate",
        detail,
    };
    let der = CertificateDer::from_pem_slice(&bytes).map_err(|e| pem_err(e.to_string()))?;
    describe_der(&der).map_err(pem_err)
}

fn describe_der(der: &CertificateDer<'_>) -> Result<CertificateInfo, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(key_type: KeyType, expect_alg: &str) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        let pair = generate_self_signed(&["node1.test".into(), "localhost".into(), "127.0.0.1".into()], key_type)
            .expect("generate");
        write_pair(&pair, &cert, &key, false).expect("write");
        assert!(matches!(
            write_pair(&pair, &cert, &key, false),
            Err(KeystoreError::Exists { .. })
        ));
        let info = describe(&cert).expect("describe");
        assert!(info.key_algorithm.starts_with(expect_alg), "{}", info.key_algorithm);
        assert!(info.subject_alt_names.contains(&"DNS:node1.test".to_owned()));
        assert!(info.subject_alt_names.contains(&"IP:127.0.0.1".to_owned()));
        assert!(info.self_signed);
        let material = KeyMaterial::load(&cert, &key).expect("load");
        assert_eq!(material.key_type, key_type);
        let public = material.public_key().expect("public key");
        match (&public.components, key_type) {
            (PublicKeyComponents::Ec { x, y }, KeyType::EcP256) => assert_eq!((x.len(), y.len()), (32, 32)),
            (PublicKeyComponents::Rsa { n, e }, KeyType::Rsa2048) => {
                assert_eq!(n.len(), 256);
                assert_eq!(e, &vec![1, 0, 1]);
            }
            other => panic!("unexpected public key {other:?}"),
        }
        material
            .server_config(&[b"h2", b"http/1.1"])
            .expect("rustls accepts it");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn ec_pair_roundtrips() {
        roundtrip(KeyType::EcP256, "EC P-256");
    }

    #[test]
    fn rsa_pair_roundtrips() {
        roundtrip(KeyType::Rsa2048, "RSA 2048");
    }

    #[test]
    fn garbage_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "not pem").expect("write");
        let err = KeyMaterial::load(&cert, &cert).err().expect("fails");
        assert!(err.to_string().contains("c.pem"), "{err}");
    }

    #[test]
    fn foreign_public_keys_from_pem() {
        for (key_type, kind) in [
            (KeyType::EcP256, ForeignKeyKind::EcP256),
            (KeyType::Rsa2048, ForeignKeyKind::Rsa),
        ] {
            let pair = generate_self_signed(&["idp.test".into()], key_type).expect("generate");
            let from_cert = parse_public_key_pem(&pair.certificate_pem).expect("certificate");
            assert_eq!(from_cert.kind, kind);
            let dir = tempfile::tempdir().expect("tempdir");
            let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
            write_pair(&pair, &cert, &key, false).expect("write");
            let pem = KeyMaterial::load(&cert, &key)
                .expect("load")
                .public_key_pem()
                .expect("public key pem");
            let from_spki = parse_public_key_pem(&format!("leading text\n{pem}")).expect("public key");
            assert_eq!(from_spki, from_cert);
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
            assert_eq!(parse_public_key_pem(&encoded).expect("base64 of a PEM"), from_cert);
        }
        let private = generate_self_signed(&["idp.test".into()], KeyType::EcP256)
            .expect("generate")
            .private_key_pem;
        let e = parse_public_key_pem(&private).expect_err("a private key is refused");
        assert!(e.to_string().contains("PRIVATE KEY"), "{e}");
        assert!(parse_public_key_pem("not pem").is_err());
        assert!(parse_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err());
    }
}

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
        let bytes = std::fs::read(path).map_err(|source| KeystoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KeystoreError::Pem {
                path: path.to_path_buf(),
                what: "CA bundle",
                detail: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(KeystoreError::Pem {
                path: path.to_path_buf(),
                what: "CA bundle",
                detail: "no CERTIFICATE block".into(),
            });
        }
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
