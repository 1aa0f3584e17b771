//! OAuth2 clients and their owners: authenticating a client (through the cache), creating or
//! replacing a client secret, and reading an owner's name.

use portico_store::{OAuthClient, StoreError, User};

use super::error::OAuthError;
use super::service::TokenService;
use crate::secrets::{SecretKind, random_token};

impl TokenService {
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

    pub(super) async fn client_with_owner(&self, client_id: &str) -> Result<(OAuthClient, User), OAuthError> {
        if let Some(cached) = self.clients.get(client_id) {
            return Ok(cached);
        }
        let unknown =
            || OAuthError::InvalidClient(format!("Client authentication failed: unknown client id `{client_id}`"));
        let client = self.store.find_oauth_client(client_id).await?.ok_or_else(unknown)?;
        let owner = self
            .store
            .find_user_by_id(&client.owner_id)
            .await?
            .ok_or_else(unknown)?;
        self.clients.insert(client_id, &client, &owner);
        Ok((client, owner))
    }

    /// The user name of `user_id` (a client's owner, a token's user); empty when the user is gone.
    pub(super) async fn username_of(&self, user_id: &str) -> Result<String, StoreError> {
        Ok(self
            .store
            .find_user_by_id(user_id)
            .await?
            .map(|u| u.username)
            .unwrap_or_default())
    }

    /// A fresh client id, secret and the secret's keyed hash, for an application's keys.
    pub fn new_client_credentials(&self) -> (String, String, String) {
        let (secret, hash) = self.new_client_secret();
        (random_token(20), secret, hash)
    }

    /// A fresh client secret and its keyed hash (what the store keeps).
    pub(super) fn new_client_secret(&self) -> (String, String) {
        let secret = random_token(32);
        let hash = self.hasher.hash(SecretKind::ClientSecret, &secret);
        (secret, hash)
    }

    /// Gives a client a new secret: the old one stops working and every token issued to the
    /// client so far is revoked. Returns the new secret.
    pub async fn regenerate_client_secret(&self, client_id: &str) -> Result<String, OAuthError> {
        let (secret, hash) = self.new_client_secret();
        let not_after = self.store.set_oauth_client_secret(client_id, &hash).await?;
        self.note_client_cutoff(client_id, not_after);
        Ok(secret)
    }

    /// Drops a cached client (after its grant types or callback changed on this node).
    pub fn forget_client(&self, client_id: &str) {
        self.clients.remove(client_id);
    }
}
