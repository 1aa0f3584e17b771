//! `portico serve`: load the configuration, open the store, start the listeners, drain on signal.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use portico_config::{Config, DEPLOYMENT_TOML, DatabaseKind};
use portico_keystore::KeyMaterial;
use portico_store::{Backend, NewUser, Role, Store, StoreOptions};

use crate::cli::{HomeArg, InitArgs, KeyTypeArg};

pub fn run(home: &Path, started: Instant) -> anyhow::Result<()> {
    if !home.join(DEPLOYMENT_TOML).exists() {
        println!("No node home at {}: initialising one first.", home.display());
        crate::init::run(&InitArgs {
            home: HomeArg {
                home: home.to_path_buf(),
            },
            admin_password: std::env::var("PORTICO_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty()),
            admin_username: "admin".into(),
            offset: 0,
            database_url: None,
            key_type: KeyTypeArg::Ec,
            hostname: "localhost".into(),
        })?;
    }
    let config = Config::load(home)?;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(serve(config, started))
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PORTICO_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

async fn serve(config: Config, started: Instant) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let tls = load_keys(&config, "tls")?;
    let primary = load_keys(&config, "primary")?;
    let ports = config.ports();

    let db = &config.database.apim_db;
    let node_id = format!("{}:{}", config.server.hostname, ports.management_https);
    let store = Store::connect(&StoreOptions {
        backend: match db.kind {
            DatabaseKind::Sqlite => Backend::Sqlite,
            DatabaseKind::Postgres => Backend::Postgres,
        },
        url: config.database_url(),
        pool_size: db.pool_size,
        acquire_timeout: Duration::from_secs(db.connection_timeout_seconds),
        node_id: node_id.clone(),
    })
    .await?;
    bootstrap_super_admin(&config, &store).await?;
    let issuer = config.oauth.issuer.clone().unwrap_or_else(|| {
        format!(
            "https://{}:{}/oauth2/token",
            config.server.hostname, ports.management_https
        )
    });
    let signer = portico_keymanager::TokenSigner::new(&primary, issuer.clone())
        .with_context(|| format!("[keystore.primary] in {}", config.path.display()))?;
    let validator = Arc::new(portico_keymanager::TokenValidator::new(signer));
    let authenticator = portico_keymanager::Authenticator::with_tokens(store.clone(), validator.clone())?;
    let hasher = portico_keymanager::SecretHasher::from_private_key(primary.private_key.secret_der());
    let (oauth, feed_position) = portico_keymanager::TokenService::start(
        store.clone(),
        validator.clone(),
        hasher,
        authenticator.clone(),
        portico_keymanager::TokenSettings {
            issuer,
            access_token_seconds: config.oauth.access_token_validity_seconds,
            refresh_token_seconds: config.oauth.refresh_token_validity_seconds,
        },
    )
    .await?;
    let follower = oauth.spawn_follower(feed_position);

    let artifacts_changed = Arc::new(tokio::sync::Notify::new());
    let applied_here = portico_cluster::FollowerProgress::new(feed_position);
    let artifact_files = portico_rest::ArtifactFiles::new(store.clone(), &config, artifacts_changed.clone());
    let state = portico_rest::RestState {
        applied_here: applied_here.clone(),
        artifacts: artifact_files.clone(),
        config: config.clone(),
        store: store.clone(),
        authenticator,
        oauth,
        key_fingerprints: Arc::new(portico_rest::KeyFingerprints {
            tls: tls.fingerprint(),
            primary: primary.fingerprint(),
        }),
    };
    let database_sync = config.deployment.sync == portico_config::ArtifactSync::Database;
    let artifacts = if database_sync {
        portico_rest::reconcile_artifacts(&artifact_files)
            .await
            .map_err(|e| anyhow::anyhow!("rebuilding deployment/server/ from the store: {e}"))?
    } else {
        0
    };
    let router = portico_rest::router(state.clone());
    let bind = config.server.bind_address;
    let management = portico_net::bind((bind, ports.management_https).into()).await?;
    let tls_config = tls.server_config(&[b"h2", b"http/1.1"])?;
    let grace = Duration::from_secs(config.server.shutdown_grace_seconds);

    let (backend_roots, trust) = portico_keystore::backend_trust_store(
        config.truststore.system_roots,
        &tls,
        config.truststore_file().as_deref(),
    )
    .with_context(|| format!("[truststore] in {}", config.path.display()))?;
    let mut settings = gateway_settings(&config, &primary, &validator)?;
    settings.backend_roots = Arc::new(backend_roots);
    // External key managers' JWKS are fetched trusting the same roots as https backends.
    let issuer_keys = portico_gateway::issuers::IssuerKeyRegistry::new(settings.backend_roots.clone())?;
    let jwks_refresh = issuer_keys.spawn_refresh(portico_gateway::issuers::DEFAULT_REFRESH_INTERVAL);
    let gateway = portico_gateway::Gateway::new(settings, None);
    // Keys, issuer and live revocations never change while the node runs; applications, their
    // client ids, subscriptions and external key managers are reloaded from the store whenever
    // the feed says so.
    let identity_base = Arc::new(gateway_identity(&primary, &validator)?);
    let configured_key_managers = Arc::new(portico_rest::configured_key_managers(&config));
    let identity = load_identity(&store, &identity_base, &issuer_keys, &configured_key_managers).await?;
    let (clients, subscriptions) = (identity.clients.len(), identity.subscriptions.len());
    gateway.install_identity(identity);
    // The gateway serves the runtime artifacts under deployment/server/<environment>/ of the
    // environments this node serves, and follows changes to them.
    let artifacts_dir = config.home.join("deployment/server");
    let mut artifact_dir = portico_gateway::artifact::ArtifactDir::new(artifacts_dir, config.served_environments());
    let routable = artifact_dir
        .sync_into(&gateway, portico_gateway::artifact::Scan::Full, true)
        .unwrap_or(0);
    // Deployments made on other nodes (same database) reach this node's artifacts and gateway
    // through the change feed, and so do changes to applications, keys and subscriptions (from
    // any node, this one included).
    let feed_poll = store.feed_poll_interval();
    let deployments = {
        let artifact_files = artifact_files.clone();
        let wake = artifacts_changed.clone();
        let node_id = node_id.clone();
        let gateway = gateway.clone();
        let store = store.clone();
        tokio::spawn(portico_cluster::follow_with_progress(
            store.clone(),
            applied_here,
            feed_poll,
            move |events| {
                let from_elsewhere = events
                    .iter()
                    .any(|e| e.kind.starts_with("api.") && e.origin_node != node_id);
                let identity_changed = events.iter().any(|e| IDENTITY_EVENTS.contains(&e.kind.as_str()));
                let artifact_files = artifact_files.clone();
                let wake = wake.clone();
                let gateway = gateway.clone();
                let store = store.clone();
                let identity_base = identity_base.clone();
                let issuer_keys = issuer_keys.clone();
                let configured_key_managers = configured_key_managers.clone();
                async move {
                    if from_elsewhere {
                        match portico_rest::reconcile_artifacts(&artifact_files).await {
                            Ok(_) => wake.notify_one(),
                            Err(e) => tracing::warn!(error = %e, "cannot apply deployments from other nodes"),
                        }
                    }
                    if identity_changed {
                        match load_identity(&store, &identity_base, &issuer_keys, &configured_key_managers).await {
                            Ok(identity) => {
                                tracing::debug!(
                                    clients = identity.clients.len(),
                                    subscriptions = identity.subscriptions.len(),
                                    "gateway identity reloaded"
                                );
                                gateway.install_identity(identity)
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot reload applications and subscriptions"),
                        }
                    }
                }
            },
        ))
    };
    let watcher = tokio::spawn(portico_gateway::artifact::serve_dir(
        gateway.clone(),
        artifact_dir,
        Duration::from_secs(1),
        artifacts_changed,
    ));

    let host = &config.server.hostname;
    let mgmt = format!("https://{host}:{}", ports.management_https);
    println!(
        "Portico {} node ready in {} ms",
        env!("CARGO_PKG_VERSION"),
        started.elapsed().as_millis()
    );
    println!(
        "  store:          {} (schema v{})",
        store.backend(),
        store.schema_version().await?
    );
    println!("  management:     {mgmt}  (health: {mgmt}/health/ready)");
    println!("  admin REST:     {mgmt}/api/am/admin/v4");
    println!(
        "  gateway:        http://{host}:{}  https://{host}:{}",
        ports.gateway_http, ports.gateway_https
    );
    println!("  publisher REST: {mgmt}/api/am/publisher/v4");
    println!("  artifacts:      {artifacts} deployed API revision(s) in deployment/server/, {routable} routable here");
    println!(
        "  devportal REST: {mgmt}/api/am/devportal/v3  ({clients} client id(s), {subscriptions} subscription(s) loaded into the gateway)"
    );
    println!(
        "  OAuth2:         {mgmt}/oauth2/token  (DCR: {mgmt}/client-registration/v0.17/register, {} kid {})",
        validator.signer.algorithm(),
        validator.signer.kid()
    );
    println!(
        "  backend TLS:    trusts {} system root(s), this node's certificate, {} from [truststore] file_name",
        trust.system_roots, trust.bundle_certificates
    );
    if config.sample_backend_enabled() {
        println!(
            "  sample backend: {mgmt}{}/menu  (PizzaShack; [apim.sample_backend])",
            portico_rest::SAMPLE_BASE_PATH
        );
    }
    println!("  config:         {}", config.path.display());
    println!("Press Ctrl-C to stop.");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let limits = portico_net::ListenerLimits::default();
    // The gateway listeners are bound before the management server answers, so that
    // `/health/ready` never says ready while the gateway ports still refuse connections.
    // They run on single-threaded runtimes, one per core unless configured
    // (DESIGN.md: measured faster for proxying than a work-stealing runtime).
    let io_threads = config.gateway_io_threads();
    let mut gateway_threads = Vec::new();
    for (port, tls) in [
        (ports.gateway_http, None),
        (ports.gateway_https, Some(tls_config.clone())),
    ] {
        let server = portico_gateway::ConsumerServer::new(gateway.clone(), limits.clone());
        gateway_threads.extend(portico_net::serve_on_threads(
            (bind, port).into(),
            tls,
            move |_info| {
                let server = server.clone();
                move |accepted| server.serve(accepted)
            },
            limits.clone(),
            stopped.clone(),
            grace,
            io_threads,
        )?);
    }
    let management = tokio::spawn(portico_net::serve(
        management,
        Some(tls_config),
        router.into_service(),
        limits.clone(),
        until_stopped(stopped.clone()),
        grace,
    ));
    shutdown_signal().await;
    let _ = stop.send(true);
    let _ = management.await;
    let _ = tokio::task::spawn_blocking(move || {
        for thread in gateway_threads {
            let _ = thread.join();
        }
    })
    .await;
    watcher.abort();
    jwks_refresh.abort();
    deployments.abort();
    follower.abort();
    println!("Draining finished; closing the store.");
    store.close().await;
    println!("Stopped.");
    Ok(())
}

/// Feed events after which the gateway reloads applications, client ids, subscriptions and
/// external key managers.
const IDENTITY_EVENTS: [&str; 5] = [
    portico_store::EVENT_APPLICATION_CHANGED,
    portico_store::EVENT_KEY_MAPPING_CHANGED,
    portico_store::EVENT_SUBSCRIPTION_CHANGED,
    portico_store::EVENT_CLIENT_CHANGED,
    portico_store::EVENT_KEY_MANAGER_CHANGED,
];

/// An enabled external key manager as the gateway takes it: its keys from the registry (a JWKS
/// URL or a PEM), its claims; its client ids are added by the caller.
fn external_issuer(
    row: &portico_store::KeyManagerRow,
    registry: &portico_gateway::issuers::IssuerKeyRegistry,
) -> anyhow::Result<portico_gateway::identity::ExternalIssuer> {
    let settings = row.settings();
    let value = settings
        .certificate_value
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("key manager `{}` has no certificates.value", row.name))?;
    let keys = match settings.certificate_type.as_deref() {
        Some("PEM") => registry.pem(&row.name, value)?,
        _ => registry.jwks(&row.name, value),
    };
    let introspection = settings.introspection_endpoint.as_deref().map(|url| {
        registry.introspector(
            &row.name,
            url,
            settings.client_id.clone(),
            settings.client_secret.clone(),
        )
    });
    Ok(portico_gateway::identity::ExternalIssuer {
        key_manager: row.name.clone(),
        issuer: row.issuer.clone(),
        consumer_key_claim: settings.consumer_key_claim,
        scopes_claim: settings.scopes_claim,
        keys,
        introspection,
        claim_mapping: settings.claim_mapping,
        clients: Default::default(),
    })
}

/// `base` (keys, issuer, live revocations) with the applications' client ids, the subscriptions
/// and the enabled external key managers (`configured` ones of deployment.toml and the stored
/// ones, with their mapped client ids) as the store has them now. Key sets of key managers no longer there are dropped from `registry`.
async fn load_identity(
    store: &Store,
    base: &portico_gateway::identity::Identity,
    registry: &portico_gateway::issuers::IssuerKeyRegistry,
    configured: &[portico_store::KeyManagerRow],
) -> anyhow::Result<portico_gateway::identity::Identity> {
    use portico_gateway::identity::{AppInfo, ClientInfo, KeyType, SubscriptionInfo, SubscriptionStatus};
    let rows = store.gateway_identity().await?;
    let mut identity = base.clone();
    // By key manager name while client ids are added; by issuer in the identity.
    let mut external: std::collections::HashMap<String, portico_gateway::identity::ExternalIssuer> =
        std::collections::HashMap::new();
    // Those of deployment.toml first: REST refuses stored ones with their names or issuers.
    for row in configured.iter().chain(&rows.key_managers) {
        if external.contains_key(&row.name) || external.values().any(|e| e.issuer == row.issuer) {
            tracing::warn!(key_manager = %row.name, issuer = %row.issuer, "key manager with the name or issuer of one in deployment.toml left out");
            continue;
        }
        match external_issuer(row, registry) {
            Ok(issuer) => {
                external.insert(row.name.clone(), issuer);
            }
            Err(e) => tracing::warn!(key_manager = %row.name, error = %e, "key manager left out of the gateway"),
        }
    }
    let mut apps: std::collections::HashMap<String, Arc<AppInfo>> = std::collections::HashMap::new();
    for mapping in rows.key_mappings {
        let Some(key_type) = KeyType::from_wire(&mapping.key_type) else {
            tracing::warn!(client_id = %mapping.client_id, key_type = %mapping.key_type, "key mapping with an unknown key type left out");
            continue;
        };
        let app = apps
            .entry(mapping.application_id.clone())
            .or_insert_with(|| {
                Arc::new(AppInfo {
                    id: mapping.application_id.clone(),
                    name: mapping.application_name.clone(),
                    owner: mapping.owner.clone(),
                    tier: mapping.application_tier.clone(),
                })
            })
            .clone();
        let client = ClientInfo { app, key_type };
        if mapping.key_manager == portico_store::RESIDENT_KEY_MANAGER {
            identity.clients.insert(mapping.client_id, client);
        } else if let Some(issuer) = external.get_mut(&mapping.key_manager) {
            issuer.clients.insert(mapping.client_id, client);
        }
    }
    registry.retain(
        &external.values().map(|e| e.keys.clone()).collect::<Vec<_>>(),
        &external
            .values()
            .filter_map(|e| e.introspection.clone())
            .collect::<Vec<_>>(),
    );
    identity.external_issuers = external
        .into_values()
        .map(|e| (e.issuer.clone(), Arc::new(e)))
        .collect();
    for subscription in rows.subscriptions {
        identity.subscriptions.insert(
            (subscription.application_id, subscription.api_id),
            SubscriptionInfo {
                id: String::new(),
                tier: subscription.tier.into(),
                status: SubscriptionStatus::from_wire(&subscription.status),
            },
        );
    }
    Ok(identity)
}

/// What the gateway authenticates with: the primary key under the kid the Key Manager signs
/// with, the issuer, and the Key Manager's live revocation list.
fn gateway_identity(
    primary: &KeyMaterial,
    validator: &Arc<portico_keymanager::TokenValidator>,
) -> anyhow::Result<portico_gateway::identity::Identity> {
    let rsa = primary.key_type == portico_keystore::KeyType::Rsa2048;
    let key = portico_gateway::identity::VerificationKey::from_public_pem(
        validator.signer.kid(),
        &primary.public_key_pem()?,
        rsa,
    )?;
    Ok(portico_gateway::identity::Identity {
        keys: vec![key],
        issuers: vec![validator.signer.issuer().to_owned()],
        revocations: Some(Arc::new(KeyManagerRevocations(validator.clone()))),
        ..Default::default()
    })
}

/// The Key Manager's revocation list, as the gateway consults it on every request.
struct KeyManagerRevocations(Arc<portico_keymanager::TokenValidator>);

impl portico_gateway::identity::RevocationCheck for KeyManagerRevocations {
    fn is_revoked(&self, jti: &str, subject: &str, client_id: &str, issued_at: u64) -> bool {
        let iat = i64::try_from(issued_at).unwrap_or(i64::MAX);
        self.0.revocations.is_revoked_parts(jti, subject, client_id, iat)
    }
}

/// The gateway's settings from `[apim.cors]`, `[apim.jwt]` and the primary key.
fn gateway_settings(
    config: &Config,
    primary: &KeyMaterial,
    validator: &portico_keymanager::TokenValidator,
) -> anyhow::Result<portico_gateway::GatewaySettings> {
    let cors = &config.apim.cors;
    let jwt = &config.apim.jwt;
    let backend_jwt = if jwt.enable {
        let rsa = primary.key_type == portico_keystore::KeyType::Rsa2048;
        let wants_rsa = jwt
            .signing_algorithm
            .as_deref()
            .map(|a| a.contains("RSA") || a == "RS256");
        if wants_rsa.is_some_and(|w| w != rsa) {
            anyhow::bail!(
                "{}: key `apim.jwt.signing_algorithm`: {} does not match the {} key of [keystore.primary]",
                config.path.display(),
                jwt.signing_algorithm.as_deref().unwrap_or_default(),
                primary.key_type
            );
        }
        let pem = &primary.private_key_pem;
        let (key, algorithm) = if rsa {
            (
                jsonwebtoken::EncodingKey::from_rsa_pem(pem)?,
                jsonwebtoken::Algorithm::RS256,
            )
        } else {
            (
                jsonwebtoken::EncodingKey::from_ec_pem(pem)?,
                jsonwebtoken::Algorithm::ES256,
            )
        };
        Some(portico_gateway::BackendJwtSettings {
            header: http::HeaderName::from_bytes(jwt.header.to_ascii_lowercase().as_bytes())?,
            key,
            algorithm,
            kid: validator.signer.kid().to_owned(),
            max_ttl_seconds: jwt.ttl_seconds,
        })
    } else {
        None
    };
    Ok(portico_gateway::GatewaySettings {
        backend_jwt,
        cors: cors.enable.then(|| portico_gateway::model::CorsDef {
            allow_origins: cors.allow_origins.to_vec(),
            allow_headers: cors.allow_headers.clone(),
            allow_methods: cors.allow_methods.clone(),
            allow_credentials: cors.allow_credentials,
        }),
        ..portico_gateway::GatewaySettings::default()
    })
}

fn load_keys(config: &Config, which: &str) -> anyhow::Result<KeyMaterial> {
    let ks = if which == "tls" {
        &config.keystore.tls
    } else {
        &config.keystore.primary
    };
    KeyMaterial::load(&config.resolve(&ks.certificate), &config.resolve(&ks.private_key))
        .with_context(|| format!("[keystore.{which}] in {}", config.path.display()))
}

/// Makes the configured super admin exist with the configured password and every role.
async fn bootstrap_super_admin(config: &Config, store: &Store) -> anyhow::Result<()> {
    let admin = &config.super_admin;
    if !admin.create_admin_account {
        return Ok(());
    }
    let hash = match (&admin.password_hash, &admin.password) {
        (Some(hash), _) => hash.clone(),
        (None, Some(plain)) => {
            // Keep the stored hash when it already matches, so restarts do not rehash.
            let existing = store.find_user(&admin.username).await?;
            let plain = plain.clone();
            let current = existing.map(|u| u.password_hash);
            tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
                if let Some(current) = current
                    && portico_keymanager::verify_password(&current, &plain).unwrap_or(false)
                {
                    return Ok(current);
                }
                Ok(portico_keymanager::hash_password(&plain)?)
            })
            .await??
        }
        (None, None) => anyhow::bail!("[super_admin] needs password or password_hash"),
    };
    store
        .upsert_user(&NewUser {
            username: admin.username.clone(),
            password_hash: hash,
            roles: Role::ALL.to_vec(),
        })
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    println!("Shutdown requested: no new connections; draining in-flight requests.");
}
