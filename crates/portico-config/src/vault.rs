//! The vault's cipher (WSO2's Secure Vault, done simply): AES-256-GCM under one key, read from
//! `PORTICO_VAULT_KEY` or, when that is unset, `conf/security/vault.key` (base64 of 32 random
//! bytes either way). `portico vault encrypt` seals values with it; the node opens them in memory
//! at start. Each value's alias is its associated data, so a sealed value moved to another alias
//! does not open.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Environment variable holding the vault key (base64 of 32 bytes); preferred to the key file.
pub const VAULT_KEY_VAR: &str = "PORTICO_VAULT_KEY";
/// The vault key file inside a node's home, used when `PORTICO_VAULT_KEY` is unset.
pub const VAULT_KEY_FILE: &str = "conf/security/vault.key";
/// What a sealed value starts with.
const SEALED_PREFIX: &str = "aes256gcm:";
const KEY_BYTES: usize = 32;

/// Why a value could not be sealed or opened. Messages name aliases and key sources, never values.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no vault key: set {VAULT_KEY_VAR} or create {} (`portico vault encrypt` makes one)", file.display())]
    NoKey { file: PathBuf },
    #[error("the vault key in {origin} is not the base64 of 32 bytes (make one with `openssl rand -base64 32`)")]
    BadKey { origin: String },
    #[error("cannot read the vault key {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("is not a value `portico vault encrypt` wrote (`{SEALED_PREFIX}...`)")]
    NotSealed,
    #[error("does not decrypt with the vault key from {origin} (another key, or an altered value)")]
    Open { origin: String },
    #[error("cannot encrypt")]
    Seal,
}

/// The key values are sealed and opened with.
pub struct VaultKey {
    key: LessSafeKey,
    /// Where the key came from, for messages.
    origin: String,
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKey")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl VaultKey {
    /// The key of `PORTICO_VAULT_KEY`, else of `<home>/conf/security/vault.key`; `None` when neither
    /// exists.
    pub fn load(home: &Path) -> Result<Option<VaultKey>, VaultError> {
        if let Ok(text) = std::env::var(VAULT_KEY_VAR) {
            return VaultKey::from_base64(&text, format!("${VAULT_KEY_VAR}")).map(Some);
        }
        let path = home.join(VAULT_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => VaultKey::from_base64(&text, path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(VaultError::Read { path, source }),
        }
    }

    /// Like [`VaultKey::load`], but no key is an error naming where one is looked for.
    pub fn require(home: &Path) -> Result<VaultKey, VaultError> {
        VaultKey::load(home)?.ok_or_else(|| VaultError::NoKey {
            file: home.join(VAULT_KEY_FILE),
        })
    }

    /// A new random key and its base64 text (what the key file holds).
    pub fn generate(origin: String) -> Result<(VaultKey, String), VaultError> {
        let mut bytes = [0u8; KEY_BYTES];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| VaultError::Seal)?;
        let text = STANDARD.encode(bytes);
        Ok((VaultKey::from_bytes(&bytes, origin)?, text))
    }

    fn from_base64(text: &str, origin: String) -> Result<VaultKey, VaultError> {
        let bytes = STANDARD
            .decode(text.trim())
            .ok()
            .filter(|b| b.len() == KEY_BYTES)
            .ok_or_else(|| VaultError::BadKey { origin: origin.clone() })?;
        VaultKey::from_bytes(&bytes, origin)
    }

    fn from_bytes(bytes: &[u8], origin: String) -> Result<VaultKey, VaultError> {
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| VaultError::BadKey { origin: origin.clone() })?;
        Ok(VaultKey {
            key: LessSafeKey::new(unbound),
            origin,
        })
    }

    /// Where this key came from (the variable or the file).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `aes256gcm:<base64 of nonce, ciphertext and tag>`, bound to `alias`.
    pub fn seal(&self, alias: &str, plaintext: &str) -> Result<String, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| VaultError::Seal)?;
        let mut in_out = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(alias.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| VaultError::Seal)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(sealed)))
    }

    /// The plaintext of a value [`VaultKey::seal`] made for `alias`.
    pub fn open(&self, alias: &str, sealed: &str) -> Result<String, VaultError> {
        let body = sealed.strip_prefix(SEALED_PREFIX).ok_or(VaultError::NotSealed)?;
        let bytes = STANDARD.decode(body.trim()).map_err(|_| VaultError::NotSealed)?;
        if bytes.len() < NONCE_LEN {
            return Err(VaultError::NotSealed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::NotSealed)?;
        let mut in_out = ciphertext.to_vec();
        let open_error = || VaultError::Open {
            origin: self.origin.clone(),
        };
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(alias.as_bytes()), &mut in_out)
            .map_err(|_| open_error())?;
        String::from_utf8(plain.to_vec()).map_err(|_| open_error())
    }
}

/// Whether `value` looks like what [`VaultKey::seal`] writes.
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_their_alias_and_key() {
        let (key, text) = VaultKey::generate("test".into()).expect("key");
        let sealed = key.seal("db_password", "hunter2-très-secret").expect("seal");
        assert!(is_sealed(&sealed) && !sealed.contains("hunter2"), "{sealed}");
        assert_ne!(
            sealed,
            key.seal("db_password", "hunter2-très-secret").expect("seal"),
            "fresh nonce"
        );
        assert_eq!(key.open("db_password", &sealed).expect("open"), "hunter2-très-secret");
        assert!(matches!(key.open("other_alias", &sealed), Err(VaultError::Open { .. })));
        let (other, _) = VaultKey::generate("other".into()).expect("key");
        assert!(matches!(
            other.open("db_password", &sealed),
            Err(VaultError::Open { .. })
        ));
        assert!(matches!(key.open("db_password", "hunter2"), Err(VaultError::NotSealed)));
        let again = VaultKey::from_base64(&text, "file".into()).expect("same key");
        assert_eq!(again.open("db_password", &sealed).expect("open"), "hunter2-très-secret");
        assert!(matches!(
            VaultKey::from_base64("c2hvcnQ=", "file".into()),
            Err(VaultError::BadKey { .. })
        ));
    }
}
