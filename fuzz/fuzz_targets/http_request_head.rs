//! The gateway's HTTP/1.1 request head parser (httparse plus Portico's framing, smuggling and
//! Host rules) on arbitrary bytes: it must answer, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = portico_gateway::fuzzing::request_head(data);
});
