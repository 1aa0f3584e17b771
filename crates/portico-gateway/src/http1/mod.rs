//! HTTP/1.1, the gateway's own implementation of both sides (as pingora keeps
//! `protocols/http/v1/{server,client,common,body}`):
//!
//! - [`server`]: consumer connections (HTTP/2 ones, chosen by ALPN, go to hyper: see
//!   [`crate::consumer`]); each request goes through the [`crate::pipeline`], so this one module
//!   sits above the rest of the gateway while the others here sit below it;
//! - [`request_head`]: request heads as the server parses them, and the rules they are held to;
//! - [`client`]: the request head written to a backend and its response head parsed (the
//!   connections themselves and their pools are [`crate::upstream`]'s);
//! - [`common`]: what both sides share: hop-by-hop fields, framing, lengths, writing bodies;
//! - [`body`]: the chunked transfer coding as it is read;
//! - [`fields`]: header fields kept as the bytes they arrived in.

pub(crate) mod body;
pub(crate) mod client;
pub(crate) mod common;
pub(crate) mod fields;
mod request_head;
pub(crate) mod server;

/// [`crate::fuzzing::request_head`]: a head parsed from `data` as the server parses it, then
/// held to the `Host` rules.
pub(crate) fn fuzz_request_head(data: &[u8]) -> bool {
    let mut buf = bytes::BytesMut::from(data);
    let mut spare = Vec::new();
    match request_head::parse_head(&mut buf, client::MAX_HEAD_BYTES, &mut spare) {
        Ok(Some(head)) => head.check_host().is_ok(),
        _ => false,
    }
}
