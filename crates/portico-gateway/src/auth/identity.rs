//! Who may call what: verification keys, applications and their OAuth client ids, subscriptions,
//! the live revocation check, and the external key managers (issuers with their keys and mapped
//! client ids). Part of the snapshot, replaced as a whole when any of it changes.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::introspection::Introspector;
use super::issuers::IssuerKeys;

/// A key that signs tokens this gateway accepts.
#[derive(Clone)]
pub struct VerificationKey {
    /// The `kid` tokens name it by; tokens without a `kid` are tried against every key.
    pub kid: String,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
    /// Unix seconds after which the key no longer verifies (a superseded signing key whose last
    /// token has expired); `None`: no end.
    pub retires_at: Option<u64>,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("verification key `{kid}`: {reason}")]
pub struct KeyError {
    pub kid: String,
    pub reason: String,
}

impl VerificationKey {
    /// From a PEM `PUBLIC KEY`: ES256 for EC P-256 keys, RS256 for RSA keys.
    pub fn from_public_pem(kid: impl Into<String>, pem: &str, rsa: bool) -> Result<VerificationKey, KeyError> {
        let kid = kid.into();
        let (algorithm, key) = if rsa {
            (Algorithm::RS256, DecodingKey::from_rsa_pem(pem.as_bytes()))
        } else {
            (Algorithm::ES256, DecodingKey::from_ec_pem(pem.as_bytes()))
        };
        let key = key.map_err(|e| KeyError {
            kid: kid.clone(),
            reason: e.to_string(),
        })?;
        Ok(VerificationKey {
            kid,
            algorithm,
            key,
            retires_at: None,
        })
    }
}

/// PRODUCTION or SANDBOX keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    Production,
    Sandbox,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Production => "PRODUCTION",
            KeyType::Sandbox => "SANDBOX",
        }
    }

    pub fn from_wire(s: &str) -> Option<KeyType> {
        match s.to_ascii_uppercase().as_str() {
            "PRODUCTION" => Some(KeyType::Production),
            "SANDBOX" => Some(KeyType::Sandbox),
            _ => None,
        }
    }
}

/// An application as the gateway sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppInfo {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// Application-level throttling tier.
    pub tier: String,
}

/// One OAuth client (consumer key) of an application.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientInfo {
    pub app: Arc<AppInfo>,
    pub key_type: KeyType,
}

/// Subscription states, WSO2's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    Unblocked,
    Blocked,
    /// Sandbox traffic allowed, production refused.
    ProdOnlyBlocked,
    OnHold,
    Rejected,
}

impl SubscriptionStatus {
    pub fn from_wire(s: &str) -> SubscriptionStatus {
        match s.to_ascii_uppercase().as_str() {
            "UNBLOCKED" | "ACTIVE" => SubscriptionStatus::Unblocked,
            "PROD_ONLY_BLOCKED" => SubscriptionStatus::ProdOnlyBlocked,
            "ON_HOLD" => SubscriptionStatus::OnHold,
            "REJECTED" => SubscriptionStatus::Rejected,
            _ => SubscriptionStatus::Blocked,
        }
    }

