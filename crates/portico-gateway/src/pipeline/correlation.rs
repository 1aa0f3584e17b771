//! The request's correlation id (`X-Correlation-ID`): the consumer's own when it sent a usable
//! one (1 to 128 visible ASCII characters), else one made here, UUID-shaped, from a per-thread
//! generator (no lock, no system call, no allocation). The backend always receives it, and the
//! analytics record carries it, so a consumer's, the gateway's and the backend's logs of one
//! request can be joined.

use std::cell::Cell;

use crate::http1::fields::RawHeaders;

/// The header's name, lower-case as fields are matched.
pub(crate) const X_CORRELATION_ID: &str = "x-correlation-id";

/// The longest consumer-sent id kept; a longer (or non-visible-ASCII) one is replaced.
const MAX_GIVEN: usize = 128;

/// A request's correlation id.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum CorrelationId {
    /// None worked out (a request that never reached the phases).
    #[default]
    None,
    /// Made by the gateway: 36 characters, `8-4-4-4-12` lower-case hex.
    Generated([u8; 36]),
    /// The consumer's.
    Given(Box<str>),
}

impl std::fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CorrelationId {
    /// The consumer's id from `headers` when usable, else a new one.
    pub(crate) fn of(headers: &RawHeaders) -> CorrelationId {
        match headers.get(X_CORRELATION_ID) {
            Some(given) if usable(given) => {
                // Checked to be ASCII just above.
                CorrelationId::Given(String::from_utf8_lossy(given).into())
            }
            _ => CorrelationId::generate(),
        }
    }

    /// A new id from this thread's generator.
    pub(crate) fn generate() -> CorrelationId {
        let (high, low) = next_random();
        let mut text = [0u8; 36];
        let mut nibbles = (0..32).map(|i| {
            let word = if i < 16 { high } else { low };
            let shift = 60 - 4 * (i % 16);
            ((word >> shift) & 0xf) as u8
        });
        for (i, slot) in text.iter_mut().enumerate() {
            *slot = if matches!(i, 8 | 13 | 18 | 23) {
                b'-'
            } else {
                HEX[usize::from(nibbles.next().unwrap_or(0))]
            };
        }
        CorrelationId::Generated(text)
    }

    pub fn as_str(&self) -> &str {
        match self {
            CorrelationId::None => "",
            // Only hex digits and dashes were written.
            CorrelationId::Generated(text) => std::str::from_utf8(text).unwrap_or_default(),
            CorrelationId::Given(text) => text,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }

    pub fn is_none(&self) -> bool {
        matches!(self, CorrelationId::None)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn usable(value: &[u8]) -> bool {
    (1..=MAX_GIVEN).contains(&value.len()) && value.iter().all(|b| (0x21..=0x7e).contains(b))
}

thread_local! {
    /// xorshift128+ state, seeded once per thread from std's per-process random keys.
    static STATE: Cell<(u64, u64)> = Cell::new(seed());
}

fn seed() -> (u64, u64) {
    use std::hash::{BuildHasher, Hasher};
    let keys = std::collections::hash_map::RandomState::new();
    let mut a = keys.build_hasher();
    a.write_u64(0x9e37_79b9_7f4a_7c15);
    let mut b = keys.build_hasher();
    b.write_u64(0xbf58_476d_1ce4_e5b9);
    (a.finish() | 1, b.finish() | 1)
}

/// 128 random bits (xorshift128+ twice): unique in practice, not a secret.
fn next_random() -> (u64, u64) {
    STATE.with(|state| {
        let step = |(mut s1, s0): (u64, u64)| {
            s1 ^= s1 << 23;
            let next = (s0, s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26));
            (next, next.1.wrapping_add(s0))
        };
        let (after_one, high) = step(state.get());
        let (after_two, low) = step(after_one);
        state.set(after_two);
        (high, low)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuid_shaped_and_differ() {
        let a = CorrelationId::generate();
        let b = CorrelationId::generate();
        assert_ne!(a, b);
        let text = a.as_str();
        assert_eq!(text.len(), 36);
        let groups: Vec<usize> = text.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(text.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn usable_ids_are_visible_ascii_up_to_128() {
        assert!(usable(b"abc-123"));
        assert!(!usable(b""));
        assert!(!usable(b"has space"));
        assert!(!usable(&[b'a'; 129]));
    }
}
