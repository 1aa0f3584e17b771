//! Who the client is, and what the backend is told about it.
//!
//! The client address (the one throttling, analytics, deny policies and logs go by) is the TCP
//! peer, unless the peer is one of `[apim.gateway] trusted_proxies`: then it is the right-most
//! `X-Forwarded-For` address that is not a trusted proxy, as nginx's `real_ip_recursive` finds
//! it (an entry that is no address ends the search at the address after it; when every address
//! is trusted, the left-most one). Without trusted proxies, `X-Forwarded-For` is never read for
//! it: any client can write one.
//!
//! The backend is sent `X-Forwarded-For` as the consumer's field lines combined in order (RFC
//! 9110 §5.3) with the peer appended, and `X-Real-IP` as the client address.

use std::borrow::Cow;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::http1::fields::RawHeaders;

pub(super) const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address and its text as it came (the peer's, or an `X-Forwarded-For` entry's
/// address), for `X-Real-IP`.
pub(super) fn client_address<'a>(
    trusted_proxies: &[IpNet],
    peer: IpAddr,
    peer_text: Option<&'a [u8]>,
    headers: &'a RawHeaders,
) -> (IpAddr, Option<&'a [u8]>) {
    let mut client = (peer, peer_text);
    if trusted_proxies.is_empty() || !is_trusted(trusted_proxies, peer) {
        return client;
    }
    for value in headers.get_all(X_FORWARDED_FOR).rev() {
        for entry in value.rsplit(|&b| b == b',').map(<[u8]>::trim_ascii) {
            if entry.is_empty() {
                continue;
            }
            let Some((ip, text)) = forwarded_address(entry) else {
                return client;
            };
            client = (ip, Some(text));
            if !is_trusted(trusted_proxies, ip) {
                return client;
            }
        }
    }
    client
}

fn is_trusted(trusted_proxies: &[IpNet], ip: IpAddr) -> bool {
    // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`.
    let ip = ip.to_canonical();
    trusted_proxies.iter().any(|net| net.contains(&ip))
}

/// The first `X-Forwarded-For` hop of one field line (what `[apim.throttling]
/// trust_forwarded_for` keys unauthenticated requests by), read like every other entry.
pub(super) fn first_forwarded_address(value: &[u8]) -> Option<IpAddr> {
    let first = value.split(|&b| b == b',').next()?.trim_ascii();
    forwarded_address(first).map(|(ip, _)| ip)
}

/// The address of an `X-Forwarded-For` entry: `192.0.2.1`, `2001:db8::1`, or either with a
/// port (`192.0.2.1:8080`, `[2001:db8::1]:8080`); with its text.
fn forwarded_address(entry: &[u8]) -> Option<(IpAddr, &[u8])> {
    let port_ok = |port: &[u8]| {
        port.strip_prefix(b":")
            .is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit))
    };
    let text = if let Some(bracketed) = entry.strip_prefix(b"[") {
        let end = bracketed.iter().position(|&b| b == b']')?;
        let after = &bracketed[end + 1..];
        if !(after.is_empty() || port_ok(after)) {
            return None;
        }
        &bracketed[..end]
    } else {
        match entry.iter().position(|&b| b == b':') {
            // One colon: an IPv4 address and a port.
            Some(colon) if !entry[colon + 1..].contains(&b':') => {
                if !port_ok(&entry[colon..]) {
                    return None;
                }
                &entry[..colon]
            }
            _ => entry,
        }
    };
    let ip = std::str::from_utf8(text).ok()?.parse().ok()?;
    Some((ip, text))
}

