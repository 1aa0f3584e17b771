//! What every section module shares: the [`Checker`] that turns a bad value into an error naming
//! the file, the line and the dotted key, `$env{NAME}` expansion, and the serde default `yes`.

use std::path::Path;

use crate::error::ConfigError;
use crate::locate;

/// Validation context: builds errors that carry the file and line.
pub(crate) struct Checker<'a> {
    pub(crate) src: &'a str,
    pub(crate) path: &'a Path,
}

impl Checker<'_> {
    pub(crate) fn invalid(&self, key: &str, message: &str) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: locate::line_of(self.src, key),
            key: key.to_owned(),
            message: message.to_owned(),
        }
    }

    /// Replaces `$env{NAME}` references with the variables' values.
    pub(crate) fn expand(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(start) = rest.find("$env{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 5..];
            let Some(end) = after.find('}') else {
                return Err(self.invalid(key, "unterminated $env{...} reference"));
            };
            let name = &after[..end];
            let var = std::env::var(name)
                .map_err(|_| self.invalid(key, &format!("environment variable `{name}` is not set")))?;
            out.push_str(&var);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    pub(crate) fn expand_opt(&self, key: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
        value.map(|v| self.expand(key, &v)).transpose()
    }
}

/// Serde default for switches that are on unless written off.
pub(crate) fn yes() -> bool {
    true
}
