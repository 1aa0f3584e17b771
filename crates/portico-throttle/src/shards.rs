//! Key-sharded locks: a map split by the key's hash so that threads working on different keys
//! rarely meet on one lock (the gateway's local counts, the TM's window counts).

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

/// How many shards: a few times the cores a node has, small enough to walk for a sweep.
pub const SHARDS: usize = 16;

#[derive(Debug)]
pub struct Sharded<S> {
    hasher: RandomState,
    shards: Box<[S]>,
}

impl<S: Default> Default for Sharded<S> {
    fn default() -> Self {
        Sharded {
            hasher: RandomState::default(),
            shards: (0..SHARDS).map(|_| S::default()).collect(),
        }
    }
}

impl<S> Sharded<S> {
    /// The shard that holds `key`.
    pub fn of(&self, key: &str) -> &S {
        &self.shards[(self.hasher.hash_one(key) as usize) % self.shards.len()]
    }

    pub fn iter(&self) -> impl Iterator<Item = &S> {
        self.shards.iter()
    }
}
