//! Signing keys of external key managers (identity providers such as Keycloak, Auth0, Okta or
//! Azure AD): parsed from a JWKS document fetched over HTTPS, or given as a PEM key, and kept
//! fresh without ever making a request wait on a lock or the network, except for the one case
//! where waiting helps: a token names a `kid` its issuer's set does not have yet (the provider
//! rotated its key). That triggers one single-flight refetch, at most one per issuer every
//! [`MIN_ON_DEMAND_INTERVAL`], which such requests wait for, bounded by [`MAX_KID_WAIT`].
//!
//! Key sets are shared by successive identity snapshots through the [`IssuerKeyRegistry`] (keyed
//! by key manager name and JWKS URL), so that reloading applications or subscriptions does not
//! refetch anything; the registry also refreshes every set periodically in the background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::watch;

use super::introspection::Introspector;
use crate::error::error_chain;

/// The JWS algorithms accepted from external issuers: asymmetric only (`none` never parses, and
/// HMAC would let anyone holding the verification key forge tokens).
pub const ACCEPTED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// On-demand refetches (an unknown `kid`) of one issuer's JWKS are at least this far apart.
pub const MIN_ON_DEMAND_INTERVAL: Duration = Duration::from_secs(10);
/// How long a request with an unknown `kid` waits for the refetch.
pub const MAX_KID_WAIT: Duration = Duration::from_secs(2);
/// How often every JWKS is fetched again in the background.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// A JWKS fetch gives up after this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// JWKS documents larger than this are refused.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Why a key, key set or fetch could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerKeyError {
    #[error("JWKS {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("JWKS {url}: not a JWK set: {reason}")]
    NotAJwkSet { url: String, reason: String },
    #[error("key `{kid}`: {reason}")]
    UnusableKey { kid: String, reason: String },
    #[error("cannot build the JWKS HTTP client: {0}")]
    Client(String),
}

/// One verification key of an external issuer.
pub struct IssuerKey {
    /// The `kid` tokens name it by; a token without `kid` is tried against every key.
    pub kid: Option<String>,
    /// The algorithms it verifies (the JWK's `alg` when it names one, else every accepted
    /// algorithm of its key type).
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

impl IssuerKey {
    /// From a public key read by `portico_keystore::parse_public_key_pem`: RSA keys verify the
    /// RS* and PS* algorithms, EC keys the ES algorithm of their curve, Ed25519 keys EdDSA.
    pub fn from_public_key(kid: Option<String>, public: &portico_keystore::ForeignPublicKey) -> IssuerKey {
        use portico_keystore::ForeignKeyKind as Kind;
        let (algorithms, key) = match public.kind {
            Kind::Rsa => (RSA_ALGORITHMS.to_vec(), DecodingKey::from_rsa_der(&public.key)),
            Kind::EcP256 => (vec![Algorithm::ES256], DecodingKey::from_ec_der(&public.key)),
            Kind::EcP384 => (vec![Algorithm::ES384], DecodingKey::from_ec_der(&public.key)),
            Kind::Ed25519 => (vec![Algorithm::EdDSA], DecodingKey::from_ed_der(&public.key)),
        };
        IssuerKey { kid, algorithms, key }
    }
}

/// The keys an issuer signs with now.
#[derive(Debug, Default)]
pub struct KeySet {
    pub keys: Vec<IssuerKey>,
}

impl KeySet {
    /// The signature keys of a JWKS document. Encryption keys (`use: enc`) are skipped; symmetric
    /// (`oct`) keys and keys of unknown types are skipped with a warning, as are keys whose `alg`
    /// is not an accepted algorithm.
    pub fn from_jwks(document: &[u8], url: &str) -> Result<KeySet, IssuerKeyError> {
        let set: JwkSet = serde_json::from_slice(document).map_err(|e| IssuerKeyError::NotAJwkSet {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            match key_from_jwk(jwk) {
                Ok(key) => keys.push(key),
                Err(e) => tracing::warn!(jwks = %url, error = %e, "JWK left out"),
            }
        }
        Ok(KeySet { keys })
    }

    /// Whether a key with this `kid` is in the set.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The keys a token with this header may be verified with: those with its `kid` (every key
    /// when it names none; a key without `kid`, such as a PEM key, fits any) that allow its
    /// algorithm.
    pub fn candidates(&self, kid: Option<&str>, algorithm: Algorithm) -> impl Iterator<Item = &IssuerKey> {
        self.keys.iter().filter(move |k| {
            (kid.is_none() || k.kid.is_none() || k.kid.as_deref() == kid) && k.algorithms.contains(&algorithm)
        })
    }
}

fn key_from_jwk(jwk: &jsonwebtoken::jwk::Jwk) -> Result<IssuerKey, IssuerKeyError> {
    let kid = jwk.common.key_id.clone();
    let unusable = |reason: String| IssuerKeyError::UnusableKey {
        kid: kid.clone().unwrap_or_else(|| "(no kid)".into()),
        reason,
    };
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_ALGORITHMS.to_vec(),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            ref other => return Err(unusable(format!("EC curve {other:?} is not supported"))),
        },
        AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
        AlgorithmParameters::OctetKey(_) => return Err(unusable("symmetric (oct) keys are never accepted".into())),
        _ => return Err(unusable("unknown key type".into())),
    };
    let algorithms = match jwk.common.key_algorithm {
        None => by_type,
        Some(named) => {
            let algorithm = match named {
                KeyAlgorithm::RS256 => Algorithm::RS256,
                KeyAlgorithm::RS384 => Algorithm::RS384,
                KeyAlgorithm::RS512 => Algorithm::RS512,
                KeyAlgorithm::PS256 => Algorithm::PS256,
                KeyAlgorithm::PS384 => Algorithm::PS384,
                KeyAlgorithm::PS512 => Algorithm::PS512,
                KeyAlgorithm::ES256 => Algorithm::ES256,
                KeyAlgorithm::ES384 => Algorithm::ES384,
                KeyAlgorithm::EdDSA => Algorithm::EdDSA,
                other => return Err(unusable(format!("algorithm {other:?} is not accepted"))),
            };
            if !by_type.contains(&algorithm) {
                return Err(unusable(format!("algorithm {algorithm:?} does not fit the key type")));
            }
            vec![algorithm]
        }
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| unusable(e.to_string()))?;
    Ok(IssuerKey { kid, algorithms, key })
}

