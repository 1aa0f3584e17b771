//! Turns credentials into a [`Principal`].

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portico_store::{Role, Store, StoreError};
use sha2::{Digest, Sha256};

use crate::login_guard::{LoginGuard, Refusal};
use crate::password;
use crate::scopes::allowed_scopes;
use crate::validator::TokenValidator;

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Bearer,
}

/// An authenticated caller and the scopes it holds for this request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub roles: Vec<Role>,
    pub scopes: BTreeSet<String>,
    pub method: AuthMethod,
}

impl Principal {
    /// WSO2's rule: an operation's scopes are alternatives; holding any one of them suffices.
    pub fn has_any_scope(&self, scopes: &[&str]) -> bool {
        scopes.iter().any(|s| self.scopes.contains(*s))
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong username or password (deliberately not saying which).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The credentials are not in a form we read.
    #[error("malformed credentials: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password was not checked: too many checks at once, or too many recent failures of
    /// this user name or client address (see [`crate::login_guard`]).
    #[error("{}", refusal_text(.0))]
    Refused(Refusal),
    #[error("password check failed: {0}")]
    Internal(String),
}

fn refusal_text(refusal: &Refusal) -> String {
    let seconds = refusal.retry_after_seconds();
    match refusal {
        Refusal::Busy(_) => format!("Too many password checks are running; retry after {seconds} s"),
        Refusal::LockedOut(_) => {
            format!("Too many failed sign-ins for this user or from this address; retry after {seconds} s")
        }
    }
}

/// How long a verified password is remembered; a password change or user deletion ends it at once.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// Upper bound on remembered credentials, so that the cache cannot grow without limit.
const CACHE_MAX: usize = 10_000;

struct Cached {
    password_hash: String,
    at: Instant,
}

/// Authenticates management requests. Argon2 costs tens of milliseconds and 19 MiB per check, so
/// verified credentials are remembered (keyed by a SHA-256 of username and password, never the
/// password itself) and checks run on blocking threads, as many at once as the [`LoginGuard`]
/// allows, which also slows down repeated failures.
pub struct Authenticator {
    store: Store,
    verified: Mutex<HashMap<[u8; 32], Cached>>,
    guard: LoginGuard,
    /// Validates bearer tokens; without it every bearer token is refused.
    tokens: Option<Arc<TokenValidator>>,
}

/// An argon2id hash (same parameters as real ones) of a random password nobody knows, verified
/// against when the user does not exist so that timing does not reveal which usernames exist.
/// A constant, so that start-up does not spend an argon2 run and 19 MiB making one.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$cG9ydGljby1kZWNveS1zYWx0$W8n2aRuF2o0nQm3k9qJ4TgXzLh8bS1Vd6cPyEr7uKkA";

impl Authenticator {
    /// An authenticator for Basic credentials only.
    pub fn new(store: Store) -> Result<Arc<Authenticator>, AuthError> {
        Authenticator::build(store, None)
    }

    /// An authenticator for Basic credentials and this node's bearer tokens.
    pub fn with_tokens(store: Store, tokens: Arc<TokenValidator>) -> Result<Arc<Authenticator>, AuthError> {
        Authenticator::build(store, Some(tokens))
    }

    fn build(store: Store, tokens: Option<Arc<TokenValidator>>) -> Result<Arc<Authenticator>, AuthError> {
        Ok(Arc::new(Authenticator {
            store,
            verified: Mutex::new(HashMap::new()),
            guard: LoginGuard::default(),
            tokens,
        }))
    }

