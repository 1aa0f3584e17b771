//! Fetching a document an administrator or publisher names by URL (an OpenAPI definition, an
//! identity provider's OpenID configuration): http(s) only, non-public addresses refused unless
//! allowed, no redirects, bounded in time and size.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use portico_apis::InputError;

use crate::error::{ApiError, input_error};

/// True for addresses a fetch must not reach unless allowed: loopback, private, link-local,
/// shared (CGNAT), unspecified, broadcast, multicast, documentation and unique-local ranges.
pub(crate) fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
        }
    }
}

/// How a URL may be fetched: time and size limits, whether non-public addresses may be
/// reached, and the settings that set them (named in errors).
pub(crate) struct FetchRules {
    pub timeout: Duration,
    pub max_bytes: u64,
    pub allow_private: bool,
    pub setting: &'static str,
}

/// `raw`, the request's `field`, as an http(s) URL with a host; otherwise a 400 naming `field`.
pub(crate) fn http_url(field: &str, raw: &str) -> Result<reqwest::Url, ApiError> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| input_error(InputError::new(field, format!("\"{raw}\" is not a URL: {e}"))))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(input_error(InputError::new(
            field,
            format!("only http and https URLs are accepted, not {}", url.scheme()),
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(input_error(InputError::new(field, format!("\"{raw}\" has no host"))));
    }
    Ok(url)
}

/// Fetches `raw` (an http(s) URL, the request's `url` field) as UTF-8 text within `rules`:
/// no redirects, connecting only to the addresses checked.
pub(crate) async fn fetch_text(raw: &str, rules: &FetchRules) -> Result<String, ApiError> {
    let url = http_url("url", raw)?;
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let timeout = rules.timeout;
    let addresses: Vec<SocketAddr> = tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port)))
        .await
        .map_err(|_| ApiError::bad_request(format!("url: resolving {host} took longer than {timeout:?}")))?
        .map_err(|e| ApiError::bad_request(format!("url: cannot resolve {host}: {e}")))?
        .collect();
    if addresses.is_empty() {
        return Err(ApiError::bad_request(format!("url: {host} has no addresses")));
    }
    if !rules.allow_private
        && let Some(bad) = addresses.iter().find(|a| is_non_public(a.ip()))
    {
        return Err(input_error(InputError::new(
            "url",
            format!(
                "{host} resolves to {}, a loopback, private or otherwise non-public address; fetching from it is \
                 refused ({})",
                bad.ip(),
                rules.setting
            ),
        )));
    }
    // Connect only to the addresses just checked, so a second DNS answer cannot differ.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .resolve_to_addrs(&host, &addresses)
        .build()
        .map_err(|e| ApiError::internal(format!("cannot build the HTTP client: {e}")))?;
    let fetch = async {
        let mut response = client.get(url.clone()).send().await.map_err(|e| {
            if e.is_timeout() {
                slow(&url, rules)
            } else {
                ApiError::bad_request(format!("url: fetching {url} failed: {e}"))
            }
        })?;
        if !response.status().is_success() {
            return Err(ApiError::bad_request(format!(
                "url: {url} answered {} (redirects are not followed)",
                response.status()
            )));
        }
        let max = rules.max_bytes;
        if response.content_length().is_some_and(|len| len > max) {
            return Err(too_large(&url, rules));
        }
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ApiError::bad_request(format!("url: reading {url} failed: {e}")))?
        {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > max {
                return Err(too_large(&url, rules));
            }
        }
        String::from_utf8(body).map_err(|_| ApiError::bad_request(format!("url: {url} did not answer UTF-8 text")))
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| slow(&url, rules))?
}

fn slow(url: &reqwest::Url, rules: &FetchRules) -> ApiError {
    ApiError::bad_request(format!(
        "url: fetching {url} took longer than {} s ({})",
        rules.timeout.as_secs(),
        rules.setting
    ))
}

fn too_large(url: &reqwest::Url, rules: &FetchRules) -> ApiError {
    ApiError::bad_request(format!(
        "url: {url} is larger than {} bytes ({})",
        rules.max_bytes, rules.setting
    ))
}

#[cfg(test)]
mod tests {
    use super::is_non_public;

    #[test]
    fn non_public_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "172.32.0.1"] {
            assert!(!is_non_public(ip.parse().expect("ip")), "{ip}");
        }
    }
}
