//! Step 2b: `[server] mode = "production"` refuses to start a node that is not hardened (the
//! seed's step 8): the configuration's own refusals (`Config::production_refusals`: the sample
//! backend, files other users can read), the `[super_admin]` password against the password
//! policy, and the stored admin's password against the default and common ones. Every refusal
//! names the setting and the fix; all of them are reported at once.

use portico_config::{Config, ConfigError, Mode};
use portico_store::Store;

/// The refusals that need only the configuration (what `portico config check` also reports).
pub fn config_refusals(config: &Config) -> Vec<String> {
    let mut refusals = config.production_refusals();
    if config.server.mode == Mode::Production
        && let Some(password) = &config.super_admin.password
        && let Some(why) = portico_keymanager::policy_violation(&config.super_admin.username, password)
    {
        refusals.push(format!(
            "[super_admin] password {why}: choose a stronger one (the password policy of production mode)"
        ));
    }
    refusals
}

/// Refuses to go on in production mode while anything is not hardened; nothing in dev mode.
pub async fn refuse_unless_hardened(config: &Config, store: &Store) -> anyhow::Result<()> {
    if config.server.mode != Mode::Production {
        return Ok(());
    }
    let mut refusals = config_refusals(config);
    let username = config.super_admin.username.clone();
    if let Some(admin) = store.find_user(&username).await? {
        let (hash, name) = (admin.password_hash.clone(), username.clone());
        let weak =
            tokio::task::spawn_blocking(move || portico_keymanager::is_default_or_common(&hash, &name)).await??;
        if weak {
            refusals.push(format!(
                "the stored password of the admin `{username}` is a default or common one: change it in mode = \"dev\" (PATCH /scim2/Users/{}) before mode = \"production\"",
                admin.id
            ));
        }
    }
    Ok(report(config, &refusals)?)
}

/// An error listing every refusal (exit status 2, like other configuration errors), or `Ok`
/// when there is none.
pub fn report(config: &Config, refusals: &[String]) -> Result<(), ConfigError> {
    if refusals.is_empty() {
        return Ok(());
    }
    Err(ConfigError::NotHardened {
        path: config.path.clone(),
        refusals: refusals.to_vec(),
    })
}
