//! What keeps password checks from being used against the node (issue 20, item 3). An argon2id
//! check costs tens of milliseconds of CPU and 19 MiB; so
//!
//! - at most [`LoginGuard::hashing_permits`] checks run at once (one less than the cores, at
//!   least one), with a small bounded queue behind them; beyond it the caller is told to come
//!   back (`Busy`, 503 with `Retry-After`) instead of being given CPU;
//! - failures are counted per user name and per client address: past a few free ones, each
//!   further failure locks that name or address out for a back-off that doubles up to a cap
//!   (`LockedOut`, 429 with `Retry-After`), and a locked-out attempt costs no hash at all;
//! - the tables are bounded, and an entry is forgotten once it has been quiet for the cap, so
//!   memory returns to its idle level after a burst.
//!
//! A right password clears its user's failures (not its address's: one valid account must not
//! reset the count of an address guessing at others).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Failures of one user name before back-off starts.
pub const FREE_FAILURES_PER_USER: u32 = 5;
/// Failures of one client address before back-off starts (several users may share a NAT).
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// The first lock-out; each further failure doubles it.
const FIRST_LOCKOUT: Duration = Duration::from_secs(1);
/// The longest lock-out, and how long a quiet entry is remembered.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Entries per table; past it, the quiet and unlocked ones are dropped first.
const MAX_ENTRIES: usize = 10_000;
/// Checks waiting for a hashing permit, per permit.
const QUEUE_PER_PERMIT: usize = 4;
/// What `Busy` asks the caller to wait.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// Why an attempt was not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many checks running and waiting: try again after this long.
    Busy(Duration),
    /// Too many recent failures for this user name or client address: locked out this long.
    LockedOut(Duration),
}

impl Refusal {
    /// Whole seconds to put in `Retry-After` (at least 1).
    pub fn retry_after_seconds(&self) -> u64 {
        let (Refusal::Busy(d) | Refusal::LockedOut(d)) = self;
        d.as_secs() + u64::from(d.subsec_nanos() > 0)
    }
}

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failure counts keyed by user name or address.
struct Table<K> {
    entries: HashMap<K, Strikes>,
    free: u32,
}

impl<K: Eq + Hash + Clone> Table<K> {
    fn new(free: u32) -> Self {
        Table {
            entries: HashMap::new(),
            free,
        }
    }

    fn locked(&self, key: &K, now: Instant) -> Option<Duration> {
        let strikes = self.entries.get(key)?;
        strikes.locked_until.and_then(|until| until.checked_duration_since(now))
    }

    fn fail(&mut self, key: &K, now: Instant) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(key) {
            self.prune(now);
        }
        let strikes = self.entries.entry(key.clone()).or_insert(Strikes {
            failures: 0,
            last: now,
            locked_until: None,
        });
        if now.duration_since(strikes.last) >= MAX_LOCKOUT {
            strikes.failures = 0;
        }
        strikes.failures = strikes.failures.saturating_add(1);
        strikes.last = now;
        if strikes.failures > self.free {
            let doublings = (strikes.failures - self.free - 1).min(20);
            let lockout = FIRST_LOCKOUT.saturating_mul(1 << doublings).min(MAX_LOCKOUT);
            strikes.locked_until = Some(now + lockout);
        }
    }

    fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Drops quiet entries; when none are quiet, the unlocked ones; when all are locked, all
    /// (the table must stay bounded; the hashing permits still bound the CPU).
    fn prune(&mut self, now: Instant) {
        self.entries.retain(|_, s| now.duration_since(s.last) < MAX_LOCKOUT);
        if self.entries.len() >= MAX_ENTRIES {
            self.entries
                .retain(|_, s| s.locked_until.is_some_and(|until| until > now));
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.shrink_to_fit();
    }
}

struct Failures {
    users: Table<String>,
    addresses: Table<IpAddr>,
    last_prune: Instant,
}

/// Bounds password checks and slows down repeated failures. One per node, shared by HTTP Basic
/// on REST, the password grant and the portals' sign-in forms.
pub struct LoginGuard {
    hashing: Semaphore,
    permits: usize,
    waiting: AtomicUsize,
    queue_limit: usize,
    failures: Mutex<Failures>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        LoginGuard::new(cores.saturating_sub(1).max(1))
    }
}

/// One place in the queue for a hashing slot, given back when dropped.
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A hashing slot; dropping it lets the next check run.
pub struct HashingPermit<'a> {
    _permit: SemaphorePermit<'a>,
}

impl LoginGuard {
    /// A guard running at most `permits` checks at once.
    pub fn new(permits: usize) -> LoginGuard {
        LoginGuard {
            hashing: Semaphore::new(permits),
            permits,
            waiting: AtomicUsize::new(0),
            queue_limit: permits * QUEUE_PER_PERMIT,
            failures: Mutex::new(Failures {
                users: Table::new(FREE_FAILURES_PER_USER),
                addresses: Table::new(FREE_FAILURES_PER_ADDRESS),
                last_prune: Instant::now(),
            }),
        }
    }

    /// Checks that may hash at once.
    pub fn hashing_permits(&self) -> usize {
        self.permits
    }