/// `X-Forwarded-For` for the backend: the consumer's lines combined in order, then `peer`. One
/// allocation when the consumer sent any, none when not.
pub(super) fn x_forwarded_for<'a>(headers: &'a RawHeaders, peer: &'a [u8]) -> Cow<'a, [u8]> {
    let lines = || {
        headers
            .get_all(X_FORWARDED_FOR)
            .map(<[u8]>::trim_ascii)
            .filter(|line| !line.is_empty())
    };
    let combined_len: usize = lines().map(|line| line.len() + 2).sum();
    if combined_len == 0 {
        return Cow::Borrowed(peer);
    }
    let mut value = Vec::with_capacity(combined_len + peer.len());
    for line in lines() {
        value.extend_from_slice(line);
        value.extend_from_slice(b", ");
    }
    value.extend_from_slice(peer);
    Cow::Owned(value)
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;

    fn headers(lines: &[&'static str]) -> RawHeaders {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(X_FORWARDED_FOR, HeaderValue::from_static(line));
        }
        map.append("x-other", HeaderValue::from_static("1"));
        RawHeaders::from_header_map(&map)
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("cidr")).collect()
    }

    fn client(trusted: &[&str], peer: &str, lines: &[&'static str]) -> String {
        let headers = headers(lines);
        let peer: IpAddr = peer.parse().expect("peer");
        let (ip, text) = client_address(&nets(trusted), peer, Some(b"peer"), &headers);
        let text = String::from_utf8_lossy(text.expect("text")).into_owned();
        if text != "peer" {
            assert_eq!(text.parse::<IpAddr>().ok(), Some(ip), "the text is the address");
        }
        format!("{ip} {text}")
    }

    #[test]
    fn the_first_forwarded_hop_is_the_client() {
        assert_eq!(
            first_forwarded_address(b"203.0.113.7, 10.0.0.1"),
            "203.0.113.7".parse().ok()
        );
        assert_eq!(first_forwarded_address(b" 2001:db8::1 "), "2001:db8::1".parse().ok());
        assert_eq!(first_forwarded_address(b"unknown, 10.0.0.1"), None);
        assert_eq!(first_forwarded_address(b"\xff"), None);
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_address() {
        let xff = ["6.6.6.6", "203.0.113.9, 10.0.0.5"];
        assert_eq!(client(&[], "10.0.0.1", &xff), "10.0.0.1 peer", "no list: the peer");
        assert_eq!(
            client(&["10.0.0.0/8"], "192.0.2.7", &xff),
            "192.0.2.7 peer",
            "an untrusted peer is the client"
        );
        assert_eq!(client(&["10.0.0.0/8"], "10.0.0.1", &xff), "203.0.113.9 203.0.113.9");
        assert_eq!(
            client(&["10.0.0.0/8", "203.0.113.0/24"], "10.0.0.1", &xff),
            "6.6.6.6 6.6.6.6",
            "lines are one list"
        );
        assert_eq!(
            client(&["0.0.0.0/0"], "10.0.0.1", &xff),
            "6.6.6.6 6.6.6.6",
            "all trusted: the left-most"
        );
        assert_eq!(
            client(&["10.0.0.0/8"], "10.0.0.1", &["6.6.6.6, junk, 10.0.0.9"]),
            "10.0.0.9 10.0.0.9",
            "an entry that is no address ends the search"
        );
        assert_eq!(client(&["10.0.0.0/8"], "10.0.0.1", &[]), "10.0.0.1 peer");
        assert_eq!(
            client(&["10.0.0.0/8"], "::ffff:10.0.0.1", &["198.51.100.4:5123"]),
            "198.51.100.4 198.51.100.4",
            "IPv4-mapped peers match IPv4 networks; ports are dropped"
        );
        assert_eq!(
            client(&["::1/128"], "::1", &["[2001:db8::7]:443"]),
            "2001:db8::7 2001:db8::7"
        );
        assert_eq!(client(&["::1/128"], "::1", &["2001:db8::8"]), "2001:db8::8 2001:db8::8");
    }

    #[test]
    fn forwarded_for_lines_are_combined_in_order() {
        let combined = |lines: &[&'static str]| {
            let headers = headers(lines);
            String::from_utf8_lossy(&x_forwarded_for(&headers, b"127.0.0.1")).into_owned()
        };
        assert_eq!(combined(&[]), "127.0.0.1");
        assert_eq!(combined(&["6.6.6.6"]), "6.6.6.6, 127.0.0.1");
        assert_eq!(
            combined(&["6.6.6.6", "10.0.0.5, 10.0.0.6", ""]),
            "6.6.6.6, 10.0.0.5, 10.0.0.6, 127.0.0.1"
        );
        let none = headers(&[]);
        assert!(matches!(x_forwarded_for(&none, b"127.0.0.1"), Cow::Borrowed(_)));
    }
}
