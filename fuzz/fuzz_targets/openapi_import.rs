//! OpenAPI / Swagger import (JSON or YAML, 2.0, 3.0, 3.1) on arbitrary text: a document is
//! refused with its reason or becomes operations, each with a verb.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(definition) = portico_apis::openapi::parse_definition(text) {
        for operation in &definition.operations {
            assert!(!operation.verb.is_empty());
        }
    }
});
