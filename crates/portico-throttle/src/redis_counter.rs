//! Counting in Redis (`[apim.throttling] counter = "redis"`), for clusters past a handful of
//! nodes, as WSO2 4.5+, Kong, Tyk and APISIX do: the same keys, windows and decisions as the
//! TM fan-out, with Redis holding the counts.
//!
//! Events are batched as for the TMs ([`crate::batch`], the batch interval is the "local
//! batching window" in ms); each batch is one script call that, per key, does `INCRBY` on
//! `{prefix}{throttle key}:{window start ms}` and sets the key's expiry (window end plus a grace
//! second) when the increment created it, atomically, and returns the counts. A count at or past
//! the limit becomes a decision in the gateway's decision table, until the window's end. The
//! script is sent once and then called by its SHA (`EVALSHA`). Multi-key calls need one Redis
//! (or a replicated pair), not a sharded Redis Cluster.
//!
//! A Redis that does not answer marks the counter unreachable (the failure mode applies) until
//! a call or the once-a-second `PING` succeeds again; the connection manager reconnects by
//! itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::batch::{BatchWindow, Pending, PendingCounts};
use crate::counter::{BoundedLog, Counter, CounterStats, OwnedTasks, StatCells};
use crate::decision::{Decision, DecisionTable};
use crate::event::RequestEvent;
use crate::window::{Window, WindowQuota, now_ms};

/// Keys per script call.
const KEYS_PER_CALL: usize = 512;
/// Kept after the window's end, so a late increment of a slow gateway still finds its count.
const EXPIRY_GRACE_MS: u64 = 1_000;

const INCREMENT_SCRIPT: &str = r"
local counts = {}
for i = 1, #KEYS do
  local by = tonumber(ARGV[2 * i - 1])
  local count = redis.call('INCRBY', KEYS[i], by)
  if count == by then
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
  end
  counts[i] = count
end
return counts
";

/// How the Redis counter runs.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every counter key (separates clusters sharing a Redis).
    pub key_prefix: String,
    /// The local batching window.
    pub batch_interval: Duration,
    /// Keys pending for the next batch at most; a request's keys past it are dropped.
    pub max_pending_keys: usize,
    /// A call slower than this counts as Redis being unreachable.
    pub response_timeout: Duration,
}

impl RedisConfig {
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            key_prefix: "portico:throttle:".into(),
            batch_interval: Duration::from_millis(5),
            max_pending_keys: 65_536,
            response_timeout: Duration::from_millis(500),
        }
    }
}

/// A Redis URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("redis url \"{url}\": {source}")]
pub struct RedisUrlError {
    pub url: String,
    #[source]
    pub source: redis::RedisError,
}

struct Shared {
    pending: PendingCounts,
    failures: Arc<BoundedLog>,
    reachable: AtomicBool,
}

/// The Redis-backed counter (see the module doc).
pub struct RedisCounter {
    shared: Arc<Shared>,
    _tasks: OwnedTasks,
}

impl RedisCounter {
    /// Starts the batcher and the health check; connects lazily, so an unreachable Redis is
    /// not an error here (only a malformed URL is).
    pub fn start(config: RedisConfig, decisions: Arc<DecisionTable>) -> Result<RedisCounter, RedisUrlError> {
        let client = redis::Client::open(config.url.as_str()).map_err(|source| RedisUrlError {
            url: config.url.clone(),
            source,
        })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.response_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection =
            ConnectionManager::new_lazy_with_config(client, manager_config).map_err(|source| RedisUrlError {
                url: config.url.clone(),
                source,
            })?;
        let shared = Arc::new(Shared {
            pending: PendingCounts::new(
                config.max_pending_keys,
                "redis counter dropped events (too many keys pending)",
            ),
            failures: BoundedLog::new("redis counter could not reach redis"),
            reachable: AtomicBool::new(false),
        });
        let tasks = vec![
            tokio::spawn(health_check(
                connection.clone(),
                shared.clone(),
                config.response_timeout,
            )),
            tokio::spawn(run_batcher(connection, shared.clone(), config, decisions)),
        ];
        Ok(RedisCounter {
            shared,
            _tasks: OwnedTasks(tasks),
        })
    }
}

impl Counter for RedisCounter {
    fn record(&self, event: &RequestEvent) -> bool {
        self.shared.pending.record(event)
    }

    fn is_reachable(&self) -> bool {
        self.shared.reachable.load(Ordering::Acquire)
    }

    fn stats(&self) -> CounterStats {
        self.shared.pending.stats()
    }
}

impl Shared {
    fn mark(&self, ok: bool) {
        self.reachable.store(ok, Ordering::Release);
        if !ok {
            self.failures.note();
        }
    }
}

async fn health_check(mut connection: ConnectionManager, shared: Arc<Shared>, timeout: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ping = redis::cmd("PING");
        let answer = tokio::time::timeout(timeout, ping.query_async::<String>(&mut connection)).await;
        shared.mark(matches!(answer, Ok(Ok(_))));
    }
}

async fn run_batcher(
    mut connection: ConnectionManager,
    shared: Arc<Shared>,
    config: RedisConfig,
    decisions: Arc<DecisionTable>,
) {
    let script = redis::Script::new(INCREMENT_SCRIPT);
    let mut pending = Pending::default();
    let mut window = BatchWindow::new(config.batch_interval);
    loop {
        window.collect(&shared.pending, &mut pending).await;
        let now = now_ms();
        let batch: Vec<(Box<str>, WindowQuota, u64)> = pending.drain().map(|(k, (q, n))| (k, q, n)).collect();
        let mut decided = Vec::new();
        let mut all_ok = true;
        for chunk in batch.chunks(KEYS_PER_CALL) {
            let mut call = script.prepare_invoke();
            for (key, quota, count) in chunk {
                let window = Window::containing(now, quota.window_ms);
                call.key(format!("{}{}:{}", config.key_prefix, key, window.start_ms));
                call.arg(*count);
                call.arg(window.end_ms.saturating_sub(now) + EXPIRY_GRACE_MS);
            }
            let answer =
                tokio::time::timeout(config.response_timeout, call.invoke_async::<Vec<u64>>(&mut connection)).await;
            match answer {
                Ok(Ok(counts)) => {
                    for ((key, quota, _), count) in chunk.iter().zip(counts) {
                        if quota.is_reached(count) {
                            decided.push(Decision {
                                key: key.to_string(),
                                throttled: true,
                                until_ms: Window::containing(now, quota.window_ms).end_ms,
                            });
                        }
                    }
                }
                Ok(Err(err)) => {
                    tracing::debug!(error = %err, "redis counter: script call failed");
                    all_ok = false;
                }
                Err(_) => all_ok = false,
            }
        }
        shared.mark(all_ok);
        if all_ok {
            StatCells::bump(&shared.pending.stats.batches_sent);
        } else {
            StatCells::bump(&shared.pending.stats.batches_dropped);
        }
        if !decided.is_empty() {
            StatCells::bump(&shared.pending.stats.decisions_received);
            decisions.apply(&decided, now);
        }
    }
}