/// Where an issuer's keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeySource {
    /// Fetched from this URL, refreshed in the background and on unknown `kid`s.
    Jwks(String),
    /// Given once (a PEM key or certificate); never fetched.
    Fixed,
}

/// Fetches JWKS documents; trusts the same roots as the gateway's https backends.
struct JwksFetcher {
    client: reqwest::Client,
    /// The runtime fetches run on (not the request's: a gateway I/O thread only waits).
    runtime: tokio::runtime::Handle,
    started: Instant,
}

impl JwksFetcher {
    async fn fetch(&self, url: &str) -> Result<KeySet, IssuerKeyError> {
        let fail = |reason: String| IssuerKeyError::Fetch {
            url: url.to_owned(),
            reason,
        };
        let mut response = self
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(fail(format!("answered {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(error_chain(&e)))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(fail(format!("the document is larger than {MAX_JWKS_BYTES} bytes")));
            }
        }
        KeySet::from_jwks(&body, url)
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// No on-demand fetch yet.
const NEVER: u64 = u64::MAX;

/// One issuer's current keys, shared by every snapshot that names the issuer.
pub struct IssuerKeys {
    /// The key manager's name (logs).
    name: String,
    source: KeySource,
    current: ArcSwap<KeySet>,
    fetcher: Option<Arc<JwksFetcher>>,
    in_flight: AtomicBool,
    /// When the last on-demand fetch started ([`JwksFetcher::millis`]), or [`NEVER`].
    last_on_demand: AtomicU64,
    /// Bumped whenever a fetch ends (successful or not); waiting requests watch it.
    fetches_done: watch::Sender<u64>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("keys", &self.current.load().keys.len())
            .finish()
    }
}

impl IssuerKeys {
    /// Keys given once (e.g. from a PEM), never fetched.
    pub fn fixed(name: impl Into<String>, keys: Vec<IssuerKey>) -> Arc<IssuerKeys> {
        Arc::new(IssuerKeys {
            name: name.into(),
            source: KeySource::Fixed,
            current: ArcSwap::from_pointee(KeySet { keys }),
            fetcher: None,
            in_flight: AtomicBool::new(false),
            last_on_demand: AtomicU64::new(NEVER),
            fetches_done: watch::Sender::new(0),
        })
    }

    /// The keys as they are now (a lock-free load).
    pub fn current(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.current.load()
    }

    /// The JWKS URL, when the keys are fetched.
    pub fn jwks_url(&self) -> Option<&str> {
        match &self.source {
            KeySource::Jwks(url) => Some(url),
            KeySource::Fixed => None,
        }
    }

    /// Starts a fetch in the background unless one is running. `on_demand` fetches (an unknown
    /// `kid`) are refused within [`MIN_ON_DEMAND_INTERVAL`] of the previous one. True when a
    /// fetch is running after the call.
    fn start_fetch(self: &Arc<Self>, on_demand: bool) -> bool {
        let (KeySource::Jwks(url), Some(fetcher)) = (&self.source, &self.fetcher) else {
            return false;
        };
        let now = fetcher.millis();
        if on_demand {
            let last = self.last_on_demand.load(Ordering::Acquire);
            let interval = u64::try_from(MIN_ON_DEMAND_INTERVAL.as_millis()).unwrap_or(u64::MAX);
            if last != NEVER && now.saturating_sub(last) < interval {
                return self.in_flight.load(Ordering::Acquire);
            }
        }
        if self
            .in_flight
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return true;
        }
        if on_demand {
            self.last_on_demand.store(now, Ordering::Release);
        }
        let keys = self.clone();
        let url = url.clone();
        let fetcher = fetcher.clone();
        fetcher.runtime.clone().spawn(async move {
            match tokio::time::timeout(FETCH_TIMEOUT, fetcher.fetch(&url)).await {
                Ok(Ok(set)) => {
                    tracing::debug!(key_manager = %keys.name, jwks = %url, keys = set.keys.len(), "JWKS fetched");
                    keys.current.store(Arc::new(set));
                }
                Ok(Err(e)) => tracing::warn!(key_manager = %keys.name, error = %e, "JWKS fetch failed; keeping the previous keys"),
                Err(_) => tracing::warn!(key_manager = %keys.name, jwks = %url, "JWKS fetch timed out; keeping the previous keys"),
            }
            keys.in_flight.store(false, Ordering::Release);
            keys.fetches_done.send_modify(|n| *n = n.wrapping_add(1));
        });
        true
    }

    /// For a token whose `kid` is not in the set: refetches the JWKS (single-flight,
    /// rate-limited) and waits for it, at most `max_wait`. True when the `kid` is known after.
    pub async fn wait_for_kid(self: &Arc<Self>, kid: &str, max_wait: Duration) -> bool {
        if self.current().has_kid(kid) {
            return true;
        }
        // Subscribe before starting, so that a fetch ending in between is not missed.
        let mut done = self.fetches_done.subscribe();
        if !self.start_fetch(true) {
            return self.current().has_kid(kid);
        }
        let _ = tokio::time::timeout(max_wait, done.changed()).await;
        self.current().has_kid(kid)
    }
}

/// The key sets of every external issuer this node knows, reused across identity reloads and
/// refreshed in the background.
pub struct IssuerKeyRegistry {
    fetcher: Arc<JwksFetcher>,
    sets: Mutex<HashMap<(String, String), Arc<IssuerKeys>>>,
    /// Introspection endpoints by key manager name and settings, kept across identity reloads
    /// with their remembered answers.
    introspectors: Mutex<HashMap<IntrospectorKey, Arc<Introspector>>>,
}

/// A key manager's name, introspection URL, client id and secret.
type IntrospectorKey = (String, String, Option<String>, Option<String>);

impl IssuerKeyRegistry {
    /// A registry whose fetches trust `roots` (the gateway's backend trust store) and run on the
    /// current Tokio runtime.
    pub fn new(roots: Arc<rustls::RootCertStore>) -> Result<Arc<IssuerKeyRegistry>, IssuerKeyError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| IssuerKeyError::Client(format!("no Tokio runtime: {e}")))?;
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| IssuerKeyError::Client(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("Portico/", env!("CARGO_PKG_VERSION"), " (JWKS)"))
            .build()
            .map_err(|e| IssuerKeyError::Client(error_chain(&e)))?;
        Ok(Arc::new(IssuerKeyRegistry {
            fetcher: Arc::new(JwksFetcher {
                client,
                runtime,
                started: Instant::now(),
            }),
            sets: Mutex::new(HashMap::new()),
            introspectors: Mutex::new(HashMap::new()),
        }))
    }

    /// The key set of key manager `name` at `url`: the one already known (with the keys fetched
    /// so far), or a new one whose first fetch starts now.
    pub fn jwks(&self, name: &str, url: &str) -> Arc<IssuerKeys> {
        let key = (name.to_owned(), url.to_owned());
        let mut sets = match self.sets.lock() {
            Ok(sets) => sets,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(existing) = sets.get(&key) {
            return existing.clone();
        }
        let keys = Arc::new(IssuerKeys {
            name: name.to_owned(),
            source: KeySource::Jwks(url.to_owned()),
            current: ArcSwap::from_pointee(KeySet::default()),
            fetcher: Some(self.fetcher.clone()),
            in_flight: AtomicBool::new(false),
            last_on_demand: AtomicU64::new(NEVER),
            fetches_done: watch::Sender::new(0),
        });
        keys.start_fetch(false);
        sets.insert(key, keys.clone());
        keys
    }

    /// The key set of key manager `name` given as a PEM public key or certificate (reused while
    /// the PEM stays the same, so cached tokens survive identity reloads).
    pub fn pem(&self, name: &str, pem: &str) -> Result<Arc<IssuerKeys>, IssuerKeyError> {
        let key = (name.to_owned(), format!("pem:{pem}"));
        let mut sets = match self.sets.lock() {
            Ok(sets) => sets,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(existing) = sets.get(&key) {
            return Ok(existing.clone());
        }
        let public = portico_keystore::parse_public_key_pem(pem).map_err(|e| IssuerKeyError::UnusableKey {
            kid: format!("{name} (PEM)"),
            reason: e.to_string(),
        })?;
        let keys = IssuerKeys::fixed(name, vec![IssuerKey::from_public_key(None, &public)]);
        sets.insert(key, keys.clone());
        Ok(keys)
    }

    /// The introspection endpoint of key manager `name` (the one already known with the same
    /// settings, so that its remembered answers survive identity reloads).
    pub fn introspector(
        &self,
        name: &str,
        url: &str,
        client_id: Option<String>,
        client_secret: Option<String>,
    ) -> Arc<Introspector> {
        let key = (
            name.to_owned(),
            url.to_owned(),
            client_id.clone(),
            client_secret.clone(),
        );
        let mut introspectors = match self.introspectors.lock() {
            Ok(introspectors) => introspectors,
            Err(poisoned) => poisoned.into_inner(),
        };
        introspectors
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Introspector::new(
                    url.to_owned(),
                    client_id,
                    client_secret,
                    self.fetcher.client.clone(),
                ))
            })
            .clone()
    }

    /// Forgets the key sets not in `live` (key managers deleted, disabled or moved to another
    /// URL), so they are no longer refreshed, and the introspection endpoints not in
    /// `live_introspectors`.
    pub fn retain(&self, live: &[Arc<IssuerKeys>], live_introspectors: &[Arc<Introspector>]) {
        let mut sets = match self.sets.lock() {
            Ok(sets) => sets,
            Err(poisoned) => poisoned.into_inner(),
        };
        sets.retain(|_, keys| live.iter().any(|l| Arc::ptr_eq(l, keys)));
        drop(sets);
        let mut introspectors = match self.introspectors.lock() {
            Ok(introspectors) => introspectors,
            Err(poisoned) => poisoned.into_inner(),
        };
        introspectors.retain(|_, i| live_introspectors.iter().any(|l| Arc::ptr_eq(l, i)));
    }

    /// Refetches every JWKS every `every`, in the background, until the task is aborted.
    pub fn spawn_refresh(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let registry = Arc::downgrade(self);
        self.fetcher.runtime.spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(registry) = registry.upgrade() else { return };
                let sets: Vec<Arc<IssuerKeys>> = match registry.sets.lock() {
                    Ok(sets) => sets.values().cloned().collect(),
                    Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
                };
                for keys in sets {
                    keys.start_fetch(false);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_keys_take_their_algorithms_from_type_and_alg() {
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "r1", "use": "sig", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
            {"kty": "RSA", "kid": "r2", "alg": "PS256", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
            {"kty": "oct", "kid": "h1", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}
        ]});
        let set = KeySet::from_jwks(doc.to_string().as_bytes(), "https://idp.test/jwks").expect("set");
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.clone().unwrap_or_default()).collect();
        assert_eq!(kids, ["r1", "r2", "e1"]);
        assert_eq!(set.keys[0].algorithms, RSA_ALGORITHMS.to_vec());
        assert_eq!(set.keys[1].algorithms, [Algorithm::PS256]);
        assert_eq!(set.keys[2].algorithms, [Algorithm::ES256]);
        assert!(set.has_kid("e1") && !set.has_kid("h1"));
        assert_eq!(set.candidates(Some("r2"), Algorithm::RS256).count(), 0);
        assert_eq!(set.candidates(None, Algorithm::RS256).count(), 1);
        let e = KeySet::from_jwks(b"{\"nope\": 1}", "https://idp.test/jwks").expect_err("not a set");
        assert!(e.to_string().contains("https://idp.test/jwks"), "{e}");
    }
}
