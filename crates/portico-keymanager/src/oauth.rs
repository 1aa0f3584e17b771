//! The OAuth2 authorization server: clients (DCR), the token endpoint's grants
//! (client_credentials, password, rotating refresh_token), revocation (RFC 7009), introspection
//! (RFC 7662), and the follower that applies other nodes' revocations from the change feed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portico_store::{
    ChangeEvent, CutoffKind, NewOAuthClient, NewRefreshToken, OAuthClient, RefreshUse, RevokedToken, Role, Store,
    StoreError, TokenCutoff, User,
};
use serde_json::{Value, json};

use crate::authenticator::{AuthError, Authenticator, Principal};
use crate::jwt::{AccessClaims, JwtError, TokenSigner, now_seconds};
use crate::revocation::RevocationList;
use crate::scopes::allowed_scopes;
use crate::secrets::{SecretHasher, SecretKind, random_token};

/// Grant types the token endpoint serves.
pub const SUPPORTED_GRANTS: &[&str] = &["client_credentials", "password", "refresh_token"];

/// How long a client (and its owner) stays cached; changes on any node evict it at once via the feed.
const CLIENT_CACHE_TTL: Duration = Duration::from_secs(60);

/// Token lifetimes and the issuer name.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `https://<hostname>:<management port>/oauth2/token`, as WSO2.
    pub issuer: String,
    pub access_token_seconds: i64,
    pub refresh_token_seconds: i64,
}

/// An RFC 6749 §5.2 error (and the few DCR errors that are not OAuth ones).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidRequest(String),
    /// DCR: the caller may not act for that owner or client.
    #[error("{0}")]
    Forbidden(String),
    /// DCR: no such client (or not the caller's).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl OAuthError {
    /// The RFC 6749 `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::Forbidden(_) => "access_denied",
            OAuthError::NotFound(_) => "invalid_client",
            OAuthError::Store(_) | OAuthError::Internal(_) => "server_error",
        }
    }
}

impl From<JwtError> for OAuthError {
    fn from(e: JwtError) -> OAuthError {
        OAuthError::Internal(e.to_string())
    }
}

/// Validates access tokens: signature and times, then revocation. Shared by the token service
/// and the [`Authenticator`].
pub struct TokenValidator {
    pub signer: TokenSigner,
    pub revocations: RevocationList,
}

impl TokenValidator {
    pub fn new(signer: TokenSigner) -> TokenValidator {
        TokenValidator {
            signer,
            revocations: RevocationList::new(),
        }
    }

    pub fn validate(&self, token: &str) -> Result<AccessClaims, JwtError> {
        let claims = self.signer.verify(token)?;
        if self.revocations.is_revoked(&claims) {
            return Err(JwtError::Invalid("the token has been revoked".into()));
        }
        Ok(claims)
    }
}

/// A token request's parameters (form fields of `POST /oauth2/token`).
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    /// WSO2's `validity_period` (seconds); the configured lifetime when absent.
    pub validity_period: Option<i64>,
}

/// RFC 6749 §5.1 answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// WSO2's DCR request (`/client-registration/v0.17/register`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DcrRequest {
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    /// Space-separated grant types.
    #[serde(default)]
    pub grant_type: Option<String>,
    #[serde(default)]
    pub saas_app: Option<bool>,
    #[serde(default)]
    pub token_type: Option<String>,
}

/// A registered client as DCR shows it; `client_secret` only when just (re)generated.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client: OAuthClient,
    pub owner: String,
    pub client_secret: Option<String>,
}

impl RegisteredClient {
    /// WSO2's DCR response body.
    pub fn to_wso2_json(&self) -> Value {
        let c = &self.client;
        json!({
            "clientId": c.client_id,
            "clientName": c.client_name,
            "callBackURL": c.callback_url,
            "clientSecret": self.client_secret,
            "isSaasApplication": c.saas_app,
            "appOwner": self.owner,
            "jsonString": json!({
                "grant_types": c.grant_types,
                "redirect_uris": c.callback_url,
                "client_name": c.client_name,
            }).to_string(),
            "jsonAppAttribute": "{}",
            "tokenType": "JWT",
        })
    }
}

