//! The gateway's chunked transfer-coding decoder, the bytes delivered in two reads (the first
//! byte picks where they split): a decoded body is never longer than its input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    if let Some(len) = portico_gateway::fuzzing::chunked_body(body, usize::from(split)) {
        assert!(len <= body.len(), "{len} body bytes from {} input bytes", body.len());
    }
});
