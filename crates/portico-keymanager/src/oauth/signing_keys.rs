//! The cluster's published signing keys in the validator: read from the store at start and
//! again whenever the change feed reports a rotation (`signing_key.changed`), so tokens of a key
//! another node rotated to validate here at once, and the JWKS lists it.

use portico_store::{SigningKeyRow, StoreError};

use super::service::TokenService;
use crate::jwt::{JwtError, PublishedKey};

/// A stored row as the signer takes it.
pub fn published_key(row: &SigningKeyRow) -> Result<PublishedKey, JwtError> {
    Ok(PublishedKey {
        kid: row.kid.clone(),
        algorithm: row.algorithm.clone(),
        public_key_pem: row.public_key_pem.clone(),
        jwk: serde_json::from_str(&row.jwk).map_err(|e| JwtError::Key(format!("key {}: jwk: {e}", row.kid)))?,
        retires_at: row.retires_at,
    })
}

impl TokenService {
    /// Replaces the validator's published keys with the store's (retired ones too: a key this
    /// node holds must learn that it retired; the signer skips them by time); unreadable rows are
    /// left out with a warning.
    pub async fn reload_signing_keys(&self) -> Result<usize, StoreError> {
        let rows = self.store.all_signing_keys().await?;
        let mut published = Vec::with_capacity(rows.len());
        for row in &rows {
            match published_key(row) {
                Ok(key) => published.push(key),
                Err(e) => tracing::warn!(error = %e, "stored signing key left out"),
            }
        }
        for e in self.validator.signer.set_published(&published) {
            tracing::warn!(error = %e, "stored signing key left out");
        }
        Ok(published.len())
    }
}
