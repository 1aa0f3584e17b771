//! The OAuth2 authorization server, one module per job:
//!
//! - `service`: the [`TokenService`] value and its start-up; `cache` and `clients`: client
//!   authentication through a short-lived cache, and client secrets;
//! - `grants`: the token endpoint (client_credentials, password) and access token signing;
//!   `refresh`: the rotating refresh_token grant with reuse detection;
//! - `revoke`: revocation (RFC 7009) and per-user/per-client cut-offs;
//! - `introspect`: introspection (RFC 7662);
//! - `dcr`: dynamic client registration (WSO2's DCR API);
//! - `follower`: applies other nodes' revocations and client changes from the change feed;
//!   `signing_keys`: the cluster's published signing keys, reloaded on rotations.

mod cache;
mod clients;
mod dcr;
mod error;
mod follower;
mod grants;
mod introspect;
mod refresh;
mod revoke;
mod service;
mod signing_keys;

pub use crate::validator::TokenValidator;
pub use dcr::{DcrRequest, RegisteredClient};
pub use error::OAuthError;
pub use grants::{SUPPORTED_GRANTS, TokenRequest, TokenResponse, grant_scopes};
pub use service::{TokenService, TokenSettings};
pub use signing_keys::published_key;
