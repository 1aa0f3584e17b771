//! What every section module shares: the [`Checker`] that turns a bad value into an error naming
//! the file, the line and the dotted key, `$env{NAME}` and `$secret{alias}` expansion, and the
//! serde default `yes`.

use std::path::Path;

use crate::error::ConfigError;
use crate::locate;
use crate::secrets::OpenedSecrets;

/// Validation context: builds errors that carry the file and line.
pub(crate) struct Checker<'a> {
    pub(crate) src: &'a str,
    pub(crate) path: &'a Path,
    /// `[server] mode = "production"`: an empty `$env{}` or `$secret{}` value is refused.
    pub(crate) production: bool,
    /// The `[secrets]` aliases, decrypted (in memory only, for the time of the validation).
    pub(crate) secrets: &'a OpenedSecrets,
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

    /// Replaces `$env{NAME}` references with the variables' values and `$secret{alias}` ones with
    /// the decrypted `[secrets]` values. Messages name the variable or alias, never a value.
    pub(crate) fn expand(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some((start, kind)) = next_reference(rest) {
            out.push_str(&rest[..start]);
            let after = &rest[start + kind.len()..];
            let Some(end) = after.find('}') else {
                return Err(self.invalid(key, &format!("unterminated {kind}...}} reference")));
            };
            let name = &after[..end];
            let resolved = if kind == ENV {
                std::env::var(name)
                    .map_err(|_| self.invalid(key, &format!("environment variable `{name}` is not set")))?
            } else {
                self.secrets.get(name).map(str::to_owned).ok_or_else(|| {
                    self.invalid(
                        key,
                        &format!("`$secret{{{name}}}` names no alias of [secrets] (add it with `portico vault encrypt --alias {name}`)"),
                    )
                })?
            };
            if resolved.is_empty() && self.production {
                return Err(self.invalid(
                    key,
                    &format!(
                        "{kind}{name}}} is empty, and [server] mode = \"production\" refuses empty values: give it a value (or run in mode = \"dev\")"
                    ),
                ));
            }
            out.push_str(&resolved);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    pub(crate) fn expand_opt(&self, key: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
        value.map(|v| self.expand(key, &v)).transpose()
    }
}

const ENV: &str = "$env{";
const SECRET: &str = "$secret{";

/// The first `$env{` or `$secret{` in `text`: its offset and which one.
fn next_reference(text: &str) -> Option<(usize, &'static str)> {
    [ENV, SECRET]
        .into_iter()
        .filter_map(|kind| text.find(kind).map(|at| (at, kind)))
        .min_by_key(|(at, _)| *at)
}

/// What `Debug` shows of a value that may be a secret: whether it is set, never what it is.
pub(crate) fn masked<T>(value: &Option<T>) -> Option<&'static str> {
    value.as_ref().map(|_| "********")
}

/// Serde default for switches that are on unless written off.
pub(crate) fn yes() -> bool {
    true
}
