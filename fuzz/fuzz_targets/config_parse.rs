//! `conf/deployment.toml` parsing and validation on arbitrary text: an error names what is
//! wrong, nothing panics.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = portico_config::Config::parse(text, Path::new("/nonexistent-home"), Path::new("deployment.toml")) {
        assert!(!e.to_string().is_empty());
    }
});
