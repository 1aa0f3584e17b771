//! `[apim.key_manager]`: what the Admin REST API's key manager discovery may reach.

use serde::Deserialize;

/// `[apim.key_manager]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyManager {
    /// Lets `POST /key-managers/discover` fetch OpenID configurations from URLs that resolve to
    /// loopback, private, link-local or other non-public addresses (off: refused, against SSRF;
    /// turn it on for an identity provider on an internal network).
    #[serde(default)]
    pub allow_private_discovery_urls: bool,
}
