//! The typed configuration and its validation.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ConfigError;
use crate::locate;

/// A node's whole configuration, as read from `conf/deployment.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub super_admin: SuperAdmin,
    #[serde(default)]
    pub database: Databases,
    #[serde(default)]
    pub keystore: Keystores,
    #[serde(default)]
    pub apim: Apim,
    #[serde(default)]
    pub transport: Transports,
    #[serde(default)]
    pub oauth: OAuth,
    #[serde(default)]
    pub deployment: Deployment,
    #[serde(default)]
    pub truststore: Truststore,
    /// The node's home directory (parent of `conf/`); relative paths in the file resolve here.
    #[serde(skip)]
    pub home: PathBuf,
    /// The file this was read from, for messages.
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Added to every port, so that several nodes share one machine.
    #[serde(default)]
    pub offset: u16,
    #[serde(default)]
    pub mode: Mode,
    /// Address every listener binds to.
    #[serde(default = "default_bind")]
    pub bind_address: IpAddr,
    /// Seconds in-flight requests get to finish on SIGINT/SIGTERM.
    #[serde(default = "default_drain")]
    pub shutdown_grace_seconds: u64,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            hostname: default_hostname(),
            offset: 0,
            mode: Mode::default(),
            bind_address: default_bind(),
            shutdown_grace_seconds: default_drain(),
        }
    }
}

/// `[oauth]`: token lifetimes of the Key Manager.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth {
    /// Lifetime of access tokens, in seconds (WSO2's default: 3600).
    #[serde(default = "default_access_token_validity")]
    pub access_token_validity_seconds: i64,
    /// Lifetime of refresh tokens, in seconds (WSO2's default: 86400).
    #[serde(default = "default_refresh_token_validity")]
    pub refresh_token_validity_seconds: i64,
    /// The `iss` of issued tokens. Default: `https://<server.hostname>:<management port>/oauth2/token`
    /// (WSO2's). Nodes of a cluster behind one name set the same value.
    #[serde(default)]
    pub issuer: Option<String>,
}

impl Default for OAuth {
    fn default() -> Self {
        OAuth {
            access_token_validity_seconds: default_access_token_validity(),
            refresh_token_validity_seconds: default_refresh_token_validity(),
            issuer: None,
        }
    }
}

fn default_access_token_validity() -> i64 {
    3600
}
fn default_refresh_token_validity() -> i64 {
    86400
}

fn default_hostname() -> String {
    "localhost".to_owned()
}
fn default_bind() -> IpAddr {
    IpAddr::from([0, 0, 0, 0])
}
fn default_drain() -> u64 {
    10
}

/// `dev` accepts any admin password and serves samples; `production` enforces the hardening rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Dev,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuperAdmin {
    #[serde(default = "default_admin")]
    pub username: String,
    /// Plain password (may be `$env{NAME}`); hashed with argon2id before it is stored.
    #[serde(default)]
    pub password: Option<String>,
    /// PHC-format argon2id hash, as `portico init` writes it.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default = "default_true")]
    pub create_admin_account: bool,
}

impl Default for SuperAdmin {
    fn default() -> Self {
        SuperAdmin {
            username: default_admin(),
            password: None,
            password_hash: None,
            create_admin_account: true,
        }
    }
}

fn default_admin() -> String {
    "admin".to_owned()
}
fn default_true() -> bool {
    true
}

/// `[deployment]`: how deployed API revisions reach the gateways (DESIGN.md step 5).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    #[serde(default)]
    pub sync: ArtifactSync,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactSync {
    /// The database is the truth: each node rewrites deployment/server/ from it at start-up and
    /// when the change feed reports deployments made elsewhere.
    #[default]
    Database,
    /// deployment/server/ is the truth (a shared or rsync'd directory, or files placed by hand):
    /// the node serves what it finds there and never removes files.
    SharedFs,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Databases {
    #[serde(default)]
    pub apim_db: Database,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    #[default]
    Sqlite,
    /// WSO2 spells it `postgre`; both are accepted.
    #[serde(alias = "postgre", alias = "postgresql")]
    Postgres,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    #[serde(rename = "type", default)]
    pub kind: DatabaseKind,
    /// `sqlite:database/portico.db` (relative to the home) or `postgres://user@host:5432/db`.
    #[serde(default = "default_sqlite_url")]
    pub url: String,
    /// Overrides the URL's user name (WSO2 keeps them apart).
    #[serde(default)]
    pub username: Option<String>,
    /// Overrides the URL's password; usually `$env{NAME}`.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_pool")]
    pub pool_size: u32,
    /// Seconds to wait for a connection from the pool.
    #[serde(default = "default_connect_timeout")]
    pub connection_timeout_seconds: u64,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            kind: DatabaseKind::Sqlite,
            url: default_sqlite_url(),
            username: None,
            password: None,
            pool_size: default_pool(),
            connection_timeout_seconds: default_connect_timeout(),
        }
    }
}

impl Database {
    /// `sqlite` or `postgres`, as written in the file.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
        }
    }
}

