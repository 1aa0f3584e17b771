//! The API domain of the Publisher: WSO2's API resource and its input rules, the lifecycle
//! state machine, OpenAPI/Swagger definitions to operations, and the runtime artifact a gateway
//! serves. No HTTP and no SQL here: the REST layer and the store call into this crate.
//!
//! - [`model`]: [`Api`], [`Operation`], [`CorsConfiguration`] with WSO2's JSON names, and
//!   [`ApiInput`], a request body read with WSO2's coercions and field-named errors.
//! - [`context`]: context normalisation (`/` added) and refusal (`..`, `?`, whitespace, > 232).
//! - [`lifecycle`]: states, actions and WSO2's default transitions.
//! - [`openapi`]: OpenAPI 3.0/3.1 and Swagger 2.0, JSON or YAML, to operations.
//! - [`product`]: API Products ([`Product`]), bundles of operations of several APIs.
//! - [`artifact`]: writing the runtime artifact ([`RuntimeArtifact`], the wire format of
//!   `portico-artifact`, which lists its fields) of a deployed API; [`product`] writes a
//!   product's.
#![forbid(unsafe_code)]

pub mod artifact;
pub mod context;
pub mod input;
pub mod lifecycle;
pub mod model;
pub mod openapi;
pub mod product;

pub use artifact::{Placement, api_artifact};
pub use context::normalize_context;
pub use input::InputError;
pub use lifecycle::{LifecycleAction, LifecycleStatus};
pub use model::{Api, ApiInput, CorsConfiguration, Operation};
pub use openapi::{Definition, DefinitionError, SpecVersion, generate_openapi, parse_definition};
pub use portico_artifact::RuntimeArtifact;
pub use product::{
    ArtifactBackend, PRODUCT_TYPE, Product, ProductApi, ProductInput, ProductSnapshot, product_artifact, resolve_apis,
};
