//! Rotated signing keys: the pairs `portico keys rotate` adds beside `[keystore.primary]`, in the
//! `signing/` directory next to the primary private key, as `signing-NNNN-cert.pem` and
//! `signing-NNNN-key.pem`. The primary pair is number 1; the highest number a node holds is the
//! key it signs with. The primary pair itself never changes: secrets derived from it (client
//! secret hashes, the Traffic Manager's cluster secret) stay valid across rotations.

use std::path::{Path, PathBuf};

use crate::error::KeystoreError;
use crate::generate::{GeneratedPair, write_pair};
use crate::material::KeyMaterial;

/// The directory of rotated keys for a primary private key at `primary_key`.
pub fn signing_dir(primary_key: &Path) -> PathBuf {
    primary_key.parent().unwrap_or(Path::new(".")).join("signing")
}

/// One rotated pair's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyFiles {
    /// 2 for the first rotation (the primary pair is 1).
    pub number: u32,
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

impl SigningKeyFiles {
    fn at(dir: &Path, number: u32) -> SigningKeyFiles {
        SigningKeyFiles {
            number,
            certificate: dir.join(format!("signing-{number:04}-cert.pem")),
            private_key: dir.join(format!("signing-{number:04}-key.pem")),
        }
    }

    pub fn load(&self) -> Result<KeyMaterial, KeystoreError> {
        KeyMaterial::load(&self.certificate, &self.private_key)
    }
}

/// The rotated pairs in `dir`, oldest first (none when the directory does not exist). A number
/// with a private key but no certificate is refused, naming the missing file.
pub fn rotated_keys(dir: &Path) -> Result<Vec<SigningKeyFiles>, KeystoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(KeystoreError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut numbers = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| KeystoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        let Some(number) = name.to_str().and_then(|n| {
            n.strip_prefix("signing-")?
                .strip_suffix("-key.pem")?
                .parse::<u32>()
                .ok()
        }) else {
            continue;
        };
        numbers.push(number);
    }
    numbers.sort_unstable();
    numbers
        .into_iter()
        .map(|n| {
            let files = SigningKeyFiles::at(dir, n);
            if files.certificate.exists() {
                Ok(files)
            } else {
                Err(KeystoreError::Io {
                    path: files.certificate.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "the certificate of a rotated signing key is missing",
                    ),
                })
            }
        })
        .collect()
}

/// Writes `pair` as the next rotated key of `dir` (the private key readable by its owner only)
/// and returns its files.
pub fn add_rotated_key(dir: &Path, pair: &GeneratedPair) -> Result<SigningKeyFiles, KeystoreError> {
    let next = rotated_keys(dir)?.last().map_or(2, |f| f.number + 1);
    let files = SigningKeyFiles::at(dir, next);
    write_pair(pair, &files.certificate, &files.private_key, false)?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{KeyType, generate_self_signed};

    #[test]
    fn rotated_keys_are_numbered_after_the_primary_and_listed_oldest_first() {
        let home = tempfile::tempdir().expect("tempdir");
        let dir = signing_dir(&home.path().join("conf/security/node-key.pem"));
        assert_eq!(dir, home.path().join("conf/security/signing"));
        assert!(rotated_keys(&dir).expect("no directory yet").is_empty());
        let pair = || generate_self_signed(&["localhost".into()], KeyType::EcP256).expect("generate");
        let first = add_rotated_key(&dir, &pair()).expect("first rotation");
        let second = add_rotated_key(&dir, &pair()).expect("second rotation");
        assert_eq!((first.number, second.number), (2, 3));
        assert!(second.private_key.ends_with("signing-0003-key.pem"));
        assert_eq!(rotated_keys(&dir).expect("listed"), vec![first.clone(), second.clone()]);
        assert_ne!(
            first.load().expect("loads").fingerprint(),
            second.load().expect("loads").fingerprint()
        );
        std::fs::remove_file(&first.certificate).expect("remove");
        let err = rotated_keys(&dir).expect_err("a key without its certificate");
        assert!(err.to_string().contains("signing-0002-cert.pem"), "{err}");
    }
}