fn default_sqlite_url() -> String {
    "sqlite:database/portico.db".to_owned()
}
fn default_pool() -> u32 {
    10
}
fn default_connect_timeout() -> u64 {
    5
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keystores {
    /// Serves TLS on the management and gateway HTTPS listeners.
    #[serde(default)]
    pub tls: Keystore,
    /// Signs tokens (JWT access tokens, API keys, backend JWTs).
    #[serde(default)]
    pub primary: Keystore,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keystore {
    /// Only `PEM` for now.
    #[serde(rename = "type", default = "default_keystore_type")]
    pub kind: String,
    /// Certificate chain, PEM, relative to the home.
    #[serde(default = "default_cert")]
    pub certificate: PathBuf,
    /// Private key (PKCS#8 PEM), relative to the home.
    #[serde(default = "default_key")]
    pub private_key: PathBuf,
}

impl Default for Keystore {
    fn default() -> Self {
        Keystore {
            kind: default_keystore_type(),
            certificate: default_cert(),
            private_key: default_key(),
        }
    }
}

fn default_keystore_type() -> String {
    "PEM".to_owned()
}
fn default_cert() -> PathBuf {
    PathBuf::from("conf/security/node-cert.pem")
}
fn default_key() -> PathBuf {
    PathBuf::from("conf/security/node-key.pem")
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Apim {
    #[serde(default)]
    pub gateway: Gateway,
    /// Gateway-wide CORS rules for APIs without their own.
    #[serde(default)]
    pub cors: Cors,
    #[serde(default)]
    pub sync_runtime_artifacts: SyncRuntimeArtifacts,
    #[serde(default)]
    pub publisher: Publisher,
    #[serde(default)]
    pub jwt: BackendJwt,
    #[serde(default)]
    pub sample_backend: SampleBackend,
}

/// `[apim.sample_backend]`: WSO2's PizzaShack sample service on the management port
/// (`/am/sample/pizzashack/v1/api/`), so the first tour needs no other process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleBackend {
    /// On in dev mode, off in production mode, unless set.
    #[serde(default)]
    pub enable: Option<bool>,
}

/// `[truststore]`: whom the gateway trusts when it calls https backends: the system's roots,
/// this node's own TLS certificate, and a PEM bundle of extra CAs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Truststore {
    /// A PEM file of CA certificates (relative to the home), in addition to the others.
    #[serde(default)]
    pub file_name: Option<PathBuf>,
    /// Only "PEM".
    #[serde(default = "default_keystore_type", rename = "type")]
    pub kind: String,
    /// Trust the operating system's root certificates.
    #[serde(default = "yes")]
    pub system_roots: bool,
}

impl Default for Truststore {
    fn default() -> Self {
        Truststore {
            file_name: None,
            kind: default_keystore_type(),
            system_roots: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// `[apim.jwt]`: the backend JWT the gateway sends with authenticated requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendJwt {
    #[serde(default)]
    pub enable: bool,
    #[serde(default = "default_jwt_header")]
    pub header: String,
    /// `SHA256withRSA`/`RS256` for an RSA primary key, `SHA256withECDSA`/`ES256` for EC; the
    /// primary key's own algorithm when absent.
    #[serde(default)]
    pub signing_algorithm: Option<String>,
    /// Longest lifetime of one assertion, in seconds.
    #[serde(default = "default_jwt_ttl")]
    pub ttl_seconds: u64,
    /// `[[apim.jwt.issuer]]`: external identity providers whose tokens the gateway accepts,
    /// configured here rather than through the Admin REST API's `/key-managers`.
    #[serde(default)]
    pub issuer: Vec<JwtIssuer>,
}

impl Default for BackendJwt {
    fn default() -> Self {
        BackendJwt {
            enable: false,
            header: default_jwt_header(),
            signing_algorithm: None,
            ttl_seconds: default_jwt_ttl(),
            issuer: Vec::new(),
        }
    }
}

/// `[[apim.jwt.issuer]]`: an external identity provider (a read-only key manager): whose tokens
/// (`iss`) the gateway verifies with the keys at `jwks.url`, and the claims it reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuer {
    /// The key manager's name, which DevPortal `map-keys` names; also the issuer when `issuer`
    /// is absent (WSO2 names a configured issuer by its `iss`).
    pub name: String,
    /// The `iss` of its tokens, when it differs from `name`.
    #[serde(default)]
    pub issuer: Option<String>,
    pub jwks: JwksLocation,
    /// The claim holding the client id; `azp`, then `client_id` when absent.
    #[serde(default)]
    pub consumer_key_claim: Option<String>,
    /// The claim holding the scopes; `scope`, then `scp` when absent.
    #[serde(default)]
    pub scopes_claim: Option<String>,
    /// Where its opaque (non-JWT) access tokens are checked (RFC 7662).
    #[serde(default)]
    pub introspection: Option<IntrospectionEndpoint>,
}

/// `introspection`: an issuer's RFC 7662 endpoint and the client credentials the gateway sends
/// there (HTTP Basic; the secret may be `$env{NAME}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionEndpoint {
    pub url: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

impl JwtIssuer {
    /// The `iss` its tokens carry.
    pub fn issuer(&self) -> &str {
        self.issuer.as_deref().unwrap_or(&self.name)
    }
}

/// Where a configured issuer's keys are published (`jwks.url`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwksLocation {
    pub url: String,
}

fn default_jwt_header() -> String {
    "X-JWT-Assertion".to_owned()
}
fn default_jwt_ttl() -> u64 {
    900
}

/// `[apim.publisher]`: limits of the Publisher REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publisher {
    /// Lets `import-openapi`/`validate-openapi` fetch URLs that resolve to loopback, private,
    /// link-local or other non-public addresses (off: such URLs are refused, against SSRF).
    #[serde(default)]
    pub allow_private_import_urls: bool,
    /// Largest definition fetched from a URL, in bytes.
    #[serde(default = "default_import_max_bytes")]
    pub import_max_bytes: u64,
    /// Seconds a URL fetch may take in all (connecting included).
    #[serde(default = "default_import_timeout")]
    pub import_timeout_seconds: u64,
}

