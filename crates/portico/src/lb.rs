//! `portico lb nginx`: the load balancer in front of an active-active cluster (the seed's step
//! 2), printed as an nginx configuration for the nodes given as `HOST:OFFSET`.
//!
//! What it prints, and why:
//! - one upstream per proxied listener (gateway HTTPS 8243, gateway HTTP 8280, management 9443,
//!   each plus the node's offset), with passive health checks (`max_fails`, `fail_timeout`);
//! - a retry of idempotent requests on the next node when one fails to connect, times out or
//!   answers 502/503/504 (`proxy_next_upstream`; POST and the like are never retried, as nginx
//!   leaves `non_idempotent` out by default);
//! - sticky sessions for the management side (the portals) by a consistent hash of the client
//!   address: nginx OSS has no `sticky` directive, and Portico sets no session cookie to hash on;
//! - TLS to the nodes on the HTTPS listeners (`proxy_ssl_*`), verified against the cluster's
//!   certificate when `--node-cert` names it;
//! - the readiness endpoints, in comments, for active checks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// WSO2's listener ports before the offset: management (HTTPS), gateway HTTPS, gateway HTTP.
const MANAGEMENT_PORT: u16 = 9443;
const GATEWAY_HTTPS_PORT: u16 = 8243;
const GATEWAY_HTTP_PORT: u16 = 8280;

/// Where the nginx listener's certificate is expected when `--cert`/`--key` are not given.
const PLACEHOLDER_CERT: &str = "/etc/nginx/ssl/portico.crt";
const PLACEHOLDER_KEY: &str = "/etc/nginx/ssl/portico.key";

/// One node: its address and port offset (`[server] offset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// A host name or address (an IPv6 address in brackets).
    pub host: String,
    pub offset: u16,
}

impl NodeAddress {
    /// Reads `HOST:OFFSET` (`10.0.0.5:0`, `node2.example:1`, `[fd00::2]:0`).
    pub fn parse(text: &str) -> anyhow::Result<NodeAddress> {
        let Some((host, offset)) = text.rsplit_once(':') else {
            bail!("--node `{text}`: expected HOST:OFFSET, e.g. 10.0.0.5:0 (the node's [server] offset)");
        };
        let offset: u16 = offset
            .parse()
            .with_context(|| format!("--node `{text}`: the offset `{offset}` is not a number from 0 to 65535"))?;
        if host.is_empty() {
            bail!("--node `{text}`: the host is missing");
        }
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            bail!("--node `{text}`: write an IPv6 address in brackets, e.g. [fd00::2]:0");
        }
        if host.chars().any(|c| c.is_whitespace() || ";{}#'\"".contains(c)) {
            bail!("--node `{text}`: `{host}` is not a host name or address");
        }
        if MANAGEMENT_PORT.checked_add(offset).is_none() {
            bail!(
                "--node `{text}`: offset {offset} puts the management port past 65535 ({MANAGEMENT_PORT} + {offset})"
            );
        }
        Ok(NodeAddress {
            host: host.to_owned(),
            offset,
        })
    }

    fn port(&self, base: u16) -> u16 {
        base.saturating_add(self.offset)
    }
}

/// What `portico lb nginx` was asked for.
#[derive(Debug, Clone)]
pub struct NginxRequest {
    pub nodes: Vec<NodeAddress>,
    /// nginx's `server_name` (`_`: any).
    pub server_name: Option<String>,
    /// The certificate and key nginx presents to clients.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The cluster's certificate (a node's `conf/security/node-cert.pem`): nginx verifies the
    /// nodes against it.
    pub node_cert: Option<PathBuf>,
    /// Added to nginx's own listener ports (8243, 8280, 9443), for a load balancer on a machine
    /// that also runs a node.
    pub listen_offset: u16,
}

/// `portico lb nginx`: checks the request and prints the configuration.
pub fn nginx(request: &NginxRequest) -> anyhow::Result<()> {
    let plan = Plan::of(request)?;
    print!("{}", plan.render());
    Ok(())
}

/// A checked request, with the name nginx verifies the nodes' certificate for.
struct Plan<'a> {
    request: &'a NginxRequest,
    cert: String,
    key: String,
    /// `Some(name)`: verify the nodes against `--node-cert` for `name`.
    verify: Option<(String, String)>,
    listen: [u16; 3],
}

