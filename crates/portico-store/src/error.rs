use crate::StoreOptions;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the {backend} database at {target}: {detail}")]
    Connect {
        backend: String,
        target: String,
        detail: String,
    },
    /// A command meant for an existing cluster found a database no node has set up.
    #[error(
        "the database at {0} has no Portico schema: start the cluster's first node on it (`portico serve`) before joining or inspecting it"
    )]
    NoSchema(String),
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The thing cannot be removed while others depend on it (the message says what).
    #[error("{0}")]
    InUse(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    pub(crate) fn connect(options: &StoreOptions, e: impl std::fmt::Display) -> StoreError {
        StoreError::Connect {
            backend: options.backend.to_string(),
            target: redact(&options.url),
            detail: e.to_string(),
        }
    }

    /// A unique-constraint violation (a concurrent or earlier duplicate) as
    /// [`StoreError::Conflict`] naming what `taken` says already exists (it sees the violation,
    /// to tell which constraint); any other error unchanged.
    pub(crate) fn unique_as(self, taken: impl FnOnce(&sqlx::Error) -> String) -> StoreError {
        match self {
            StoreError::Database(e) if matches!(&e, sqlx::Error::Database(db) if db.is_unique_violation()) => {
                StoreError::Conflict(taken(&e))
            }
            other => other,
        }
    }

    /// [`StoreError::InUse`]: "`what` is in use by a, b, c and N more".
    pub fn in_use(what: &str, users: &[String]) -> StoreError {
        const NAMED: usize = 3;
        let mut named = users.iter().take(NAMED).cloned().collect::<Vec<_>>().join(", ");
        if users.len() > NAMED {
            named.push_str(&format!(" and {} more", users.len() - NAMED));
        }
        StoreError::InUse(format!("{what} is in use by {named}"))
    }

    /// True when the database itself (not the request) is at fault, so callers answer 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Connect { .. }
                | StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_))
        )
    }
}

/// `Err(NotFound(what))` when a statement touched no row.
pub(crate) fn require_found(rows_affected: u64, what: impl FnOnce() -> String) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

/// A URL with its password replaced, fit for logs and messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if !userinfo.contains('/') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://{user}@{host}")
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite:///x.db"), "sqlite:///x.db");
    }
}