impl Default for Publisher {
    fn default() -> Self {
        Publisher {
            allow_private_import_urls: false,
            import_max_bytes: default_import_max_bytes(),
            import_timeout_seconds: default_import_timeout(),
        }
    }
}

fn default_import_max_bytes() -> u64 {
    5 * 1024 * 1024
}
fn default_import_timeout() -> u64 {
    20
}

/// `[apim.cors]`, WSO2's defaults when absent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    #[serde(default = "default_true")]
    pub enable: bool,
    /// `"*"` or a list of origins.
    #[serde(default = "default_cors_origins")]
    pub allow_origins: OneOrMany,
    #[serde(default = "default_cors_methods")]
    pub allow_methods: Vec<String>,
    #[serde(default = "default_cors_headers")]
    pub allow_headers: Vec<String>,
    #[serde(default)]
    pub allow_credentials: bool,
}

impl Default for Cors {
    fn default() -> Self {
        Cors {
            enable: true,
            allow_origins: default_cors_origins(),
            allow_methods: default_cors_methods(),
            allow_headers: default_cors_headers(),
            allow_credentials: false,
        }
    }
}

/// A value WSO2 lets you write as one string or as a list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

fn default_cors_origins() -> OneOrMany {
    OneOrMany::One("*".to_owned())
}
fn default_cors_methods() -> Vec<String> {
    ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
        .map(String::from)
        .to_vec()
}
fn default_cors_headers() -> Vec<String> {
    [
        "authorization",
        "Access-Control-Allow-Origin",
        "Content-Type",
        "SOAPAction",
        "apikey",
        "Internal-Key",
    ]
    .map(String::from)
    .to_vec()
}

/// `[apim.sync_runtime_artifacts.gateway]`: which environments this node's gateway serves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRuntimeArtifacts {
    #[serde(default)]
    pub gateway: GatewaySync,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySync {
    /// Environment names; every configured environment when empty.
    #[serde(default)]
    pub gateway_labels: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Gateway environments APIs are deployed to; `Default` when none is written.
    #[serde(default)]
    pub environment: Vec<Environment>,
    /// I/O threads per gateway listener, each with its own single-threaded runtime and
    /// `SO_REUSEPORT` socket (nginx's `worker_processes`); one per core when absent.
    #[serde(default)]
    pub io_threads: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `hybrid`, `production` or `sandbox` (which keys the environment serves).
    #[serde(rename = "type", default = "default_env_type")]
    pub kind: String,
    #[serde(default = "default_gateway_type")]
    pub gateway_type: String,
    #[serde(default = "default_provider")]
    pub provider: String,
    /// Where the environment's deployment service lives (the seed's ServerURL).
    #[serde(default)]
    pub service_url: Option<String>,
    #[serde(default)]
    pub http_endpoint: Option<String>,
    #[serde(default)]
    pub https_endpoint: Option<String>,
    /// Virtual hosts this environment answers; the server's hostname when empty.
    #[serde(default)]
    pub vhosts: Vec<String>,
    #[serde(default = "default_true")]
    pub show_in_api_console: bool,
}

fn default_env_type() -> String {
    "hybrid".to_owned()
}
fn default_gateway_type() -> String {
    "Regular".to_owned()
}
fn default_provider() -> String {
    "wso2".to_owned()
}

