//! The Key Manager: who a caller is and what they may do.
//!
//! This slice owns password hashing, the role-to-scope table (WSO2's `RESTAPIScopes`), and
//! authentication of management requests by HTTP Basic. OAuth2 tokens plug in behind the same
//! [`Principal`]: a bearer token's scopes are intersected with what the user's roles allow.
#![forbid(unsafe_code)]

mod authenticator;
mod password;
pub mod scopes;

pub use authenticator::{AuthError, AuthMethod, Authenticator, Principal};
pub use password::{PasswordError, hash_password, verify_password};
