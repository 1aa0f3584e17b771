//! `[server] mode = "production"`: what the configuration must not be when a node goes live (the
//! seed's step 8). The node and `portico config check` refuse such a file, naming each setting
//! and its fix; an empty `$env{}` or `$secret{}` value is refused while the file is read
//! ([`crate::section::Checker::expand`]). Checks that need the store (the admin's stored
//! password) are the binary's.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::server::Mode;
use crate::vault::VAULT_KEY_FILE;

impl Config {
    /// Why this configuration may not run in production mode: one sentence per problem naming
    /// the setting and the fix. Empty in dev mode.
    pub fn production_refusals(&self) -> Vec<String> {
        if self.server.mode != Mode::Production {
            return Vec::new();
        }
        let mut refusals = Vec::new();
        if self.sample_backend_enabled() {
            refusals.push(
                "[apim.sample_backend] enable = true serves the PizzaShack sample: remove the key or set it to false"
                    .to_owned(),
            );
        }
        for file in self.files_only_the_owner_reads() {
            if let Some(mode) = readable_by_others(&file) {
                refusals.push(format!(
                    "{} is readable by other users (mode {mode:o}): run `chmod 600 {}`",
                    file.display(),
                    file.display()
                ));
            }
        }
        refusals
    }

    /// The configuration, the private keys and the vault key.
    fn files_only_the_owner_reads(&self) -> Vec<PathBuf> {
        let mut files = vec![
            self.path.clone(),
            self.resolve(&self.keystore.tls.private_key),
            self.resolve(&self.keystore.primary.private_key),
            self.home.join(VAULT_KEY_FILE),
        ];
        files.dedup();
        files
    }
}

/// The file's permission bits when group or others may read it; `None` when they may not or the
/// file does not exist.
#[cfg(unix)]
fn readable_by_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn production_refuses_the_sample_backend_and_files_others_can_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(conf.join("security")).expect("dirs");
        let key = conf.join("security/node-key.pem");
        std::fs::write(&key, "key").expect("key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let src = "[server]\nmode = \"production\"\n[super_admin]\npassword_hash = \"$argon2id$x\"\n[apim.sample_backend]\nenable = true\n";
        let path = conf.join("deployment.toml");
        std::fs::write(&path, src).expect("config");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let config = Config::parse(src, dir.path(), &path).expect("valid");
        let refusals = config.production_refusals();
        assert_eq!(refusals.len(), 2, "{refusals:?}");
        assert!(
            refusals[0].contains("[apim.sample_backend] enable = true"),
            "{refusals:?}"
        );
        assert!(
            refusals[1].contains("node-key.pem is readable by other users (mode 644)")
                && refusals[1].contains("chmod 600"),
            "{refusals:?}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let dev = Config::parse(&src.replace("production", "dev"), dir.path(), &path).expect("valid");
        assert!(dev.production_refusals().is_empty());
        let fixed = Config::parse(&src.replace("enable = true", "enable = false"), dir.path(), &path).expect("valid");
        assert!(
            fixed.production_refusals().is_empty(),
            "{:?}",
            fixed.production_refusals()
        );
    }
}
