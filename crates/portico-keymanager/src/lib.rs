//! The Key Manager: who a caller is and what they may do.
//!
//! This crate owns password hashing, the role-to-scope table (WSO2's `RESTAPIScopes`),
//! authentication of management requests (HTTP Basic and bearer JWTs), and the OAuth2
//! authorization server: clients (DCR), token grants, JWT signing and validation, rotating
//! refresh tokens, revocation and its propagation through the change feed. A bearer token's
//! scopes are intersected with what the user's current roles allow.
#![forbid(unsafe_code)]

mod authenticator;
pub mod jwt;
pub mod oauth;
mod password;
pub mod revocation;
pub mod scopes;
pub mod secrets;
mod validator;

pub use authenticator::{AuthError, AuthMethod, Authenticator, Principal};
pub use jwt::{AccessClaims, JwtError, PublishedKey, TokenSigner};
pub use oauth::{
    DcrRequest, OAuthError, RegisteredClient, TokenRequest, TokenResponse, TokenService, TokenSettings, TokenValidator,
};
pub use password::{PasswordError, hash_password, verify_password};
pub use secrets::SecretHasher;
