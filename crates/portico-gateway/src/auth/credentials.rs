//! Credential validation with a validated-token cache, as WSO2's gateway token cache: bearer
//! JWT access tokens and API keys (JWTs with `token_type: apiKey`, sent in the `apikey` header),
//! from this node's Key Manager or, for access tokens, from an external key manager (the token's
//! `iss` names it; its keys alone verify the token).
//!
//! An ES256 check costs about 37 µs, three times nginx's whole request, so a token that passed once
//! is remembered until it expires (bounded by bytes, sharded, found by a hash of the token's last
//! bytes and then compared whole, so a lookup can never confuse two tokens). What can change while
//! a token lives — revocation, the user being deleted, the subscription — is still checked on every
//! request against the snapshot.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::identity::{AppInfo, ExternalIssuer, Identity, KeyType, VerificationKey};
use super::introspection::ACTIVE_TTL;
use super::issuers::{ACCEPTED_ALGORITHMS, MAX_KID_WAIT};
use crate::clock::now_seconds;

/// Accepted clock skew for `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 30;
const SHARDS: usize = 16;
/// Token bytes remembered per shard (16 MiB in all: some 20,000 JWTs of 800 bytes); a full shard
/// forgets its expired entries, then half of the rest.
const PER_SHARD_BYTES: usize = 1024 * 1024;

/// Which kind of credential a token is; one kind is never accepted in place of the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An OAuth2 access token, sent as `Authorization: Bearer`.
    AccessToken,
    /// An API key (`token_type: apiKey`), sent in the `apikey` header or query parameter.
    ApiKey,
}

/// An API key that never expires is treated as expiring this far in the future (seconds).
const NO_EXPIRY: u64 = u64::MAX / 4;

/// What a validated token says.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenClaims {
    pub kind: CredentialKind,
    /// The application an API key was issued to (API keys carry it; access tokens name a client).
    pub application: Option<Arc<AppInfo>>,
    pub jti: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    pub key_type: KeyType,
    pub issued_at: u64,
    pub expires_at: u64,
    /// The `iss` of a token an external key manager issued (`None` for this node's own).
    pub external_issuer: Option<String>,
    /// The `kid` of the key that verified an external token.
    pub key_id: Option<String>,
    /// Its `aud` (a string or a list of them in the token).
    pub audiences: Vec<String>,
    /// An external token's claims under the local names its key manager's `claimMapping` gives,
    /// for the backend JWT.
    pub mapped_claims: Vec<(String, serde_json::Value)>,
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    keytype: Option<String>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    application: Option<RawApplication>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

/// An API key's `application` claim.
#[derive(Deserialize)]
struct RawApplication {
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    tier: Option<String>,
}

/// Why a token was refused (900901 in every case; the reason goes to the description).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is not active (its key manager's introspection says so)")]
    Inactive,
    #[error("the token could not be checked: {0}")]
    IntrospectionFailed(String),
    #[error("the token is signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature or claims are invalid: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    #[error("an API key is not an access token")]
    ApiKeyAsBearer,
    #[error("the API key is not a well-formed API key")]
    NotAnApiKey,
    #[error("the token's issuer is not a key manager of this gateway")]
    UnknownIssuer,
    #[error("the token's key `{kid}` is not (or no longer) among the keys of issuer {issuer}")]
    UnknownKid { issuer: String, kid: String },
    #[error("the token's algorithm {0} is not accepted (asymmetric algorithms only)")]
    AlgorithmNotAccepted(String),
}

/// How many of a token's last bytes its cache slot is found by: a JWT ends in its signature,
/// unique to it, so hashing the rest (an 800-byte token cost 400 instructions per request to
/// hash) adds nothing. Only tokens whose signature passed are cached, so nobody can fill a slot
/// with look-alikes; the whole token is compared on every hit.
const HASHED_TAIL_BYTES: usize = 32;

/// A validated token and what it says.
struct CachedToken {
    token: Box<[u8]>,
    claims: Arc<TokenClaims>,
}

/// One shard of the cache: validated tokens (a hit compares the whole token, so no hash
/// collision can ever stand one token in for another), and how many token bytes it holds.
#[derive(Default)]
struct Shard {
    tokens: hashbrown::HashTable<CachedToken>,
    bytes: usize,
}

