//! One request's throttle keys with their quotas: what the gateway checks against decisions and
//! local counts, and then hands, unchanged, to the counter (TM publisher or Redis).
//!
//! All keys of a request live in one `String` (one allocation per request, none per key), and
//! the event moves into the publisher's queue as it is, so checking and publishing share it.
//! Keys whose quota is `None` (unlimited tiers, subscriptions that do not stop on quota reach)
//! are not recorded: nothing counts them.

use std::net::IpAddr;

use crate::key::{self, BURST_SUFFIX, KeyKind};
use crate::window::WindowQuota;

/// At most: one api or resource key, application, application burst, subscription,
/// subscription burst, and one spare.
pub const MAX_EVENT_KEYS: usize = 6;

/// Initial room for a request's keys; typical keys are 20–60 bytes.
const TEXT_CAPACITY: usize = 192;

#[derive(Debug, Clone, Copy)]
struct Slot {
    kind: KeyKind,
    start: u32,
    end: u32,
    quota: WindowQuota,
}

const EMPTY_SLOT: Slot = Slot {
    kind: KeyKind::Api,
    start: 0,
    end: 0,
    quota: WindowQuota { limit: 0, window_ms: 0 },
};

/// One key of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKey<'a> {
    pub kind: KeyKind,
    pub key: &'a str,
    pub quota: WindowQuota,
}

/// A request's throttle keys (see the module doc).
#[derive(Debug, Clone)]
pub struct RequestEvent {
    text: String,
    slots: [Slot; MAX_EVENT_KEYS],
    len: usize,
}

impl Default for RequestEvent {
    fn default() -> Self {
        RequestEvent::new()
    }
}

impl RequestEvent {
    pub fn new() -> RequestEvent {
        RequestEvent {
            text: String::with_capacity(TEXT_CAPACITY),
            slots: [EMPTY_SLOT; MAX_EVENT_KEYS],
            len: 0,
        }
    }

    /// The API-level key (`apiThrottlingPolicy`); use it instead of [`Self::resource`] when
    /// the API has an API-level policy, as WSO2 does.
    pub fn api(&mut self, context: &str, version: &str, quota: Option<WindowQuota>) -> &mut Self {
        self.push(KeyKind::Api, quota, |s| key::write_api_key(s, context, version))
    }

    /// The resource-level key (an operation's `throttlingPolicy`).
    pub fn resource(
        &mut self,
        api: (&str, &str),
        uri_template: &str,
        verb: &str,
        quota: Option<WindowQuota>,
    ) -> &mut Self {
        let (context, version) = api;
        self.push(KeyKind::Resource, quota, |s| {
            key::write_resource_key(s, context, version, uri_template, verb)
        })
    }

    /// The application key and, when the application policy has burst control, its burst key.
    pub fn application(
        &mut self,
        app_id: &str,
        user: &str,
        quota: Option<WindowQuota>,
        burst: Option<WindowQuota>,
    ) -> &mut Self {
        self.push(KeyKind::Application, quota, |s| {
            key::write_application_key(s, app_id, user)
        });
        self.push(KeyKind::ApplicationBurst, burst, |s| {
            key::write_application_key(s, app_id, user);
            s.push_str(BURST_SUFFIX);
        })
    }

    /// The subscription key and, when the subscription policy has burst control, its burst key.
    pub fn subscription(
        &mut self,
        app_id: &str,
        api: (&str, &str),
        quota: Option<WindowQuota>,
        burst: Option<WindowQuota>,
    ) -> &mut Self {
        let (context, version) = api;
        self.push(KeyKind::Subscription, quota, |s| {
            key::write_subscription_key(s, app_id, context, version)
        });
        self.push(KeyKind::SubscriptionBurst, burst, |s| {
            key::write_subscription_key(s, app_id, context, version);
            s.push_str(BURST_SUFFIX);
        })
    }

    /// An unauthenticated request: the subscription key with the client IP as application id,
    /// under the `Unauthenticated` tier's quota.
    pub fn unauthenticated(&mut self, client_ip: IpAddr, api: (&str, &str), quota: Option<WindowQuota>) -> &mut Self {
        let (context, version) = api;
        self.push(KeyKind::Subscription, quota, |s| {
            key::write_client_ip(s, client_ip);
            s.push(':');
            key::write_api_key(s, context, version);
        })
    }

    /// Records a key written by `write`; a key without a quota, or past [`MAX_EVENT_KEYS`], is
    /// not recorded.
    pub fn push(&mut self, kind: KeyKind, quota: Option<WindowQuota>, write: impl FnOnce(&mut String)) -> &mut Self {
        let Some(quota) = quota else { return self };
        if self.len == MAX_EVENT_KEYS {
            return self;
        }
        let start = self.text.len();
        write(&mut self.text);
        let (Ok(start32), Ok(end32)) = (u32::try_from(start), u32::try_from(self.text.len())) else {
            // A key past 4 GiB cannot come from a request; drop it rather than index wrongly.
            self.text.truncate(start);
            return self;
        };
        self.slots[self.len] = Slot {
            kind,
            start: start32,
            end: end32,
            quota,
        };
        self.len += 1;
        self
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the keys, keeping the buffer for the next request.
    pub fn clear(&mut self) {
        self.text.clear();
        self.len = 0;
    }

    pub fn keys(&self) -> impl Iterator<Item = EventKey<'_>> + '_ {
        self.slots[..self.len].iter().map(|slot| EventKey {
            kind: slot.kind,
            key: self.text.get(slot.start as usize..slot.end as usize).unwrap_or(""),
            quota: slot.quota,
        })
    }

    /// The `index`th key.
    pub fn key(&self, index: usize) -> Option<EventKey<'_>> {
        self.keys().nth(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_buffer_and_skip_uncounted_quotas() {
        let q = WindowQuota::new(100, 60_000);
        let burst = WindowQuota::new(5, 1_000);
        let mut event = RequestEvent::new();
        event
            .resource(("/p/1.0", "1.0"), "/menu", "GET", q)
            .application("7", "bob", q, None)
            .subscription("7", ("/p/1.0", "1.0"), q, burst);
        let keys: Vec<_> = event.keys().map(|k| (k.kind, k.key.to_owned())).collect();
        assert_eq!(
            keys,
            [
                (KeyKind::Resource, "/p/1.0/1.0/menu:GET".to_owned()),
                (KeyKind::Application, "7:bob@carbon.super".to_owned()),
                (KeyKind::Subscription, "7:/p/1.0:1.0".to_owned()),
                (KeyKind::SubscriptionBurst, "7:/p/1.0:1.0#burst".to_owned()),
            ]
        );
        assert_eq!(event.key(3).map(|k| k.quota), burst);
        event.clear();
        assert!(event.is_empty());
        event.unauthenticated("::1".parse().expect("ip"), ("/p/1.0", "1.0"), q);
        assert_eq!(event.key(0).map(|k| k.key), Some("::1:/p/1.0:1.0"));
    }

    #[test]
    fn at_most_max_keys() {
        let q = WindowQuota::new(1, 1_000);
        let mut event = RequestEvent::new();
        for i in 0..10 {
            event.api(&format!("/a{i}"), "v", q);
        }
        assert_eq!(event.len(), MAX_EVENT_KEYS);
        assert_eq!(event.key(5).map(|k| k.key), Some("/a5:v"));
    }
}
