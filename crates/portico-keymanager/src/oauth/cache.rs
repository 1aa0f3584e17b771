//! The cache of OAuth2 clients and their owners, read on every token request. Entries live a
//! minute; changes on any node evict them at once (through the change feed).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portico_store::{OAuthClient, User};

/// How long a client (and its owner) stays cached; changes on any node evict it at once via the feed.
const CLIENT_CACHE_TTL: Duration = Duration::from_secs(60);

/// Beyond this many clients the cache starts over, which bounds its memory.
const CLIENT_CACHE_MAX: usize = 10_000;

struct CachedClient {
    client: OAuthClient,
    owner: User,
    at: Instant,
}

/// Clients by client id, with their owners.
pub(super) struct ClientCache {
    entries: Mutex<HashMap<String, CachedClient>>,
}

impl ClientCache {
    pub(super) fn new() -> ClientCache {
        ClientCache {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The client and its owner, if cached less than [`CLIENT_CACHE_TTL`] ago.
    pub(super) fn get(&self, client_id: &str) -> Option<(OAuthClient, User)> {
        let cache = self.entries.lock().ok()?;
        let cached = cache.get(client_id)?;
        (cached.at.elapsed() < CLIENT_CACHE_TTL).then(|| (cached.client.clone(), cached.owner.clone()))
    }

    pub(super) fn insert(&self, client_id: &str, client: &OAuthClient, owner: &User) {
        if let Ok(mut cache) = self.entries.lock() {
            if cache.len() > CLIENT_CACHE_MAX {
                cache.clear();
            }
            cache.insert(
                client_id.to_owned(),
                CachedClient {
                    client: client.clone(),
                    owner: owner.clone(),
                    at: Instant::now(),
                },
            );
        }
    }

    pub(super) fn remove(&self, client_id: &str) {
        if let Ok(mut cache) = self.entries.lock() {
            cache.remove(client_id);
        }
    }

    /// Drops every client `username` owns.
    pub(super) fn remove_owner(&self, username: &str) {
        if let Ok(mut cache) = self.entries.lock() {
            cache.retain(|_, c| c.owner.username != username);
        }
    }

    /// Forgets every client (their changes may have been missed: the feed was pruned).
    pub(super) fn clear(&self) {
        if let Ok(mut cache) = self.entries.lock() {
            cache.clear();
        }
    }
}
