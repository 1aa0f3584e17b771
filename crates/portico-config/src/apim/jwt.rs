//! `[apim.jwt]` and `[[apim.jwt.issuer]]`: the backend JWT the gateway sends, and the external
//! identity providers whose tokens it accepts.

use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::Checker;

/// `[apim.jwt]`: the backend JWT the gateway sends with authenticated requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendJwt {
    #[serde(default)]
    pub enable: bool,
    #[serde(default = "default_jwt_header")]
    pub header: String,
    /// `SHA256withRSA`/`RS256` for an RSA primary key, `SHA256withECDSA`/`ES256` for EC; the
    /// primary key's own algorithm when absent.
    #[serde(default)]
    pub signing_algorithm: Option<String>,
    /// Longest lifetime of one assertion, in seconds.
    #[serde(default = "default_jwt_ttl")]
    pub ttl_seconds: u64,
    /// `[[apim.jwt.issuer]]`: external identity providers whose tokens the gateway accepts,
    /// configured here rather than through the Admin REST API's `/key-managers`.
    #[serde(default)]
    pub issuer: Vec<JwtIssuer>,
}

impl Default for BackendJwt {
    fn default() -> Self {
        BackendJwt {
            enable: false,
            header: default_jwt_header(),
            signing_algorithm: None,
            ttl_seconds: default_jwt_ttl(),
            issuer: Vec::new(),
        }
    }
}

fn default_jwt_header() -> String {
    "X-JWT-Assertion".to_owned()
}
fn default_jwt_ttl() -> u64 {
    900
}

/// `[[apim.jwt.issuer]]`: an external identity provider (a read-only key manager): whose tokens
/// (`iss`) the gateway verifies with the keys at `jwks.url`, and the claims it reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuer {
    /// The key manager's name, which DevPortal `map-keys` names; also the issuer when `issuer`
    /// is absent (WSO2 names a configured issuer by its `iss`).
    pub name: String,
    /// The `iss` of its tokens, when it differs from `name`.
    #[serde(default)]
    pub issuer: Option<String>,
    pub jwks: JwksLocation,
    /// The claim holding the client id; `azp`, then `client_id` when absent.
    #[serde(default)]
    pub consumer_key_claim: Option<String>,
    /// The claim holding the scopes; `scope`, then `scp` when absent.
    #[serde(default)]
    pub scopes_claim: Option<String>,
    /// Where its opaque (non-JWT) access tokens are checked (RFC 7662).
    #[serde(default)]
    pub introspection: Option<IntrospectionEndpoint>,
}

/// `introspection`: an issuer's RFC 7662 endpoint and the client credentials the gateway sends
/// there (HTTP Basic; the secret may be `$env{NAME}`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionEndpoint {
    pub url: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// Never shows the client secret.
impl std::fmt::Debug for IntrospectionEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionEndpoint")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &crate::section::masked(&self.client_secret))
            .finish()
    }
}

impl JwtIssuer {
    /// The `iss` its tokens carry.
    pub fn issuer(&self) -> &str {
        self.issuer.as_deref().unwrap_or(&self.name)
    }
}

/// Where a configured issuer's keys are published (`jwks.url`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwksLocation {
    pub url: String,
}

impl BackendJwt {
    /// Checks the section; expands `$env{}` and `$secret{}` in the introspection client secrets.
    pub(super) fn validate(&mut self, c: &Checker<'_>) -> Result<(), ConfigError> {
        for (i, issuer) in self.issuer.iter_mut().enumerate() {
            if let Some(introspection) = &mut issuer.introspection {
                introspection.client_secret = c.expand_opt(
                    &format!("apim.jwt.issuer[{i}].introspection.client_secret"),
                    introspection.client_secret.take(),
                )?;
            }
        }
        if self.header.is_empty()
            || !self
                .header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(c.invalid(
                "apim.jwt.header",
                "must be an HTTP header name (letters, digits, `-`, `_`)",
            ));
        }
        if let Some(alg) = &self.signing_algorithm
            && !["SHA256withRSA", "SHA256withECDSA", "RS256", "ES256"].contains(&alg.as_str())
        {
            return Err(c.invalid(
                "apim.jwt.signing_algorithm",
                "must be SHA256withRSA, SHA256withECDSA, RS256 or ES256",
            ));
        }
        if !(60..=86_400).contains(&self.ttl_seconds) {
            return Err(c.invalid("apim.jwt.ttl_seconds", "must be between 60 and 86400"));
        }
        for (i, issuer) in self.issuer.iter().enumerate() {
            issuer.validate(&format!("apim.jwt.issuer[{i}]"), c)?;
            if let Some(j) = self.issuer[..i]
                .iter()
                .position(|o| o.name == issuer.name || o.issuer() == issuer.issuer())
            {
                return Err(c.invalid(
                    &format!("apim.jwt.issuer[{i}].name"),
                    &format!("repeats the name or issuer of apim.jwt.issuer[{j}]"),
                ));
            }
        }
        Ok(())
    }
}

impl JwtIssuer {
    /// Checks one issuer on its own; `key` is its dotted key (`apim.jwt.issuer[i]`).
    fn validate(&self, key: &str, c: &Checker<'_>) -> Result<(), ConfigError> {
        for (field, value) in [("name", self.name.as_str()), ("issuer", self.issuer())] {
            if value.trim().is_empty() || value.trim() != value || value.chars().any(char::is_control) {
                return Err(c.invalid(
                    &format!("{key}.{field}"),
                    "must be a non-empty string without surrounding spaces or control characters",
                ));
            }
        }
        if self.name == "Resident Key Manager" {
            return Err(c.invalid(&format!("{key}.name"), "is the name of the built-in key manager"));
        }
        if !is_http_url(&self.jwks.url) {
            return Err(c.invalid(&format!("{key}.jwks.url"), "must be an http(s) URL with a host"));
        }
        if let Some(introspection) = &self.introspection
            && !is_http_url(&introspection.url)
        {
            return Err(c.invalid(
                &format!("{key}.introspection.url"),
                "must be an http(s) URL with a host",
            ));
        }
        for (field, claim) in [
            ("consumer_key_claim", &self.consumer_key_claim),
            ("scopes_claim", &self.scopes_claim),
        ] {
            if claim
                .as_deref()
                .is_some_and(|c| c.is_empty() || c.contains(char::is_whitespace))
            {
                return Err(c.invalid(&format!("{key}.{field}"), "must be a claim name"));
            }
        }
        Ok(())
    }
}

/// `http://` or `https://` followed by a host without spaces.
fn is_http_url(url: &str) -> bool {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace))
}