struct CachedClient {
    client: OAuthClient,
    owner: User,
    at: Instant,
}

/// The Key Manager's OAuth2 side.
pub struct TokenService {
    store: Store,
    validator: Arc<TokenValidator>,
    hasher: SecretHasher,
    authenticator: Arc<Authenticator>,
    settings: TokenSettings,
    clients: Mutex<HashMap<String, CachedClient>>,
}

impl TokenService {
    /// Loads the revocation state from the store. Call [`TokenService::spawn_follower`] next.
    pub async fn start(
        store: Store,
        validator: Arc<TokenValidator>,
        hasher: SecretHasher,
        authenticator: Arc<Authenticator>,
        settings: TokenSettings,
    ) -> Result<(Arc<TokenService>, i64), StoreError> {
        // Read the feed position first: anything revoked after it is replayed (idempotently).
        let position = store.latest_seq().await?;
        validator.revocations.revoke(&store.revoked_access_tokens().await?);
        for cutoff in store.token_cutoffs().await? {
            validator.revocations.cut_off(&cutoff);
        }
        let service = Arc::new(TokenService {
            store,
            validator,
            hasher,
            authenticator,
            settings,
            clients: Mutex::new(HashMap::new()),
        });
        Ok((service, position))
    }

    pub fn validator(&self) -> &Arc<TokenValidator> {
        &self.validator
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    pub fn jwks(&self) -> Value {
        self.validator.signer.jwks()
    }

    /// Follows the change feed from `position`: applies revocations and evicts changed clients.
    pub fn spawn_follower(self: &Arc<Self>, position: i64) -> tokio::task::JoinHandle<()> {
        let service = Arc::clone(self);
        let store = self.store.clone();
        let poll = store.feed_poll_interval();
        // Revocations only grow when events arrive, so pruning on arrival (at most once a
        // minute) keeps the list bounded.
        let mut last_prune = std::time::Instant::now();
        tokio::spawn(portico_cluster::follow(store, position, poll, move |events| {
            for event in &events {
                service.apply_event(event);
            }
            if last_prune.elapsed() >= std::time::Duration::from_secs(60) {
                service.validator.revocations.prune(portico_store::now_millis());
                last_prune = std::time::Instant::now();
            }
            std::future::ready(())
        }))
    }

    fn apply_event(&self, event: &ChangeEvent) {
        if self.validator.revocations.apply(event) || event.kind == portico_store::EVENT_CLIENT_CHANGED {
            // A revocation may concern a client's owner or the client itself: cached owners and
            // clients are re-read on next use.
            self.evict_clients(event);
        }
    }

    fn evict_clients(&self, event: &ChangeEvent) {
        if let Ok(mut cache) = self.clients.lock() {
            match event.kind.as_str() {
                portico_store::EVENT_TOKEN_REVOKED => {}
                portico_store::EVENT_USER_TOKENS_REVOKED => cache.retain(|_, c| c.owner.username != event.entity_id),
                _ => {
                    cache.remove(&event.entity_id);
                }
            }
        }
    }

    /// Checks a client's credentials (HTTP Basic or form fields of the token endpoint).
    pub async fn authenticate_client(&self, client_id: &str, secret: &str) -> Result<OAuthClient, OAuthError> {
        let (client, _) = self.client_with_owner(client_id).await?;
        if self
            .hasher
            .matches(SecretKind::ClientSecret, secret, &client.secret_hash)
        {
            Ok(client)
        } else {
            Err(OAuthError::InvalidClient(
                "Client authentication failed: wrong client secret".into(),
            ))
        }
    }

    async fn client_with_owner(&self, client_id: &str) -> Result<(OAuthClient, User), OAuthError> {
        if let Ok(cache) = self.clients.lock()
            && let Some(c) = cache.get(client_id)
            && c.at.elapsed() < CLIENT_CACHE_TTL
        {
            return Ok((c.client.clone(), c.owner.clone()));
        }
        let unknown =
            || OAuthError::InvalidClient(format!("Client authentication failed: unknown client id `{client_id}`"));
        let client = self.store.find_oauth_client(client_id).await?.ok_or_else(unknown)?;
        let owner = self
            .store
            .find_user_by_id(&client.owner_id)
            .await?
            .ok_or_else(unknown)?;
        if let Ok(mut cache) = self.clients.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(
                client_id.to_owned(),
                CachedClient {
                    client: client.clone(),
                    owner: owner.clone(),
                    at: Instant::now(),
                },
            );
        }
        Ok((client, owner))
    }

