//! `[secrets]`: WSO2's Secure Vault aliases. Each key is an alias, each value what `portico vault
//! encrypt` sealed (see [`crate::vault`]); any string of the file uses one as `$secret{alias}`.
//! The values are opened in memory while the file is validated and never kept, logged or printed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::Checker;
use crate::vault::VaultKey;

/// `[secrets]` as written: alias to sealed value.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secrets {
    pub aliases: BTreeMap<String, String>,
}

/// Prints alias names only.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.aliases.keys()).finish()
    }
}

/// The aliases' plaintexts, for the time of one validation.
#[derive(Default)]
pub(crate) struct OpenedSecrets(BTreeMap<String, String>);

impl OpenedSecrets {
    pub(crate) fn get(&self, alias: &str) -> Option<&str> {
        self.0.get(alias).map(String::as_str)
    }
}

/// Whether `alias` can be a `[secrets]` key (and a `$secret{}` name).
pub fn valid_alias(alias: &str) -> bool {
    !alias.is_empty()
        && alias.len() <= 128
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Secrets {
    /// Opens every alias with the vault key; an alias that does not open is an error naming it.
    pub(crate) fn open(&self, home: &Path, c: &Checker<'_>) -> Result<OpenedSecrets, ConfigError> {
        if self.aliases.is_empty() {
            return Ok(OpenedSecrets::default());
        }
        let first = self.aliases.keys().next().map_or("secrets", String::as_str);
        let key = VaultKey::require(home).map_err(|e| c.invalid(&format!("secrets.{first}"), &e.to_string()))?;
        let mut opened = BTreeMap::new();
        for (alias, sealed) in &self.aliases {
            let at = format!("secrets.{alias}");
            if !valid_alias(alias) {
                return Err(c.invalid(&at, "an alias is letters, digits, `_` and `-`"));
            }
            let plain = key.open(alias, sealed).map_err(|e| c.invalid(&at, &e.to_string()))?;
            opened.insert(alias.clone(), plain);
        }
        Ok(OpenedSecrets(opened))
    }
}

/// `src` with `alias = "<sealed>"` set in its `[secrets]` table: the alias's line replaced, else
/// added at the table's end, else a `[secrets]` table appended to the file.
pub fn with_secret(src: &str, alias: &str, sealed: &str) -> String {
    let line = format!("{alias} = \"{sealed}\"");
    let lines: Vec<&str> = src.lines().collect();
    let Some(header) = lines.iter().position(|l| l.trim() == "[secrets]") else {
        let mut out = src.trim_end().to_owned();
        out.push_str("\n\n# Aliases for $secret{alias}, sealed by `portico vault encrypt`.\n[secrets]\n");
        out.push_str(&line);
        out.push('\n');
        return out;
    };
    let end = lines[header + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| header + 1 + i);
    let existing = lines[header + 1..end].iter().position(|l| {
        l.split_once('=')
            .is_some_and(|(k, _)| k.trim().trim_matches('"') == alias)
    });
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    match existing {
        Some(i) => out[header + 1 + i] = line,
        None => {
            // After the table's last non-blank line.
            let mut at = end;
            while at > header + 1 && out[at - 1].trim().is_empty() {
                at -= 1;
            }
            out.insert(at, line);
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::vault::VAULT_KEY_FILE;

    #[test]
    fn secret_references_open_in_memory_and_errors_never_show_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path();
        std::fs::create_dir_all(home.join("conf/security")).expect("dirs");
        let (key, text) = VaultKey::generate("test".into()).expect("key");
        std::fs::write(home.join(VAULT_KEY_FILE), text).expect("key file");
        let sealed = key.seal("admin_pw", "Sup3r-Secret-Value").expect("seal");
        let empty = key.seal("empty", "").expect("seal");
        let base = format!(
            "[super_admin]\npassword = \"$secret{{admin_pw}}\"\n[secrets]\nadmin_pw = \"{sealed}\"\nempty = \"{empty}\"\n"
        );
        let parse = |src: &str| Config::parse(src, home, &home.join("conf/deployment.toml"));
        let config = parse(&base).expect("valid");
        assert_eq!(config.super_admin.password.as_deref(), Some("Sup3r-Secret-Value"));
        assert!(!format!("{config:?}").contains("Sup3r"), "Debug shows aliases only");

        let unknown = parse(&base.replace("$secret{admin_pw}", "$secret{nope}")).expect_err("unknown alias");
        assert_eq!(unknown.key(), Some("super_admin.password"), "{unknown}");
        assert!(
            unknown.to_string().contains("`$secret{nope}` names no alias"),
            "{unknown}"
        );

        let moved = base
            .replace("admin_pw = ", "other = ")
            .replace("$secret{admin_pw}", "$secret{other}");
        let err = parse(&moved).expect_err("sealed for another alias");
        assert_eq!(err.key(), Some("secrets.other"), "{err}");
        assert_eq!(err.line(), Some(4), "{err}");

        let production = format!(
            "[server]\nmode = \"production\"\n{}",
            base.replace("$secret{admin_pw}", "x$secret{empty}")
        );
        let err = parse(&production).expect_err("empty in production");
        assert!(err.to_string().contains("$secret{empty} is empty"), "{err}");
        assert!(parse(&production.replace("production", "dev")).is_ok());

        std::fs::remove_file(home.join(VAULT_KEY_FILE)).expect("rm");
        let err = parse(&base).expect_err("no key");
        assert!(err.to_string().contains("no vault key"), "{err}");
        for e in [unknown, err] {
            assert!(!e.to_string().contains("Sup3r"), "{e}");
        }
    }

    #[test]
    fn with_secret_adds_replaces_and_appends() {
        let appended = with_secret("[server]\nmode = \"dev\"\n", "db", "aes256gcm:AAA");
        assert!(appended.ends_with("[secrets]\ndb = \"aes256gcm:AAA\"\n"), "{appended}");
        let added = with_secret(&appended, "km", "aes256gcm:BBB");
        assert!(
            added.contains("db = \"aes256gcm:AAA\"\nkm = \"aes256gcm:BBB\"\n"),
            "{added}"
        );
        let replaced = with_secret(&added, "db", "aes256gcm:CCC");
        assert!(replaced.contains("db = \"aes256gcm:CCC\"\nkm"), "{replaced}");
        assert!(!replaced.contains("AAA"));
        let middle = with_secret("[secrets]\na = \"x\"\n\n[server]\nmode = \"dev\"\n", "b", "y");
        assert_eq!(middle, "[secrets]\na = \"x\"\nb = \"y\"\n\n[server]\nmode = \"dev\"\n");
        assert!(valid_alias("db_password-2") && !valid_alias("a.b") && !valid_alias(""));
    }
}
