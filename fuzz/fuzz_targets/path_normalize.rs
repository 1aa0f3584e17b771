//! Request path normalisation (dot segments, encoded dots, encoded separators): a normalised
//! path has no `..` segment left, starts with `/`, and normalising it again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(normal) = portico_gateway::path::normalize(raw) {
        assert!(
            !normal.split('/').any(|segment| segment == ".."),
            "{raw:?} normalised to {normal:?}"
        );
        let again = portico_gateway::path::normalize(&normal).expect("a normal path normalises");
        assert_eq!(again, normal, "normalising {raw:?} twice");
    }
});