impl Shard {
    /// Makes room: expired entries go, then (if still full) every other entry, which is fine for
    /// a cache whose misses only cost a signature check.
    fn forget_some(&mut self, now: u64) {
        self.tokens
            .retain(|c| c.claims.expires_at.saturating_add(LEEWAY_SECONDS) > now);
        self.bytes = self.token_bytes();
        if self.bytes * 2 > PER_SHARD_BYTES {
            let mut index = 0usize;
            self.tokens.retain(|_| {
                index += 1;
                index.is_multiple_of(2)
            });
            self.bytes = self.token_bytes();
        }
    }

    fn token_bytes(&self) -> usize {
        self.tokens.iter().map(|c| c.token.len()).sum()
    }

    fn get(&self, hash: u64, token: &[u8]) -> Option<&Arc<TokenClaims>> {
        self.tokens.find(hash, |c| *c.token == *token).map(|c| &c.claims)
    }

    /// Remembers a token (once, should two requests have verified it at the same time).
    fn insert(&mut self, hash: u64, token: &[u8], claims: Arc<TokenClaims>, hasher: &impl Fn(&[u8]) -> u64) {
        match self.tokens.entry(hash, |c| *c.token == *token, |c| hasher(&c.token)) {
            hashbrown::hash_table::Entry::Occupied(mut entry) => entry.get_mut().claims = claims,
            hashbrown::hash_table::Entry::Vacant(entry) => {
                entry.insert(CachedToken {
                    token: token.into(),
                    claims,
                });
                self.bytes += token.len();
            }
        }
    }
}

/// The validated-token cache.
pub struct TokenCache {
    shards: Vec<Mutex<Shard>>,
    hasher: foldhash::fast::RandomState,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl TokenCache {
    fn shard(&self, token: &[u8]) -> &Mutex<Shard> {
        // The last bytes of a JWT are its signature: spread evenly.
        let spread = token.last().map_or(0, |b| usize::from(*b));
        &self.shards[spread % SHARDS]
    }

    fn hash(&self, token: &[u8]) -> u64 {
        self.hasher
            .hash_one(&token[token.len().saturating_sub(HASHED_TAIL_BYTES)..])
    }

    /// Validates `token` as a credential of `kind` against `identity`: from the cache when it
    /// passed before, otherwise by signature and claims. Revocation is checked every time.
    /// The token is taken as bytes: a cached one is compared, not checked as text again.
    pub fn validate(
        &self,
        token: &[u8],
        kind: CredentialKind,
        identity: &Identity,
    ) -> Result<Arc<TokenClaims>, TokenError> {
        let now = now_seconds();
        let shard = self.shard(token);
        let hash = self.hash(token);
        let cached = shard.lock().ok().and_then(|shard| shard.get(hash, token).cloned());
        let claims = match cached {
            Some(claims) => {
                if let Some(issuer) = &claims.external_issuer {
                    still_trusted(issuer, claims.key_id.as_deref(), identity)?;
                }
                claims
            }
            None => {
                let text = std::str::from_utf8(token).map_err(|_| TokenError::Malformed)?;
                let claims = Arc::new(verify(text, identity)?);
                if let Ok(mut shard) = shard.lock() {
                    if shard.bytes + token.len() > PER_SHARD_BYTES {
                        shard.forget_some(now);
                    }
                    shard.insert(hash, token, claims.clone(), &|t| self.hash(t));
                }
                claims
            }
        };
        admit(claims, kind, identity, now)
    }

    /// [`TokenCache::validate`] for a bearer access token; when an external issuer's token names
    /// a `kid` that issuer's key set lacks, waits (at most [`MAX_KID_WAIT`]) for one refetch of
    /// its JWKS and tries once more.
    pub async fn validate_bearer(&self, token: &[u8], identity: &Identity) -> Result<Arc<TokenClaims>, TokenError> {
        match self.validate(token, CredentialKind::AccessToken, identity) {
            Err(TokenError::UnknownKid { issuer, kid }) => {
                let Some(external) = identity.external_issuers.get(&issuer) else {
                    return Err(TokenError::UnknownIssuer);
                };
                if external.keys.wait_for_kid(&kid, MAX_KID_WAIT).await {
                    self.validate(token, CredentialKind::AccessToken, identity)
                } else {
                    Err(TokenError::UnknownKid { issuer, kid })
                }
            }
            Err(TokenError::Malformed) => introspect(token, identity).await,
            other => other,
        }
    }

    /// Forgets every token (after the verification keys change).
    pub fn clear(&self) {
        for shard in &self.shards {
            if let Ok(mut shard) = shard.lock() {
                shard.tokens.clear();
                shard.bytes = 0;
            }
        }
    }
}

/// Whether validated `claims` are accepted as a credential of `kind` now: the right kind, not
/// expired (with the leeway), not revoked. Checked on every request, cached or not.
fn admit(
    claims: Arc<TokenClaims>,
    kind: CredentialKind,
    identity: &Identity,
    now: u64,
) -> Result<Arc<TokenClaims>, TokenError> {
    match (kind, claims.kind) {
        (CredentialKind::AccessToken, CredentialKind::ApiKey) => return Err(TokenError::ApiKeyAsBearer),
        (CredentialKind::ApiKey, CredentialKind::AccessToken) => return Err(TokenError::NotAnApiKey),
        _ => {}
    }
    if claims.expires_at.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(TokenError::Expired);
    }
    if identity.is_revoked(
        claims.jti.as_deref(),
        claims.subject.as_deref(),
        claims.client_id.as_deref(),
        claims.issued_at,
    ) {
        return Err(TokenError::Revoked);
    }
    Ok(claims)
}

