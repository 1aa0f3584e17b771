//! The consumer's request headers that never reach a backend because the gateway itself sets or
//! vouches for what they say: who the caller is, where the request came from, how it arrived.
//! Backends behind an API manager trust these, so a client must not be able to send its own.
//!
//! Always left out, in any case and with `_` for `-` (many servers read `X_JWT_Assertion` as
//! `X-JWT-Assertion`):
//!
//! - `X-JWT-Assertion` and the backend JWT's configured header name: the signed caller identity;
//! - every `X-Forwarded-*` (`-For`, `-Proto`, `-Host` are the gateway's own; `-Port`, `-Prefix`,
//!   `-Ssl`, `-Server`, oauth2-proxy's `-User` and `-Email`... would contradict or pose as them);
//! - `Forwarded` (RFC 7239, which frameworks prefer to `X-Forwarded-*`);
//! - `X-Real-IP` (the gateway sends its own: the client address it worked out);
//! - every `X-WSO2-*`: WSO2 gateways' own metadata, which backends written for WSO2 trust.
//!
//! `[apim.gateway] strip_request_headers` adds site-specific names (a trailing `*` makes one a
//! prefix). Names are compared by length or first letter before any bytes, so the fields most
//! requests carry cost a comparison or two.

/// The names the gateway leaves out of what it forwards, compiled once.
#[derive(Debug, Default)]
pub(crate) struct IdentityHeaders {
    /// Exact names besides the built-in ones, folded (lower-case, `-`): the configured ones and
    /// the backend JWT's header when it is not `X-JWT-Assertion`.
    names: Vec<Box<[u8]>>,
    /// Bit `n` set: one of `names` is `n` bytes long (63: longer).
    name_lengths: u64,
    /// Configured prefixes (`X-Internal-*` without its `*`), folded.
    prefixes: Vec<Box<[u8]>>,
}

const BACKEND_JWT: &[u8] = b"x-jwt-assertion";
const FORWARDED: &[u8] = b"forwarded";
const REAL_IP: &[u8] = b"x-real-ip";
const FORWARDED_FAMILY: &[u8] = b"x-forwarded-";
const WSO2_FAMILY: &[u8] = b"x-wso2-";

/// A header name's byte as these names are compared: lower-case, `_` as `-`.
fn fold(b: u8) -> u8 {
    if b == b'_' { b'-' } else { b.to_ascii_lowercase() }
}

/// Whether `name` is `folded` (lower-case, with `-`), in any case and with `_` for `-`.
fn same_name(name: &[u8], folded: &[u8]) -> bool {
    name.len() == folded.len() && name.iter().zip(folded).all(|(&a, &b)| fold(a) == b)
}

fn has_prefix(name: &[u8], folded: &[u8]) -> bool {
    name.get(..folded.len()).is_some_and(|start| same_name(start, folded))
}

fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl IdentityHeaders {
    /// The built-in names, `configured` ones (`Name` or `Prefix-*`) and the backend JWT's
    /// header name.
    pub(crate) fn new<'a>(
        configured: impl IntoIterator<Item = &'a str>,
        backend_jwt: Option<&'a str>,
    ) -> IdentityHeaders {
        let mut rules = IdentityHeaders::default();
        for name in configured.into_iter().chain(backend_jwt) {
            let folded: Box<[u8]> = name.bytes().map(fold).collect();
            match folded.strip_suffix(b"*") {
                Some(prefix) => rules.prefixes.push(prefix.into()),
                None if &*folded != BACKEND_JWT => {
                    rules.name_lengths |= length_bit(folded.len());
                    rules.names.push(folded);
                }
                None => {}
            }
        }
        rules
    }

    /// Whether the consumer's field `name` is one the gateway leaves out.
    pub(crate) fn strips(&self, name: &[u8]) -> bool {
        let built_in = match name.len() {
            9 => same_name(name, FORWARDED) || same_name(name, REAL_IP),
            15 => same_name(name, BACKEND_JWT),
            _ => false,
        };
        built_in
            || (name.len() >= WSO2_FAMILY.len()
                && fold(name[0]) == b'x'
                && (has_prefix(name, FORWARDED_FAMILY) || has_prefix(name, WSO2_FAMILY)))
            || (self.name_lengths & length_bit(name.len()) != 0 && self.names.iter().any(|n| same_name(name, n)))
            || self.prefixes.iter().any(|prefix| has_prefix(name, prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_are_stripped_in_any_spelling() {
        let rules = IdentityHeaders::new(["X-Tenant", "X-Internal-*"], Some("X-Caller-JWT"));
        for stripped in [
            "X-JWT-Assertion",
            "x_jwt_assertion",
            "X-Jwt_Assertion",
            "X-Caller-JWT",
            "x_caller_jwt",
            "X-Forwarded-For",
            "X_FORWARDED_HOST",
            "x-forwarded-port",
            "X-Forwarded-User",
            "Forwarded",
            "X-Real-IP",
            "x_real_ip",
            "X-WSO2-Tenant",
            "x_wso2_key_type",
            "X-Tenant",
            "x_tenant",
            "X-Internal-User",
            "x_internal_",
        ] {
            assert!(rules.strips(stripped.as_bytes()), "{stripped}");
        }
        for kept in [
            "X-Tenants",
            "X-Forwarded",
            "X-Forward-For",
            "X-JWT-Assertions",
            "Content-Type",
            "Accept",
            "X-Request-ID",
            "X-Internal",
            "Forwarded-For",
            "x",
        ] {
            assert!(!rules.strips(kept.as_bytes()), "{kept}");
        }
        let default = IdentityHeaders::new([], Some("X-JWT-Assertion"));
        assert!(default.names.is_empty(), "the default JWT header is built in");
        assert!(default.strips(b"X_JWT_ASSERTION"));
        assert!(!default.strips(b"X-Caller-JWT"));
    }
}