    /// The token endpoint, after client authentication.
    pub async fn token(&self, client: &OAuthClient, request: &TokenRequest) -> Result<TokenResponse, OAuthError> {
        let grant = request.grant_type.as_str();
        if grant.is_empty() {
            return Err(OAuthError::InvalidRequest("Missing parameter grant_type".into()));
        }
        if !SUPPORTED_GRANTS.contains(&grant) {
            return Err(OAuthError::UnsupportedGrantType(format!(
                "Unsupported grant_type `{grant}`; this server supports {}",
                SUPPORTED_GRANTS.join(", ")
            )));
        }
        if !client.allows_grant(grant) {
            return Err(OAuthError::UnauthorizedClient(format!(
                "The client `{}` is not registered for the {grant} grant (it has: {})",
                client.client_id, client.grant_types
            )));
        }
        let lifetime = match request.validity_period {
            Some(v) if v > 0 => v,
            Some(v) => {
                return Err(OAuthError::InvalidRequest(format!(
                    "validity_period must be a positive number of seconds, not {v}"
                )));
            }
            None => self.settings.access_token_seconds,
        };
        match grant {
            "client_credentials" => {
                let (_, owner) = self.client_with_owner(&client.client_id).await?;
                let scope = grant_scopes(request.scope.as_deref(), &owner.roles);
                self.wait_past_cutoff(&owner.username, &client.client_id).await;
                let (access_token, _) = self.sign(client, &owner.username, "APPLICATION", &scope, lifetime)?;
                Ok(TokenResponse {
                    access_token,
                    refresh_token: None,
                    scope,
                    token_type: "Bearer",
                    expires_in: lifetime,
                })
            }
            "password" => {
                let username = required(&request.username, "username")?;
                let password = required(&request.password, "password")?;
                let principal = match self.authenticator.basic(username, password).await {
                    Ok(p) => p,
                    Err(AuthError::InvalidCredentials | AuthError::Malformed(_)) => {
                        return Err(OAuthError::InvalidGrant(
                            "Authentication failed: wrong username or password".into(),
                        ));
                    }
                    Err(AuthError::Store(e)) => return Err(e.into()),
                    Err(AuthError::Internal(e)) => return Err(OAuthError::Internal(e)),
                };
                let scope = grant_scopes(request.scope.as_deref(), &principal.roles);
                self.wait_past_cutoff(&principal.username, &client.client_id).await;
                let chain_id = uuid::Uuid::new_v4().to_string();
                self.issue_with_refresh(
                    client,
                    &principal.user_id,
                    &principal.username,
                    &scope,
                    lifetime,
                    chain_id,
                )
                .await
            }
            _ => self.refresh(client, request, lifetime).await,
        }
    }

