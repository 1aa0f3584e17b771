//! Deny policies (WSO2's blocking conditions), each change committed with its
//! `deny_policy.changed` feed event so that every gateway reloads its deny set. Values are kept
//! in WSO2's stored format ([`portico_throttle::DenyCondition::stored_value`]); the store does not
//! interpret them.

use serde_json::json;

use crate::error::require_found;
use crate::feed::AppendInTx;
use crate::{Store, StoreError, now_millis, with_pool, write_tx};

/// Feed kind for a created, updated or deleted deny policy (entity: the condition id; payload:
/// `action`, `conditionType`).
pub const EVENT_DENY_POLICY_CHANGED: &str = "deny_policy.changed";

/// A deny policy as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct DenyPolicyRow {
    /// WSO2's `conditionId` (a UUID).
    pub id: String,
    /// `API`, `APPLICATION`, `IP`, `IPRANGE` or `USER`.
    pub condition_type: String,
    /// WSO2's stored value: text, or the IP condition's JSON text.
    pub condition_value: String,
    /// WSO2's `conditionStatus`.
    pub enabled: bool,
    pub created_at: i64,
}

const DENY_SELECT: &str = "SELECT id, condition_type, condition_value, enabled, created_at FROM deny_policies";

impl Store {
    /// Stores a deny policy (with its event). The same type and value stored already is
    /// [`StoreError::Conflict`].
    pub async fn create_deny_policy(
        &self,
        condition_type: &str,
        condition_value: &str,
        enabled: bool,
    ) -> Result<DenyPolicyRow, StoreError> {
        let row = DenyPolicyRow {
            id: uuid::Uuid::new_v4().to_string(),
            condition_type: condition_type.to_owned(),
            condition_value: condition_value.to_owned(),
            enabled,
            created_at: now_millis(),
        };
        write_tx!(self, async |tx| {
            sqlx::query(
                "INSERT INTO deny_policies (id, condition_type, condition_value, enabled, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&row.id)
            .bind(&row.condition_type)
            .bind(&row.condition_value)
            .bind(row.enabled)
            .bind(row.created_at)
            .execute(&mut **tx)
            .await?;
            let payload = json!({ "action": "created", "conditionType": condition_type }).to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_DENY_POLICY_CHANGED, &row.id, &payload)
                .await?;
            Ok(())
        })
        .map_err(|e| e.unique_as(|_| format!("a {condition_type} deny policy for {condition_value}")))?;
        Ok(row)
    }

    /// Every deny policy, oldest first.
    pub async fn list_deny_policies(&self) -> Result<Vec<DenyPolicyRow>, StoreError> {
        let sql = format!("{DENY_SELECT} ORDER BY created_at, id");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .fetch_all(pool)
                .await?
        }))
    }

    pub async fn find_deny_policy(&self, id: &str) -> Result<Option<DenyPolicyRow>, StoreError> {
        self.find_one(&format!("{DENY_SELECT} WHERE id = $1"), &[id]).await
    }

    /// Turns a deny policy on or off (with its event).
    pub async fn set_deny_policy_enabled(&self, id: &str, enabled: bool) -> Result<DenyPolicyRow, StoreError> {
        write_tx!(self, async |tx| {
            let updated = sqlx::query("UPDATE deny_policies SET enabled = $2 WHERE id = $1")
                .bind(id)
                .bind(enabled)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            require_found(updated, || format!("deny policy {id}"))?;
            let payload = json!({ "action": "updated", "conditionStatus": enabled }).to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_DENY_POLICY_CHANGED, id, &payload)
                .await?;
            Ok(())
        })?;
        self.find_deny_policy(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("deny policy {id}")))
    }

    /// Deletes a deny policy (with its event).
    pub async fn delete_deny_policy(&self, id: &str) -> Result<(), StoreError> {
        write_tx!(self, async |tx| {
            let deleted = sqlx::query("DELETE FROM deny_policies WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            require_found(deleted, || format!("deny policy {id}"))?;
            let payload = json!({ "action": "deleted" }).to_string();
            tx.append_event_in_tx(&self.node_id, EVENT_DENY_POLICY_CHANGED, id, &payload)
                .await?;
            Ok(())
        })
    }
}
