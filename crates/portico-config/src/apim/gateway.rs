//! `[apim.gateway]` and `[[apim.gateway.environment]]`: the gateway environments APIs are
//! deployed to, the gateway's I/O threads, the proxies in front of it whose `X-Forwarded-For` it
//! believes, and the request headers it never forwards.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::{Checker, yes};
use crate::server::Server;
use crate::transport::Ports;

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
    /// Proxies in front of the gateway (CIDR networks, or single addresses) whose
    /// `X-Forwarded-For` is believed: the client address that throttling, analytics and logs go
    /// by is the right-most forwarded address not among them (nginx's `real_ip_recursive`).
    /// None: the client address is the TCP peer.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Request headers never forwarded to backends, on top of the identity headers the gateway
    /// always leaves out (`X-JWT-Assertion`, `X-Forwarded-*`, `Forwarded`, `X-Real-IP`,
    /// `X-WSO2-*`): names, or prefixes ending in `*`; any case, `_` for `-`.
    #[serde(default)]
    pub strip_request_headers: Vec<String>,
    /// `trusted_proxies` as networks (filled in by validation).
    #[serde(skip)]
    pub trusted_proxy_networks: Vec<IpNet>,
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
    #[serde(default = "yes")]
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

impl Gateway {
    /// Checks the thread count and the environments; adds the `Default` environment when none is
    /// written, and the server's hostname as the virtual host of those without one.
    pub(super) fn validate(&mut self, server: &Server, ports: &Ports, c: &Checker<'_>) -> Result<(), ConfigError> {
        if let Some(threads) = self.io_threads
            && !(1..=256).contains(&threads)
        {
            return Err(c.invalid("apim.gateway.io_threads", "must be between 1 and 256"));
        }
        self.trusted_proxy_networks = self
            .trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                trusted_proxy(entry).map_err(|why| c.invalid(&format!("apim.gateway.trusted_proxies[{i}]"), &why))
            })
            .collect::<Result<_, _>>()?;
        for (i, name) in self.strip_request_headers.iter().enumerate() {
            check_header_pattern(name)
                .map_err(|why| c.invalid(&format!("apim.gateway.strip_request_headers[{i}]"), &why))?;
        }
        if self.environment.is_empty() {
            self.environment.push(Environment::default_for(server, ports));
        }
        let mut seen = HashSet::new();
        for (i, env) in self.environment.iter_mut().enumerate() {
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
                env.vhosts.push(server.hostname.clone());
            }
        }
        Ok(())
    }

    /// I/O threads per gateway listener: `io_threads`, else one per core.
    pub(crate) fn io_threads(&self) -> usize {
        self.io_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

/// A `trusted_proxies` entry: `10.0.0.0/8`, `2001:db8::/32`, or one address.
fn trusted_proxy(entry: &str) -> Result<IpNet, String> {
    let entry = entry.trim();
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Ok(IpNet::from(address));
    }
    let network: IpNet = entry
        .parse()
        .map_err(|_| format!("`{entry}` is neither an IP address nor a CIDR network such as 10.0.0.0/8"))?;
    if network.trunc() != network {
        return Err(format!(
            "`{entry}` has address bits set past its /{} prefix; the network is `{}`",
            network.prefix_len(),
            network.trunc()
        ));
    }
    Ok(network)
}

/// A `strip_request_headers` entry: a header name, or a prefix of one followed by `*`.
fn check_header_pattern(pattern: &str) -> Result<(), String> {
    let name = pattern.strip_suffix('*').unwrap_or(pattern);
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!(
            "`{pattern}` is not a header name (letters, digits, `-`, `_` and the like), nor a prefix of one followed by `*`"
        ));
    }
    Ok(())
}
