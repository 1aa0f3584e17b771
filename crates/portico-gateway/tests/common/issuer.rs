//! A token issuer for the gateway's tests: a key pair made by the keystore crate, as the Key
//! Manager signs with the node's primary key, and the claims of its access tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Signs ES256 tokens under the `kid` `node-key`.
pub struct Issuer {
    pub key: jsonwebtoken::EncodingKey,
    pub private_pem: String,
    pub public_pem: String,
}

impl Issuer {
    pub fn new() -> Issuer {
        let dir = tempfile::tempdir().expect("tempdir");
        let pair = portico_keystore::generate_self_signed(&["localhost".into()], portico_keystore::KeyType::EcP256)
            .expect("key pair");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        portico_keystore::write_pair(&pair, &cert, &key, false).expect("write");
        let material = portico_keystore::KeyMaterial::load(&cert, &key).expect("load");
        Issuer {
            key: jsonwebtoken::EncodingKey::from_ec_pem(pair.private_key_pem.as_bytes()).expect("encoding key"),
            private_pem: pair.private_key_pem.clone(),
            public_pem: material.public_key_pem().expect("public pem"),
        }
    }

    pub fn token(&self, claims: Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("node-key".into());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("sign")
    }
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

pub fn claims(jti: &str, client: &str, keytype: &str, scope: &str, exp_in: i64) -> Value {
    json!({
        "sub": "alice", "aut": "APPLICATION_USER", "aud": client, "azp": client, "client_id": client,
        "scope": scope, "iss": "https://localhost:9443/oauth2/token", "iat": now(), "nbf": now(),
        "exp": (now() as i64 + exp_in), "jti": jti, "keytype": keytype,
    })
}