/// A bearer token that is not a JWT, checked at the introspection endpoint of each external key
/// manager that has one: the first that says it is active vouches for it (its claims read as
/// that key manager's JWT claims would be). Not a JWT and no key manager to ask: malformed.
async fn introspect(token: &[u8], identity: &Identity) -> Result<Arc<TokenClaims>, TokenError> {
    let text = std::str::from_utf8(token).map_err(|_| TokenError::Malformed)?;
    let mut refusal = TokenError::Malformed;
    for external in identity.external_issuers.values() {
        let Some(introspector) = &external.introspection else {
            continue;
        };
        match introspector.introspect(text).await {
            Ok(Some(answer)) => {
                let mut claims = external_claims(&answer, external, None);
                let now = now_seconds();
                // RFC 7662 makes `exp` optional: such a token lives as long as its answer.
                if answer.get("exp").is_none() {
                    claims.expires_at = now + ACTIVE_TTL.as_secs();
                }
                if claims.subject.is_none() {
                    claims.subject = answer.get("username").and_then(|v| v.as_str()).map(str::to_owned);
                }
                return admit(Arc::new(claims), CredentialKind::AccessToken, identity, now);
            }
            Ok(None) => refusal = TokenError::Inactive,
            Err(e) => {
                tracing::warn!(key_manager = %external.key_manager, error = %e, "token introspection failed");
                if refusal == TokenError::Malformed {
                    refusal = TokenError::IntrospectionFailed(e.to_string());
                }
            }
        }
    }
    Err(refusal)
}

