//! Who is calling, and what the gateway tells backends about it: the identity data of a snapshot
//! ([`identity`]), external key managers' signing keys ([`issuers`]) and opaque-token
//! introspection ([`introspection`]), the validated-token cache that turns a credential into
//! claims ([`credentials`]), and the signed backend JWT ([`backend_jwt`]). The pipeline's
//! `authenticate` and `authorize` phases decide with these; nothing here knows about requests.

pub(crate) mod backend_jwt;
pub(crate) mod credentials;
pub mod identity;
pub mod introspection;
pub mod issuers;
