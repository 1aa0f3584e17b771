use std::path::PathBuf;

/// Why a configuration could not be used. Every variant names the file; those about a value name
/// the dotted key and, where the file has it, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is unknown, or a value has the wrong type.
    #[error("{}:{line}:{column}: {}{message}", path.display(), key_prefix(key))]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        key: Option<String>,
        message: String,
    },
    /// The file parsed but a value is not acceptable (out of range, inconsistent, missing env var).
    #[error("{}:{}: key `{key}`: {message}", path.display(), line.map_or_else(|| "-".to_owned(), |l| l.to_string()))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },
    /// `[server] mode = "production"` and something is not hardened: each refusal names the
    /// setting and the fix.
    #[error("[server] mode = \"production\" in {} refuses to start this node:\n  - {}", path.display(), refusals.join("\n  - "))]
    NotHardened { path: PathBuf, refusals: Vec<String> },
}

fn key_prefix(key: &Option<String>) -> String {
    match key {
        Some(k) => format!("key `{k}`: "),
        None => String::new(),
    }
}

impl ConfigError {
    /// The dotted key the error is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } | ConfigError::NotHardened { .. } => None,
            ConfigError::Syntax { key, .. } => key.as_deref(),
            ConfigError::Invalid { key, .. } => Some(key),
        }
    }

    /// The 1-based line the error is about, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Read { .. } | ConfigError::NotHardened { .. } => None,
            ConfigError::Syntax { line, .. } => Some(*line),
            ConfigError::Invalid { line, .. } => *line,
        }
    }
}
