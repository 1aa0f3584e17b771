//! Dynamic client registration, WSO2's `/client-registration/v0.17/register`: register, read,
//! update and delete the OAuth2 clients a caller owns.

use portico_store::{NewOAuthClient, OAuthClient, Role};
use serde_json::{Value, json};

use super::error::OAuthError;
use super::service::TokenService;
use crate::authenticator::Principal;
use crate::secrets::random_token;

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

impl TokenService {
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
        let (secret, secret_hash) = self.new_client_secret();
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
        let owner = self.username_of(&client.owner_id).await?;
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
        self.clients.remove(client_id);
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
    fn grants_are_normalised() {
        assert_eq!(
            normalise_grants(Some("password  client_credentials password")).expect("ok"),
            "password client_credentials"
        );
        assert!(normalise_grants(Some("  ")).is_err());
        assert_eq!(normalise_grants(None).expect("ok"), "client_credentials");
    }
}
