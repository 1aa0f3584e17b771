//! External key managers (WSO2's Admin `/key-managers`): identity providers whose JWT access
//! tokens the gateway accepts, each change committed with its `key_manager.changed` feed event so
//! that every node's gateway reloads. The built-in Resident Key Manager is not stored here.

use serde_json::json;

use crate::error::require_found;
use crate::feed::AppendInTx;
use crate::{Store, StoreError, now_millis, with_pool, write_tx};

/// Feed kind for a created, updated or deleted key manager (entity: key manager id).
pub const EVENT_KEY_MANAGER_CHANGED: &str = "key_manager.changed";

/// The name of the node's own Key Manager, as key mappings and REST answers spell it.
pub const RESIDENT_KEY_MANAGER: &str = "Resident Key Manager";

/// A key manager as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct KeyManagerRow {
    pub id: String,
    pub name: String,
    /// WSO2's `type` (e.g. `Keycloak`, `Auth0`, `Okta`, `WSO2-IS`, `custom`).
    #[sqlx(rename = "type")]
    pub kind: String,
    pub enabled: bool,
    /// The `iss` of its tokens.
    pub issuer: String,
    /// WSO2's whole KeyManager resource, JSON object text.
    pub configuration: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a gateway acts on of a key manager's configuration (WSO2's KeyManager fields).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyManagerSettings {
    /// `certificates.type`: `JWKS` or `PEM`.
    pub certificate_type: Option<String>,
    /// `certificates.value`: the JWKS URL, or the PEM (or its base64 encoding).
    pub certificate_value: Option<String>,
    /// `consumerKeyClaim`.
    pub consumer_key_claim: Option<String>,
    /// `scopesClaim`.
    pub scopes_claim: Option<String>,
    /// `introspectionEndpoint`: where the gateway checks the key manager's opaque (non-JWT)
    /// access tokens (RFC 7662).
    pub introspection_endpoint: Option<String>,
    /// `additionalProperties.client_id` and `client_secret`: the credentials the gateway
    /// authenticates to the introspection endpoint with (HTTP Basic), as WSO2's connectors.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// `claimMapping`: (`remoteClaim`, `localClaim`) pairs; the gateway copies each remote claim
    /// of a token into the backend JWT under its local name.
    pub claim_mapping: Vec<(String, String)>,
}

impl KeyManagerRow {
    /// The settings the gateway uses, read from the stored configuration (blank strings are
    /// absent).
    pub fn settings(&self) -> KeyManagerSettings {
        let config: serde_json::Value = serde_json::from_str(&self.configuration).unwrap_or_default();
        let text = |v: &serde_json::Value| v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        KeyManagerSettings {
            certificate_type: text(&config["certificates"]["type"]),
            certificate_value: text(&config["certificates"]["value"]),
            consumer_key_claim: text(&config["consumerKeyClaim"]),
            scopes_claim: text(&config["scopesClaim"]),
            introspection_endpoint: text(&config["introspectionEndpoint"]),
            client_id: text(&config["additionalProperties"]["client_id"]),
            client_secret: text(&config["additionalProperties"]["client_secret"]),
            claim_mapping: config["claimMapping"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|entry| Some((text(&entry["remoteClaim"])?, text(&entry["localClaim"])?)))
                .collect(),
        }
    }
}

/// What a key manager is created or replaced with.
#[derive(Debug, Clone)]
pub struct NewKeyManager {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub issuer: String,
    /// JSON object text.
    pub configuration: String,
}

const KM_SELECT: &str =
    "SELECT id, name, type, enabled, issuer, configuration, created_at, updated_at FROM key_managers";

/// What a unique violation of `new` is about (its name or its issuer), for the conflict message.
fn taken(new: &NewKeyManager, violation: &sqlx::Error) -> String {
    if violation.to_string().contains("issuer") {
        format!("a key manager with issuer `{}`", new.issuer)
    } else {
        format!("key manager `{}`", new.name)
    }
}

impl Store {
    /// Creates a key manager (with its event). A name or issuer in use is [`StoreError::Conflict`].
    pub async fn create_key_manager(&self, new: &NewKeyManager) -> Result<KeyManagerRow, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_millis();
        write_tx!(self, async |tx| {
            sqlx::query(
                "INSERT INTO key_managers (id, name, type, enabled, issuer, configuration, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(&id)
            .bind(&new.name)
            .bind(&new.kind)
            .bind(new.enabled)
            .bind(&new.issuer)
            .bind(&new.configuration)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let payload = json!({ "action": "created", "name": new.name }).to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_KEY_MANAGER_CHANGED, &id, &payload)
                .await?;
            Ok(())
        })
        .map_err(|e| e.unique_as(|violation| taken(new, violation)))?;
        self.find_key_manager(&id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("key manager {id}")))
    }

    /// Every stored key manager, by name.
    pub async fn list_key_managers(&self) -> Result<Vec<KeyManagerRow>, StoreError> {
        let sql = format!("{KM_SELECT} ORDER BY name");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .fetch_all(pool)
                .await?
        }))
    }

    pub async fn find_key_manager(&self, id: &str) -> Result<Option<KeyManagerRow>, StoreError> {
        self.find_one(&format!("{KM_SELECT} WHERE id = $1"), &[id]).await
    }

    pub async fn find_key_manager_by_name(&self, name: &str) -> Result<Option<KeyManagerRow>, StoreError> {
        self.find_one(&format!("{KM_SELECT} WHERE name = $1"), &[name]).await
    }

    /// Replaces a key manager's type, state, issuer and configuration (its name never changes:
    /// key mappings name it). An issuer another key manager has is [`StoreError::Conflict`].
    pub async fn update_key_manager(&self, id: &str, new: &NewKeyManager) -> Result<KeyManagerRow, StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            let updated = sqlx::query(
                "UPDATE key_managers SET type = $2, enabled = $3, issuer = $4, configuration = $5, updated_at = $6 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&new.kind)
            .bind(new.enabled)
            .bind(&new.issuer)
            .bind(&new.configuration)
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            require_found(updated, || format!("key manager {id}"))?;
            let payload = json!({ "action": "updated", "name": new.name }).to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_KEY_MANAGER_CHANGED, id, &payload)
                .await?;
            Ok(())
        })
        .map_err(|e| e.unique_as(|violation| taken(new, violation)))?;
        self.find_key_manager(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("key manager {id}")))
    }

    /// Deletes a key manager (with its event). One that applications still have keys of is
    /// [`StoreError::InUse`], as in WSO2: remove those keys first.
    pub async fn delete_key_manager(&self, id: &str) -> Result<(), StoreError> {
        write_tx!(self, async |tx| {
            let name: Option<String> = sqlx::query_scalar("SELECT name FROM key_managers WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
            let Some(name) = name else {
                return Err(StoreError::NotFound(format!("key manager {id}")));
            };
            let mapped: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM application_key_mappings WHERE key_manager = $1")
                    .bind(&name)
                    .fetch_one(&mut **tx)
                    .await?;
            if mapped > 0 {
                return Err(StoreError::InUse(format!(
                    "key manager `{name}` holds {mapped} application key mapping(s)"
                )));
            }
            sqlx::query("DELETE FROM key_managers WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            let payload = json!({ "action": "deleted", "name": name }).to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_KEY_MANAGER_CHANGED, id, &payload)
                .await?;
            Ok(())
        })
    }

    /// How many application key mappings each key manager (by name) holds.
    pub async fn key_mapping_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as("SELECT key_manager, COUNT(*) FROM application_key_mappings GROUP BY key_manager")
                .fetch_all(pool)
                .await?
        }))
    }
}