    /// `LockedOut` while the user name or the address is locked out (the longer wait of the two).
    pub fn admit(&self, username: &str, client: Option<IpAddr>) -> Result<(), Refusal> {
        let now = Instant::now();
        let Ok(failures) = self.failures.lock() else {
            return Ok(());
        };
        let user = failures.users.locked(&user_key(username), now);
        let address = client.and_then(|ip| failures.addresses.locked(&ip, now));
        match user.max(address) {
            Some(wait) => Err(Refusal::LockedOut(wait)),
            None => Ok(()),
        }
    }

    /// A slot to hash in: at once when one is free, after a short wait in the bounded queue, or
    /// `Busy` when the queue is full.
    pub async fn hashing_slot(&self) -> Result<HashingPermit<'_>, Refusal> {
        if let Ok(permit) = self.hashing.try_acquire() {
            return Ok(HashingPermit { _permit: permit });
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue_limit {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Busy(BUSY_RETRY));
        }
        // Leaves the queue however the wait ends (a caller that goes away included).
        let _in_queue = InQueue(&self.waiting);
        let permit = self.hashing.acquire().await;
        permit
            .map(|permit| HashingPermit { _permit: permit })
            .map_err(|_| Refusal::Busy(BUSY_RETRY))
    }

    /// Records a wrong password for the user name and the address.
    pub fn failed(&self, username: &str, client: Option<IpAddr>) {
        let now = Instant::now();
        let Ok(mut failures) = self.failures.lock() else { return };
        failures.users.fail(&user_key(username), now);
        if let Some(ip) = client {
            failures.addresses.fail(&ip, now);
        }
        if now.duration_since(failures.last_prune) >= MAX_LOCKOUT {
            failures.users.prune(now);
            failures.addresses.prune(now);
            failures.last_prune = now;
        }
    }

    /// A right password: the user's failures are forgotten.
    pub fn succeeded(&self, username: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.users.clear(&user_key(username));
        }
    }

    /// Forgets a user's failures and lock-out (an administrator reset the password).
    pub fn reset_user(&self, username: &str) {
        self.succeeded(username);
    }
}

/// User names are matched without case, as the store does.
fn user_key(username: &str) -> String {
    username.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_per_user_and_per_address_and_success_clears_the_user() {
        let guard = LoginGuard::new(1);
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        for _ in 0..FREE_FAILURES_PER_USER {
            assert_eq!(guard.admit("Bob", Some(ip)), Ok(()));
            guard.failed("bob", Some(ip));
        }
        assert_eq!(guard.admit("bob", None), Ok(()), "free failures lock nothing");
        guard.failed("bob", Some(ip));
        let Err(Refusal::LockedOut(first)) = guard.admit("BOB", None) else {
            panic!("locked out after the free failures")
        };
        assert!(first <= FIRST_LOCKOUT);
        guard.failed("bob", Some(ip));
        let Err(Refusal::LockedOut(second)) = guard.admit("bob", None) else {
            panic!("still locked")
        };
        assert!(second > first, "the lock-out doubles: {first:?} then {second:?}");
        assert_eq!(guard.admit("alice", None), Ok(()), "another user is not locked");
        assert_eq!(
            guard.admit("alice", Some(ip)),
            Ok(()),
            "the address has free failures left"
        );
        guard.succeeded("bob");
        assert_eq!(guard.admit("bob", None), Ok(()));

        for i in 0..=FREE_FAILURES_PER_ADDRESS {
            guard.failed(&format!("user{i}"), Some(ip));
        }
        assert!(matches!(guard.admit("carol", Some(ip)), Err(Refusal::LockedOut(_))));
        assert_eq!(guard.admit("carol", Some("192.0.2.8".parse().expect("ip"))), Ok(()));
        assert_eq!(Refusal::LockedOut(Duration::from_millis(1500)).retry_after_seconds(), 2);
    }

    #[tokio::test]
    async fn hashing_is_bounded_with_a_small_queue() {
        let guard = std::sync::Arc::new(LoginGuard::new(1));
        let held = guard.hashing_slot().await.expect("first slot");
        let mut queued = Vec::new();
        for _ in 0..QUEUE_PER_PERMIT {
            let guard = guard.clone();
            queued.push(tokio::spawn(async move { guard.hashing_slot().await.map(|_| ()) }));
        }
        while guard.waiting.load(Ordering::Acquire) < QUEUE_PER_PERMIT {
            tokio::task::yield_now().await;
        }
        assert_eq!(guard.hashing_slot().await.err(), Some(Refusal::Busy(BUSY_RETRY)));
        drop(held);
        for task in queued {
            assert_eq!(task.await.expect("join"), Ok(()), "the queued ones run in turn");
        }
        assert_eq!(guard.waiting.load(Ordering::Acquire), 0);
    }

    #[test]
    fn tables_stay_bounded() {
        let mut table: Table<u32> = Table::new(0);
        let now = Instant::now();
        for key in 0..(MAX_ENTRIES as u32 + 10) {
            table.fail(&key, now);
        }
        assert!(table.entries.len() <= MAX_ENTRIES);
    }
}
