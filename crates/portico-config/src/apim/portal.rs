//! `[apim.portal]` and `[apim.devportal]`: the web portals' sessions and the Developer Portal's
//! self sign-up.

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::Checker;

/// `[apim.portal]`: sessions of the Publisher, Developer Portal and Admin web apps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    /// Minutes a portal sign-in lasts (the session cookie and the access token it holds).
    #[serde(default = "default_session_minutes")]
    pub session_minutes: u32,
}

impl Default for Portal {
    fn default() -> Self {
        Portal {
            session_minutes: default_session_minutes(),
        }
    }
}

fn default_session_minutes() -> u32 {
    60
}

impl Portal {
    pub(super) fn validate(&self, c: &Checker<'_>) -> Result<(), ConfigError> {
        if !(1..=7 * 24 * 60).contains(&self.session_minutes) {
            return Err(c.invalid("apim.portal.session_minutes", "must be between 1 and 10080 (a week)"));
        }
        Ok(())
    }
}

/// `[apim.devportal]`: the Developer Portal.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevPortal {
    /// Lets anyone create an `Internal/subscriber` account from the Developer Portal's sign-up
    /// page (and WSO2's self-registration REST endpoint).
    #[serde(default)]
    pub enable_self_signup: bool,
}
