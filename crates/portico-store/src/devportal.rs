//! The DevPortal's durable state: applications, their key mappings (an application's key type to
//! an OAuth client of the Key Manager, or to a client id of an external key manager) and subscriptions, each change committed together with its
//! change-feed event; and [`Store::gateway_identity`], what a gateway needs to know about them.

use serde_json::json;

use crate::error::require_found;
use crate::feed::AppendInTx;
use crate::key_managers::{KeyManagerRow, RESIDENT_KEY_MANAGER};
use crate::oauth::{CutoffKind, EVENT_CLIENT_CHANGED, NewOAuthClient, cutoff_in_tx};
use crate::policies::{NewApplication, NewSubscription, SubscriptionRow};
use crate::{Store, StoreError, WriteTx, now_millis, with_pool, write_tx};

/// Feed kind for a created, updated or deleted application (entity: application id).
pub const EVENT_APPLICATION_CHANGED: &str = "application.changed";
/// Feed kind for a created or deleted key mapping (entity: key mapping id; payload has the
/// application id and client id).
pub const EVENT_KEY_MAPPING_CHANGED: &str = "key_mapping.changed";
/// Feed kind for a created, updated, blocked, unblocked or deleted subscription (entity:
/// subscription id).
pub const EVENT_SUBSCRIPTION_CHANGED: &str = "subscription.changed";

/// An application as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApplicationRow {
    pub id: String,
    pub name: String,
    /// The owner's username.
    pub owner: String,
    pub throttling_policy: String,
    pub description: Option<String>,
    pub status: String,
    pub token_type: String,
    /// JSON object text.
    pub attributes: String,
    /// JSON array text.
    pub group_ids: String,
    /// JSON array text.
    pub subscription_scopes: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub subscription_count: i64,
}

/// A key mapping with its OAuth client's grant types and callback (empty for the client ids of
/// external key managers, which live at their identity provider).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyMappingRow {
    pub id: String,
    pub application_id: String,
    pub key_type: String,
    pub key_manager: String,
    pub client_id: String,
    /// `CREATED` (a client of the resident key manager) or `MAPPED` (an external client id).
    pub mode: String,
    /// JSON object text.
    pub additional_properties: String,
    /// Space-separated scopes of the generate-keys request.
    pub scopes: String,
    /// Seconds; the default lifetime of tokens generated for this mapping.
    pub validity_time: i64,
    pub created_at: i64,
    /// Space-separated grant types (of the OAuth client).
    pub grant_types: String,
    pub callback_url: String,
}

/// A new key mapping and the OAuth client it maps to, created together.
#[derive(Debug, Clone)]
pub struct NewKeyMapping {
    pub id: String,
    pub application_id: String,
    pub key_type: String,
    pub key_manager: String,
    pub additional_properties: String,
    pub scopes: String,
    pub validity_time: i64,
    pub client: NewOAuthClient,
}

impl KeyMappingRow {
    /// True for the resident key manager's own OAuth clients (generate-keys).
    pub fn is_resident(&self) -> bool {
        self.key_manager == RESIDENT_KEY_MANAGER
    }
}

/// An existing client id of an external key manager, mapped to an application's key type
/// (DevPortal map-keys). No secret is stored: the identity provider checks it.
#[derive(Debug, Clone)]
pub struct NewMappedKey {
    pub id: String,
    pub application_id: String,
    pub key_type: String,
    /// The key manager's name.
    pub key_manager: String,
    pub client_id: String,
    /// JSON object text.
    pub additional_properties: String,
}

/// Which subscriptions to list; all given criteria must match.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionFilter {
    pub application_id: Option<String>,
    pub api_id: Option<String>,
    /// Only subscriptions of this user's applications.
    pub owner: Option<String>,
}

/// What a gateway needs to authenticate and authorize application traffic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GatewayIdentity {
    pub key_mappings: Vec<GatewayKeyMapping>,
    pub subscriptions: Vec<GatewaySubscription>,
    /// The enabled external key managers (issuers whose tokens the gateway accepts).
    pub key_managers: Vec<KeyManagerRow>,
}

/// An OAuth client id and the application (and key type) it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GatewayKeyMapping {
    /// The key manager that issued the client id ([`RESIDENT_KEY_MANAGER`] for this node's own).
    pub key_manager: String,
    pub client_id: String,
    pub application_id: String,
    pub application_name: String,
    /// The owner's username.
    pub owner: String,
    pub application_tier: String,
    /// `PRODUCTION` or `SANDBOX`.
    pub key_type: String,
}

