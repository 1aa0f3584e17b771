//! `Config`: the whole `deployment.toml`, composed of one value per section. It reads and parses
//! the file, turns TOML errors into ones naming the line and key, and runs each section's own
//! validation; what the node asks of more than one section (ports, the database URL) is here.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::apim::Apim;
use crate::cluster::Cluster;
use crate::database::Databases;
use crate::deployment::Deployment;
use crate::error::ConfigError;
use crate::keystore::{Keystores, Truststore};
use crate::locate;
use crate::oauth::OAuth;
use crate::secrets::{OpenedSecrets, Secrets};
use crate::section::Checker;
use crate::server::{Mode, Server};
use crate::super_admin::SuperAdmin;
use crate::transport::{Ports, Transports};

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
    #[serde(default)]
    pub cluster: Cluster,
    /// `[secrets]`: aliases for `$secret{alias}`, sealed by `portico vault encrypt`.
    #[serde(default)]
    pub secrets: Secrets,
    /// The node's home directory (parent of `conf/`); relative paths in the file resolve here.
    #[serde(skip)]
    pub home: PathBuf,
    /// The file this was read from, for messages.
    #[serde(skip)]
    pub path: PathBuf,
}

impl Config {
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
        let production = config.server.mode == Mode::Production;
        let none = OpenedSecrets::default();
        let opening = Checker {
            src,
            path,
            production,
            secrets: &none,
        };
        // Opened in memory for the validation only; dropped when it returns.
        let secrets = config.secrets.open(home, &opening)?;
        let checker = Checker {
            src,
            path,
            production,
            secrets: &secrets,
        };
        config.validate(&checker)?;
        Ok(config)
    }

    /// Each section checks its own keys; the listeners come first since the default gateway
    /// environment is built from their ports.
    fn validate(&mut self, c: &Checker<'_>) -> Result<(), ConfigError> {
        self.server.validate(c)?;
        self.transport.validate(self.server.offset, c)?;
        self.oauth.validate(c)?;
        self.super_admin.validate(c)?;
        self.database.validate(c)?;
        self.keystore.validate(c)?;
        self.truststore.validate(c)?;
        self.cluster.validate(c)?;
        let ports = self.ports();
        self.apim.validate(&self.server, &ports, c)?;
        self.deployment.validate(&self.apim.gateway.environment, c)
    }

    /// Effective ports with the offset applied (validated at load).
    pub fn ports(&self) -> Ports {
        self.transport.ports(self.server.offset)
    }

    /// This node's id in the cluster: `[cluster] node_id`, else `<hostname>:<management port>`.
    pub fn node_id(&self) -> String {
        self.cluster
            .node_id
            .clone()
            .unwrap_or_else(|| format!("{}:{}", self.server.hostname, self.ports().management_https))
    }

    /// I/O threads per gateway listener: `[apim.gateway] io_threads`, else one per core.
    pub fn gateway_io_threads(&self) -> usize {
        self.apim.gateway.io_threads()
    }

    /// Whether the PizzaShack sample backend is served (dev mode unless configured).
    pub fn sample_backend_enabled(&self) -> bool {
        self.apim.sample_backend.enable.unwrap_or(self.server.mode == Mode::Dev)
    }

    /// The extra CA bundle of `[truststore]`, resolved against the home.
    pub fn truststore_file(&self) -> Option<PathBuf> {
        self.truststore.file_name.as_ref().map(|f| self.home.join(f))
    }

    /// The environments this node's gateway serves.
    pub fn served_environments(&self) -> Vec<String> {
        self.apim.served_environments()
    }

    /// Largest request body the management listener accepts.
    pub fn management_body_limit(&self) -> u64 {
        self.transport.management_body_limit()
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
        self.database.apim_db.connect_url(&self.home)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::ArtifactSync;

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
    fn trusted_proxies_and_stripped_headers_are_checked_by_entry() {
        let c = parse(&format!(
            "{MIN}[apim.gateway]\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"2001:db8::/32\"]\nstrip_request_headers = [\"X-Internal-User\", \"X_Tenant-*\"]\n"
        ))
        .expect("valid");
        let networks: Vec<String> = c
            .apim
            .gateway
            .trusted_proxy_networks
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(networks, ["10.0.0.0/8", "127.0.0.1/32", "2001:db8::/32"]);
        assert_eq!(c.apim.gateway.strip_request_headers.len(), 2);
        assert!(
            parse(MIN)
                .expect("valid")
                .apim
                .gateway
                .trusted_proxy_networks
                .is_empty()
        );

        for (entry, says) in [
            ("10.0.0.0/33", "neither an IP address nor a CIDR network"),
            ("proxy.local", "`proxy.local` is neither"),
            ("10.1.2.3/8", "the network is `10.0.0.0/8`"),
        ] {
            let err = parse(&format!(
                "{MIN}[apim.gateway]\ntrusted_proxies = [\n  \"127.0.0.1\",\n  \"{entry}\",\n]\n"
            ))
            .expect_err(entry);
            assert_eq!(err.key(), Some("apim.gateway.trusted_proxies[1]"), "{err}");
            assert_eq!(err.line(), Some(6), "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
        for name in ["", "*", "X Y", "X-A*B", "X-Ü"] {
            let err = parse(&format!(
                "{MIN}[apim.gateway]\nstrip_request_headers = [\"X-Ok\", \"{name}\"]\n"
            ))
            .expect_err(name);
            assert_eq!(err.key(), Some("apim.gateway.strip_request_headers[1]"), "{err}");
            assert!(err.to_string().contains("is not a header name"), "{err}");
        }
    }

    #[test]
    fn cluster_node_id_defaults_to_host_and_port_and_heartbeats_are_checked() {
        let c = parse(&format!("[server]\noffset = 1\n{MIN}")).expect("valid");
        assert_eq!(c.node_id(), "localhost:9444");
        assert_eq!(c.cluster.node_timeout().as_secs(), 15);
        let named = parse(&format!("{MIN}[cluster]\nnode_id = \"node-b\"\n")).expect("valid");
        assert_eq!(named.node_id(), "node-b");
        let err = parse(&format!(
            "{MIN}[cluster]\nheartbeat_seconds = 5\nnode_timeout_seconds = 5\n"
        ))
        .expect_err("timeout not above the heartbeat");
        assert_eq!(err.key(), Some("cluster.node_timeout_seconds"), "{err}");
        let err = parse(&format!("{MIN}[cluster]\nnode_id = \"a b\"\n")).expect_err("space");
        assert_eq!(err.key(), Some("cluster.node_id"), "{err}");
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
