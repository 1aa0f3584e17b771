//! `[deployment]`: how deployed API revisions reach the gateways (DESIGN.md step 5), and, with
//! `sync = "rsync"`, which node is the manager that deployments are made on (the seed's step 4:
//! every environment's `service_url` names it).

use serde::Deserialize;

use crate::Config;
use crate::apim::Environment;
use crate::error::ConfigError;
use crate::section::Checker;

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
    /// deployment/server/ is one directory every node reads (NFS or another shared file
    /// system, mounted there): the node serves what it finds, follows it by file-system events
    /// and polling, and never removes files another node wrote.
    SharedFs,
    /// The seed's one-way copy: an rsync the operator schedules copies the manager's
    /// deployment/server/ to each worker's. The manager (the node every environment's
    /// `service_url` names) keeps its directory as in `database` mode; a worker serves its copy
    /// as in `shared-fs` mode and sends deployments made on it to the manager.
    Rsync,
}

impl ArtifactSync {
    /// The value as written in the file.
    pub fn name(self) -> &'static str {
        match self {
            ArtifactSync::Database => "database",
            ArtifactSync::SharedFs => "shared-fs",
            ArtifactSync::Rsync => "rsync",
        }
    }
}

/// An environment's `service_url` (the seed's ServerURL), read as the HTTPS origin of a node's
/// management listener: `https://HOST[:PORT][/services/]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUrl {
    /// As written, without brackets around an IPv6 address.
    pub host: String,
    pub port: u16,
}

impl ServiceUrl {
    /// Reads `https://host:port/...`; the path is ignored (WSO2 writes `/services/`).
    pub fn parse(text: &str) -> Result<ServiceUrl, String> {
        let rest = text
            .strip_prefix("https://")
            .ok_or_else(|| format!("`{text}` must be an https:// URL of the manager node's management listener"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("`{text}`: unclosed `[` in the host"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains('@') {
            return Err(format!("`{text}` has no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("`{text}`: `{p}` is not a port"))?,
            None => 443,
        };
        Ok(ServiceUrl {
            host: host.to_owned(),
            port,
        })
    }

    /// `https://host:port`, what requests to the node start with.
    pub fn origin(&self) -> String {
        if self.host.contains(':') {
            format!("https://[{}]:{}", self.host, self.port)
        } else {
            format!("https://{}:{}", self.host, self.port)
        }
    }
}

/// Where a deployment to one environment is made, with `sync = "rsync"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployManager {
    /// On this node: it is the manager (or the mode is not rsync).
    ThisNode,
    /// On the manager node at this address.
    Other(ServiceUrl),
    /// Nowhere known: the environment has no `service_url`.
    Unknown,
}

impl Deployment {
    /// With `sync = "rsync"`, every environment's `service_url` must read as an https URL
    /// (a node without one is refused at deploy time instead, with what to set).
    pub(crate) fn validate(&self, environments: &[Environment], c: &Checker<'_>) -> Result<(), ConfigError> {
        if self.sync != ArtifactSync::Rsync {
            return Ok(());
        }
        for (i, env) in environments.iter().enumerate() {
            if let Some(url) = &env.service_url {
                ServiceUrl::parse(url)
                    .map_err(|why| c.invalid(&format!("apim.gateway.environment[{i}].service_url"), &why))?;
            }
        }
        Ok(())
    }
}

impl Config {
    /// Where deployments to `environment` are made: with `sync = "rsync"` on the node its
    /// `service_url` names (this one when the URL is one of this node's names with its
    /// management port); in the other modes, here.
    pub fn deploy_manager(&self, environment: &str) -> DeployManager {
        if self.deployment.sync != ArtifactSync::Rsync {
            return DeployManager::ThisNode;
        }
        let Some(env) = self.apim.gateway.environment.iter().find(|e| e.name == environment) else {
            return DeployManager::ThisNode;
        };
        let Some(url) = env.service_url.as_deref().map(ServiceUrl::parse) else {
            return DeployManager::Unknown;
        };
        // Checked at load.
        let Ok(url) = url else { return DeployManager::Unknown };
        let own_names = [self.server.hostname.as_str(), "localhost", "127.0.0.1", "::1"];
        let here =
            url.port == self.ports().management_https && own_names.iter().any(|n| n.eq_ignore_ascii_case(&url.host));
        if here {
            DeployManager::ThisNode
        } else {
            DeployManager::Other(url)
        }
    }

    /// Whether this node's `deployment/server/` is rewritten from the database: in `database`
    /// mode, and on the rsync manager (every environment's `service_url` names this node).
    pub fn store_owns_artifacts(&self) -> bool {
        match self.deployment.sync {
            ArtifactSync::Database => true,
            ArtifactSync::SharedFs => false,
            ArtifactSync::Rsync => self
                .apim
                .gateway
                .environment
                .iter()
                .all(|e| self.deploy_manager(&e.name) == DeployManager::ThisNode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls_read_as_https_origins() {
        let url = ServiceUrl::parse("https://node1.example:9443/services/").expect("parse");
        assert_eq!((url.host.as_str(), url.port), ("node1.example", 9443));
        assert_eq!(url.origin(), "https://node1.example:9443");
        assert_eq!(ServiceUrl::parse("https://node1").expect("parse").port, 443);
        let v6 = ServiceUrl::parse("https://[fd00::1]:9444/services/").expect("parse");
        assert_eq!(
            (v6.host.as_str(), v6.origin().as_str()),
            ("fd00::1", "https://[fd00::1]:9444")
        );
        for (bad, why) in [
            ("http://node1:9443/services/", "must be an https:// URL"),
            ("https://:9443/", "has no host"),
            ("https://node1:x/", "is not a port"),
        ] {
            let e = ServiceUrl::parse(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
