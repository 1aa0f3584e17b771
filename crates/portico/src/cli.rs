//! Command-line interface.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{init, serve};

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
}

#[derive(Args, Debug, Clone)]
pub struct HomeArg {
    /// The node's home directory.
    #[arg(long, env = "PORTICO_HOME", default_value = "portico-home")]
    pub home: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Admin password; generated and printed once when omitted.
    #[arg(long, env = "PORTICO_ADMIN_PASSWORD")]
    pub admin_password: Option<String>,
    /// Admin user name.
    #[arg(long, default_value = "admin")]
    pub admin_username: String,
    /// Added to every port (node 2 on the same machine: 1).
    #[arg(long, default_value_t = 0)]
    pub offset: u16,
    /// PostgreSQL URL (postgres://user@host:5432/db) instead of the embedded SQLite database.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Key algorithm of the generated key pair.
    #[arg(long, value_enum, default_value_t = KeyTypeArg::Ec)]
    pub key_type: KeyTypeArg,
    /// Host name for URLs and the certificate.
    #[arg(long, default_value = "localhost")]
    pub hostname: String,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum KeyTypeArg {
    /// ECDSA P-256 (ES256 tokens).
    Ec,
    /// RSA 2048 (RS256 tokens).
    Rsa,
}

impl From<KeyTypeArg> for portico_keystore::KeyType {
    fn from(k: KeyTypeArg) -> Self {
        match k {
            KeyTypeArg::Ec => portico_keystore::KeyType::EcP256,
            KeyTypeArg::Rsa => portico_keystore::KeyType::Rsa2048,
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
        #[arg(long, value_enum, default_value_t = KeyTypeArg::Ec)]
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
enum ConfigCommand {
    /// Validate conf/deployment.toml and the files it names; exit status 2 when invalid.
    Check(HomeArg),
}

pub fn run(cli: Cli, started: Instant) -> anyhow::Result<()> {
    match cli.command {
        None => serve::run(
            &HomeArg {
                home: PathBuf::from("portico-home"),
            }
            .home,
            started,
        ),
        Some(Command::Serve(h)) => serve::run(&h.home, started),
        Some(Command::Init(args)) => init::run(&args).map(|_| ()),
        Some(Command::Cert(CertCommand::Create {
            home,
            hostnames,
            key_type,
            force,
        })) => init::cert_create(&home.home, hostnames, key_type.into(), force),
        Some(Command::Cert(CertCommand::Show { home, file })) => cert_show(&home.home, file),
        Some(Command::Config(ConfigCommand::Check(h))) => config_check(&h.home),
    }
}

fn cert_show(home: &std::path::Path, file: Option<PathBuf>) -> anyhow::Result<()> {
    let targets: Vec<(String, PathBuf)> = match file {
        Some(f) => vec![(f.display().to_string(), f)],
        None => {
            let config = portico_config::Config::load(home)?;
            vec![
                (
                    "[keystore.tls]".to_owned(),
                    config.resolve(&config.keystore.tls.certificate),
                ),
                (
                    "[keystore.primary]".to_owned(),
                    config.resolve(&config.keystore.primary.certificate),
                ),
            ]
        }
    };
    for (label, path) in targets {
        let info = portico_keystore::describe(&path)?;
        println!("{label} {}", path.display());
        println!("  subject:      {}", info.subject);
        println!(
            "  issuer:       {}{}",
            info.issuer,
            if info.self_signed { " (self-signed)" } else { "" }
        );
        println!("  names:        {}", info.subject_alt_names.join(", "));
        println!("  valid:        {} .. {}", info.not_before, info.not_after);
        println!("  key:          {}", info.key_algorithm);
        println!("  sha256:       {}", info.sha256_fingerprint);
    }
    Ok(())
}

fn config_check(home: &std::path::Path) -> anyhow::Result<()> {
    let config = portico_config::Config::load(home)?;
    for (label, ks) in [
        ("keystore.tls", &config.keystore.tls),
        ("keystore.primary", &config.keystore.primary),
    ] {
        portico_keystore::KeyMaterial::load(&config.resolve(&ks.certificate), &config.resolve(&ks.private_key))
            .with_context(|| format!("[{label}] in {}", config.path.display()))?;
    }
    let ports = config.ports();
    println!("{} is valid", config.path.display());
    println!(
        "  database: {} ({})",
        config.database.apim_db.kind_name(),
        portico_store::redact(&config.database_url())
    );
    println!(
        "  ports: management {}, gateway http {}, gateway https {}, traffic manager {}",
        ports.management_https, ports.gateway_http, ports.gateway_https, ports.traffic_manager
    );
    let names: Vec<&str> = config
        .apim
        .gateway
        .environment
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    println!("  gateway environments: {}", names.join(", "));
    Ok(())
}