/// A subscription of an application to an API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GatewaySubscription {
    pub application_id: String,
    pub api_id: String,
    pub tier: String,
    /// `UNBLOCKED`, `BLOCKED`, `PROD_ONLY_BLOCKED`, `ON_HOLD` or `REJECTED`.
    pub status: String,
}

#[derive(sqlx::FromRow)]
struct KeyMappingIdentityRow {
    key_manager: String,
    client_id: String,
    application_id: String,
    application_name: String,
    owner: String,
    application_tier: String,
    key_type: String,
}

#[derive(sqlx::FromRow)]
struct SubscriptionIdentityRow {
    application_id: String,
    api_id: String,
    tier: String,
    status: String,
}

const APP_SELECT: &str = "SELECT a.id, a.name, a.owner, a.throttling_policy, a.description, a.status, a.token_type, \
     a.attributes, a.group_ids, a.subscription_scopes, a.created_at, a.updated_at, \
     (SELECT COUNT(*) FROM subscriptions s WHERE s.application_id = a.id) AS subscription_count FROM applications a";

const MAPPING_SELECT: &str = "SELECT m.id, m.application_id, m.key_type, m.key_manager, m.client_id, m.mode, \
     m.additional_properties, m.scopes, m.validity_time, m.created_at, \
     COALESCE(c.grant_types, '') AS grant_types, COALESCE(c.callback_url, '') AS callback_url \
     FROM application_key_mappings m LEFT JOIN oauth_clients c ON c.client_id = m.oauth_client_id";

const SUBSCRIPTION_SELECT: &str = "SELECT s.id, s.application_id, s.api_id, s.throttling_policy, s.status, \
     a.name AS application_name, a.owner AS application_owner, a.description AS application_description, \
     a.status AS application_status, a.throttling_policy AS application_policy \
     FROM subscriptions s JOIN applications a ON a.id = s.application_id";

fn or_default<'a>(text: &'a str, default: &'a str) -> &'a str {
    if text.trim().is_empty() { default } else { text }
}

/// Appends the `key_mapping.changed` event of `action` on `mapping`.
async fn append_mapping_event<DB: sqlx::Database>(
    tx: &mut WriteTx<DB>,
    node_id: &str,
    mapping: &KeyMappingRow,
    action: &str,
) -> Result<(), StoreError>
where
    WriteTx<DB>: AppendInTx,
{
    let payload = json!({
        "action": action,
        "applicationId": mapping.application_id,
        "clientId": mapping.client_id,
        "keyType": mapping.key_type,
    })
    .to_string();
    tx.append_event_in_tx(node_id, EVENT_KEY_MAPPING_CHANGED, &mapping.id, &payload)
        .await?;
    Ok(())
}

/// Appends the `subscription.changed` event of subscription `id`.
async fn append_subscription_event<DB: sqlx::Database>(
    tx: &mut WriteTx<DB>,
    node_id: &str,
    id: &str,
    payload: &serde_json::Value,
) -> Result<(), StoreError>
where
    WriteTx<DB>: AppendInTx,
{
    tx.append_event_in_tx(node_id, EVENT_SUBSCRIPTION_CHANGED, id, &payload.to_string())
        .await?;
    Ok(())
}

