//! `deployment.toml`: the node's configuration, parsed strictly.
//!
//! Section names follow WSO2 API Manager 4.x where the meaning is the same. Every unknown key and
//! every invalid value is an error that names the file, the line and the dotted key; nothing is
//! silently ignored. Strings may reference environment variables as `$env{NAME}` (WSO2's syntax),
//! which is how secrets stay out of the file.
#![forbid(unsafe_code)]

mod error;
mod locate;
mod model;
mod template;

pub use error::ConfigError;
pub use model::{
    ArtifactSync, Config, Cors, Database, DatabaseKind, Deployment, Environment, Keystore, Mode, OneOrMany, Ports,
    Server, SuperAdmin, Transport, Transports,
};
pub use template::{InitOptions, InitSecrets, render_deployment_toml};

/// The configuration file's path inside a node's home.
pub const DEPLOYMENT_TOML: &str = "conf/deployment.toml";
