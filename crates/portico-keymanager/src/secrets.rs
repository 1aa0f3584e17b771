//! Random secrets (client secrets, refresh tokens) and the keyed hashes they are stored as.
//!
//! The hash key is derived from the primary private key, so every node holding that key computes
//! the same hash and there is no extra secret to distribute; a database dump alone cannot be used
//! to test guesses offline.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// What a hashed secret is, so that a hash of one kind never matches another kind.
#[derive(Debug, Clone, Copy)]
pub enum SecretKind {
    ClientSecret,
    RefreshToken,
    AuthorizationCode,
}

impl SecretKind {
    fn label(self) -> &'static [u8] {
        match self {
            SecretKind::ClientSecret => b"client_secret",
            SecretKind::RefreshToken => b"refresh_token",
            SecretKind::AuthorizationCode => b"authorization_code",
        }
    }
}

/// HMAC-SHA256 of secrets under a key derived from the primary private key.
pub struct SecretHasher {
    key: hmac::Key,
}

impl SecretHasher {
    /// Derives the hashing key from the DER bytes of the primary private key.
    pub fn from_private_key(private_key_der: &[u8]) -> SecretHasher {
        let derivation = hmac::Key::new(hmac::HMAC_SHA256, b"portico secret hashing v1");
        let derived = hmac::sign(&derivation, private_key_der);
        SecretHasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// Lower-case hex of HMAC(kind || 0 || secret).
    pub fn hash(&self, kind: SecretKind, secret: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(kind.label());
        ctx.update(&[0]);
        ctx.update(secret.as_bytes());
        ctx.sign().as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `secret` hashes to `stored`, compared in constant time.
    pub fn matches(&self, kind: SecretKind, secret: &str, stored: &str) -> bool {
        let computed = self.hash(kind, secret);
        computed.len() == stored.len() && bool::from(computed.as_bytes().ct_eq(stored.as_bytes()))
    }
}

/// `bytes` random bytes from the OS generator, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_and_kind_separated() {
        let a = SecretHasher::from_private_key(b"key one");
        let b = SecretHasher::from_private_key(b"key two");
        let secret = random_token(32);
        assert_eq!(secret.len(), 43, "256 bits");
        let h = a.hash(SecretKind::ClientSecret, &secret);
        assert_eq!(h.len(), 64);
        assert!(a.matches(SecretKind::ClientSecret, &secret, &h));
        assert!(!a.matches(SecretKind::RefreshToken, &secret, &h));
        assert!(!b.matches(SecretKind::ClientSecret, &secret, &h));
        assert!(!a.matches(SecretKind::ClientSecret, "other", &h));
        assert_eq!(
            SecretHasher::from_private_key(b"key one").hash(SecretKind::ClientSecret, &secret),
            h,
            "same key, same hash on every node"
        );
        assert_ne!(random_token(32), random_token(32));
    }
}
