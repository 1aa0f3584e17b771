//! The token endpoint (`POST /oauth2/token`): its request and answer, the client_credentials and
//! password grants (refresh_token is in `refresh`, authorization_code in `authorize`), the scopes a user may be granted, and the
//! signing of access tokens.

use std::time::Duration;

use portico_store::{NewRefreshToken, OAuthClient, Role};

use super::error::OAuthError;
use super::service::TokenService;
use crate::authenticator::AuthError;
use crate::jwt::{AccessClaims, now_seconds};
use crate::scopes::allowed_scopes;
use crate::secrets::{SecretKind, random_token};

/// Grant types the token endpoint serves.
pub const SUPPORTED_GRANTS: &[&str] = &["client_credentials", "password", "refresh_token", "authorization_code"];

/// Grant type names WSO2's Key Manager knows (its Resident Key Manager's `availableGrantTypes`):
/// an application's keys may list any of them, as WSO2's DevPortal and its Postman collection
/// send them (saml2-bearer included); this token endpoint issues [`SUPPORTED_GRANTS`].
pub const WSO2_GRANT_TYPES: &[&str] = &[
    "password",
    "client_credentials",
    "refresh_token",
    "authorization_code",
    "implicit",
    "urn:ietf:params:oauth:grant-type:saml2-bearer",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:device_code",
    "iwa:ntlm",
    "kerberos",
];

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
    /// The caller's address (the TCP peer), which the password grant's failures count against.
    pub client_address: Option<std::net::IpAddr>,
    /// authorization_code: the code, the redirect URI it was issued for, the PKCE verifier.
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
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

impl TokenService {
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
                let principal = match self
                    .authenticator
                    .login(username, password, request.client_address)
                    .await
                {
                    Ok(p) => p,
                    Err(AuthError::InvalidCredentials | AuthError::Malformed(_)) => {
                        return Err(OAuthError::InvalidGrant(
                            "Authentication failed: wrong username or password".into(),
                        ));
                    }
                    Err(AuthError::Refused(refusal)) => return Err(OAuthError::Refused(refusal)),
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
            "authorization_code" => self.redeem_code(client, request, lifetime).await,
            _ => self.refresh(client, request, lifetime).await,
        }
    }

    pub(super) async fn issue_with_refresh(
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

    pub(super) fn sign(
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
    pub(super) async fn wait_past_cutoff(&self, username: &str, client_id: &str) {
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
}

pub(super) fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::InvalidRequest(format!("Missing parameter {name}")))
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
}
