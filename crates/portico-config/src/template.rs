//! The commented `deployment.toml` that `portico init` writes.

/// What a new node's configuration is told (`portico init`'s options); everything else takes its
/// documented default.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub hostname: String,
    pub offset: u16,
    pub admin_username: String,
    /// `None` for the embedded SQLite database.
    pub postgres_url: Option<String>,
}

/// The defaults of `portico init`, and of the home `portico serve` creates when there is none.
impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            hostname: "localhost".to_owned(),
            offset: 0,
            admin_username: "admin".to_owned(),
            postgres_url: None,
        }
    }
}

/// What `portico init` made for the configuration: the admin password's hash and the key pair.
#[derive(Debug, Clone)]
pub struct InitSecrets {
    /// argon2id PHC string of the admin password.
    pub admin_password_hash: String,
    /// Certificate and key file names under the home (`conf/security/...`).
    pub certificate: String,
    pub private_key: String,
}

fn quote(s: &str) -> String {
    // TOML basic strings: escape backslashes and quotes.
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Renders a complete, commented configuration file.
pub fn render_deployment_toml(o: &InitOptions, secrets: &InitSecrets) -> String {
    let database = match &o.postgres_url {
        None => "\
# The store: `sqlite` (embedded, one node) or `postgres` (shared by every node of a cluster).
type = \"sqlite\"
# sqlite:<path relative to the home> or postgres://user@host:5432/database.
url = \"sqlite:database/portico.db\"
"
        .to_owned(),
        Some(url) => format!(
            "\
# The store: `sqlite` (embedded, one node) or `postgres` (shared by every node of a cluster).
type = \"postgres\"
# postgres://user@host:5432/database; the password may be given apart, e.g.
# password = \"$env{{PORTICO_DB_PASSWORD}}\"
url = {}
",
            quote(url)
        ),
    };
    format!(
        r#"# Portico node configuration. Section names follow WSO2 API Manager 4.x where the meaning is
# the same. Unknown keys and invalid values stop the node with the file, line and key named.
# Any string may use $env{{NAME}} to read an environment variable (keep secrets out of this file).
# Check this file with: portico config check --home <this node's home>

[server]
# Host name used in URLs the node prints and in the certificate.
hostname = {hostname}
# Added to every port below, so that several nodes can share one machine (node 2: offset = 1).
offset = {offset}
# "dev" accepts any admin password and serves samples; "production" enforces hardening rules.
mode = "dev"
# Address all listeners bind to.
bind_address = "0.0.0.0"
# Seconds in-flight requests get to finish after SIGINT/SIGTERM.
shutdown_grace_seconds = 10

[super_admin]
# The administrator created at the first start when the database has no user of this name
# (roles: admin, creator, publisher, subscriber). An existing user is never changed from here:
# change its password through SCIM (PATCH /scim2/Users/<id>), which every node sees.
username = {admin}
# argon2id hash written by `portico init`. Instead, `password = "..."` (or
# `password = "$env{{PORTICO_ADMIN_PASSWORD}}"`) is hashed when the account is created.
password_hash = {hash}
create_admin_account = true

[database.apim_db]
{database}# Connections in the pool.
pool_size = 10
# Seconds to wait for a free connection before a request fails.
connection_timeout_seconds = 5

# The key and certificate that serve TLS on the HTTPS listeners (PEM, paths relative to the home).
[keystore.tls]
type = "PEM"
certificate = {cert}
private_key = {key}

# The key that signs tokens (JWTs, API keys, backend JWTs). As in WSO2's default pack it is the
# same key as [keystore.tls]; every node of a cluster must hold the same primary key.
[keystore.primary]
type = "PEM"
certificate = {cert}
private_key = {key}

[apim.gateway]
# I/O threads per gateway listener, like nginx's worker_processes; one per core when absent.
# io_threads = 2
# Proxies in front of the gateway (CIDR networks or addresses) whose X-Forwarded-For is believed:
# the client address (throttling, analytics, logs, the backend's X-Real-IP) is then the
# right-most forwarded address not among them. Without any, it is the TCP peer.
# trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]
# Request headers never forwarded to backends, on top of the identity headers always left out
# (X-JWT-Assertion, X-Forwarded-*, Forwarded, X-Real-IP, X-WSO2-*); a trailing * makes a prefix.
# strip_request_headers = ["X-Internal-User", "X-Tenant-*"]

# Gateway environments that API revisions are deployed to. Repeat the block for more.
[[apim.gateway.environment]]
name = "Default"
display_name = "Default"
description = "This is a hybrid gateway that handles both production and sandbox token traffic."
# hybrid | production | sandbox
type = "hybrid"
gateway_type = "Regular"
provider = "wso2"
# The deployment service of the node that hosts this environment (the seed's ServerURL).
service_url = "https://{host_bare}:{mgmt}/services/"
http_endpoint = "http://{host_bare}:{gw_http}"
https_endpoint = "https://{host_bare}:{gw_https}"
vhosts = [{hostname}]
show_in_api_console = true

# CORS rules for APIs that do not define their own (WSO2's defaults).
[apim.cors]
enable = true
# "*" or a list of origins.
allow_origins = "*"
allow_methods = ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
allow_headers = ["authorization", "Access-Control-Allow-Origin", "Content-Type", "SOAPAction", "apikey", "Internal-Key"]
allow_credentials = false

# The environments this node's gateway serves (every environment above when the list is empty).
[apim.sync_runtime_artifacts.gateway]
gateway_labels = []

# The backend JWT: a signed assertion of the caller (WSO2's claims) sent to backends with every
# authenticated request, signed by [keystore.primary].
[apim.jwt]
enable = false
header = "X-JWT-Assertion"
# SHA256withRSA / SHA256withECDSA (or RS256 / ES256); must match the primary key. Default: the key's.
# signing_algorithm = "SHA256withECDSA"
# Longest lifetime of one assertion, in seconds.
ttl_seconds = 900

# External identity providers whose JWT access tokens the gateway accepts (also manageable at
# run time through the Admin REST API's /key-managers). `name` is the key manager name DevPortal
# map-keys uses and, unless `issuer` is set, the tokens' `iss`.
# [[apim.jwt.issuer]]
# name = "https://sso.example.com/realms/shop"
# jwks.url = "https://sso.example.com/realms/shop/protocol/openid-connect/certs"
# consumer_key_claim = "azp"
# scopes_claim = "scope"
# Opaque (non-JWT) tokens of this provider are checked at its RFC 7662 endpoint:
# introspection.url = "https://sso.example.com/realms/shop/protocol/openid-connect/token/introspect"
# introspection.client_id = "portico-gateway"
# introspection.client_secret = "$env{{SSO_INTROSPECTION_SECRET}}"

# WSO2's PizzaShack sample service, served on the management port at
# https://<host>:<mgmt>/am/sample/pizzashack/v1/api/ (menu, orders) for the first tour.
# Default: on in dev mode, off in production mode.
[apim.sample_backend]
# enable = true

# Whom the gateway trusts when it calls https backends: the system's root certificates, this
# node's own TLS certificate (always), and the CA certificates of an optional PEM bundle.
# An endpoint may switch verification off with "config": {{"tlsVerification": false}} (logged).
[truststore]
type = "PEM"
system_roots = true
# file_name = "conf/security/backend-ca.pem"

# The Publisher REST API's import of OpenAPI definitions from URLs.
[apim.publisher]
# Allow URLs that resolve to loopback, private or link-local addresses (refused by default, so
# that the import cannot be used to reach internal services).
allow_private_import_urls = false
# Largest definition fetched from a URL, in bytes.
import_max_bytes = 5242880
# Seconds a fetch may take in all.
import_timeout_seconds = 20

# The Admin REST API's key manager discovery (POST /key-managers/discover).
[apim.key_manager]
# Allow well-known URLs that resolve to loopback, private or link-local addresses (refused by
# default, against SSRF; turn on for an identity provider on an internal network).
allow_private_discovery_urls = false

# Throttling: the subscription, application and advanced (API/resource) policies are enforced by
# the gateway, which counts each request locally and sends it, batched, to the cluster's counters.
[apim.throttling]
enable = true
# Where requests are counted across the cluster: "traffic_manager" (events go to the Traffic
# Managers of the url groups below, or to every node's one when there is none) or "redis".
counter = "traffic_manager"
# While no counter is reachable: "fail_open" (admit, as WSO2 does; what this gateway alone has
# counted over a limit is still refused), "fail_closed" (refuse what a policy limits) or
# "local_only" (each gateway enforces its share: limit / live nodes).
failure_mode = "fail_open"
# Key unauthenticated requests by the first X-Forwarded-For address instead of the connection's
# (only behind a proxy that sets the header: clients could otherwise choose their own key).
trust_forwarded_for = false
# Milliseconds the gateway collects request events into one batch for the Traffic Managers.
event_batch_window_ms = 2

# counter = "redis": the Redis that holds the counts (one server or a replicated pair, not a
# sharded cluster), and how many milliseconds the gateway adds up counts before one call to it.
[apim.throttling.redis]
url = "redis://127.0.0.1:6379"
batch_window_ms = 5

# Receivers of the request events, the seed's syntax. Every event goes to every group; within a
# group one receiver takes it: in turn ("loadbalance") or the first one up ("failover"). With no
# group, each node sends to its own Traffic Manager and to the other nodes' it knows of.
# [[apim.throttling.url_group]]
# traffic_manager_urls = ["tcp://node1:9611"]
# type = "loadbalance"
# [[apim.throttling.url_group]]
# traffic_manager_urls = ["tcp://node2:9611"]
# type = "loadbalance"

# How deployed API revisions reach this node's gateway: "database" (the database is the truth;
# deployment/server/ is rewritten from it, also when other nodes deploy) or "shared-fs"
# (deployment/server/ is the truth: a shared or rsync'd directory; nothing is removed from it).
[deployment]
sync = "database"

# The nodes that share this node's database (a cluster); `portico cluster status` lists them.
[cluster]
# This node's id among them. Default: "<server.hostname>:<management port>"; set one per node
# when nodes on different machines share a host name.
# node_id = "node1"
# Seconds between two heartbeats of this node into the node registry.
heartbeat_seconds = 5
# A node silent for longer than this many seconds shows as down.
node_timeout_seconds = 15

# Listener ports before the offset is added (WSO2's defaults).
[transport.https]
# Management: REST APIs, portals, OAuth2 endpoints.
port = 9443
# Largest request body accepted, in bytes (larger ones get 413).
max_request_body = 10485760

[transport.passthru_http]
# Gateway, plain HTTP.
port = 8280

[transport.passthru_https]
# Gateway, HTTPS.
port = 8243

[transport.traffic_manager]
# Traffic Manager: receives request events from every node's gateway.
port = 9611
"#,
        hostname = quote(&o.hostname),
        host_bare = o.hostname,
        offset = o.offset,
        admin = quote(&o.admin_username),
        hash = quote(&secrets.admin_password_hash),
        database = database,
        cert = quote(&secrets.certificate),
        key = quote(&secrets.private_key),
        mgmt = 9443u32 + u32::from(o.offset),
        gw_http = 8280u32 + u32::from(o.offset),
        gw_https = 8243u32 + u32::from(o.offset),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, DatabaseKind};
    use std::path::Path;

    fn options(pg: Option<&str>) -> InitOptions {
        InitOptions {
            hostname: "node1.example".into(),
            offset: 2,
            admin_username: "admin".into(),
            postgres_url: pg.map(str::to_owned),
        }
    }

    fn secrets() -> InitSecrets {
        InitSecrets {
            admin_password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            certificate: "conf/security/node-cert.pem".into(),
            private_key: "conf/security/node-key.pem".into(),
        }
    }

    #[test]
    fn rendered_file_is_valid_config() {
        let text = render_deployment_toml(&options(None), &secrets());
        let c = Config::parse(&text, Path::new("/h"), Path::new("d.toml")).expect("valid");
        assert_eq!(c.server.offset, 2);
        assert_eq!(c.ports().management_https, 9445);
        assert_eq!(c.server.hostname, "node1.example");
        assert_eq!(c.database.apim_db.kind, DatabaseKind::Sqlite);
        assert_eq!(
            c.apim.gateway.environment[0].https_endpoint.as_deref(),
            Some("https://node1.example:8245")
        );
        assert!(!c.apim.publisher.allow_private_import_urls);
        assert_eq!(c.apim.publisher.import_timeout_seconds, 20);
        let throttling = &c.apim.throttling;
        assert!(throttling.enable && throttling.url_groups.is_empty());
        assert_eq!(throttling.counter, crate::ThrottleCounter::TrafficManager);
        assert_eq!(c.cluster.node_timeout_seconds, 15);
        assert_eq!(c.node_id(), "node1.example:9445");
    }

    #[test]
    fn postgres_url_is_written() {
        let text = render_deployment_toml(&options(Some("postgres://u@127.0.0.1:5432/db")), &secrets());
        let c = Config::parse(&text, Path::new("/h"), Path::new("d.toml")).expect("valid");
        assert_eq!(c.database.apim_db.kind, DatabaseKind::Postgres);
        assert_eq!(c.database_url(), "postgres://u@127.0.0.1:5432/db");
    }
}
