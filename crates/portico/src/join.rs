//! `portico init --join PATH`: a home for a new node of an existing cluster (the seed's step 7).
//! PATH is a copy of the first node's `conf/security/`. The new node shares the cluster's keys
//! (copied from PATH after checking that they sign what the cluster's tokens are signed with),
//! its token issuer (recorded in the database by the first node; nothing to write), and its
//! admin account (taken as the database has it, never replaced). Every check runs before the
//! home is written, so a refusal leaves no home behind.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use portico_config::{Config, DEPLOYMENT_TOML, InitOptions};
use portico_keymanager::TokenSigner;
use portico_keystore::{KeyMaterial, KeyType};
use portico_store::{
    Backend, NodeRegistry, SETTING_PRIMARY_KEY_ID, SETTING_TOKEN_ISSUER, Store, StoreOptions, User, redact,
};

use crate::init::{CERT_NAME, KEY_NAME, refuse_existing, render_config, security_file, write_home};

/// What `init --join` is asked.
pub struct JoinRequest<'a> {
    pub home: &'a Path,
    pub options: &'a InitOptions,
    /// `--key-type`, checked against the cluster's key when given.
    pub key_type: Option<KeyType>,
    /// `--admin-password`, checked against the cluster's admin when given.
    pub admin_password: Option<String>,
    /// The copy of the first node's `conf/security/`.
    pub security: &'a Path,
}

/// What the cluster's database says.
struct Cluster {
    key_id: String,
    issuer: String,
    admin: User,
    registry: NodeRegistry,
}

pub fn run(request: &JoinRequest<'_>) -> anyhow::Result<()> {
    let JoinRequest { home, options, .. } = *request;
    refuse_existing(home, options)?;
    let Some(url) = options.postgres_url.as_deref() else {
        bail!(
            "--join needs --database-url: the nodes of a cluster share one PostgreSQL database (the one node 1 was given)"
        );
    };
    let shared = SharedSecurity::read(request.security)?;
    if let Some(wanted) = request.key_type
        && wanted != shared.key.key_type
    {
        bail!(
            "--key-type {wanted} does not match the cluster's {} key in {}: leave --key-type out with --join",
            shared.key.key_type,
            request.security.display()
        );
    }
    let cluster = read_cluster(url, &options.admin_username)?;
    if cluster.key_id != shared.key_id {
        bail!(
            "the keys in {} are not the cluster's: its tokens are signed with key id {}, but {CERT_NAME} there holds key id {}; copy conf/security/ of a running node of this cluster",
            request.security.display(),
            cluster.key_id,
            shared.key_id
        );
    }
    // The stored hash: a node whose admin was deleted creates it again as the cluster had it.
    let (text, config) = render_config(home, options, cluster.admin.password_hash.clone())?;
    let node_id = config.node_id();
    if let Some(taken) = cluster
        .registry
        .live(config.cluster.node_timeout())
        .find(|n| n.registration.node_id == node_id)
    {
        bail!(
            "node id {node_id} is taken by a node that is up (last heartbeat {} ms ago): give this node another --hostname or --offset",
            taken.silent_for(cluster.registry.now)
        );
    }
    let admin_checked = match &request.admin_password {
        None => false,
        Some(password) => {
            if !portico_keymanager::verify_password(&cluster.admin.password_hash, password).unwrap_or(false) {
                bail!(
                    "--admin-password is not the password of the cluster's admin `{}`: give the cluster's password, or leave --admin-password out to take the admin as the database has it",
                    cluster.admin.username
                );
            }
            true
        }
    };
    let mut files = shared.files.clone();
    files.push((PathBuf::from(DEPLOYMENT_TOML), text.into_bytes()));
    write_home(home, &files)?;
    report(request, &shared, &cluster, admin_checked, &config);
    Ok(())
}

/// The first node's `conf/security/`: its files, and the key pair of `node-cert.pem` and
/// `node-key.pem` (TLS and primary, as `portico init` makes them) checked to work.
struct SharedSecurity {
    /// Every regular file of the directory, as `conf/security/<name>`.
    files: Vec<(PathBuf, Vec<u8>)>,
    key: KeyMaterial,
    key_id: String,
}