    /// Whether traffic with this key type may pass.
    pub fn allows(self, key_type: KeyType) -> bool {
        match self {
            SubscriptionStatus::Unblocked => true,
            SubscriptionStatus::ProdOnlyBlocked => key_type == KeyType::Sandbox,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionInfo {
    pub id: String,
    /// The subscription tier (throttling); shared with each request's context, not copied.
    pub tier: std::sync::Arc<str>,
    pub status: SubscriptionStatus,
}

/// A live source of revocations consulted on every request (this node's Key Manager, which
/// applies its own revocations at once and other nodes' from the change feed).
pub trait RevocationCheck: Send + Sync {
    /// Whether a token with this id, user, client and issue time (seconds) is revoked.
    fn is_revoked(&self, jti: &str, subject: &str, client_id: &str, issued_at: u64) -> bool;
}

/// An external key manager (identity provider) as the gateway sees it: the issuer its tokens
/// carry, where the claims are, its keys and the client ids applications mapped.
#[derive(Debug)]
pub struct ExternalIssuer {
    /// The key manager's name (key mappings name it).
    pub key_manager: String,
    /// The `iss` of its tokens.
    pub issuer: String,
    /// The claim holding the client id (consumer key); `azp`, then `client_id` when `None` or
    /// absent from a token.
    pub consumer_key_claim: Option<String>,
    /// The claim holding the scopes (a space-separated string or an array); `scope`, then `scp`
    /// when `None` or absent from a token.
    pub scopes_claim: Option<String>,
    pub keys: Arc<IssuerKeys>,
    /// Where its opaque (non-JWT) access tokens are checked, if it issues any.
    pub introspection: Option<Arc<Introspector>>,
    /// (remote claim, local claim): token claims copied into the backend JWT under local names.
    pub claim_mapping: Vec<(String, String)>,
    /// Mapped client ids (consumer keys) and the application key they stand for.
    pub clients: FastMap<String, ClientInfo>,
}

/// The identity tables' map: looked up on every secured request with keys from validated
/// tokens, so foldhash (seeded) instead of SipHash, which cost ~1,000 instructions per request
/// over six lookups.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Everything the gateway authenticates and authorises with.
#[derive(Default, Clone)]
pub struct Identity {
    pub keys: Vec<VerificationKey>,
    /// Accepted `iss` values; any issuer when empty.
    pub issuers: Vec<String>,
    /// By OAuth client id (consumer key).
    pub clients: FastMap<String, ClientInfo>,
    /// By (application id, API id).
    pub subscriptions: FastMap<(String, String), SubscriptionInfo>,
    /// Revoked tokens and users cut off (deleted, roles removed), asked on every request.
    pub revocations: Option<Arc<dyn RevocationCheck>>,
    /// External key managers, by the `iss` of their tokens. A token naming one of these issuers
    /// is verified against that issuer's keys only.
    pub external_issuers: FastMap<String, Arc<ExternalIssuer>>,
}

/// A subscription's key, (application id, API id), looked up from borrowed strings: the map's
/// `(String, String)` keys borrow as this trait object, which hashes the same way, so a lookup
/// needs no owned copies of the two ids.
trait SubscriptionKey {
    fn application(&self) -> &str;
    fn api(&self) -> &str;
}

impl SubscriptionKey for (String, String) {
    fn application(&self) -> &str {
        &self.0
    }
    fn api(&self) -> &str {
        &self.1
    }
}

impl SubscriptionKey for (&str, &str) {
    fn application(&self) -> &str {
        self.0
    }
    fn api(&self) -> &str {
        self.1
    }
}

impl<'a> std::borrow::Borrow<dyn SubscriptionKey + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn SubscriptionKey + 'a) {
        self
    }
}

/// Hashes as `(String, String)` does: each string in turn.
impl std::hash::Hash for dyn SubscriptionKey + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.application().hash(state);
        self.api().hash(state);
    }
}

impl PartialEq for dyn SubscriptionKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.application() == other.application() && self.api() == other.api()
    }
}

impl Eq for dyn SubscriptionKey + '_ {}

impl Identity {
    /// The subscription of application `application` to API `api`, if any.
    pub fn subscription(&self, application: &str, api: &str) -> Option<&SubscriptionInfo> {
        self.subscriptions.get(&(application, api) as &dyn SubscriptionKey)
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("keys", &self.keys)
            .field("clients", &self.clients.len())
            .field("subscriptions", &self.subscriptions.len())
            .field("live_revocations", &self.revocations.is_some())
            .field("external_issuers", &self.external_issuers.len())
            .finish()
    }
}

impl Identity {
    /// True when a token with this `jti`, subject, client and issue time must be refused.
    pub fn is_revoked(&self, jti: Option<&str>, user: Option<&str>, client_id: Option<&str>, issued_at: u64) -> bool {
        self.revocations.as_ref().is_some_and(|live| {
            live.is_revoked(
                jti.unwrap_or_default(),
                user.unwrap_or_default(),
                client_id.unwrap_or_default(),
                issued_at,
            )
        })
    }

    /// What decides whether a validated token is still valid: the resident keys' ids and each
    /// external issuer's configuration. Tokens cached under one verdict are forgotten when it
    /// changes.
    pub fn verification_fingerprint(&self) -> Vec<String> {
        let mut parts: Vec<String> = self.keys.iter().map(|k| format!("kid:{}", k.kid)).collect();
        let mut external: Vec<String> = self
            .external_issuers
            .values()
            .map(|e| {
                format!(
                    "iss:{}|{}|{:?}|{:?}|{:p}|{:?}|{:?}",
                    e.issuer,
                    e.key_manager,
                    e.consumer_key_claim,
                    e.scopes_claim,
                    Arc::as_ptr(&e.keys),
                    e.introspection.as_ref().map(Arc::as_ptr),
                    e.claim_mapping
                )
            })
            .collect();
        external.sort();
        parts.extend(external);
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_found_by_borrowed_ids() {
        let mut identity = Identity::default();
        for (app, api) in [("app-1", "api-1"), ("app-1", "api-2"), ("app-2", "api-1")] {
            identity.subscriptions.insert(
                (app.to_owned(), api.to_owned()),
                SubscriptionInfo {
                    id: format!("{app}/{api}"),
                    tier: "Gold".into(),
                    status: SubscriptionStatus::Unblocked,
                },
            );
        }
        assert_eq!(
            identity.subscription("app-1", "api-2").map(|s| s.id.as_str()),
            Some("app-1/api-2")
        );
        assert_eq!(
            identity.subscription("app-2", "api-1").map(|s| s.id.as_str()),
            Some("app-2/api-1")
        );
        assert!(identity.subscription("app-2", "api-2").is_none());
        // The pair's boundary matters: ("app-1a", "pi-1") is not ("app-1", "api-1").
        assert!(identity.subscription("app-1a", "pi-1").is_none());
    }
}
