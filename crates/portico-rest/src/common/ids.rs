//! Ids derived from names, so that every node gives a configured thing the same id.

use sha2::{Digest, Sha256};

/// A UUID-shaped id that is the same on every node for the same name.
pub(crate) fn stable_id(name: &str) -> String {
    let d = Sha256::digest(name.as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
