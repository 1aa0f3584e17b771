//! `[apim.throttling]` and `[[apim.throttling.url_group]]`: whether the gateway enforces
//! throttling policies, where requests are counted across the cluster (the Traffic Managers the
//! events go to, or Redis), what happens while no counter is reachable, and whether the client
//! address of unauthenticated requests may come from `X-Forwarded-For`.
//!
//! The values (failure modes, url group types, receiver URLs) are parsed by `portico-throttle`,
//! the one definition of each; this module names the key and line of what it refuses.

use portico_throttle::{FailureMode, GroupKind, UrlGroup};
use serde::Deserialize;

use crate::error::ConfigError;
use crate::section::{Checker, yes};

/// Where admitted requests are counted across the cluster (`counter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThrottleCounter {
    /// Events batched to the Traffic Managers of the url groups (or of every node).
    #[default]
    TrafficManager,
    /// Atomic increments in Redis (`[apim.throttling.redis]`).
    Redis,
}

/// `[apim.throttling]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttling {
    /// Off: the gateway enforces no throttling policy and no Traffic Manager listens.
    #[serde(default = "yes")]
    pub enable: bool,
    /// `traffic_manager` (default) or `redis`.
    #[serde(default = "default_counter", rename = "counter")]
    pub counter_name: String,
    /// `fail_open` (default, WSO2's behaviour), `fail_closed` or `local_only`.
    #[serde(default = "default_failure_mode", rename = "failure_mode")]
    pub failure_mode_name: String,
    /// Key unauthenticated requests by the first `X-Forwarded-For` hop instead of the peer
    /// address (only behind a proxy that sets it; a client could otherwise pick its own key).
    #[serde(default)]
    pub trust_forwarded_for: bool,
    /// How long the gateway collects request events into one batch for the Traffic Managers,
    /// in milliseconds.
    #[serde(default = "default_event_batch_ms")]
    pub event_batch_window_ms: u64,
    #[serde(default)]
    pub redis: ThrottlingRedis,
    /// Receivers of the request events; every event goes to every group. None: every live
    /// node's Traffic Manager.
    #[serde(default)]
    pub url_group: Vec<UrlGroupConfig>,
    /// `counter`, parsed by [`Throttling::validate`].
    #[serde(skip)]
    pub counter: ThrottleCounter,
    /// `failure_mode`, parsed by [`Throttling::validate`].
    #[serde(skip)]
    pub failure_mode: FailureMode,
    /// The url groups, parsed by [`Throttling::validate`].
    #[serde(skip)]
    pub url_groups: Vec<UrlGroup>,
}

/// `[apim.throttling.redis]`: the Redis of `counter = "redis"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottlingRedis {
    /// `redis://[user:password@]host:port[/db]` (`rediss://` for TLS); may use `$env{NAME}`.
    #[serde(default = "default_redis_url")]
    pub url: String,
    /// How long the gateway adds up counts locally before one call to Redis, in milliseconds.
    #[serde(default = "default_redis_batch_ms")]
    pub batch_window_ms: u64,
}

/// `[[apim.throttling.url_group]]`, the seed's syntax.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlGroupConfig {
    /// `tcp://host:port` receivers.
    pub traffic_manager_urls: Vec<String>,
    /// The seed's `ssl://` receivers; refused (frames are authenticated with the cluster's
    /// keys on `tcp://`), so that a copied seed file says so instead of being half-read.
    #[serde(default)]
    pub traffic_manager_auth_urls: Vec<String>,
    /// `loadbalance` (one receiver of the group takes each batch, in turn) or `failover` (the
    /// first receiver up takes it).
    #[serde(rename = "type", default = "default_group_type")]
    pub kind: String,
}

impl Default for Throttling {
    fn default() -> Self {
        Throttling {
            enable: true,
            counter_name: default_counter(),
            failure_mode_name: default_failure_mode(),
            trust_forwarded_for: false,
            event_batch_window_ms: default_event_batch_ms(),
            redis: ThrottlingRedis::default(),
            url_group: Vec::new(),
            counter: ThrottleCounter::default(),
            failure_mode: FailureMode::default(),
            url_groups: Vec::new(),
        }
    }
}