    async fn refresh(
        &self,
        client: &OAuthClient,
        request: &TokenRequest,
        lifetime: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let presented = required(&request.refresh_token, "refresh_token")?;
        let hash = self.hasher.hash(SecretKind::RefreshToken, presented);
        let invalid = || OAuthError::InvalidGrant("Invalid refresh token: unknown, expired or revoked".into());
        let current = self.store.find_refresh_token(&hash).await?.ok_or_else(invalid)?;
        if current.client_id != client.client_id {
            return Err(OAuthError::InvalidGrant(
                "The refresh token was issued to another client".into(),
            ));
        }
        let Some(user) = self.store.find_user_by_id(&current.user_id).await? else {
            return Err(invalid());
        };
        let original: Vec<&str> = current.scope.split_whitespace().collect();
        let requested = match request.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => current.scope.clone(),
            Some(scope) => {
                if let Some(extra) = scope.split_whitespace().find(|s| !original.contains(s)) {
                    return Err(OAuthError::InvalidScope(format!(
                        "The scope `{extra}` was not granted with the original token (granted: {})",
                        current.scope
                    )));
                }
                scope.to_owned()
            }
        };
        // Roles may have shrunk since the original grant.
        let scope = grant_scopes(Some(&requested), &user.roles);
        let outcome = self
            .issue_refresh_rotation(client, &user, &scope, lifetime, &hash)
            .await?;
        match outcome {
            Rotation::Issued(response) => Ok(response),
            Rotation::Reused(revoked) => {
                self.validator.revocations.revoke(&revoked);
                Err(OAuthError::InvalidGrant(
                    "The refresh token was already used; every token of its chain is now revoked".into(),
                ))
            }
            Rotation::Invalid => Err(invalid()),
        }
    }

    async fn issue_refresh_rotation(
        &self,
        client: &OAuthClient,
        user: &User,
        scope: &str,
        lifetime: i64,
        presented_hash: &str,
    ) -> Result<Rotation, OAuthError> {
        self.wait_past_cutoff(&user.username, &client.client_id).await;
        let (access_token, claims) = self.sign(client, &user.username, "APPLICATION_USER", scope, lifetime)?;
        let refresh_token = random_token(32);
        let refresh_hash = self.hasher.hash(SecretKind::RefreshToken, &refresh_token);
        let now_ms = portico_store::now_millis();
        let refresh_seconds = self.settings.refresh_token_seconds;
        let outcome = self
            .store
            .use_refresh_token(presented_hash, |current| NewRefreshToken {
                token_hash: refresh_hash.clone(),
                chain_id: current.chain_id.clone(),
                client_id: current.client_id.clone(),
                user_id: current.user_id.clone(),
                scope: scope.to_owned(),
                access_jti: claims.jti.clone(),
                access_expires_at: claims.exp * 1000,
                expires_at: now_ms + refresh_seconds * 1000,
            })
            .await?;
        Ok(match outcome {
            RefreshUse::Rotated(_) => Rotation::Issued(TokenResponse {
                access_token,
                refresh_token: Some(refresh_token),
                scope: scope.to_owned(),
                token_type: "Bearer",
                expires_in: lifetime,
            }),
            RefreshUse::Reused { revoked, .. } => Rotation::Reused(revoked),
            RefreshUse::Invalid => Rotation::Invalid,
        })
    }

    async fn issue_with_refresh(
        &self,
        client: &OAuthClient,
        user_id: &str,
        username: &str,
        scope: &str,
        lifetime: i64,
        chain_id: String,
    ) -> Result<TokenResponse, OAuthError> {
        let (access_token, claims) = self.sign(client, username, "APPLICATION_USER", scope, lifetime)?;
        let refresh_token = if client.allows_grant("refresh_token") {
            let token = random_token(32);
            self.store
                .insert_refresh_token(&NewRefreshToken {
                    token_hash: self.hasher.hash(SecretKind::RefreshToken, &token),
                    chain_id,
                    client_id: client.client_id.clone(),
                    user_id: user_id.to_owned(),
                    scope: scope.to_owned(),
                    access_jti: claims.jti.clone(),
                    access_expires_at: claims.exp * 1000,
                    expires_at: portico_store::now_millis() + self.settings.refresh_token_seconds * 1000,
                })
                .await?;
            Some(token)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            refresh_token,
            scope: scope.to_owned(),
            token_type: "Bearer",
            expires_in: lifetime,
        })
    }

    fn sign(
        &self,
        client: &OAuthClient,
        username: &str,
        aut: &str,
        scope: &str,
        lifetime: i64,
    ) -> Result<(String, AccessClaims), OAuthError> {
        let now = now_seconds();
        let claims = AccessClaims {
            sub: username.to_owned(),
            aut: aut.to_owned(),
            aud: client.client_id.clone(),
            azp: client.client_id.clone(),
            client_id: client.client_id.clone(),
            scope: scope.to_owned(),
            iss: self.settings.issuer.clone(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(lifetime),
            jti: uuid::Uuid::new_v4().to_string(),
            keytype: client.key_type.clone(),
        };
        let token = self.validator.signer.sign(&claims)?;
        Ok((token, claims))
    }

    /// `iat` has one-second resolution, so a token issued in the same second as a cut-off would be
    /// refused; issuance then waits for the next second (at most once, right after a revocation).
    async fn wait_past_cutoff(&self, username: &str, client_id: &str) {
        let now = portico_store::now_millis();
        if self
            .validator
            .revocations
            .cutoff_in_this_second(username, client_id, now)
        {
            let wait = 1000 - now.rem_euclid(1000) + 1;
            tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(1000))).await;
        }
    }

    /// RFC 7009: revokes an access token or a refresh token (with its chain) issued to `client`.
    /// Tokens that are unknown, expired or another client's are ignored, as the RFC allows.
    pub async fn revoke(&self, client: &OAuthClient, token: &str) -> Result<(), OAuthError> {
        if looks_like_jwt(token) {
            if let Ok(claims) = self.validator.signer.verify(token)
                && claims.client_id == client.client_id
            {
                let revoked = [RevokedToken {
                    jti: claims.jti,
                    expires_at: claims.exp.saturating_mul(1000),
                }];
                self.store.revoke_access_tokens(&revoked).await?;
                self.validator.revocations.revoke(&revoked);
            }
            return Ok(());
        }
        let hash = self.hasher.hash(SecretKind::RefreshToken, token);
        if let Some(refresh) = self.store.find_refresh_token(&hash).await?
            && refresh.client_id == client.client_id
        {
            let revoked = self.store.revoke_refresh_chain(&refresh.chain_id).await?;
            self.validator.revocations.revoke(&revoked);
        }
        Ok(())
    }

    /// RFC 7662: what a token is, or `{"active": false}`.
    pub async fn introspect(&self, token: &str) -> Result<Value, OAuthError> {
        if looks_like_jwt(token) {
            return Ok(match self.validator.validate(token) {
                Ok(c) => json!({
                    "active": true,
                    "token_type": "Bearer",
                    "scope": c.scope,
                    "client_id": c.client_id,
                    "username": c.sub,
                    "sub": c.sub,
                    "aud": c.aud,
                    "iss": c.iss,
                    "exp": c.exp,
                    "iat": c.iat,
                    "nbf": c.nbf,
                    "jti": c.jti,
                    "aut": c.aut,
                    "keytype": c.keytype,
                }),
                Err(_) => json!({ "active": false }),
            });
        }
        let hash = self.hasher.hash(SecretKind::RefreshToken, token);
        let now = portico_store::now_millis();
        Ok(match self.store.find_refresh_token(&hash).await? {
            Some(r) if r.state == "active" && r.expires_at > now => {
                let username = self
                    .store
                    .find_user_by_id(&r.user_id)
                    .await?
                    .map(|u| u.username)
                    .unwrap_or_default();
                json!({
                    "active": true,
                    "token_type": "Refresh",
                    "scope": r.scope,
                    "client_id": r.client_id,
                    "username": username,
                    "exp": r.expires_at / 1000,
                    "iat": r.created_at / 1000,
                })
            }
            _ => json!({ "active": false }),
        })
    }

    /// Invalidates every token of a user issued until now (user deleted, role removed, password
    /// changed).
    pub async fn revoke_user_tokens(&self, username: &str) -> Result<(), StoreError> {
        let not_after = self.store.cut_off_tokens(CutoffKind::User, username).await?;
        self.validator.revocations.cut_off(&TokenCutoff {
            kind: CutoffKind::User,
            subject_id: username.to_owned(),
            not_after,
        });
        if let Ok(mut cache) = self.clients.lock() {
            cache.retain(|_, c| c.owner.username != username);
        }
        Ok(())
    }

    /// Invalidates every token of a client issued until now (keys regenerated, application deleted).
    pub async fn revoke_client_tokens(&self, client_id: &str) -> Result<(), StoreError> {
        let not_after = self.store.cut_off_tokens(CutoffKind::Client, client_id).await?;
        self.note_client_cutoff(client_id, not_after);
        Ok(())
    }

    fn note_client_cutoff(&self, client_id: &str, not_after: i64) {
        self.validator.revocations.cut_off(&TokenCutoff {
            kind: CutoffKind::Client,
            subject_id: client_id.to_owned(),
            not_after,
        });
        if let Ok(mut cache) = self.clients.lock() {
            cache.remove(client_id);
        }
    }

    /// A fresh client id, secret and the secret's keyed hash, for an application's keys.
    pub fn new_client_credentials(&self) -> (String, String, String) {
        let secret = random_token(32);
        let hash = self.hasher.hash(SecretKind::ClientSecret, &secret);
        (random_token(20), secret, hash)
    }

    /// Gives a client a new secret: the old one stops working and every token issued to the
    /// client so far is revoked. Returns the new secret.
    pub async fn regenerate_client_secret(&self, client_id: &str) -> Result<String, OAuthError> {
        let secret = random_token(32);
        let hash = self.hasher.hash(SecretKind::ClientSecret, &secret);
        let not_after = self.store.set_oauth_client_secret(client_id, &hash).await?;
        self.note_client_cutoff(client_id, not_after);
        Ok(secret)
    }

    /// Drops a cached client (after its grant types or callback changed on this node).
    pub fn forget_client(&self, client_id: &str) {
        if let Ok(mut cache) = self.clients.lock() {
            cache.remove(client_id);
        }
    }

    /// DCR register. An existing registration of the same owner and name gets a new secret (the
    /// old one stops working, as do its tokens), since secrets are not stored in a readable form.
    pub async fn register(&self, caller: &Principal, request: &DcrRequest) -> Result<RegisteredClient, OAuthError> {
        let name = request
            .client_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| OAuthError::InvalidRequest("clientName is required".into()))?;
        if name.len() > 200 || name.chars().any(char::is_control) {
            return Err(OAuthError::InvalidRequest(
                "clientName must be at most 200 characters without control characters".into(),
            ));
        }
        let owner_name = request
            .owner
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .unwrap_or(&caller.username);
        if owner_name != caller.username && !caller.has_role(Role::Admin) {
            return Err(OAuthError::Forbidden(format!(
                "`{}` may not register applications for `{owner_name}`; only admins may",
                caller.username
            )));
        }
        let owner = self
            .store
            .find_user(owner_name)
            .await?
            .ok_or_else(|| OAuthError::InvalidRequest(format!("owner `{owner_name}` is not a user")))?;
        let grant_types = normalise_grants(request.grant_type.as_deref())?;
        let callback_url = request.callback_url.as_deref().unwrap_or("").trim().to_owned();
        // WSO2 names DCR applications `<owner>_<clientName>`.
        let prefix = format!("{owner_name}_");
        let client_name = if name.starts_with(&prefix) {
            name.to_owned()
        } else {
            format!("{prefix}{name}")
        };
        let secret = random_token(32);
        let secret_hash = self.hasher.hash(SecretKind::ClientSecret, &secret);
        if let Some(existing) = self.store.find_oauth_client_by_name(&owner.id, &client_name).await? {
            self.store
                .update_oauth_client(&existing.client_id, &client_name, &callback_url, &grant_types)
                .await?;
            let not_after = self
                .store
                .set_oauth_client_secret(&existing.client_id, &secret_hash)
                .await?;
            self.note_client_cutoff(&existing.client_id, not_after);
            let client = self
                .store
                .find_oauth_client(&existing.client_id)
                .await?
                .ok_or_else(|| OAuthError::NotFound(format!("OAuth application {}", existing.client_id)))?;
            return Ok(RegisteredClient {
                client,
                owner: owner.username,
                client_secret: Some(secret),
            });
        }
        let client = self
            .store
            .create_oauth_client(&NewOAuthClient {
                client_id: random_token(20),
                secret_hash,
                client_name,
                owner_id: owner.id.clone(),
                grant_types,
                callback_url,
                key_type: "PRODUCTION".into(),
                saas_app: request.saas_app.unwrap_or(false),
            })
            .await?;
        Ok(RegisteredClient {
            client,
            owner: owner.username,
            client_secret: Some(secret),
        })
    }

    /// A DCR client the caller owns (admins see all); another's is "not found".
    pub async fn registered_client(&self, caller: &Principal, client_id: &str) -> Result<RegisteredClient, OAuthError> {
        let not_found = || OAuthError::NotFound(format!("No OAuth application with client id `{client_id}`"));
        let client = self.store.find_oauth_client(client_id).await?.ok_or_else(not_found)?;
        if client.owner_id != caller.user_id && !caller.has_role(Role::Admin) {
            return Err(not_found());
        }
        let owner = self
            .store
            .find_user_by_id(&client.owner_id)
            .await?
            .map(|u| u.username)
            .unwrap_or_default();
        Ok(RegisteredClient {
            client,
            owner,
            client_secret: None,
        })
    }

    /// DCR update: callback URL, grant types and name.
    pub async fn update_registration(
        &self,
        caller: &Principal,
        client_id: &str,
        request: &DcrRequest,
    ) -> Result<RegisteredClient, OAuthError> {
        let current = self.registered_client(caller, client_id).await?;
        let grant_types = match &request.grant_type {
            Some(g) => normalise_grants(Some(g))?,
            None => current.client.grant_types.clone(),
        };
        let callback = request
            .callback_url
            .clone()
            .unwrap_or_else(|| current.client.callback_url.clone());
        let name = request
            .client_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| current.client.client_name.clone());
        self.store
            .update_oauth_client(client_id, &name, callback.trim(), &grant_types)
            .await?;
        if let Ok(mut cache) = self.clients.lock() {
            cache.remove(client_id);
        }
        self.registered_client(caller, client_id).await
    }

    /// DCR delete: the client and every token issued to it.
    pub async fn delete_registration(&self, caller: &Principal, client_id: &str) -> Result<(), OAuthError> {
        self.registered_client(caller, client_id).await?;
        let not_after = self.store.delete_oauth_client(client_id).await?;
        self.note_client_cutoff(client_id, not_after);
        Ok(())
    }
}