impl Environment {
    fn default_for(server: &Server, ports: &Ports) -> Self {
        Environment {
            name: "Default".to_owned(),
            display_name: Some("Default".to_owned()),
            description: Some(
                "This is a hybrid gateway that handles both production and sandbox token traffic.".to_owned(),
            ),
            kind: default_env_type(),
            gateway_type: default_gateway_type(),
            provider: default_provider(),
            service_url: Some(format!(
                "https://{}:{}/services/",
                server.hostname, ports.management_https
            )),
            http_endpoint: Some(format!("http://{}:{}", server.hostname, ports.gateway_http)),
            https_endpoint: Some(format!("https://{}:{}", server.hostname, ports.gateway_https)),
            vhosts: vec![server.hostname.clone()],
            show_in_api_console: true,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transports {
    /// Management listener: REST APIs, portals, OAuth2 (WSO2's 9443).
    #[serde(default)]
    pub https: Transport,
    /// Gateway plain HTTP listener (WSO2's 8280).
    #[serde(default)]
    pub passthru_http: Transport,
    /// Gateway HTTPS listener (WSO2's 8243).
    #[serde(default)]
    pub passthru_https: Transport,
    /// Traffic Manager receiver (WSO2's 9611).
    #[serde(default)]
    pub traffic_manager: Transport,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// Port before `[server] offset` is added; WSO2's default when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// Largest request body accepted, in bytes (413 above it).
    #[serde(default)]
    pub max_request_body: Option<u64>,
}

/// Effective ports, offset applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub management_https: u16,
    pub gateway_http: u16,
    pub gateway_https: u16,
    pub traffic_manager: u16,
}

/// Default management request body limit: 10 MiB.
const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;

impl Config {
    /// I/O threads per gateway listener: `[apim.gateway] io_threads`, else one per core.
    pub fn gateway_io_threads(&self) -> usize {
        self.apim
            .gateway
            .io_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Whether the PizzaShack sample backend is served (dev mode unless configured).
    pub fn sample_backend_enabled(&self) -> bool {
        self.apim.sample_backend.enable.unwrap_or(self.server.mode == Mode::Dev)
    }

    /// The extra CA bundle of `[truststore]`, resolved against the home.
    pub fn truststore_file(&self) -> Option<PathBuf> {
        self.truststore.file_name.as_ref().map(|f| self.home.join(f))
    }

    /// Reads and validates `<home>/conf/deployment.toml`.
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let path = home.join(crate::DEPLOYMENT_TOML);
        let src = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::parse(&src, home, &path)
    }

    /// Parses and validates configuration text; `path` only labels messages.
    pub fn parse(src: &str, home: &Path, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(src).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let (line, column) = locate::line_col(src, span.start);
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                key: locate::key_at(src, &span),
                message: e.message().trim().to_owned(),
            }
        })?;
        config.home = home.to_path_buf();
        config.path = path.to_path_buf();
        let checker = Checker { src, path };
        config.validate(&checker)?;
        Ok(config)
    }

    fn validate(&mut self, c: &Checker<'_>) -> Result<(), ConfigError> {
        if self.server.hostname.trim().is_empty() || self.server.hostname.contains(char::is_whitespace) {
            return Err(c.invalid("server.hostname", "must be a host name without spaces"));
        }
        self.ports_checked(c)?;
        if let Some(threads) = self.apim.gateway.io_threads
            && !(1..=256).contains(&threads)
        {
            return Err(c.invalid("apim.gateway.io_threads", "must be between 1 and 256"));
        }
        for (key, value) in [
            (
                "oauth.access_token_validity_seconds",
                self.oauth.access_token_validity_seconds,
            ),
            (
                "oauth.refresh_token_validity_seconds",
                self.oauth.refresh_token_validity_seconds,
            ),
        ] {
            if !(1..=10 * 365 * 86400).contains(&value) {
                return Err(c.invalid(key, "must be between 1 second and 10 years"));
            }
        }

        let admin = &mut self.super_admin;
        if admin.username.trim().is_empty() {
            return Err(c.invalid("super_admin.username", "must not be empty"));
        }
        admin.password = c.expand_opt("super_admin.password", admin.password.take())?;
        admin.password_hash = c.expand_opt("super_admin.password_hash", admin.password_hash.take())?;
        if let Some(hash) = &admin.password_hash
            && !hash.starts_with("$argon2id$")
        {
            return Err(c.invalid(
                "super_admin.password_hash",
                "must be an argon2id PHC string ($argon2id$...)",
            ));
        }
        if admin.create_admin_account && admin.password.is_none() && admin.password_hash.is_none() {
            return Err(c.invalid(
                "super_admin",
                "needs `password` or `password_hash` while create_admin_account is true",
            ));
        }

        let db = &mut self.database.apim_db;
        db.url = c.expand("database.apim_db.url", &db.url)?;
        db.username = c.expand_opt("database.apim_db.username", db.username.take())?;
        db.password = c.expand_opt("database.apim_db.password", db.password.take())?;
        let scheme_ok = match db.kind {
            DatabaseKind::Sqlite => db.url.starts_with("sqlite:"),
            DatabaseKind::Postgres => db.url.starts_with("postgres://") || db.url.starts_with("postgresql://"),
        };
        if !scheme_ok {
            let want = match db.kind {
                DatabaseKind::Sqlite => "sqlite:<path>",
                DatabaseKind::Postgres => "postgres://user@host:port/database",
            };
            return Err(c.invalid(
                "database.apim_db.url",
                &format!("does not match type (expected {want})"),
            ));
        }
        if !(1..=1000).contains(&db.pool_size) {
            return Err(c.invalid("database.apim_db.pool_size", "must be between 1 and 1000"));
        }
        if !(1..=600).contains(&db.connection_timeout_seconds) {
            return Err(c.invalid(
                "database.apim_db.connection_timeout_seconds",
                "must be between 1 and 600",
            ));
        }

        for (name, ks) in [("tls", &self.keystore.tls), ("primary", &self.keystore.primary)] {
            if !ks.kind.eq_ignore_ascii_case("PEM") {
                return Err(c.invalid(&format!("keystore.{name}.type"), "only \"PEM\" is supported"));
            }
        }
        if !self.truststore.kind.eq_ignore_ascii_case("PEM") {
            return Err(c.invalid("truststore.type", "only \"PEM\" is supported"));
        }

        if self.apim.gateway.environment.is_empty() {
            let ports = self.ports();
            self.apim
                .gateway
                .environment
                .push(Environment::default_for(&self.server, &ports));
        }
        let mut seen = HashSet::new();
        for (i, env) in self.apim.gateway.environment.iter_mut().enumerate() {
            let key = format!("apim.gateway.environment[{i}]");
            if env.name.trim().is_empty() {
                return Err(c.invalid(&format!("{key}.name"), "must not be empty"));
            }
            // The name becomes a directory under deployment/server/.
            let safe = env
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_. ".contains(c));
            if !safe || env.name.starts_with('.') {
                return Err(c.invalid(
                    &format!("{key}.name"),
                    "may use only letters, digits, `-`, `_`, `.` and spaces, and may not start with `.`",
                ));
            }
            if !seen.insert(env.name.to_ascii_lowercase()) {
                return Err(c.invalid(
                    &format!("{key}.name"),
                    &format!("environment `{}` is defined twice", env.name),
                ));
            }
            if !["hybrid", "production", "sandbox"].contains(&env.kind.as_str()) {
                return Err(c.invalid(&format!("{key}.type"), "must be one of hybrid, production, sandbox"));
            }
            if env.vhosts.is_empty() {
                env.vhosts.push(self.server.hostname.clone());
            }
        }

        for (i, label) in self
            .apim
            .sync_runtime_artifacts
            .gateway
            .gateway_labels
            .iter()
            .enumerate()
        {
            if !self.apim.gateway.environment.iter().any(|e| &e.name == label) {
                return Err(c.invalid(
                    &format!("apim.sync_runtime_artifacts.gateway.gateway_labels[{i}]"),
                    &format!("`{label}` is not a configured [[apim.gateway.environment]]"),
                ));
            }
        }

        let jwt = &self.apim.jwt;
        if jwt.header.is_empty()
            || !jwt
                .header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(c.invalid(
                "apim.jwt.header",
                "must be an HTTP header name (letters, digits, `-`, `_`)",
            ));
        }
        if let Some(alg) = &jwt.signing_algorithm
            && !["SHA256withRSA", "SHA256withECDSA", "RS256", "ES256"].contains(&alg.as_str())
        {
            return Err(c.invalid(
                "apim.jwt.signing_algorithm",
                "must be SHA256withRSA, SHA256withECDSA, RS256 or ES256",
            ));
        }
        if !(60..=86_400).contains(&jwt.ttl_seconds) {
            return Err(c.invalid("apim.jwt.ttl_seconds", "must be between 60 and 86400"));
        }
        for (i, issuer) in jwt.issuer.iter().enumerate() {
            let key = format!("apim.jwt.issuer[{i}]");
            for (field, value) in [("name", issuer.name.as_str()), ("issuer", issuer.issuer())] {
                if value.trim().is_empty() || value.trim() != value || value.chars().any(char::is_control) {
                    return Err(c.invalid(
                        &format!("{key}.{field}"),
                        "must be a non-empty string without surrounding spaces or control characters",
                    ));
                }
            }
            if issuer.name == "Resident Key Manager" {
                return Err(c.invalid(&format!("{key}.name"), "is the name of the built-in key manager"));
            }
            let http_url = |url: &str| {
                url.strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"))
                    .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
                    .is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace))
            };
            if !http_url(&issuer.jwks.url) {
                return Err(c.invalid(&format!("{key}.jwks.url"), "must be an http(s) URL with a host"));
            }
            if let Some(introspection) = &issuer.introspection
                && !http_url(&introspection.url)
            {
                return Err(c.invalid(
                    &format!("{key}.introspection.url"),
                    "must be an http(s) URL with a host",
                ));
            }
            for (field, claim) in [
                ("consumer_key_claim", &issuer.consumer_key_claim),
                ("scopes_claim", &issuer.scopes_claim),
            ] {
                if claim
                    .as_deref()
                    .is_some_and(|c| c.is_empty() || c.contains(char::is_whitespace))
                {
                    return Err(c.invalid(&format!("{key}.{field}"), "must be a claim name"));
                }
            }
            if let Some(j) = jwt.issuer[..i]
                .iter()
                .position(|o| o.name == issuer.name || o.issuer() == issuer.issuer())
            {
                return Err(c.invalid(
                    &format!("{key}.name"),
                    &format!("repeats the name or issuer of apim.jwt.issuer[{j}]"),
                ));
            }
        }

        let publisher = &self.apim.publisher;
        if !(1024..=100 * 1024 * 1024).contains(&publisher.import_max_bytes) {
            return Err(c.invalid(
                "apim.publisher.import_max_bytes",
                "must be between 1024 and 104857600 (100 MiB)",
            ));
        }
        if !(1..=300).contains(&publisher.import_timeout_seconds) {
            return Err(c.invalid("apim.publisher.import_timeout_seconds", "must be between 1 and 300"));
        }

        if let Some(0) = self.transport.https.max_request_body {
            return Err(c.invalid("transport.https.max_request_body", "must be greater than 0"));
        }
        Ok(())
    }

    fn ports_checked(&self, c: &Checker<'_>) -> Result<Ports, ConfigError> {
        let offset = self.server.offset;
        let pick = |key: &str, t: &Transport, default: u16| -> Result<u16, ConfigError> {
            let base = t.port.unwrap_or(default);
            base.checked_add(offset)
                .filter(|p| *p != 0)
                .ok_or_else(|| c.invalid(key, &format!("port {base} plus offset {offset} is not a valid port")))
        };
        let t = &self.transport;
        let ports = Ports {
            management_https: pick("transport.https.port", &t.https, 9443)?,
            gateway_http: pick("transport.passthru_http.port", &t.passthru_http, 8280)?,
            gateway_https: pick("transport.passthru_https.port", &t.passthru_https, 8243)?,
            traffic_manager: pick("transport.traffic_manager.port", &t.traffic_manager, 9611)?,
        };
        let all = [
            ports.management_https,
            ports.gateway_http,
            ports.gateway_https,
            ports.traffic_manager,
        ];
        let unique: HashSet<u16> = all.iter().copied().collect();
        if unique.len() != all.len() {
            return Err(c.invalid("transport", "two listeners share one port"));
        }
        Ok(ports)
    }

    /// Effective ports with the offset applied (validated at load).
    pub fn ports(&self) -> Ports {
        let offset = self.server.offset;
        let t = &self.transport;
        let p = |t: &Transport, d: u16| t.port.unwrap_or(d).saturating_add(offset);
        Ports {
            management_https: p(&t.https, 9443),
            gateway_http: p(&t.passthru_http, 8280),
            gateway_https: p(&t.passthru_https, 8243),
            traffic_manager: p(&t.traffic_manager, 9611),
        }
    }

    /// The environments this node's gateway serves.
    pub fn served_environments(&self) -> Vec<String> {
        let labels = &self.apim.sync_runtime_artifacts.gateway.gateway_labels;
        if labels.is_empty() {
            self.apim.gateway.environment.iter().map(|e| e.name.clone()).collect()
        } else {
            labels.clone()
        }
    }

    /// Largest request body the management listener accepts.
    pub fn management_body_limit(&self) -> u64 {
        self.transport.https.max_request_body.unwrap_or(DEFAULT_MAX_BODY)
    }

    /// Resolves a path from the file against the node's home.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.home.join(p)
        }
    }

    /// The database URL to connect with: SQLite paths resolved against the home, and the
    /// separate username/password applied to PostgreSQL URLs.
    pub fn database_url(&self) -> String {
        let db = &self.database.apim_db;
        match db.kind {
            DatabaseKind::Sqlite => {
                let rest = db.url.trim_start_matches("sqlite:").trim_start_matches("//");
                let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
                let path = self.resolve(Path::new(file));
                let mut url = format!("sqlite://{}", path.display());
                if !query.is_empty() {
                    url.push('?');
                    url.push_str(query);
                }
                url
            }
            DatabaseKind::Postgres => with_credentials(&db.url, db.username.as_deref(), db.password.as_deref()),
        }
    }
}

