//! The command line: its arguments (with their defaults, taken from the crates that own them)
//! and which command runs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use portico_config::InitOptions;
use portico_keystore::KeyType;

use crate::{cert, check, cluster, init, join, keys, node};

/// The node's home when neither `--home` nor `PORTICO_HOME` says otherwise.
const DEFAULT_HOME: &str = "portico-home";

#[derive(Parser, Debug)]
#[command(
    name = "portico",
    version,
    about = "Portico: an API manager node (gateway, key manager, portals, REST APIs) in one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a node's home: configuration, key pair and certificate, database, directories.
    Init(InitArgs),
    /// Run the node (initialising the home first if it does not exist yet).
    Serve(HomeArg),
    /// Create or inspect the node's key pair and certificate.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The nodes that share this node's database.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// The cluster's token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Add a new signing key: it signs tokens from now on; the old keys stay in the JWKS and
    /// keep validating until their last token has expired. Prints what to do on other nodes.
    Rotate {
        #[command(flatten)]
        home: HomeArg,
        /// How long superseded keys keep validating, in seconds [default: [oauth]
        /// access_token_validity_seconds plus 30 s of clock leeway]. API keys signed by them
        /// stop validating then too.
        #[arg(long)]
        keep_old_seconds: Option<u64>,
    },
}

#[derive(Args, Debug, Clone)]
struct HomeArg {
    /// The node's home directory.
    #[arg(long, env = "PORTICO_HOME", default_value = DEFAULT_HOME)]
    home: PathBuf,
}

#[derive(Args, Debug, Clone)]
struct InitArgs {
    #[command(flatten)]
    home: HomeArg,
    /// Admin password; generated and printed once when omitted. With --join: checked against the
    /// cluster's admin (omitted: the admin is taken as the database has it).
    #[arg(long, env = init::ADMIN_PASSWORD_VAR)]
    admin_password: Option<String>,
    /// Admin user name.
    #[arg(long, default_value_t = InitOptions::default().admin_username)]
    admin_username: String,
    /// Added to every port (node 2 on the same machine: 1).
    #[arg(long, default_value_t = InitOptions::default().offset)]
    offset: u16,
    /// PostgreSQL URL (postgres://user@host:5432/db) instead of the embedded SQLite database.
    #[arg(long)]
    database_url: Option<String>,
    /// Key algorithm of the generated key pair [default: ec]. With --join: checked against the
    /// cluster's key.
    #[arg(long, value_enum)]
    key_type: Option<KeyTypeArg>,
    /// Host name for URLs and the certificate.
    #[arg(long, default_value_t = InitOptions::default().hostname)]
    hostname: String,
    /// Make a node of an existing cluster: PATH is a copy of its first node's conf/security/
    /// (the cluster's keys); needs --database-url, the cluster's database.
    #[arg(long, value_name = "PATH")]
    join: Option<PathBuf>,
}

impl InitArgs {
    /// What the new home's configuration is told.
    fn options(&self) -> InitOptions {
        InitOptions {
            hostname: self.hostname.clone(),
            offset: self.offset,
            admin_username: self.admin_username.clone(),
            postgres_url: self.database_url.clone(),
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum KeyTypeArg {
    /// ECDSA P-256 (ES256 tokens).
    Ec,
    /// RSA 2048 (RS256 tokens).
    Rsa,
}

impl From<KeyTypeArg> for KeyType {
    fn from(k: KeyTypeArg) -> Self {
        match k {
            KeyTypeArg::Ec => KeyType::EcP256,
            KeyTypeArg::Rsa => KeyType::Rsa2048,
        }
    }
}

impl From<KeyType> for KeyTypeArg {
    fn from(k: KeyType) -> Self {
        match k {
            KeyType::EcP256 => KeyTypeArg::Ec,
            KeyType::Rsa2048 => KeyTypeArg::Rsa,
        }
    }
}

#[derive(Subcommand, Debug)]
enum CertCommand {
    /// Write a new key pair and self-signed certificate where [keystore.tls] points.
    Create {
        #[command(flatten)]
        home: HomeArg,
        /// Names and addresses the certificate is valid for (repeat); the server's hostname,
        /// localhost, 127.0.0.1 and ::1 when omitted.
        #[arg(long = "hostname")]
        hostnames: Vec<String>,
        #[arg(long, value_enum, default_value_t = KeyTypeArg::from(KeyType::default()))]
        key_type: KeyTypeArg,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print the certificates of [keystore.tls] and [keystore.primary], or of one PEM file.
    Show {
        #[command(flatten)]
        home: HomeArg,
        /// A PEM certificate file to show instead of the node's.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Every registered node: up (heartbeating), down (silent longer than [cluster]
    /// node_timeout_seconds) or stopped, with its addresses, change-feed position and deployments.
    Status {
        #[command(flatten)]
        home: HomeArg,
        /// Print JSON, as GET /api/am/admin/v4/cluster/nodes answers.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate conf/deployment.toml and the files it names; exit status 2 when invalid.
    Check(HomeArg),
}

pub fn run(cli: Cli, started: Instant) -> anyhow::Result<()> {
    match cli.command {
        None => node::run(Path::new(DEFAULT_HOME), started),
        Some(Command::Serve(h)) => node::run(&h.home, started),
        Some(Command::Init(args)) => match &args.join {
            Some(security) => join::run(&join::JoinRequest {
                home: &args.home.home,
                options: &args.options(),
                key_type: args.key_type.map(KeyType::from),
                admin_password: args.admin_password.clone(),
                security,
            }),
            None => init::run(
                &args.home.home,
                &args.options(),
                args.key_type.map_or_else(KeyType::default, KeyType::from),
                args.admin_password,
            ),
        },
        Some(Command::Cert(CertCommand::Create {
            home,
            hostnames,
            key_type,
            force,
        })) => cert::create(&home.home, hostnames, key_type.into(), force),
        Some(Command::Cert(CertCommand::Show { home, file })) => cert::show(&home.home, file),
        Some(Command::Config(ConfigCommand::Check(h))) => check::run(&h.home),
        Some(Command::Cluster(ClusterCommand::Status { home, json })) => cluster::status(&home.home, json),
        Some(Command::Keys(KeysCommand::Rotate { home, keep_old_seconds })) => {
            keys::rotate(&home.home, keep_old_seconds)
        }
    }
}
