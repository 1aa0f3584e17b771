//! `deployment.toml`: the node's configuration, parsed strictly.
//!
//! Section names follow WSO2 API Manager 4.x where the meaning is the same. Every unknown key and
//! every invalid value is an error that names the file, the line and the dotted key; nothing is
//! silently ignored. Strings may reference environment variables as `$env{NAME}` (WSO2's syntax)
//! and `[secrets]` aliases as `$secret{alias}` (values sealed with AES-256-GCM by `portico vault
//! encrypt`, `vault`), which is how secrets stay out of the file. `production` holds what
//! `[server] mode = "production"` refuses.
//!
//! [`Config`] (`config.rs`) composes one module per section, each owning its structs, defaults
//! and the checks of its keys: `server`, `super_admin`, `database`, `keystore` (with
//! `truststore`), `apim` (`gateway`, `cors`, `sync_runtime_artifacts`, `publisher`, `jwt`,
//! `sample_backend`, `throttling`), `transport`, `oauth`, `deployment` and `cluster`. `section` holds what they share,
//! `locate` maps keys to lines, and `template` renders the file `portico init` writes.
#![forbid(unsafe_code)]

mod apim;
mod cluster;
mod config;
mod database;
mod deployment;
mod error;
mod keystore;
mod locate;
mod oauth;
mod production;
mod secrets;
mod section;
mod server;
mod super_admin;
mod template;
mod transport;
pub mod vault;

pub use apim::{
    Analytics, AnalyticsType, Apim, BackendJwt, Cors, DevPortal, Environment, Gateway, GatewaySync,
    IntrospectionEndpoint, JwksLocation, JwtIssuer, OneOrMany, Portal, Publisher, SampleBackend, SyncRuntimeArtifacts,
    ThrottleCounter, Throttling, ThrottlingRedis, UrlGroupConfig,
};
pub use cluster::Cluster;
pub use config::Config;
pub use database::{Database, DatabaseKind, Databases};
pub use deployment::{ArtifactSync, DeployManager, Deployment, ServiceUrl};
pub use error::ConfigError;
pub use keystore::{Keystore, Keystores, Truststore};
pub use oauth::OAuth;
pub use secrets::{Secrets, valid_alias, with_secret};
pub use server::{Mode, Server};
pub use super_admin::SuperAdmin;
pub use template::{InitOptions, InitSecrets, render_deployment_toml};
pub use transport::{Ports, Transport, Transports};

/// The configuration file's path inside a node's home.
pub const DEPLOYMENT_TOML: &str = "conf/deployment.toml";
