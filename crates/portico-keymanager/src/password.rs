//! Argon2id password hashes in PHC format (OWASP parameters: 19 MiB, 2 passes, 1 lane), the
//! password policy of production mode, and the default or common passwords a stored hash must
//! not be.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("stored password hash is malformed: {0}")]
    Malformed(String),
}

fn argon2() -> Argon2<'static> {
    // 19 MiB, t=2, p=1: the OWASP baseline for argon2id. Params::new only fails on values
    // outside argon2's limits, which these constants are not.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password. CPU- and memory-heavy: call it from a blocking thread.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Checks a password against a PHC hash in constant time. Heavy: call it from a blocking thread.
pub fn verify_password(hash: &str, password: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(hash).map_err(|e| PasswordError::Malformed(e.to_string()))?;
    Ok(argon2().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Shortest password production mode accepts (NIST SP 800-63B asks at least 8; an API
/// manager's accounts hold every company's keys).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Passwords shipped as defaults (WSO2's, Portico's tests', tutorials') and the most common
/// ones: production mode refuses an admin whose stored hash matches one of them.
const DEFAULT_OR_COMMON: &[&str] = &[
    "admin",
    "password",
    "changeme",
    "changeit",
    "portico",
    "wso2carbon",
    "admin123",
    "administrator",
    "123456",
    "12345678",
    "123456789",
    "qwerty",
    "letmein",
    "secret",
    "Password1",
    "P@ssw0rd",
];

/// Why `password` may not be `username`'s password in production mode, or `None`: at least
/// [`MIN_PASSWORD_CHARS`] characters, not a default or common password, not containing the user
/// name, not one character repeated (NIST SP 800-63B's rules: length and a block list, no
/// composition rules).
pub fn policy_violation(username: &str, password: &str) -> Option<String> {
    let chars = password.chars().count();
    let lower = password.to_lowercase();
    if chars < MIN_PASSWORD_CHARS {
        return Some(format!(
            "must be at least {MIN_PASSWORD_CHARS} characters (it has {chars})"
        ));
    }
    if DEFAULT_OR_COMMON.iter().any(|c| c.to_lowercase() == lower) {
        return Some("is a default or common password".to_owned());
    }
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Some("must not contain the user name".to_owned());
    }
    let mut distinct = password.chars();
    let first = distinct.next();
    if distinct.all(|c| Some(c) == first) {
        return Some("must not be one character repeated".to_owned());
    }
    None
}

/// Whether a stored hash is of a default or common password, or of the user name itself. Runs
/// one argon2 check per candidate (tens of ms each): call it from a blocking thread, once.
pub fn is_default_or_common(hash: &str, username: &str) -> Result<bool, PasswordError> {
    for candidate in DEFAULT_OR_COMMON.iter().copied().chain([username]) {
        if verify_password(hash, candidate)? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_what_is_wrong_and_default_hashes_are_found() {
        assert_eq!(
            policy_violation("admin", "short").as_deref(),
            Some("must be at least 12 characters (it has 5)")
        );
        assert!(policy_violation("bob", "aaaaaaaaaaaaaa").is_some_and(|w| w.contains("repeated")));
        assert!(policy_violation("bob", "xxBOBxxxxxxxx1").is_some_and(|w| w.contains("user name")));
        assert_eq!(policy_violation("admin", "correct horse battery"), None);
        let admin = hash_password("admin").expect("hash");
        assert!(is_default_or_common(&admin, "admin").expect("check"));
        let own_name = hash_password("operator").expect("hash");
        assert!(is_default_or_common(&own_name, "operator").expect("check"));
        let strong = hash_password("correct horse battery").expect("hash");
        assert!(!is_default_or_common(&strong, "admin").expect("check"));
    }

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("s3cret").expect("hash");
        let b = hash_password("s3cret").expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(verify_password(&a, "s3cret").expect("verify"));
        assert!(!verify_password(&a, "S3cret").expect("verify"));
        assert!(verify_password("garbage", "x").is_err());
    }
}