    /// Checks a user name and password sent from `client` (the TCP peer, when known): the one
    /// entry for every password sign-in (HTTP Basic on REST, the password grant, the portals'
    /// sign-in forms). A locked-out user name or address, or a full hashing queue, is
    /// [`AuthError::Refused`] before any hashing.
    pub async fn login(&self, username: &str, password: &str, client: Option<IpAddr>) -> Result<Principal, AuthError> {
        self.guard.admit(username, client).map_err(AuthError::Refused)?;
        let user = self.store.find_user(username).await?;
        let key = cache_key(username, password);
        if let Some(user) = &user
            && self.remembered(&key, &user.password_hash)
        {
            return Ok(principal(user.id.clone(), user.username.clone(), user.roles.clone()));
        }
        let hash = user
            .as_ref()
            .map_or_else(|| DECOY_HASH.to_owned(), |u| u.password_hash.clone());
        let ok = self.verify(hash.clone(), password.to_owned()).await?;
        match user {
            Some(user) if ok => {
                self.guard.succeeded(username);
                self.remember(key, hash);
                Ok(principal(user.id, user.username, user.roles))
            }
            _ => {
                self.guard.failed(username, client);
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// A user's password was reset by an administrator: its failures and lock-out are forgotten.
    pub fn password_reset(&self, username: &str) {
        self.guard.reset_user(username);
        self.forget_all();
    }

    /// Decodes an `Authorization: Basic ...` value and checks it (see [`Authenticator::login`]).
    pub async fn basic_header(&self, encoded: &str, client: Option<IpAddr>) -> Result<Principal, AuthError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| AuthError::Malformed("Basic credentials are not base64"))?;
        let text = String::from_utf8(bytes).map_err(|_| AuthError::Malformed("Basic credentials are not UTF-8"))?;
        let (user, pass) = text
            .split_once(':')
            .ok_or(AuthError::Malformed("Basic credentials lack a ':'"))?;
        self.login(user, pass, client).await
    }

    /// Checks a bearer token: our JWT, valid now, not revoked, of a user who still exists. The
    /// principal holds the token's scopes that the user's current roles still allow (WSO2's rule).
    pub async fn bearer(&self, token: &str) -> Result<Principal, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Malformed("empty bearer token"));
        }
        let Some(validator) = &self.tokens else {
            return Err(AuthError::InvalidCredentials);
        };
        let claims = validator.validate(token).map_err(|e| {
            tracing::debug!(error = %e, "bearer token refused");
            AuthError::InvalidCredentials
        })?;
        let user = self
            .store
            .find_user(&claims.sub)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        let allowed = allowed_scopes(&user.roles);
        let scopes = claims
            .scopes()
            .filter(|s| allowed.contains(s))
            .map(str::to_owned)
            .collect();
        Ok(Principal {
            user_id: user.id,
            username: user.username,
            roles: user.roles,
            scopes,
            method: AuthMethod::Bearer,
        })
    }

    /// Forgets every remembered credential (after a password or role change elsewhere).
    pub fn forget_all(&self) {
        if let Ok(mut map) = self.verified.lock() {
            map.clear();
        }
    }

    async fn verify(&self, hash: String, password: String) -> Result<bool, AuthError> {
        let _slot = self.guard.hashing_slot().await.map_err(AuthError::Refused)?;
        let result = tokio::task::spawn_blocking(move || password::verify_password(&hash, &password))
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        result.map_err(|e| AuthError::Internal(e.to_string()))
    }

    fn remembered(&self, key: &[u8; 32], current_hash: &str) -> bool {
        let Ok(map) = self.verified.lock() else { return false };
        map.get(key)
            .is_some_and(|c| c.password_hash == current_hash && c.at.elapsed() < CACHE_TTL)
    }

    fn remember(&self, key: [u8; 32], password_hash: String) {
        let Ok(mut map) = self.verified.lock() else { return };
        if map.len() >= CACHE_MAX {
            map.retain(|_, c| c.at.elapsed() < CACHE_TTL);
            if map.len() >= CACHE_MAX {
                map.clear();
            }
        }
        map.insert(
            key,
            Cached {
                password_hash,
                at: Instant::now(),
            },
        );
    }
}

fn cache_key(username: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(username.as_bytes());
    h.update([0u8]);
    h.update(password.as_bytes());
    h.finalize().into()
}

fn principal(user_id: String, username: String, roles: Vec<Role>) -> Principal {
    let scopes = allowed_scopes(&roles).into_iter().map(str::to_owned).collect();
    Principal {
        user_id,
        username,
        roles,
        scopes,
        method: AuthMethod::Basic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_store::{Backend, NewUser, StoreOptions};

    async fn store(dir: &tempfile::TempDir) -> Store {
        Store::connect(&StoreOptions {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}", dir.path().join("t.db").display()),
            pool_size: 2,
            acquire_timeout: Duration::from_secs(5),
            node_id: "t".into(),
        })
        .await
        .expect("store")
    }

    #[tokio::test]
    async fn basic_auth_checks_password_and_follows_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(&dir).await;
        let hash = password::hash_password("pw1").expect("hash");
        let user = store
            .create_user(&NewUser {
                username: "bob".into(),
                password_hash: hash,
                roles: vec![Role::Subscriber],
            })
            .await
            .expect("create");
        let auth = Authenticator::new(store.clone()).expect("auth");

        let p = auth.login("bob", "pw1", None).await.expect("valid");
        assert_eq!(p.username, "bob");
        assert!(p.has_any_scope(&["apim:api_create", "apim:subscribe"]));
        assert!(!p.has_any_scope(&["apim:api_create"]));
        assert!(matches!(
            auth.login("bob", "wrong", None).await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            auth.login("nobody", "pw1", None).await,
            Err(AuthError::InvalidCredentials)
        ));

        // Cached, yet a password change takes effect immediately.
        auth.login("bob", "pw1", None).await.expect("cached");
        store
            .set_password_hash(&user.id, &password::hash_password("pw2").expect("hash"))
            .await
            .expect("set");
        assert!(matches!(
            auth.login("bob", "pw1", None).await,
            Err(AuthError::InvalidCredentials)
        ));
        auth.login("bob", "pw2", None).await.expect("new password");

        // Role changes show in the next request, cached or not.
        store.set_user_roles(&user.id, &[Role::Creator]).await.expect("roles");
        let p = auth.login("bob", "pw2", None).await.expect("valid");
        assert!(p.has_any_scope(&["apim:api_create"]));

        // A deleted user is refused at once.
        store.delete_user(&user.id).await.expect("delete");
        assert!(matches!(
            auth.login("bob", "pw2", None).await,
            Err(AuthError::InvalidCredentials)
        ));
    }

    #[test]
    fn decoy_hash_is_a_real_argon2id_hash_that_nothing_matches() {
        assert_eq!(password::verify_password(DECOY_HASH, "").ok(), Some(false));
        assert_eq!(password::verify_password(DECOY_HASH, "portico").ok(), Some(false));
    }

    #[tokio::test]
    async fn malformed_basic_headers_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let auth = Authenticator::new(store(&dir).await).expect("auth");
        assert!(matches!(
            auth.basic_header("%%%", None).await,
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            auth.basic_header("bm9jb2xvbg==", None).await,
            Err(AuthError::Malformed(_))
        )); // "nocolon"
    }
}