/// The uncached check: signature against the identity's keys, `exp`/`nbf` with leeway, issuer.
/// Access tokens must carry `exp`; API keys (`token_type: apiKey`) may live forever and must name
/// their application.
fn verify(token: &str, identity: &Identity) -> Result<TokenClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if !identity.external_issuers.is_empty() {
        #[derive(Deserialize)]
        struct IssuerOnly {
            #[serde(default)]
            iss: Option<String>,
        }
        let claimed =
            jsonwebtoken::dangerous::insecure_decode_claims::<IssuerOnly>(token).map_err(|_| TokenError::Malformed)?;
        if let Some(external) = claimed
            .iss
            .as_deref()
            .and_then(|iss| identity.external_issuers.get(iss))
        {
            return verify_external(token, &header, external);
        }
    }
    let now = now_seconds();
    let live = |k: &&VerificationKey| k.retires_at.is_none_or(|end| now < end);
    let candidates: Vec<_> = match &header.kid {
        Some(kid) => identity.keys.iter().filter(|k| &k.kid == kid).filter(live).collect(),
        None => identity.keys.iter().filter(live).collect(),
    };
    if candidates.is_empty() {
        return Err(TokenError::UnknownKey);
    }
    let mut last = TokenError::UnknownKey;
    for key in candidates {
        if key.algorithm != header.alg {
            continue;
        }
        let mut validation = jsonwebtoken::Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        // `exp` is checked here for access tokens; API keys may omit it (checked in `validate`).
        validation.set_required_spec_claims::<&str>(&[]);
        validation.validate_exp = true;
        if !identity.issuers.is_empty() {
            validation.set_issuer(&identity.issuers);
        }
        match jsonwebtoken::decode::<RawClaims>(token, &key.key, &validation) {
            Ok(data) => {
                let c = data.claims;
                let kind = if c.token_type.as_deref() == Some("apiKey") {
                    CredentialKind::ApiKey
                } else {
                    CredentialKind::AccessToken
                };
                let expires_at = match (kind, c.exp) {
                    (_, Some(exp)) => exp,
                    (CredentialKind::ApiKey, None) => NO_EXPIRY,
                    (CredentialKind::AccessToken, None) => {
                        return Err(TokenError::Invalid("the token has no `exp` claim".into()));
                    }
                };
                let application = match kind {
                    CredentialKind::AccessToken => None,
                    CredentialKind::ApiKey => Some(Arc::new(api_key_application(c.application)?)),
                };
                return Ok(TokenClaims {
                    kind,
                    application,
                    jti: c.jti,
                    subject: c.sub,
                    client_id: c.client_id.or(c.azp),
                    scopes: c
                        .scope
                        .map(|s| s.split_whitespace().map(str::to_owned).collect())
                        .unwrap_or_default(),
                    key_type: c
                        .keytype
                        .as_deref()
                        .and_then(KeyType::from_wire)
                        .unwrap_or(KeyType::Production),
                    issued_at: c.iat.unwrap_or(0),
                    expires_at,
                    audiences: audiences(c.aud.as_ref()),
                    mapped_claims: Vec::new(),
                    external_issuer: None,
                    key_id: None,
                });
            }
            Err(e) => {
                last = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid(e.to_string()),
                }
            }
        }
    }
    Err(last)
}

/// The application an API key names; its UUID is what subscriptions are keyed by.
fn api_key_application(raw: Option<RawApplication>) -> Result<AppInfo, TokenError> {
    let raw = raw.ok_or(TokenError::NotAnApiKey)?;
    let id = raw
        .uuid
        .or_else(|| raw.id.and_then(|v| v.as_str().map(str::to_owned)))
        .filter(|id| !id.is_empty())
        .ok_or(TokenError::NotAnApiKey)?;
    Ok(AppInfo {
        id,
        name: raw.name.unwrap_or_default(),
        owner: raw.owner.unwrap_or_default(),
        tier: raw.tier.unwrap_or_else(|| "Unlimited".into()),
    })
}

/// A cached external token stays valid while its issuer is still a key manager of this gateway
/// and the key that verified it is still in the issuer's set (a key the provider withdrew stops
/// its tokens at the next refresh).
fn still_trusted(issuer: &str, key_id: Option<&str>, identity: &Identity) -> Result<(), TokenError> {
    let external = identity.external_issuers.get(issuer).ok_or(TokenError::UnknownIssuer)?;
    if let Some(kid) = key_id
        && !external.keys.current().has_kid(kid)
    {
        return Err(TokenError::UnknownKid {
            issuer: issuer.to_owned(),
            kid: kid.to_owned(),
        });
    }
    Ok(())
}

