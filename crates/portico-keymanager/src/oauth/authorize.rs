//! The authorization_code grant (RFC 6749 §4.1) with PKCE (RFC 7636), S256 only: checking an
//! authorization request, issuing a code to a user who signed in, and redeeming it at the token
//! endpoint. Codes live in the store by keyed hash, so any node of a cluster redeems them; each
//! is single use and valid for [`CODE_LIFETIME_SECONDS`].

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portico_store::{AuthorizationCode, OAuthClient};
use subtle::ConstantTimeEq;

use super::error::OAuthError;
use super::grants::{TokenRequest, TokenResponse, grant_scopes, required};
use super::service::TokenService;
use crate::authenticator::Principal;
use crate::secrets::{SecretKind, random_token};

/// How long an authorization code can be redeemed (RFC 6749 §4.1.2 recommends at most 10 min).
pub const CODE_LIFETIME_SECONDS: i64 = 60;

/// The parameters of `GET /oauth2/authorize` that matter once the user has signed in.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    pub response_type: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: String,
    pub code_challenge_method: String,
}

/// Is `redirect_uri` one of the client's registered callbacks (space-separated, exact match)?
/// An entry may be an absolute URL or an absolute path on this server (`/publisher/callback`),
/// which can never send the code to another origin.
pub fn redirect_allowed(client: &OAuthClient, redirect_uri: &str) -> bool {
    !redirect_uri.is_empty()
        && !redirect_uri.starts_with("//")
        && client
            .callback_url
            .split_whitespace()
            .any(|allowed| allowed == redirect_uri)
}

/// RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]` (verifiers and S256 challenges).
fn pkce_value_ok(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl TokenService {
    /// Checks an authorization request before the user is asked to sign in. Errors about the
    /// client or its redirect URI must be shown to the user, never redirected (RFC 6749 §4.1.2.1).
    pub async fn check_authorize_request(&self, request: &AuthorizeRequest) -> Result<OAuthClient, OAuthError> {
        if request.client_id.is_empty() {
            return Err(OAuthError::InvalidRequest("Missing parameter client_id".into()));
        }
        let client = self
            .store
            .find_oauth_client(&request.client_id)
            .await?
            .ok_or_else(|| OAuthError::InvalidClient(format!("Unknown client_id `{}`", request.client_id)))?;
        if !redirect_allowed(&client, &request.redirect_uri) {
            return Err(OAuthError::InvalidRequest(format!(
                "redirect_uri `{}` is not registered for client `{}`",
                request.redirect_uri, client.client_id
            )));
        }
        if request.response_type != "code" {
            return Err(OAuthError::UnsupportedGrantType(format!(
                "response_type must be `code`, not `{}`",
                request.response_type
            )));
        }
        if !client.allows_grant("authorization_code") {
            return Err(OAuthError::UnauthorizedClient(format!(
                "The client `{}` is not registered for the authorization_code grant",
                client.client_id
            )));
        }
        if request.code_challenge_method != "S256" {
            return Err(OAuthError::InvalidRequest(format!(
                "code_challenge_method must be S256 (PKCE is required; plain is refused), not `{}`",
                request.code_challenge_method
            )));
        }
        if !pkce_value_ok(&request.code_challenge) {
            return Err(OAuthError::InvalidRequest(
                "code_challenge must be 43 to 128 characters of base64url (the S256 of the verifier)".into(),
            ));
        }
        Ok(client)
    }

    /// Makes sure a first-party client of this server exists (the web portals' own), with
    /// these callbacks and the authorization_code and refresh_token grants; every node of a
    /// cluster calls it at start and they all find the same row. Its secret is random and never
    /// shown: the portals redeem codes in-process, with PKCE.
    pub async fn ensure_first_party_client(
        &self,
        client_id: &str,
        owner_id: &str,
        callbacks: &[&str],
    ) -> Result<OAuthClient, OAuthError> {
        const GRANTS: &str = "authorization_code";
        let callback_url = callbacks.join(" ");
        if let Some(client) = self.store.find_oauth_client(client_id).await? {
            if client.callback_url != callback_url || client.grant_types != GRANTS {
                self.store
                    .update_oauth_client(client_id, &client.client_name, &callback_url, GRANTS)
                    .await?;
                self.forget_client(client_id);
                return self
                    .store
                    .find_oauth_client(client_id)
                    .await?
                    .ok_or_else(|| OAuthError::Internal(format!("client {client_id} vanished")));
            }
            return Ok(client);
        }
        let (_, secret_hash) = self.new_client_secret();
        let created = self
            .store
            .create_oauth_client(&portico_store::NewOAuthClient {
                client_id: client_id.to_owned(),
                secret_hash,
                client_name: client_id.to_owned(),
                owner_id: owner_id.to_owned(),
                grant_types: GRANTS.to_owned(),
                callback_url,
                key_type: "PRODUCTION".to_owned(),
                saas_app: true,
            })
            .await;
        match created {
            Ok(client) => Ok(client),
            // Another node created it at the same moment.
            Err(portico_store::StoreError::Conflict(_)) => self
                .store
                .find_oauth_client(client_id)
                .await?
                .ok_or_else(|| OAuthError::Internal(format!("client {client_id} conflicts but is missing"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Issues a code for `user`, who has signed in, after [`TokenService::check_authorize_request`].
    /// The scopes are fixed now, limited to what the user's roles allow.
    pub async fn issue_code(
        &self,
        client: &OAuthClient,
        user: &Principal,
        request: &AuthorizeRequest,
    ) -> Result<String, OAuthError> {
        let code = random_token(32);
        let now = portico_store::now_millis();
        self.store
            .insert_authorization_code(&AuthorizationCode {
                code_hash: self.hasher.hash(SecretKind::AuthorizationCode, &code),
                client_id: client.client_id.clone(),
                user_id: user.user_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                scope: grant_scopes(request.scope.as_deref(), &user.roles),
                expires_at: now + CODE_LIFETIME_SECONDS * 1000,
                created_at: now,
            })
            .await?;
        Ok(code)
    }

    /// The token endpoint's authorization_code grant: the code must be the client's, unused and
    /// unexpired, `redirect_uri` the one it was issued for, and `code_verifier` must hash to its
    /// challenge.
    pub(super) async fn redeem_code(
        &self,
        client: &OAuthClient,
        request: &TokenRequest,
        lifetime: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let code = required(&request.code, "code")?;
        let verifier = required(&request.code_verifier, "code_verifier")?;
        let redirect_uri = required(&request.redirect_uri, "redirect_uri")?;
        if !pkce_value_ok(verifier) {
            return Err(OAuthError::InvalidGrant(
                "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]".into(),
            ));
        }
        let stored = self
            .store
            .take_authorization_code(&self.hasher.hash(SecretKind::AuthorizationCode, code))
            .await?
            .ok_or_else(|| OAuthError::InvalidGrant("The authorization code is unknown, used or expired".into()))?;
        if stored.client_id != client.client_id {
            return Err(OAuthError::InvalidGrant(
                "The authorization code was issued to another client".into(),
            ));
        }
        if stored.redirect_uri != redirect_uri {
            return Err(OAuthError::InvalidGrant(
                "redirect_uri differs from the one of the authorization request".into(),
            ));
        }
        let expected = s256_challenge(verifier);
        if !bool::from(expected.as_bytes().ct_eq(stored.code_challenge.as_bytes())) {
            return Err(OAuthError::InvalidGrant(
                "code_verifier does not match the code_challenge (PKCE S256)".into(),
            ));
        }
        let username = self.username_of(&stored.user_id).await?;
        self.wait_past_cutoff(&username, &client.client_id).await;
        let chain_id = uuid::Uuid::new_v4().to_string();
        self.issue_with_refresh(client, &stored.user_id, &username, &stored.scope, lifetime, chain_id)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_values() {
        assert!(pkce_value_ok("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!pkce_value_ok("short"));
        assert!(!pkce_value_ok(&"a".repeat(129)));
        assert!(!pkce_value_ok(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn redirects_match_exactly() {
        let client = OAuthClient {
            client_id: "c".into(),
            secret_hash: String::new(),
            client_name: "c".into(),
            owner_id: "u".into(),
            grant_types: "authorization_code".into(),
            callback_url: "/publisher/callback https://app.example/cb".into(),
            key_type: "PRODUCTION".into(),
            saas_app: false,
            created_at: 0,
            updated_at: 0,
        };
        assert!(redirect_allowed(&client, "/publisher/callback"));
        assert!(redirect_allowed(&client, "https://app.example/cb"));
        assert!(!redirect_allowed(&client, "https://app.example/cb/x"));
        assert!(!redirect_allowed(&client, "//evil.example/publisher/callback"));
        assert!(!redirect_allowed(&client, ""));
    }
}