impl Default for ThrottlingRedis {
    fn default() -> Self {
        ThrottlingRedis {
            url: default_redis_url(),
            batch_window_ms: default_redis_batch_ms(),
        }
    }
}

fn default_counter() -> String {
    "traffic_manager".to_owned()
}
fn default_failure_mode() -> String {
    FailureMode::default().as_str().to_owned()
}
fn default_event_batch_ms() -> u64 {
    2
}
fn default_redis_url() -> String {
    "redis://127.0.0.1:6379".to_owned()
}
fn default_redis_batch_ms() -> u64 {
    5
}
fn default_group_type() -> String {
    "loadbalance".to_owned()
}

/// Batching windows longer than this would delay decisions past any useful limit.
const MAX_BATCH_WINDOW_MS: u64 = 1_000;

impl Throttling {
    /// Parses the names into [`Throttling::counter`], [`Throttling::failure_mode`] and
    /// [`Throttling::url_groups`]; expands `$env{}` in the Redis URL.
    pub(super) fn validate(&mut self, c: &Checker<'_>) -> Result<(), ConfigError> {
        self.counter = match self.counter_name.as_str() {
            "traffic_manager" => ThrottleCounter::TrafficManager,
            "redis" => ThrottleCounter::Redis,
            _ => {
                return Err(c.invalid("apim.throttling.counter", "must be one of traffic_manager, redis"));
            }
        };
        self.failure_mode = FailureMode::parse(&self.failure_mode_name).ok_or_else(|| {
            c.invalid(
                "apim.throttling.failure_mode",
                "must be one of fail_open, fail_closed, local_only",
            )
        })?;
        for (key, value) in [
            ("apim.throttling.event_batch_window_ms", self.event_batch_window_ms),
            ("apim.throttling.redis.batch_window_ms", self.redis.batch_window_ms),
        ] {
            if !(1..=MAX_BATCH_WINDOW_MS).contains(&value) {
                return Err(c.invalid(key, &format!("must be between 1 and {MAX_BATCH_WINDOW_MS}")));
            }
        }
        self.redis.url = c.expand("apim.throttling.redis.url", &self.redis.url)?;
        let scheme_ok = ["redis://", "rediss://"]
            .iter()
            .any(|s| self.redis.url.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
        if !scheme_ok {
            return Err(c.invalid(
                "apim.throttling.redis.url",
                "must be a redis:// or rediss:// URL with a host",
            ));
        }
        self.url_groups = self
            .url_group
            .iter()
            .enumerate()
            .map(|(i, group)| group.parse(&format!("apim.throttling.url_group[{i}]"), c))
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}

impl UrlGroupConfig {
    fn parse(&self, key: &str, c: &Checker<'_>) -> Result<UrlGroup, ConfigError> {
        let kind = GroupKind::parse(&self.kind)
            .ok_or_else(|| c.invalid(&format!("{key}.type"), "must be one of loadbalance, failover"))?;
        if !self.traffic_manager_auth_urls.is_empty() {
            return Err(c.invalid(
                &format!("{key}.traffic_manager_auth_urls"),
                "ssl:// receivers are not used: events go to traffic_manager_urls (tcp://), \
                 authenticated with the cluster's shared keys; remove this key",
            ));
        }
        if self.traffic_manager_urls.is_empty() {
            return Err(c.invalid(
                &format!("{key}.traffic_manager_urls"),
                "a url group needs at least one tcp://host:port",
            ));
        }
        for (i, url) in self.traffic_manager_urls.iter().enumerate() {
            portico_throttle::publisher::receiver_address(url)
                .map_err(|e| c.invalid(&format!("{key}.traffic_manager_urls[{i}]"), &e.to_string()))?;
        }
        UrlGroup::new(kind, &self.traffic_manager_urls)
            .map_err(|e| c.invalid(&format!("{key}.traffic_manager_urls"), &e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::Config;

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        let src = format!("[super_admin]\npassword = \"pw\"\n{extra}");
        Config::parse(&src, Path::new("/home/n"), Path::new("conf/deployment.toml"))
    }

    #[test]
    fn defaults_count_on_traffic_managers_and_fail_open() {
        let t = parse("").expect("valid").apim.throttling;
        assert!(t.enable);
        assert_eq!(t.counter, ThrottleCounter::TrafficManager);
        assert_eq!(t.failure_mode, FailureMode::FailOpen);
        assert!(!t.trust_forwarded_for);
        assert!(t.url_groups.is_empty());
        assert_eq!((t.event_batch_window_ms, t.redis.batch_window_ms), (2, 5));
        assert_eq!(t.redis.url, "redis://127.0.0.1:6379");
    }

    #[test]
    fn url_groups_take_the_seeds_syntax() {
        let c = parse(
            "[apim.throttling]\nfailure_mode = \"local_only\"\n\
             [[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://node1:9611\"]\ntype = \"loadbalance\"\n\
             [[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://node2:9611\", \"tcp://node3:9611\"]\ntype = \"failover\"\n",
        )
        .expect("valid");
        let t = &c.apim.throttling;
        assert_eq!(t.failure_mode, FailureMode::LocalOnly);
        assert_eq!(t.url_groups.len(), 2);
        assert_eq!(t.url_groups[0].kind, GroupKind::LoadBalance);
        assert_eq!(t.url_groups[1].kind, GroupKind::Failover);
        assert_eq!(t.url_groups[1].receivers, ["node2:9611", "node3:9611"]);
    }

    #[test]
    fn redis_mode_takes_a_url_and_a_batching_window() {
        let c = parse(
            "[apim.throttling]\ncounter = \"redis\"\n[apim.throttling.redis]\nurl = \"redis://cache:6380/2\"\nbatch_window_ms = 20\n",
        )
        .expect("valid");
        let t = &c.apim.throttling;
        assert_eq!(t.counter, ThrottleCounter::Redis);
        assert_eq!(
            (t.redis.url.as_str(), t.redis.batch_window_ms),
            ("redis://cache:6380/2", 20)
        );
    }

    #[test]
    fn bad_values_name_their_key_and_line() {
        let cases = [
            (
                "[apim.throttling]\ncounter = \"memcached\"\n",
                "apim.throttling.counter",
                4,
            ),
            (
                "[apim.throttling]\nfailure_mode = \"open\"\n",
                "apim.throttling.failure_mode",
                4,
            ),
            (
                "[apim.throttling]\nevent_batch_window_ms = 0\n",
                "apim.throttling.event_batch_window_ms",
                4,
            ),
            (
                "[apim.throttling.redis]\nbatch_window_ms = 5000\n",
                "apim.throttling.redis.batch_window_ms",
                4,
            ),
            (
                "[apim.throttling.redis]\nurl = \"http://cache:6379\"\n",
                "apim.throttling.redis.url",
                4,
            ),
            (
                "[[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://a:9611\"]\ntype = \"roundrobin\"\n",
                "apim.throttling.url_group[0].type",
                5,
            ),
            (
                "[[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://a:9611\", \"tcp://b\"]\n",
                "apim.throttling.url_group[0].traffic_manager_urls[1]",
                4,
            ),
            (
                "[[apim.throttling.url_group]]\ntraffic_manager_urls = []\n",
                "apim.throttling.url_group[0].traffic_manager_urls",
                4,
            ),
            (
                "[[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://a:9611\"]\ntraffic_manager_auth_urls = [\"ssl://a:9711\"]\n",
                "apim.throttling.url_group[0].traffic_manager_auth_urls",
                5,
            ),
        ];
        for (text, key, line) in cases {
            let err = parse(text).expect_err(key);
            assert_eq!(err.key(), Some(key), "{err}");
            assert_eq!(err.line(), Some(line), "{err}");
        }
        let err = parse("[apim.throttling]\nenabled = true\n").expect_err("unknown key");
        assert!(err.to_string().contains("enabled"), "{err}");
    }
}
