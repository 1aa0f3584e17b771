//! HTTP/1.1, the gateway's own implementation of both sides (as pingora keeps
//! `protocols/http/v1/{server,client,common,body}`):
//!
//! - [`server`]: consumer connections (HTTP/2 ones, chosen by ALPN, go to hyper: see
//!   [`crate::consumer`]); each request goes through the [`crate::pipeline`], so this one module
//!   sits above the rest of the gateway while the others here sit below it;
//! - [`client`]: the request head written to a backend and its response head parsed (the
//!   connections themselves and their pools are [`crate::upstream`]'s);
//! - [`common`]: what both sides share: hop-by-hop fields, framing, lengths, writing bodies;
//! - [`body`]: the chunked transfer coding as it is read;
//! - [`fields`]: header fields kept as the bytes they arrived in.

pub(crate) mod body;
pub(crate) mod client;
pub(crate) mod common;
pub(crate) mod fields;
pub(crate) mod server;
