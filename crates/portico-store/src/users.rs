//! Users and their roles.

use std::fmt;
use std::str::FromStr;

use crate::{Store, StoreError, now_millis, with_pool, write_tx};

/// The four roles, with WSO2's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// WSO2 `admin`: everything.
    Admin,
    /// WSO2 `Internal/creator`: designs APIs.
    Creator,
    /// WSO2 `Internal/publisher`: lifecycle and deployment.
    Publisher,
    /// WSO2 `Internal/subscriber`: applications and subscriptions.
    Subscriber,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Creator, Role::Publisher, Role::Subscriber];

    /// The name stored and shown by Portico.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Creator => "creator",
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
        }
    }

    /// WSO2's name for the role, as SCIM and WSO2 tooling show it.
    pub fn wso2_name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Creator => "Internal/creator",
            Role::Publisher => "Internal/publisher",
            Role::Subscriber => "Internal/subscriber",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a role name that is none of the four.
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}` (expected admin, creator, publisher or subscriber)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    /// Accepts Portico's names and WSO2's (`Internal/creator`), case-insensitively.
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        let lower = s.to_ascii_lowercase();
        let name = lower.strip_prefix("internal/").unwrap_or(&lower);
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    username: String,
    password_hash: String,
    created_at: i64,
    updated_at: i64,
}

impl Store {
    /// Creates a user; a taken username is [`StoreError::Conflict`].
    pub async fn create_user(&self, new: &NewUser) -> Result<User, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_millis();
        write_tx!(self, async |tx| {
            let inserted = sqlx::query(
                "INSERT INTO users (id, username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (username) DO NOTHING",
            )
            .bind(&id)
            .bind(&new.username)
            .bind(&new.password_hash)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("user `{}`", new.username)));
            }
            for role in &new.roles {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                    .bind(&id)
                    .bind(role.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        })?;
        let mut roles = new.roles.clone();
        roles.sort();
        roles.dedup();
        Ok(User {
            id,
            username: new.username.clone(),
            password_hash: new.password_hash.clone(),
            roles,
            created_at: now,
            updated_at: now,
        })
    }

    /// Creates the user or, if it exists, sets its password hash and adds the given roles.
    /// Safe when several nodes start at once.
    pub async fn upsert_user(&self, new: &NewUser) -> Result<User, StoreError> {
        let now = now_millis();
        let candidate_id = uuid::Uuid::new_v4().to_string();
        write_tx!(self, async |tx| {
            sqlx::query(
                "INSERT INTO users (id, username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, \
                 updated_at = CASE WHEN users.password_hash = excluded.password_hash THEN users.updated_at ELSE excluded.updated_at END",
            )
            .bind(&candidate_id)
            .bind(&new.username)
            .bind(&new.password_hash)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let id: String = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
                .bind(&new.username)
                .fetch_one(&mut **tx)
                .await?;
            for role in &new.roles {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(&id)
                    .bind(role.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        })?;
        self.find_user(&new.username)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user `{}`", new.username)))
    }

    /// The user with this username, with roles.
    pub async fn find_user(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.find_user_where("username", username).await
    }

    /// The user with this id, with roles.
    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.find_user_where("id", id).await
    }

    /// The user whose `column` (a unique one) is `value`, with roles.
    async fn find_user_where(&self, column: &str, value: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT id, username, password_hash, created_at, updated_at FROM users WHERE {column} = $1");
        match self.find_one::<UserRow>(&sql, &[value]).await? {
            None => Ok(None),
            Some(row) => Ok(Some(self.with_roles(row).await?)),
        }
    }

    /// Users ordered by username.
    pub async fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<User>, StoreError> {
        let rows: Vec<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id, username, password_hash, created_at, updated_at FROM users ORDER BY username LIMIT $1 OFFSET $2")
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?
        });
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            users.push(self.with_roles(row).await?);
        }
        Ok(users)
    }

    /// Replaces a user's roles.
    pub async fn set_user_roles(&self, id: &str, roles: &[Role]) -> Result<(), StoreError> {
        let now = now_millis();
        write_tx!(self, async |tx| {
            let updated = sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("user {id}")));
            }
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            for role in roles {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(id)
                    .bind(role.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Sets a user's password hash.
    pub async fn set_password_hash(&self, id: &str, hash: &str) -> Result<(), StoreError> {
        let updated = with_pool!(self, |pool| {
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(hash)
                .bind(now_millis())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    /// Deletes a user (and, by cascade, its roles).
    pub async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    async fn with_roles(&self, row: UserRow) -> Result<User, StoreError> {
        let names: Vec<String> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
                .bind(&row.id)
                .fetch_all(pool)
                .await?
        });
        let mut roles: Vec<Role> = names.iter().filter_map(|n| n.parse().ok()).collect();
        roles.sort();
        Ok(User {
            id: row.id,
            username: row.username,
            password_hash: row.password_hash,
            roles,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
