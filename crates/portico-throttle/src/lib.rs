//! Throttling (placeholder doc; completed below).
#![forbid(unsafe_code)]

pub mod counter;
pub mod decision;
pub mod event;
pub mod key;
pub mod policy;
pub mod throttler;
pub mod window;
pub mod wire;
