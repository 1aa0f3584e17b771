//! `[database.apim_db]`: the store's kind, URL, credentials and pool, and the URL the node
//! connects with.

use std::path::Path;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::Checker;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Databases {
    #[serde(default)]
    pub apim_db: Database,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    #[default]
    Sqlite,
    /// WSO2 spells it `postgre`; both are accepted.
    #[serde(alias = "postgre", alias = "postgresql")]
    Postgres,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    #[serde(rename = "type", default)]
    pub kind: DatabaseKind,
    /// `sqlite:database/portico.db` (relative to the home) or `postgres://user@host:5432/db`.
    #[serde(default = "default_sqlite_url")]
    pub url: String,
    /// Overrides the URL's user name (WSO2 keeps them apart).
    #[serde(default)]
    pub username: Option<String>,
    /// Overrides the URL's password; usually `$env{NAME}`.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_pool")]
    pub pool_size: u32,
    /// Seconds to wait for a connection from the pool.
    #[serde(default = "default_connect_timeout")]
    pub connection_timeout_seconds: u64,
}

/// Never shows the password or the URL (which may hold one).
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("kind", &self.kind)
            .field("url", &crate::section::masked(&Some(&self.url)))
            .field("username", &self.username)
            .field("password", &crate::section::masked(&self.password))
            .field("pool_size", &self.pool_size)
            .field("connection_timeout_seconds", &self.connection_timeout_seconds)
            .finish()
    }
}

impl Default for Database {
    fn default() -> Self {
        Database {
            kind: DatabaseKind::Sqlite,
            url: default_sqlite_url(),
            username: None,
            password: None,
            pool_size: default_pool(),
            connection_timeout_seconds: default_connect_timeout(),
        }
    }
}

fn default_sqlite_url() -> String {
    "sqlite:database/portico.db".to_owned()
}
fn default_pool() -> u32 {
    10
}
fn default_connect_timeout() -> u64 {
    5
}

impl Databases {
    pub(crate) fn validate(&mut self, c: &Checker<'_>) -> Result<(), ConfigError> {
        self.apim_db.validate(c)
    }
}

impl Database {
    /// `sqlite` or `postgres`, as written in the file.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
        }
    }

    /// Expands `$env{NAME}` in the URL and credentials, and checks the URL against the type.
    fn validate(&mut self, c: &Checker<'_>) -> Result<(), ConfigError> {
        self.url = c.expand("database.apim_db.url", &self.url)?;
        self.username = c.expand_opt("database.apim_db.username", self.username.take())?;
        self.password = c.expand_opt("database.apim_db.password", self.password.take())?;
        let scheme_ok = match self.kind {
            DatabaseKind::Sqlite => self.url.starts_with("sqlite:"),
            DatabaseKind::Postgres => self.url.starts_with("postgres://") || self.url.starts_with("postgresql://"),
        };
        if !scheme_ok {
            let want = match self.kind {
                DatabaseKind::Sqlite => "sqlite:<path>",
                DatabaseKind::Postgres => "postgres://user@host:port/database",
            };
            return Err(c.invalid(
                "database.apim_db.url",
                &format!("does not match type (expected {want})"),
            ));
        }
        if !(1..=1000).contains(&self.pool_size) {
            return Err(c.invalid("database.apim_db.pool_size", "must be between 1 and 1000"));
        }
        if !(1..=600).contains(&self.connection_timeout_seconds) {
            return Err(c.invalid(
                "database.apim_db.connection_timeout_seconds",
                "must be between 1 and 600",
            ));
        }
        Ok(())
    }

    /// The URL to connect with: a SQLite path resolved against `home`, and the separate
    /// username/password applied to a PostgreSQL URL.
    pub(crate) fn connect_url(&self, home: &Path) -> String {
        match self.kind {
            DatabaseKind::Sqlite => {
                let rest = self.url.trim_start_matches("sqlite:").trim_start_matches("//");
                let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
                // An absolute path replaces `home` (Path::join).
                let path = home.join(file);
                let mut url = format!("sqlite://{}", path.display());
                if !query.is_empty() {
                    url.push('?');
                    url.push_str(query);
                }
                url
            }
            DatabaseKind::Postgres => with_credentials(&self.url, self.username.as_deref(), self.password.as_deref()),
        }
    }
}

/// Puts user and password into a `scheme://[user[:pw]@]host...` URL.
fn with_credentials(url: &str, user: Option<&str>, password: Option<&str>) -> String {
    if user.is_none() && password.is_none() {
        return url.to_owned();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (userinfo, host) = match rest.split_once('@') {
        Some((u, h)) if !u.contains('/') => (Some(u), h),
        _ => (None, rest),
    };
    let (old_user, old_pw) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((a, b)) => (Some(a.to_owned()), Some(b.to_owned())),
            None => (Some(u.to_owned()), None),
        },
        None => (None, None),
    };
    let user = user.map(percent_encode).or(old_user).unwrap_or_default();
    let pw = password.map(percent_encode).or(old_pw);
    match pw {
        Some(pw) => format!("{scheme}://{user}:{pw}@{host}"),
        None => format!("{scheme}://{user}@{host}"),
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_credentials_are_applied() {
        assert_eq!(
            with_credentials("postgres://h:5432/db", Some("u"), Some("p@ss")),
            "postgres://u:p%40ss@h:5432/db"
        );
        assert_eq!(
            with_credentials("postgres://a:b@h/db", None, Some("c")),
            "postgres://a:c@h/db"
        );
        assert_eq!(with_credentials("postgres://h/db", None, None), "postgres://h/db");
    }
}