/// Verifies an external key manager's access token against that issuer's keys only: an
/// accepted (asymmetric) algorithm that the key allows, the signature, `iss`, `exp` (required)
/// and `nbf` with the leeway. The client id and scopes come from the claims the key manager
/// names.
fn verify_external(
    token: &str,
    header: &jsonwebtoken::Header,
    external: &ExternalIssuer,
) -> Result<TokenClaims, TokenError> {
    if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
        return Err(TokenError::AlgorithmNotAccepted(format!("{:?}", header.alg)));
    }
    let set = external.keys.current();
    let kid = header.kid.as_deref();
    let mut last = TokenError::UnknownKey;
    let mut tried = false;
    for key in set.candidates(kid, header.alg) {
        tried = true;
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp"]);
        validation.set_issuer(&[external.issuer.as_str()]);
        match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key.key, &validation) {
            Ok(data) => return Ok(external_claims(&data.claims, external, key.kid.clone())),
            Err(e) => {
                last = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid(e.to_string()),
                }
            }
        }
    }
    if !tried && let Some(kid) = kid.filter(|k| !set.has_kid(k)) {
        return Err(TokenError::UnknownKid {
            issuer: external.issuer.clone(),
            kid: kid.to_owned(),
        });
    }
    Err(last)
}

/// The claims of a verified external token, read where its key manager says they are.
fn external_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
    external: &ExternalIssuer,
    key_id: Option<String>,
) -> TokenClaims {
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let number = |name: &str| claims.get(name).and_then(serde_json::Value::as_u64);
    let client_id = external
        .consumer_key_claim
        .as_deref()
        .and_then(text)
        .or_else(|| text("azp"))
        .or_else(|| text("client_id"));
    let scopes_value = external
        .scopes_claim
        .as_deref()
        .and_then(|claim| claims.get(claim))
        .or_else(|| claims.get("scope"))
        .or_else(|| claims.get("scp"));
    let scopes = match scopes_value {
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(serde_json::Value::Array(list)) => list.iter().filter_map(|v| v.as_str()).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    TokenClaims {
        kind: CredentialKind::AccessToken,
        application: None,
        jti: text("jti"),
        subject: text("sub"),
        client_id,
        scopes,
        key_type: KeyType::Production,
        issued_at: number("iat").unwrap_or(0),
        expires_at: number("exp").unwrap_or(0),
        audiences: audiences(claims.get("aud")),
        mapped_claims: external
            .claim_mapping
            .iter()
            .filter_map(|(remote, local)| Some((local.clone(), claims.get(remote)?.clone())))
            .collect(),
        external_issuer: Some(external.issuer.clone()),
        key_id,
    }
}

/// A token's `aud`: one string or a list of them.
fn audiences(aud: Option<&serde_json::Value>) -> Vec<String> {
    match aud {
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        Some(serde_json::Value::Array(list)) => list.iter().filter_map(|v| v.as_str()).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_at: u64) -> Arc<TokenClaims> {
        Arc::new(TokenClaims {
            kind: CredentialKind::AccessToken,
            application: None,
            jti: None,
            subject: None,
            client_id: None,
            scopes: Vec::new(),
            key_type: KeyType::Production,
            issued_at: 0,
            expires_at,
            external_issuer: None,
            key_id: None,
            audiences: Vec::new(),
            mapped_claims: Vec::new(),
        })
    }

    /// A full shard forgets expired tokens first, then half of the rest, and keeps its byte
    /// count right.
    #[test]
    fn shards_stay_within_their_byte_budget() {
        let now = 1_000_000;
        let cache = TokenCache::default();
        let hash = |t: &[u8]| cache.hash(t);
        let mut shard = Shard::default();
        let token_len = 1000;
        let count = PER_SHARD_BYTES / token_len;
        for i in 0..count {
            let token = format!("{i:0>width$}", width = token_len);
            let expires = if i % 4 == 0 { now - 3600 } else { now + 3600 };
            shard.insert(hash(token.as_bytes()), token.as_bytes(), claims(expires), &hash);
        }
        shard.forget_some(now);
        let live = count - count.div_ceil(4);
        assert_eq!(
            shard.tokens.len(),
            live / 2,
            "the expired quarter, then half of the rest"
        );
        assert!(shard.tokens.iter().all(|c| c.claims.expires_at > now));
        assert_eq!(shard.bytes, shard.tokens.len() * token_len);

        // Only expired entries to forget: the live ones stay.
        let mut small = Shard::default();
        small.insert(hash(b"a"), b"a", claims(now - 3600), &hash);
        small.insert(hash(b"bb"), b"bb", claims(now + 3600), &hash);
        assert_eq!(small.bytes, 3);
        small.forget_some(now);
        assert_eq!(small.tokens.len(), 1);
        assert_eq!(small.bytes, 2);
    }
}
