//! The OAuth2 authorization server, one module per job:
//!
//! - `service`: the [`TokenService`] value and its start-up; `cache` and `clients`: client
//!   authentication through a short-lived cache, and client secrets;
//! - `grants`: the token endpoint (client_credentials, password) and access token signing;
//!   `authorize`: the authorization_code grant with PKCE (S256), codes issued after sign-in;
//!   `refresh`: the rotating refresh_token grant with reuse detection;
//! - `revoke`: revocation (RFC 7009) and per-user/per-client cut-offs;
//! - `introspect`: introspection (RFC 7662);
//! - `dcr`: dynamic client registration (WSO2's DCR API);
//! - `follower`: applies other nodes' revocations and client changes from the change feed.

mod authorize;
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

pub use crate::validator::TokenValidator;
pub use authorize::{AuthorizeRequest, CODE_LIFETIME_SECONDS, redirect_allowed, s256_challenge};
pub use dcr::{DcrRequest, RegisteredClient};
pub use error::OAuthError;
pub use grants::{SUPPORTED_GRANTS, TokenRequest, TokenResponse, WSO2_GRANT_TYPES, grant_scopes};
pub use service::{TokenService, TokenSettings};
