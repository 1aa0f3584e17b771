//! Idle backend connections, kept per I/O thread: taking and returning one touches no lock and
//! no shared map. Connections idle longer than the pool's timeout are closed, even when their
//! pool is never used again.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connection::Connection;

/// Which pool a connection belongs to. The gateway id keeps apart gateways that share a thread
/// (tests run several in one process) and may trust different certificates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct PoolKey {
    pub gateway: u64,
    pub verify_tls: bool,
    /// `scheme://authority`, lower-case (hashing a `str` is much cheaper than `Authority`'s
    /// case-insensitive hash).
    pub origin: Arc<str>,
}

struct IdleConnection {
    connection: Box<Connection>,
    /// When it is closed if still unused.
    expires: Instant,
}

/// How many idle connections a pool keeps, and for how long.
#[derive(Clone, Copy)]
pub(super) struct PoolLimits {
    pub max_idle: usize,
    pub idle_timeout: Duration,
}

type IdlePools = HashMap<PoolKey, VecDeque<IdleConnection>, foldhash::fast::RandomState>;

thread_local! {
    static IDLE: RefCell<IdlePools> = RefCell::new(HashMap::default());
    /// Whether this thread runs a task that closes expired idle connections.
    static SWEEPING: Cell<bool> = const { Cell::new(false) };
}

/// The most recently used idle connection of this thread for `key` that is still open;
/// closed and expired ones are dropped on the way.
pub(super) fn checkout(key: &PoolKey) -> Option<Box<Connection>> {
    IDLE.with_borrow_mut(|pools| {
        let idle = pools.get_mut(key)?;
        let now = Instant::now();
        while let Some(mut idle_connection) = idle.pop_back() {
            if now < idle_connection.expires && idle_connection.connection.still_open() {
                return Some(idle_connection.connection);
            }
        }
        None
    })
}

/// Keeps `connection` in this thread's pool for `key`, making room by closing the connection
/// that has idled longest (and any expired ones).
pub(super) fn put_back(connection: Box<Connection>, key: PoolKey, limits: PoolLimits) {
    let now = Instant::now();
    IDLE.with_borrow_mut(|pools| {
        let idle = pools.entry(key).or_default();
        // Oldest first out: the front has idled longest.
        while idle.len() >= limits.max_idle || idle.front().is_some_and(|c| now >= c.expires) {
            idle.pop_front();
        }
        idle.push_back(IdleConnection {
            connection,
            expires: now + limits.idle_timeout,
        });
    });
    start_sweeping();
}

/// How often a thread's idle connections are checked for expiry.
const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// Closes this thread's expired idle connections every [`SWEEP_EVERY`] while it has any, so an
/// idle connection outlives `upstream_idle_timeout` by half a second at most even when its pool
/// is never used again. Started on the first connection returned to a thread's pool; ends once
/// the thread has none left.
fn start_sweeping() {
    if SWEEPING.get() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    SWEEPING.set(true);
    runtime.spawn(async {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let now = Instant::now();
            let empty = IDLE.with_borrow_mut(|pools| {
                pools.retain(|_, idle| {
                    idle.retain(|c| now < c.expires);
                    !idle.is_empty()
                });
                pools.is_empty()
            });
            if empty {
                SWEEPING.set(false);
                return;
            }
        }
    });
}