impl SharedSecurity {
    fn read(dir: &Path) -> anyhow::Result<SharedSecurity> {
        if !dir.is_dir() {
            bail!(
                "--join {}: no such directory; give a copy of node 1's conf/security/",
                dir.display()
            );
        }
        for name in [CERT_NAME, KEY_NAME] {
            if !dir.join(name).is_file() {
                bail!(
                    "--join {}: no {name} in it; give a copy of node 1's conf/security/ (it holds {CERT_NAME} and {KEY_NAME}, the cluster's TLS and primary key)",
                    dir.display()
                );
            }
        }
        let key = KeyMaterial::load(&dir.join(CERT_NAME), &dir.join(KEY_NAME))
            .with_context(|| format!("--join {}: reading the cluster's key pair", dir.display()))?;
        let key_id = TokenSigner::new(&key, String::new())
            .with_context(|| {
                format!(
                    "--join {}: {KEY_NAME} and {CERT_NAME} do not make a working pair",
                    dir.display()
                )
            })?
            .kid();
        let mut files = Vec::new();
        // The directory's files and its signing/ keys (`portico keys rotate`).
        for (sub, listed) in [("", dir.to_path_buf()), ("signing/", dir.join("signing"))] {
            if sub.is_empty() || listed.is_dir() {
                for entry in std::fs::read_dir(&listed).with_context(|| format!("read {}", listed.display()))? {
                    let entry = entry?;
                    if entry.file_type()?.is_file() {
                        let bytes =
                            std::fs::read(entry.path()).with_context(|| format!("read {}", entry.path().display()))?;
                        files.push((
                            security_file(&format!("{sub}{}", entry.file_name().to_string_lossy())),
                            bytes,
                        ));
                    }
                }
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(SharedSecurity { files, key, key_id })
    }
}

/// Reads the cluster's key id, issuer, admin and nodes from its database, refusing one that has
/// no Portico schema or that no node of this version has started on.
fn read_cluster(url: &str, admin_username: &str) -> anyhow::Result<Cluster> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async {
        let store = Store::connect_existing(&StoreOptions {
            backend: Backend::Postgres,
            url: url.to_owned(),
            pool_size: 2,
            acquire_timeout: std::time::Duration::from_secs(10),
            node_id: "portico-init-join".to_owned(),
        })
        .await?;
        let not_started = |what: &str| {
            anyhow::anyhow!(
                "the cluster at {} has no {what} recorded: start its first node (portico serve) with this version of Portico before joining",
                redact(url)
            )
        };
        let key_id = store
            .cluster_setting(SETTING_PRIMARY_KEY_ID)
            .await?
            .ok_or_else(|| not_started("primary key"))?;
        let issuer = store
            .cluster_setting(SETTING_TOKEN_ISSUER)
            .await?
            .ok_or_else(|| not_started("token issuer"))?;
        let admin = store.find_user(admin_username).await?.with_context(|| {
            format!(
                "the cluster at {} has no user `{admin_username}`: give --admin-username the name of its admin",
                redact(url)
            )
        })?;
        let registry = store.node_registry().await?;
        store.close().await;
        Ok(Cluster {
            key_id,
            issuer,
            admin,
            registry,
        })
    })
}

/// What was shared, and what the operator must still do.
fn report(request: &JoinRequest<'_>, shared: &SharedSecurity, cluster: &Cluster, admin_checked: bool, config: &Config) {
    let JoinRequest { home, options, .. } = *request;
    let ports = config.ports();
    println!(
        "Joined node home {} to the cluster at {}",
        home.display(),
        redact(options.postgres_url.as_deref().unwrap_or_default())
    );
    println!("Shared with the cluster:");
    let names: Vec<String> = shared.files.iter().map(|(p, _)| p.display().to_string()).collect();
    println!(
        "  keys:    {} copied from {} (owner-only): the TLS and primary key, {} key id {}",
        names.join(", "),
        request.security.display(),
        shared.key.key_type,
        shared.key_id
    );
    println!("  issuer:  {} (the cluster's, from its database)", cluster.issuer);
    println!(
        "  admin:   `{}` as the database has it ({})",
        cluster.admin.username,
        if admin_checked {
            "--admin-password checked"
        } else {
            "sign in with the cluster's admin password"
        }
    );
    let nodes: Vec<String> = cluster
        .registry
        .nodes
        .iter()
        .map(|n| {
            let up = n.is_live(cluster.registry.now, config.cluster.node_timeout());
            format!("{} ({})", n.registration.node_id, if up { "up" } else { "not up" })
        })
        .collect();
    println!(
        "  nodes:   {}",
        if nodes.is_empty() {
            "none registered yet".to_owned()
        } else {
            nodes.join(", ")
        }
    );
    println!(
        "  wrote {DEPLOYMENT_TOML}: node id {}, management port {}, gateway ports {} (http) and {} (https)",
        config.node_id(),
        ports.management_https,
        ports.gateway_http,
        ports.gateway_https
    );
    println!("Still to do:");
    println!(
        "  1. Carry over what node 1's conf/deployment.toml changes beyond the defaults (gateway environments, [oauth], [apim.*], [truststore]): --join writes the defaults."
    );
    let certificate = security_file(CERT_NAME);
    let subject_names = portico_keystore::describe(&home.join(&certificate))
        .map(|c| c.subject_alt_names.join(", "))
        .unwrap_or_default();
    println!(
        "  2. The certificate is the cluster's ({}, for {subject_names}): if clients reach this node by another name, make one for every name on node 1 (portico cert create --hostname ...) and copy conf/security/ again.",
        certificate.display()
    );
    println!("  3. Keep conf/security/ private: it holds the cluster's private key.");
    println!("  4. Start the node: portico serve --home {}", home.display());
    println!(
        "  5. Add it to the load balancer, then check: portico cluster status --home {}",
        home.display()
    );
}