impl Store {
    /// Creates an application (and its `application.changed` event); returns its id. A name the
    /// owner already uses is [`StoreError::Conflict`].
    pub async fn create_application(&self, new: &NewApplication) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_millis();
        let token_type = or_default(&new.token_type, "JWT");
        write_tx!(self, async |tx| {
            sqlx::query(
                "INSERT INTO applications (id, name, owner, throttling_policy, description, status, token_type, attributes, \
                 group_ids, subscription_scopes, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'APPROVED', $6, $7, $8, $9, $10, $10)",
            )
            .bind(&id)
            .bind(&new.name)
            .bind(&new.owner)
            .bind(&new.throttling_policy)
            .bind(&new.description)
            .bind(token_type)
            .bind(or_default(&new.attributes, "{}"))
            .bind(or_default(&new.groups, "[]"))
            .bind(or_default(&new.subscription_scopes, "[]"))
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let payload = json!({ "action": "created" }).to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_APPLICATION_CHANGED, &id, &payload)
                .await?;
            Ok(())
        })
        .map_err(|e| e.unique_as(|_| format!("application `{}` of {}", new.name, new.owner)))?;
        Ok(id)
    }

    pub async fn find_application(&self, id: &str) -> Result<Option<ApplicationRow>, StoreError> {
        self.find_one(&format!("{APP_SELECT} WHERE a.id = $1"), &[id]).await
    }

    /// One owner's applications by creation, optionally those whose name contains `name`
    /// (case-insensitive), and the total count.
    pub async fn list_applications(
        &self,
        owner: &str,
        name: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ApplicationRow>, i64), StoreError> {
        let pattern = name.map(|n| format!("%{}%", n.to_lowercase()));
        let condition = "a.owner = $1 AND (CAST($2 AS TEXT) IS NULL OR lower(a.name) LIKE $2)";
        let select = format!("{APP_SELECT} WHERE {condition} ORDER BY a.created_at, a.id LIMIT $3 OFFSET $4");
        let count = format!("SELECT COUNT(*) FROM applications a WHERE {condition}");
        Ok(with_pool!(self, |pool| {
            let rows: Vec<ApplicationRow> = sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(owner)
                .bind(&pattern)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .bind(owner)
                .bind(&pattern)
                .fetch_one(pool)
                .await?;
            (rows, total)
        }))
    }

    /// Replaces an application's name, policy, description, token type, attributes, groups and
    /// subscription scopes (the owner stays).
    pub async fn update_application(&self, id: &str, new: &NewApplication) -> Result<(), StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            let updated = sqlx::query(
                "UPDATE applications SET name = $2, throttling_policy = $3, description = $4, token_type = $5, \
                 attributes = $6, group_ids = $7, subscription_scopes = $8, updated_at = $9 WHERE id = $1",
            )
            .bind(id)
            .bind(&new.name)
            .bind(&new.throttling_policy)
            .bind(&new.description)
            .bind(or_default(&new.token_type, "JWT"))
            .bind(or_default(&new.attributes, "{}"))
            .bind(or_default(&new.groups, "[]"))
            .bind(or_default(&new.subscription_scopes, "[]"))
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            require_found(updated, || format!("application {id}"))?;
            let payload = json!({ "action": "updated" }).to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_APPLICATION_CHANGED, id, &payload)
                .await?;
            Ok(())
        })
        .map_err(|e| e.unique_as(|_| format!("application `{}` of {}", new.name, new.owner)))?;
        Ok(())
    }

    /// Deletes an application with its subscriptions, key mappings and their OAuth clients; every
    /// one of them gets its feed event, and each resident client's tokens are cut off in the same
    /// transaction (mapped external client ids just lose their mapping). Returns the deleted
    /// resident clients' ids (callers also tell their Key Manager, which
    /// applies the cut-offs at once).
    pub async fn delete_application(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            // (mapping id, client id, the resident key manager's OAuth client when it is one)
            let mappings: Vec<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT id, client_id, oauth_client_id FROM application_key_mappings WHERE application_id = $1",
            )
            .bind(id)
            .fetch_all(&mut **tx)
            .await?;
            let subscriptions: Vec<(String,)> =
                sqlx::query_as("SELECT id FROM subscriptions WHERE application_id = $1")
                    .bind(id)
                    .fetch_all(&mut **tx)
                    .await?;
            for client_id in mappings.iter().filter_map(|(_, _, oauth_client)| oauth_client.as_ref()) {
                sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
                    .bind(client_id)
                    .execute(&mut **tx)
                    .await?;
            }
            let deleted = sqlx::query("DELETE FROM applications WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            require_found(deleted, || format!("application {id}"))?;
            for (mapping_id, client_id, oauth_client) in &mappings {
                let payload = json!({ "action": "deleted", "applicationId": id, "clientId": client_id }).to_string();
                tx.append_event_in_tx(&self.node_id, EVENT_KEY_MAPPING_CHANGED, mapping_id, &payload)
                    .await?;
                if oauth_client.is_some() {
                    tx.append_event_in_tx(&self.node_id, EVENT_CLIENT_CHANGED, client_id, "{}")
                        .await?;
                    cutoff_in_tx!(tx, self, CutoffKind::Client, client_id, now);
                }
            }
            for (subscription_id,) in &subscriptions {
                let payload = json!({ "action": "deleted", "applicationId": id }).to_string();
                tx.append_event_in_tx(&self.node_id, EVENT_SUBSCRIPTION_CHANGED, subscription_id, &payload)
                    .await?;
            }
            let payload = json!({ "action": "deleted" }).to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_APPLICATION_CHANGED, id, &payload)
                .await?;
            Ok(mappings
                .into_iter()
                .filter_map(|(_, _, oauth_client)| oauth_client)
                .collect())
        })
    }

    /// Creates an OAuth client and maps it to an application's key type, with the
    /// `key_mapping.changed` event. A key type the application already has is
    /// [`StoreError::Conflict`].
    pub async fn create_key_mapping(&self, new: &NewKeyMapping) -> Result<KeyMappingRow, StoreError> {
        let now = now_millis();
        let c = &new.client;
        write_tx!(self, async |tx| {
            sqlx::query(
                "INSERT INTO oauth_clients (client_id, secret_hash, client_name, owner_id, grant_types, callback_url, key_type, saas_app, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(&c.client_id)
            .bind(&c.secret_hash)
            .bind(&c.client_name)
            .bind(&c.owner_id)
            .bind(&c.grant_types)
            .bind(&c.callback_url)
            .bind(&c.key_type)
            .bind(c.saas_app)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO application_key_mappings (id, application_id, key_type, key_manager, client_id, oauth_client_id, mode, \
                 additional_properties, scopes, validity_time, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $5, 'CREATED', $6, $7, $8, $9)",
            )
            .bind(&new.id)
            .bind(&new.application_id)
            .bind(&new.key_type)
            .bind(&new.key_manager)
            .bind(&c.client_id)
            .bind(or_default(&new.additional_properties, "{}"))
            .bind(&new.scopes)
            .bind(new.validity_time)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let payload = json!({
                "action": "created",
                "applicationId": new.application_id,
                "clientId": c.client_id,
                "keyType": new.key_type,
            })
            .to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_KEY_MAPPING_CHANGED, &new.id, &payload)
                .await?;
            Ok(())
        })
        .map_err(|e| e.unique_as(|_| format!("{} keys of the application", new.key_type)))?;
        self.find_key_mapping(&new.application_id, &new.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("key mapping {}", new.id)))
    }

    /// Maps a client id of an external key manager to an application's key type, with the
    /// `key_mapping.changed` event. Keys of that type the application already has from that key
    /// manager, or a client id that key manager already mapped, are [`StoreError::Conflict`].
    pub async fn create_mapped_key(&self, new: &NewMappedKey) -> Result<KeyMappingRow, StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            sqlx::query(
                "INSERT INTO application_key_mappings (id, application_id, key_type, key_manager, client_id, oauth_client_id, mode, \
                 additional_properties, scopes, validity_time, created_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL, 'MAPPED', $6, '', 0, $7)",
            )
            .bind(&new.id)
            .bind(&new.application_id)
            .bind(&new.key_type)
            .bind(&new.key_manager)
            .bind(&new.client_id)
            .bind(or_default(&new.additional_properties, "{}"))
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let payload = json!({
                "action": "mapped",
                "applicationId": new.application_id,
                "clientId": new.client_id,
                "keyType": new.key_type,
                "keyManager": new.key_manager,
            })
            .to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_KEY_MAPPING_CHANGED, &new.id, &payload)
                .await?;
            Ok(())
        })
        .map_err(|e| {
            e.unique_as(|violation| {
                if violation.to_string().contains("client") {
                    format!(
                        "a mapping of client id `{}` of key manager `{}`",
                        new.client_id, new.key_manager
                    )
                } else {
                    format!(
                        "{} keys of the application from key manager `{}`",
                        new.key_type, new.key_manager
                    )
                }
            })
        })?;
        self.find_key_mapping(&new.application_id, &new.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("key mapping {}", new.id)))
    }

    /// An application's key mappings, PRODUCTION first.
    pub async fn list_key_mappings(&self, application_id: &str) -> Result<Vec<KeyMappingRow>, StoreError> {
        let sql = format!("{MAPPING_SELECT} WHERE m.application_id = $1 ORDER BY m.key_type, m.created_at");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(application_id)
                .fetch_all(pool)
                .await?
        }))
    }

    /// One key mapping of an application.
    pub async fn find_key_mapping(
        &self,
        application_id: &str,
        mapping_id: &str,
    ) -> Result<Option<KeyMappingRow>, StoreError> {
        self.find_one(
            &format!("{MAPPING_SELECT} WHERE m.application_id = $1 AND m.id = $2"),
            &[application_id, mapping_id],
        )
        .await
    }

    /// Updates a key mapping's grant types, callback and additional properties.
    pub async fn update_key_mapping(
        &self,
        mapping: &KeyMappingRow,
        grant_types: &str,
        callback_url: &str,
        additional_properties: &str,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            if mapping.is_resident() {
                sqlx::query(
                    "UPDATE oauth_clients SET grant_types = $2, callback_url = $3, updated_at = $4 WHERE client_id = $1",
                )
                .bind(&mapping.client_id)
                .bind(grant_types)
                .bind(callback_url)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            let updated = sqlx::query("UPDATE application_key_mappings SET additional_properties = $2 WHERE id = $1")
                .bind(&mapping.id)
                .bind(or_default(additional_properties, "{}"))
                .execute(&mut **tx)
                .await?
                .rows_affected();
            require_found(updated, || format!("key mapping {}", mapping.id))?;
            if mapping.is_resident() {
                tx.append_event_in_tx(&self.node_id, EVENT_CLIENT_CHANGED, &mapping.client_id, "{}")
                    .await?;
            }
            append_mapping_event(tx, &self.node_id, mapping, "updated").await
        })
    }

    /// Deletes a key mapping and, for the resident key manager, its OAuth client, with their
    /// events and a cut-off of the client's tokens (callers also tell their Key Manager, which
    /// applies it at once). A mapped external client id just loses its mapping.
    pub async fn delete_key_mapping(&self, mapping: &KeyMappingRow) -> Result<(), StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            if mapping.is_resident() {
                sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
                    .bind(&mapping.client_id)
                    .execute(&mut **tx)
                    .await?;
            }
            // The client's deletion cascades to the mapping; this makes it explicit.
            sqlx::query("DELETE FROM application_key_mappings WHERE id = $1")
                .bind(&mapping.id)
                .execute(&mut **tx)
                .await?;
            if mapping.is_resident() {
                tx.append_event_in_tx(&self.node_id, EVENT_CLIENT_CHANGED, &mapping.client_id, "{}")
                    .await?;
                cutoff_in_tx!(tx, self, CutoffKind::Client, &mapping.client_id, now);
            }
            append_mapping_event(tx, &self.node_id, mapping, "deleted").await
        })
    }

    /// Subscribes an application to an API (with its `subscription.changed` event); returns the
    /// subscription id. An existing subscription of the pair is [`StoreError::Conflict`].
    pub async fn create_subscription(&self, new: &NewSubscription) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_millis();
        write_tx!(self, async |tx| {
            sqlx::query(
                "INSERT INTO subscriptions (id, application_id, api_id, throttling_policy, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(&id)
            .bind(&new.application_id)
            .bind(&new.api_id)
            .bind(&new.throttling_policy)
            .bind(&new.status)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let payload = json!({
                "action": "created",
                "applicationId": new.application_id,
                "apiId": new.api_id,
                "status": new.status,
            });
            append_subscription_event(tx, &self.node_id, &id, &payload).await
        })
        .map_err(|e| {
            e.unique_as(|_| {
                format!(
                    "subscription of application {} to API {}",
                    new.application_id, new.api_id
                )
            })
        })?;
        Ok(id)
    }

    pub async fn find_subscription(&self, id: &str) -> Result<Option<SubscriptionRow>, StoreError> {
        self.find_one(&format!("{SUBSCRIPTION_SELECT} WHERE s.id = $1"), &[id])
            .await
    }

    /// Subscriptions (of one API when `api_id` is given), oldest first, and the total count.
    pub async fn list_subscriptions(
        &self,
        api_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SubscriptionRow>, i64), StoreError> {
        let filter = SubscriptionFilter {
            api_id: api_id.map(str::to_owned),
            ..SubscriptionFilter::default()
        };
        self.find_subscriptions(&filter, limit, offset).await
    }

    /// Subscriptions matching `filter`, oldest first, and the total count.
    pub async fn find_subscriptions(
        &self,
        filter: &SubscriptionFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SubscriptionRow>, i64), StoreError> {
        let condition = "(CAST($1 AS TEXT) IS NULL OR s.api_id = $1) AND (CAST($2 AS TEXT) IS NULL OR s.application_id = $2) \
                         AND (CAST($3 AS TEXT) IS NULL OR a.owner = $3)";
        let select = format!("{SUBSCRIPTION_SELECT} WHERE {condition} ORDER BY s.created_at, s.id LIMIT $4 OFFSET $5");
        let count = format!(
            "SELECT COUNT(*) FROM subscriptions s JOIN applications a ON a.id = s.application_id WHERE {condition}"
        );
        Ok(with_pool!(self, |pool| {
            let rows: Vec<SubscriptionRow> = sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(&filter.api_id)
                .bind(&filter.application_id)
                .bind(&filter.owner)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .bind(&filter.api_id)
                .bind(&filter.application_id)
                .bind(&filter.owner)
                .fetch_one(pool)
                .await?;
            (rows, total)
        }))
    }

    /// Sets a subscription's tier and status (with its event).
    pub async fn update_subscription(&self, id: &str, throttling_policy: &str, status: &str) -> Result<(), StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            let updated = sqlx::query(
                "UPDATE subscriptions SET throttling_policy = $2, status = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(throttling_policy)
            .bind(status)
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            require_found(updated, || format!("subscription {id}"))?;
            let payload = json!({ "action": "updated", "tier": throttling_policy, "status": status });
            append_subscription_event(tx, &self.node_id, id, &payload).await
        })
    }

    /// Sets a subscription's status (block, unblock) with its event.
    pub async fn set_subscription_status(&self, id: &str, status: &str) -> Result<(), StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            let updated = sqlx::query("UPDATE subscriptions SET status = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(status)
                .bind(now)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            require_found(updated, || format!("subscription {id}"))?;
            let payload = json!({ "action": "status", "status": status });
            append_subscription_event(tx, &self.node_id, id, &payload).await
        })
    }

    /// Deletes a subscription with its event.
    pub async fn delete_subscription(&self, id: &str) -> Result<(), StoreError> {
        write_tx!(self, async |tx| {
            let deleted = sqlx::query("DELETE FROM subscriptions WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            require_found(deleted, || format!("subscription {id}"))?;
            append_subscription_event(tx, &self.node_id, id, &json!({ "action": "deleted" })).await
        })
    }

    /// Every key mapping (with its application), every subscription and the enabled external key
    /// managers: what a gateway loads to map a token's issuer and client id to an application and
    /// check its subscriptions.
    pub async fn gateway_identity(&self) -> Result<GatewayIdentity, StoreError> {
        let (mappings, subscriptions, key_managers): (
            Vec<KeyMappingIdentityRow>,
            Vec<SubscriptionIdentityRow>,
            Vec<KeyManagerRow>,
        ) = with_pool!(self, |pool| {
            let mappings = sqlx::query_as(
                "SELECT m.key_manager, m.client_id, a.id AS application_id, a.name AS application_name, a.owner, \
                     a.throttling_policy AS application_tier, m.key_type \
                     FROM application_key_mappings m JOIN applications a ON a.id = m.application_id \
                     ORDER BY m.key_manager, m.client_id",
            )
            .fetch_all(pool)
            .await?;
            let subscriptions = sqlx::query_as(
                "SELECT application_id, api_id, throttling_policy AS tier, status FROM subscriptions \
                     ORDER BY application_id, api_id",
            )
            .fetch_all(pool)
            .await?;
            let key_managers = sqlx::query_as(
                "SELECT id, name, type, enabled, issuer, configuration, created_at, updated_at FROM key_managers \
                     WHERE enabled = TRUE ORDER BY name",
            )
            .fetch_all(pool)
            .await?;
            (mappings, subscriptions, key_managers)
        });
        Ok(GatewayIdentity {
            key_mappings: mappings
                .into_iter()
                .map(|r| GatewayKeyMapping {
                    key_manager: r.key_manager,
                    client_id: r.client_id,
                    application_id: r.application_id,
                    application_name: r.application_name,
                    owner: r.owner,
                    application_tier: r.application_tier,
                    key_type: r.key_type,
                })
                .collect(),
            subscriptions: subscriptions
                .into_iter()
                .map(|r| GatewaySubscription {
                    application_id: r.application_id,
                    api_id: r.api_id,
                    tier: r.tier,
                    status: r.status,
                })
                .collect(),
            key_managers,
        })
    }
}