/// Puts user and password into a `scheme://[user[:pw]@]host...` URL.
fn with_credentials(url: &str, user: Option<&str>, password: Option<&str>) -> String {
    if user.is_none() && password.is_none() {
        return url.to_owned();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (userinfo, host) = match rest.split_once('@') {
        Some((u, h)) if !u.contains('/') => (Some(u), h),
        _ => (None, rest),
    };
    let (old_user, old_pw) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((a, b)) => (Some(a.to_owned()), Some(b.to_owned())),
            None => (Some(u.to_owned()), None),
        },
        None => (None, None),
    };
    let user = user.map(percent_encode).or(old_user).unwrap_or_default();
    let pw = password.map(percent_encode).or(old_pw);
    match pw {
        Some(pw) => format!("{scheme}://{user}:{pw}@{host}"),
        None => format!("{scheme}://{user}@{host}"),
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Validation context: builds errors that carry the file and line.
struct Checker<'a> {
    src: &'a str,
    path: &'a Path,
}

impl Checker<'_> {
    fn invalid(&self, key: &str, message: &str) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: locate::line_of(self.src, key),
            key: key.to_owned(),
            message: message.to_owned(),
        }
    }

    /// Replaces `$env{NAME}` references with the variables' values.
    fn expand(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(start) = rest.find("$env{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 5..];
            let Some(end) = after.find('}') else {
                return Err(self.invalid(key, "unterminated $env{...} reference"));
            };
            let name = &after[..end];
            let var = std::env::var(name)
                .map_err(|_| self.invalid(key, &format!("environment variable `{name}` is not set")))?;
            out.push_str(&var);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn expand_opt(&self, key: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
        value.map(|v| self.expand(key, &v)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Config, ConfigError> {
        Config::parse(src, Path::new("/home/n"), Path::new("conf/deployment.toml"))
    }

    const MIN: &str = "[super_admin]\npassword = \"pw\"\n";

    #[test]
    fn defaults_are_wso2_ports_and_a_default_environment() {
        let c = parse(MIN).expect("valid");
        assert_eq!(
            c.ports(),
            Ports {
                management_https: 9443,
                gateway_http: 8280,
                gateway_https: 8243,
                traffic_manager: 9611
            }
        );
        assert_eq!(c.apim.gateway.environment.len(), 1);
        assert_eq!(c.apim.gateway.environment[0].name, "Default");
        assert_eq!(c.database_url(), "sqlite:///home/n/database/portico.db");
        assert_eq!(c.management_body_limit(), 10 * 1024 * 1024);
    }

    #[test]
    fn sample_backend_follows_the_mode_unless_set_and_truststore_is_pem_only() {
        assert!(parse(MIN).expect("valid").sample_backend_enabled());
        let production = parse(&format!("[server]\nmode = \"production\"\n{MIN}")).expect("valid");
        assert!(!production.sample_backend_enabled());
        let forced = parse(&format!(
            "[server]\nmode = \"production\"\n{MIN}[apim.sample_backend]\nenable = true\n"
        ))
        .expect("valid");
        assert!(forced.sample_backend_enabled());
        let err = parse(&format!("{MIN}[truststore]\ntype = \"JKS\"\n")).expect_err("JKS");
        assert_eq!(err.key(), Some("truststore.type"), "{err}");
    }

    #[test]
    fn gateway_io_threads_default_to_the_cores_and_are_bounded() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert_eq!(parse(MIN).expect("valid").gateway_io_threads(), cores);
        let one = parse(&format!("{MIN}[apim.gateway]\nio_threads = 1\n")).expect("valid");
        assert_eq!(one.gateway_io_threads(), 1);
        let err = parse(&format!("{MIN}[apim.gateway]\nio_threads = 0\n")).expect_err("zero threads");
        assert_eq!(err.key(), Some("apim.gateway.io_threads"), "{err}");
    }

    #[test]
    fn offset_shifts_every_port() {
        let c = parse(&format!("[server]\noffset = 1\n{MIN}")).expect("valid");
        assert_eq!(c.ports().management_https, 9444);
        assert_eq!(c.ports().traffic_manager, 9612);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = parse(&format!("{MIN}\n[server]\nhostnme = \"x\"\n")).expect_err("unknown key");
        let text = err.to_string();
        assert_eq!(err.line(), Some(5), "{text}");
        assert!(text.contains("hostnme"), "{text}");
        assert!(text.starts_with("conf/deployment.toml:5:"), "{text}");
    }

    #[test]
    fn wrong_type_names_key() {
        let err = parse(&format!("{MIN}[database.apim_db]\npool_size = \"ten\"\n")).expect_err("bad type");
        assert_eq!(err.key(), Some("database.apim_db.pool_size"), "{err}");
        assert_eq!(err.line(), Some(4));
    }

    #[test]
    fn out_of_range_value_names_key_and_line() {
        let err = parse(&format!("{MIN}[database.apim_db]\npool_size = 0\n")).expect_err("range");
        assert_eq!(err.key(), Some("database.apim_db.pool_size"));
        assert_eq!(err.line(), Some(4));
    }

    #[test]
    fn url_must_match_type() {
        let err = parse(&format!(
            "{MIN}[database.apim_db]\ntype = \"postgres\"\nurl = \"sqlite:x.db\"\n"
        ))
        .expect_err("mismatch");
        assert_eq!(err.key(), Some("database.apim_db.url"));
    }

    #[test]
    fn env_references_expand_and_missing_ones_are_named() {
        // SAFETY of the test: the variable names are unique to this test.
        let err = parse("[super_admin]\npassword = \"$env{PORTICO_TEST_SURELY_UNSET_VAR}\"\n").expect_err("unset");
        assert!(err.to_string().contains("PORTICO_TEST_SURELY_UNSET_VAR"), "{err}");
        assert_eq!(err.line(), Some(2));
    }

    #[test]
    fn postgres_credentials_are_applied() {
        assert_eq!(
            with_credentials("postgres://h:5432/db", Some("u"), Some("p@ss")),
            "postgres://u:p%40ss@h:5432/db"
        );
        assert_eq!(
            with_credentials("postgres://a:b@h/db", None, Some("c")),
            "postgres://a:c@h/db"
        );
        assert_eq!(with_credentials("postgres://h/db", None, None), "postgres://h/db");
    }

    #[test]
    fn duplicate_environment_is_refused() {
        let err = parse(&format!(
            "{MIN}[[apim.gateway.environment]]\nname = \"A\"\n[[apim.gateway.environment]]\nname = \"a\"\n"
        ))
        .expect_err("dup");
        assert_eq!(err.key(), Some("apim.gateway.environment[1].name"));
        assert_eq!(err.line(), Some(6));
    }

    #[test]
    fn cors_takes_one_origin_or_a_list() {
        let c = parse(&format!("{MIN}[apim.cors]\nallow_origins = \"https://a\"\n")).expect("one");
        assert_eq!(c.apim.cors.allow_origins.to_vec(), vec!["https://a"]);
        let c = parse(&format!(
            "{MIN}[apim.cors]\nallow_origins = [\"https://a\", \"https://b\"]\nallow_credentials = true\n"
        ))
        .expect("many");
        assert_eq!(c.apim.cors.allow_origins.to_vec().len(), 2);
        assert!(c.apim.cors.allow_credentials);
        assert!(parse(MIN).expect("default").apim.cors.enable);
    }

    #[test]
    fn gateway_labels_must_name_environments() {
        let c = parse(MIN).expect("default");
        assert_eq!(c.served_environments(), vec!["Default"]);
        let err = parse(&format!(
            "{MIN}[apim.sync_runtime_artifacts.gateway]\ngateway_labels = [\"Nope\"]\n"
        ))
        .expect_err("unknown");
        assert_eq!(err.key(), Some("apim.sync_runtime_artifacts.gateway.gateway_labels[0]"));
        assert_eq!(err.line(), Some(4));
    }

    #[test]
    fn publisher_import_limits_have_defaults_and_ranges() {
        let c = parse(MIN).expect("valid");
        assert!(!c.apim.publisher.allow_private_import_urls);
        assert_eq!(c.apim.publisher.import_max_bytes, 5 * 1024 * 1024);
        assert_eq!(c.apim.publisher.import_timeout_seconds, 20);
        let c = parse(&format!(
            "{MIN}[apim.publisher]\nallow_private_import_urls = true\nimport_max_bytes = 2048\nimport_timeout_seconds = 3\n"
        ))
        .expect("valid");
        assert!(c.apim.publisher.allow_private_import_urls);
        assert_eq!(c.apim.publisher.import_max_bytes, 2048);
        let err = parse(&format!("{MIN}[apim.publisher]\nimport_timeout_seconds = 0\n")).expect_err("0 s");
        assert_eq!(err.key(), Some("apim.publisher.import_timeout_seconds"));
        assert_eq!(err.line(), Some(4));
        let err = parse(&format!("{MIN}[apim.publisher]\nimport_max_bytes = 10\n")).expect_err("tiny");
        assert_eq!(err.key(), Some("apim.publisher.import_max_bytes"));
        let err = parse(&format!("{MIN}[apim.publisher]\nallow_private = true\n")).expect_err("unknown");
        assert!(err.to_string().contains("allow_private"), "{err}");
        let err = parse(&format!("{MIN}[apim.publisher]\nallow_private_import_urls = \"yes\"\n")).expect_err("type");
        assert_eq!(err.key(), Some("apim.publisher.allow_private_import_urls"), "{err}");
    }

    #[test]
    fn environment_names_must_be_safe_directory_names() {
        for bad in ["../x", "a/b", ".hidden"] {
            let err = parse(&format!("{MIN}[[apim.gateway.environment]]\nname = \"{bad}\"\n")).expect_err(bad);
            assert_eq!(err.key(), Some("apim.gateway.environment[0].name"), "{err}");
        }
    }

    #[test]
    fn backend_jwt_settings_are_checked() {
        let c = parse(MIN).expect("valid");
        assert!(!c.apim.jwt.enable);
        assert_eq!(c.apim.jwt.header, "X-JWT-Assertion");
        let c = parse(&format!(
            "{MIN}[apim.jwt]\nenable = true\nsigning_algorithm = \"SHA256withECDSA\"\n"
        ))
        .expect("valid");
        assert!(c.apim.jwt.enable);
        let err = parse(&format!("{MIN}[apim.jwt]\nsigning_algorithm = \"HS256\"\n")).expect_err("hmac");
        assert_eq!(err.key(), Some("apim.jwt.signing_algorithm"));
        assert_eq!(err.line(), Some(4));
        let err = parse(&format!("{MIN}[apim.jwt]\nheader = \"X Bad\"\n")).expect_err("header");
        assert_eq!(err.key(), Some("apim.jwt.header"));
    }

    #[test]
    fn jwt_issuers_are_checked() {
        let one = "[[apim.jwt.issuer]]\nname = \"https://sso.test/realms/a\"\njwks.url = \"https://sso.test/certs\"\nconsumer_key_claim = \"azp\"\n";
        let c = parse(&format!("{MIN}{one}")).expect("valid");
        let issuer = &c.apim.jwt.issuer[0];
        assert_eq!(
            (issuer.issuer(), issuer.jwks.url.as_str()),
            ("https://sso.test/realms/a", "https://sso.test/certs")
        );
        let err = parse(&format!("{MIN}{one}{one}")).expect_err("duplicate");
        assert_eq!(err.key(), Some("apim.jwt.issuer[1].name"), "{err}");
        let err = parse(&format!(
            "{MIN}[[apim.jwt.issuer]]\nname = \"kc\"\njwks.url = \"ftp://sso.test/certs\"\n"
        ))
        .expect_err("ftp");
        assert_eq!(err.key(), Some("apim.jwt.issuer[0].jwks.url"), "{err}");
        let err = parse(&format!(
            "{MIN}[[apim.jwt.issuer]]\nname = \"kc\"\njwks.url = \"https://sso.test/certs\"\nvalidate_subscriptions = true\n"
        ))
        .expect_err("unknown key");
        assert!(err.to_string().contains("validate_subscriptions"), "{err}");
        let with_introspection = format!(
            "{one}introspection.url = \"https://sso.test/introspect\"\nintrospection.client_id = \"gw\"\nintrospection.client_secret = \"s\"\n"
        );
        let c = parse(&format!("{MIN}{with_introspection}")).expect("valid");
        let introspection = c.apim.jwt.issuer[0].introspection.as_ref().expect("introspection");
        assert_eq!(
            (introspection.url.as_str(), introspection.client_id.as_deref()),
            ("https://sso.test/introspect", Some("gw"))
        );
        let err = parse(&format!("{MIN}{one}introspection.url = \"sso.test/introspect\"\n")).expect_err("no scheme");
        assert_eq!(err.key(), Some("apim.jwt.issuer[0].introspection.url"), "{err}");
    }

    #[test]
    fn deployment_sync_modes() {
        assert_eq!(parse(MIN).expect("valid").deployment.sync, ArtifactSync::Database);
        let c = parse(&format!("{MIN}[deployment]\nsync = \"shared-fs\"\n")).expect("valid");
        assert_eq!(c.deployment.sync, ArtifactSync::SharedFs);
        let err = parse(&format!("{MIN}[deployment]\nsync = \"ftp\"\n")).expect_err("bad");
        assert_eq!(err.key(), Some("deployment.sync"));
    }

    #[test]
    fn admin_without_password_is_refused() {
        let err = parse("[server]\nhostname = \"x\"\n").expect_err("no pw");
        assert_eq!(err.key(), Some("super_admin"));
    }
}