impl<'a> Plan<'a> {
    fn of(request: &'a NginxRequest) -> anyhow::Result<Plan<'a>> {
        if request.nodes.is_empty() {
            bail!(
                "lb nginx needs at least one --node HOST:OFFSET, the cluster's nodes \
                 (e.g. --node 10.0.0.5:0 --node 10.0.0.6:0, or --node localhost:0 --node localhost:1 \
                 for two nodes on one machine)"
            );
        }
        for (i, node) in request.nodes.iter().enumerate() {
            if request.nodes[..i].contains(node) {
                bail!("--node {}:{} is given twice", node.host, node.offset);
            }
        }
        let (cert, key) = match (&request.cert, &request.key) {
            (Some(cert), Some(key)) => (absolute(cert)?, absolute(key)?),
            (None, None) => (PLACEHOLDER_CERT.to_owned(), PLACEHOLDER_KEY.to_owned()),
            (Some(_), None) => bail!("--cert needs --key (the private key of nginx's certificate)"),
            (None, Some(_)) => bail!("--key needs --cert (nginx's certificate)"),
        };
        let verify = match &request.node_cert {
            Some(path) => {
                let info =
                    portico_keystore::describe(path).with_context(|| format!("--node-cert {}", path.display()))?;
                let name = info
                    .subject_alt_names
                    .iter()
                    .find_map(|n| n.strip_prefix("DNS:"))
                    .map(str::to_owned)
                    .with_context(|| {
                        format!(
                            "--node-cert {}: the certificate names no DNS host ({}), so nginx cannot verify it",
                            path.display(),
                            info.subject_alt_names.join(", ")
                        )
                    })?;
                Some((absolute(path)?, name))
            }
            None => None,
        };
        let ports = [GATEWAY_HTTPS_PORT, GATEWAY_HTTP_PORT, MANAGEMENT_PORT];
        let mut listen = [0u16; 3];
        for (slot, base) in listen.iter_mut().zip(ports) {
            *slot = base.checked_add(request.listen_offset).with_context(|| {
                format!(
                    "--listen-offset {} puts nginx's port {base} past 65535",
                    request.listen_offset
                )
            })?;
        }
        Ok(Plan {
            request,
            cert,
            key,
            verify,
            listen,
        })
    }

    fn render(&self) -> String {
        let mut out = String::new();
        self.header(&mut out);
        self.upstream(
            &mut out,
            "portico_gateway_https",
            GATEWAY_HTTPS_PORT,
            "API traffic over TLS",
            None,
        );
        self.upstream(&mut out, "portico_gateway_http", GATEWAY_HTTP_PORT, "API traffic", None);
        self.upstream(
            &mut out,
            "portico_management",
            MANAGEMENT_PORT,
            "REST APIs, OAuth2, the portals",
            Some(STICKY),
        );
        let [https, http, management] = self.listen;
        self.server(
            &mut out,
            "Gateway, HTTPS (WSO2's 8243)",
            https,
            true,
            "portico_gateway_https",
        );
        self.server(
            &mut out,
            "Gateway, HTTP (WSO2's 8280)",
            http,
            false,
            "portico_gateway_http",
        );
        self.server(
            &mut out,
            "Management: REST APIs, OAuth2 and the portals (WSO2's 9443)",
            management,
            true,
            "portico_management",
        );
        out
    }

    fn header(&self, out: &mut String) {
        let nodes = &self.request.nodes;
        let _ = writeln!(
            out,
            "# Portico active-active load balancer, printed by `portico lb nginx`."
        );
        let _ = writeln!(
            out,
            "# Include it in nginx's http {{}} block (e.g. as /etc/nginx/conf.d/portico.conf), then"
        );
        let _ = writeln!(out, "# `nginx -t && nginx -s reload`.");
        let _ = writeln!(out, "#");
        for (i, node) in nodes.iter().enumerate() {
            let _ = writeln!(
                out,
                "# node {}: {} offset {}: management {}, gateway https {}, gateway http {}",
                i + 1,
                node.host,
                node.offset,
                node.port(MANAGEMENT_PORT),
                node.port(GATEWAY_HTTPS_PORT),
                node.port(GATEWAY_HTTP_PORT)
            );
        }
        if nodes.len() == 1 {
            let _ = writeln!(
                out,
                "# Only one node: nothing to fail over to until a second --node is added."
            );
        }
        out.push_str(HEALTH_NOTES);
        if self.request.cert.is_none() {
            let _ = writeln!(
                out,
                "# No --cert/--key: put the certificate clients see at {PLACEHOLDER_CERT} and its key at\n# {PLACEHOLDER_KEY}."
            );
        }
        out.push('\n');
    }

    fn upstream(&self, out: &mut String, name: &str, base: u16, what: &str, balance: Option<&str>) {
        let _ = writeln!(out, "# {what}.");
        let _ = writeln!(out, "upstream {name} {{");
        // Shared memory: the workers agree on which node failed, and the hash ring is shared.
        let _ = writeln!(out, "    zone {name} 64k;");
        if let Some(balance) = balance {
            out.push_str(balance);
        }
        for node in &self.request.nodes {
            let _ = writeln!(
                out,
                "    server {}:{} max_fails=2 fail_timeout=10s;",
                node.host,
                node.port(base)
            );
        }
        // Idle connections to the nodes, reused (needs HTTP/1.1 and an empty Connection below).
        let _ = writeln!(out, "    keepalive 32;");
        let _ = writeln!(out, "}}\n");
    }

    fn server(&self, out: &mut String, what: &str, port: u16, tls: bool, upstream: &str) {
        let server_name = self.request.server_name.as_deref().unwrap_or("_");
        let _ = writeln!(out, "# {what}.");
        let _ = writeln!(out, "server {{");
        if tls {
            let _ = writeln!(out, "    listen {port} ssl http2;");
            let _ = writeln!(out, "    server_name {server_name};");
            let _ = writeln!(out, "    ssl_certificate {};", self.cert);
            let _ = writeln!(out, "    ssl_certificate_key {};", self.key);
            let _ = writeln!(out, "    ssl_protocols TLSv1.2 TLSv1.3;");
        } else {
            let _ = writeln!(out, "    listen {port};");
            let _ = writeln!(out, "    server_name {server_name};");
        }
        // Portico enforces its own body limit ([transport] max_request_body_bytes).
        let _ = writeln!(out, "    client_max_body_size 0;");
        let _ = writeln!(out, "    location / {{");
        let scheme = if tls { "https" } else { "http" };
        let _ = writeln!(out, "        proxy_pass {scheme}://{upstream};");
        out.push_str(PROXY_COMMON);
        let tries = self.request.nodes.len();
        let _ = writeln!(out, "        proxy_next_upstream_tries {tries};");
        if tls {
            self.proxy_ssl(out);
        }
        let _ = writeln!(out, "    }}");
        let _ = writeln!(out, "}}\n");
    }

    fn proxy_ssl(&self, out: &mut String) {
        let _ = writeln!(out, "        # TLS to the nodes.");
        let _ = writeln!(out, "        proxy_ssl_protocols TLSv1.2 TLSv1.3;");
        let _ = writeln!(out, "        proxy_ssl_session_reuse on;");
        match &self.verify {
            Some((cert, name)) => {
                let _ = writeln!(
                    out,
                    "        # Every node presents the cluster's certificate (init --join copies it), valid for {name}."
                );
                let _ = writeln!(out, "        proxy_ssl_verify on;");
                let _ = writeln!(out, "        proxy_ssl_trusted_certificate {cert};");
                let _ = writeln!(out, "        proxy_ssl_name {name};");
                let _ = writeln!(out, "        proxy_ssl_server_name on;");
            }
            None => {
                let _ = writeln!(
                    out,
                    "        # Not verified: give --node-cert <node1>/conf/security/node-cert.pem to verify the nodes."
                );
                let _ = writeln!(out, "        proxy_ssl_verify off;");
            }
        }
    }
}

/// The management upstream's balancing: sticky by client address.
const STICKY: &str = "\
    # Sticky sessions for the portals: nginx OSS has no `sticky` directive (nginx Plus only), and
    # Portico sets no session cookie that `hash $cookie_...` could follow, so the client address
    # is hashed. `consistent` (ketama): when a node leaves, only its own clients move; `ip_hash`
    # would hash only the first three octets of an IPv4 address (a whole /24 on one node).
    # Nothing is lost when a client does move: the portals' state is in the shared database.
    hash $remote_addr consistent;
";

/// The proxy settings of every location.
const PROXY_COMMON: &str = "\
        proxy_http_version 1.1;
        proxy_set_header Connection \"\";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # A node that refuses the connection, times out or answers 502/503/504 is skipped:
        # idempotent requests (GET, HEAD, PUT, DELETE, OPTIONS) go on to the next node; POST and
        # PATCH are never sent twice (`non_idempotent` is left out on purpose).
        proxy_next_upstream error timeout http_502 http_503 http_504;
        proxy_next_upstream_timeout 30s;
        proxy_connect_timeout 2s;
        proxy_read_timeout 60s;
";

/// The health-check notes of the header.
const HEALTH_NOTES: &str = "\
#
# Health checks. Passive (below): a node that fails twice within 10 s (max_fails, fail_timeout)
# gets no requests for 10 s; a request that fails on it is retried on the next node when it is
# idempotent. Active checks (nginx Plus `health_check`, HAProxy `option httpchk`, keepalived, a
# cloud load balancer) should poll each node's readiness endpoint:
#   GET https://HOST:9443+OFFSET/health/ready  200 when the node has applied every change and
#       its database answers; 503 with the reason while it starts, catches up or is cut off
#       from the database (its gateway may still serve then: see the next line);
#   GET http://HOST:8280+OFFSET/health        200 once the gateway has loaded its APIs,
#       whatever the database's state: the check for the gateway upstreams.
# With nginx Plus, for instance: `health_check uri=/health/ready interval=2s;` in the
# management location, and `health_check uri=/health;` in the gateway ones.
";

/// `path` as an absolute path (nginx reads relative paths from its prefix, not from here).
fn absolute(path: &Path) -> anyhow::Result<String> {
    let absolute = std::path::absolute(path).with_context(|| format!("{}", path.display()))?;
    if !absolute.is_file() {
        bail!("{} is not a file", absolute.display());
    }
    let text = absolute
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", absolute.display()))?;
    if text.chars().any(|c| c.is_whitespace() || ";{}#'\"".contains(c)) {
        bail!("{text}: nginx cannot take a path with spaces, quotes, `;`, `#` or braces here");
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(nodes: &[&str]) -> NginxRequest {
        NginxRequest {
            nodes: nodes.iter().map(|n| NodeAddress::parse(n).expect("node")).collect(),
            server_name: Some("api.example.com".into()),
            cert: None,
            key: None,
            node_cert: None,
            listen_offset: 0,
        }
    }

    #[test]
    fn reads_host_and_offset() {
        assert_eq!(
            NodeAddress::parse("10.0.0.5:1").expect("parse"),
            NodeAddress {
                host: "10.0.0.5".into(),
                offset: 1
            }
        );
        assert_eq!(NodeAddress::parse("[fd00::2]:0").expect("parse").host, "[fd00::2]");
        for (bad, why) in [
            ("node1", "expected HOST:OFFSET"),
            (":1", "the host is missing"),
            ("node1:x", "is not a number"),
            ("fd00::2:0", "in brackets"),
            ("node1:60000", "past 65535"),
        ] {
            let e = NodeAddress::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn no_nodes_is_refused_with_what_to_give() {
        let e = Plan::of(&request(&[])).err().expect("refused").to_string();
        assert!(e.contains("at least one --node HOST:OFFSET"), "{e}");
        let e = Plan::of(&request(&["a:0", "a:0"])).err().expect("refused").to_string();
        assert!(e.contains("given twice"), "{e}");
    }

    #[test]
    fn every_node_is_in_every_upstream_at_its_offset() {
        let text = Plan::of(&request(&["10.0.0.5:0", "10.0.0.6:1"]))
            .expect("plan")
            .render();
        for line in [
            "server 10.0.0.5:8243 max_fails=2 fail_timeout=10s;",
            "server 10.0.0.6:8244 max_fails=2 fail_timeout=10s;",
            "server 10.0.0.5:8280 max_fails=2 fail_timeout=10s;",
            "server 10.0.0.6:8281 max_fails=2 fail_timeout=10s;",
            "server 10.0.0.5:9443 max_fails=2 fail_timeout=10s;",
            "server 10.0.0.6:9444 max_fails=2 fail_timeout=10s;",
            "hash $remote_addr consistent;",
            "proxy_next_upstream error timeout http_502 http_503 http_504;",
            "proxy_next_upstream_tries 2;",
            "listen 8243 ssl http2;",
            "listen 8280;",
            "listen 9443 ssl http2;",
            "server_name api.example.com;",
            "proxy_ssl_verify off;",
        ] {
            assert!(text.contains(line), "`{line}` in:\n{text}");
        }
        assert!(!text.contains("non_idempotent;"), "POSTs are never retried");
        assert_eq!(
            text.matches("hash $remote_addr").count(),
            1,
            "only the management upstream is sticky"
        );
    }
}