enum Rotation {
    Issued(TokenResponse),
    Reused(Vec<RevokedToken>),
    Invalid,
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::InvalidRequest(format!("Missing parameter {name}")))
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// WSO2's rule for user tokens: of the requested scopes, those the roles allow; unknown ones are
/// dropped; `default` when nothing is granted.
pub fn grant_scopes(requested: Option<&str>, roles: &[Role]) -> String {
    let allowed = allowed_scopes(roles);
    let mut granted: Vec<&str> = Vec::new();
    for scope in requested.unwrap_or("").split_whitespace() {
        if allowed.contains(scope) && !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    if granted.is_empty() {
        "default".to_owned()
    } else {
        granted.join(" ")
    }
}

/// Space-separated grant types, deduplicated; unknown types are kept (WSO2 stores them).
fn normalise_grants(value: Option<&str>) -> Result<String, OAuthError> {
    let mut grants: Vec<&str> = Vec::new();
    for g in value.unwrap_or("client_credentials").split_whitespace() {
        if g.len() > 200 || g.chars().any(char::is_control) {
            return Err(OAuthError::InvalidRequest(format!(
                "grantType contains an invalid grant type `{g}`"
            )));
        }
        if !grants.contains(&g) {
            grants.push(g);
        }
    }
    if grants.is_empty() {
        return Err(OAuthError::InvalidRequest(
            "grantType must name at least one grant type".into(),
        ));
    }
    Ok(grants.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_limited_to_roles() {
        let s = grant_scopes(
            Some("apim:api_view apim:api_create apim:subscribe bogus"),
            &[Role::Creator],
        );
        assert_eq!(s, "apim:api_view apim:api_create");
        assert_eq!(grant_scopes(Some("apim:admin"), &[Role::Subscriber]), "default");
        assert_eq!(grant_scopes(None, &[Role::Admin]), "default");
    }

    #[test]
    fn grants_are_normalised() {
        assert_eq!(
            normalise_grants(Some("password  client_credentials password")).expect("ok"),
            "password client_credentials"
        );
        assert!(normalise_grants(Some("  ")).is_err());
        assert_eq!(normalise_grants(None).expect("ok"), "client_credentials");
    }
}
