//! JWT parsing and verification as the key manager does it (header, `kid` lookup, algorithm
//! check, signature, claims) on arbitrary text with a real EC key: nothing the fuzzer makes
//! without the private key may verify.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use portico_keymanager::TokenSigner;

fn signer() -> &'static TokenSigner {
    static SIGNER: OnceLock<TokenSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("portico-fuzz-jwt-{}", std::process::id()));
        let pair = portico_keystore::generate_self_signed(&["fuzz.test".into()], portico_keystore::KeyType::EcP256)
            .expect("generate");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        portico_keystore::write_pair(&pair, &cert, &key, true).expect("write");
        let material = portico_keystore::KeyMaterial::load(&cert, &key).expect("load");
        let _ = std::fs::remove_dir_all(&dir);
        TokenSigner::new(&material, "https://fuzz.test/oauth2/token".into()).expect("signer")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let signer = signer();
    assert!(signer.verify(token).is_err(), "a forged token verified: {token}");
    assert!(signer.verify_value(token).is_err(), "a forged API key verified: {token}");
});
