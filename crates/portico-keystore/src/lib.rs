//! The node's key material, one module per job: creating a key pair with a self-signed
//! certificate (`generate`, for `portico cert create`), describing a certificate (`certificate`,
//! for `portico cert show`), loading PEM files into what rustls and the token signer need
//! (`material`, over `pem`), reading other parties' public keys (`foreign`), and the trust store
//! for calls to https backends (`trust`), the TLS certificate replaced while the node runs
//! (`reload`), and the signing keys `portico keys rotate` adds (`signing`).
#![forbid(unsafe_code)]

mod certificate;
mod error;
mod foreign;
mod generate;
mod material;
mod pem;
mod reload;
mod signing;
mod trust;

pub use certificate::{CertificateInfo, describe};
pub use error::KeystoreError;
pub use foreign::{ForeignKeyKind, ForeignPublicKey, parse_public_key_pem};
pub use generate::{GeneratedPair, KeyType, generate_self_signed, write_pair};
pub use material::{KeyMaterial, PublicKey, PublicKeyComponents};
pub use reload::ReloadableCert;
pub use signing::{SigningKeyFiles, add_rotated_key, rotated_keys, signing_dir};
pub use trust::{TrustCounts, backend_trust_store};

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
