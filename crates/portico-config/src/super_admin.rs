//! `[super_admin]`: the administrator account created at first start.

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::{Checker, yes};

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuperAdmin {
    #[serde(default = "default_admin")]
    pub username: String,
    /// Plain password (may be `$env{NAME}`); hashed with argon2id before it is stored.
    #[serde(default)]
    pub password: Option<String>,
    /// PHC-format argon2id hash, as `portico init` writes it.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default = "yes")]
    pub create_admin_account: bool,
}

/// Never shows the password (it may come from `[secrets]` or the environment).
impl std::fmt::Debug for SuperAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuperAdmin")
            .field("username", &self.username)
            .field("password", &crate::section::masked(&self.password))
            .field("password_hash", &crate::section::masked(&self.password_hash))
            .field("create_admin_account", &self.create_admin_account)
            .finish()
    }
}

impl Default for SuperAdmin {
    fn default() -> Self {
        SuperAdmin {
            username: default_admin(),
            password: None,
            password_hash: None,
            create_admin_account: true,
        }
    }
}

fn default_admin() -> String {
    "admin".to_owned()
}

impl SuperAdmin {
    /// Expands `$env{NAME}` in the password and its hash, and checks that the account can be created.
    pub(crate) fn validate(&mut self, c: &Checker<'_>) -> Result<(), ConfigError> {
        if self.username.trim().is_empty() {
            return Err(c.invalid("super_admin.username", "must not be empty"));
        }
        self.password = c.expand_opt("super_admin.password", self.password.take())?;
        self.password_hash = c.expand_opt("super_admin.password_hash", self.password_hash.take())?;
        if let Some(hash) = &self.password_hash
            && !hash.starts_with("$argon2id$")
        {
            return Err(c.invalid(
                "super_admin.password_hash",
                "must be an argon2id PHC string ($argon2id$...)",
            ));
        }
        if self.create_admin_account && self.password.is_none() && self.password_hash.is_none() {
            return Err(c.invalid(
                "super_admin",
                "needs `password` or `password_hash` while create_admin_account is true",
            ));
        }
        Ok(())
    }
}
