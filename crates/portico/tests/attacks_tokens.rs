//! Attack suite, forged tokens: each is sent to the management REST API (as a bearer token for
//! an admin-only operation) and to the gateway (for a subscribed API), and must be refused with
//! 401 on both. Controls signed the same way with the node's own key and valid claims are
//! accepted, so a refusal is the forgery's, not the harness's.

mod attack_support;

use std::path::Path;

use attack_support::{GATEWAY_PATH, b64, deployed_api, jwt_part, subscribed_app, token};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portico_testkit::{EchoBackend, Node, NodeOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
/// An admin-only operation (scope apim:admin).
const ADMIN_OPERATION: &str = "/api/am/admin/v4/environments";

async fn rest_status(node: &Node, token: &str) -> StatusCode {
    node.client
        .get(node.url(ADMIN_OPERATION))
        .bearer_auth(token)
        .send()
        .await
        .expect("REST")
        .status()
}

async fn gateway_status(node: &Node, token: &str) -> StatusCode {
    node.client
        .get(node.gateway_url(GATEWAY_PATH))
        .bearer_auth(token)
        .send()
        .await
        .expect("gateway")
        .status()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Signs `claims` with the PEM private key under `kid`.
fn sign(pem: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_pem(pem).expect("EC key")).expect("sign")
}

/// A JWT with this header and claims and the given signature bytes.
fn raw(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!("{}.{}.{}", b64(header), b64(claims), URL_SAFE_NO_PAD.encode(signature))
}

fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    use aws_lc_rs::hmac;
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Signs exactly this header and these claims (ES256).
fn sign_raw(pem: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let key = EncodingKey::from_ec_pem(pem).expect("EC key");
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::ES256).expect("sign");
    format!("{input}.{signature}")
}

/// The stranger's public key as a JWK.
fn stranger_jwk(stranger: &portico_keystore::GeneratedPair) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    portico_keystore::write_pair(stranger, &cert, &key, false).expect("write");
    let material = portico_keystore::KeyMaterial::load(&cert, &key).expect("load");
    portico_keymanager::PublishedKey::of(&material).expect("jwk").jwk
}

fn with(claims: &Value, changes: &Value) -> Value {
    let mut claims = claims.clone();
    for (k, v) in changes.as_object().expect("object") {
        claims[k] = v.clone();
    }
    claims
}

#[tokio::test]
async fn forged_and_stale_tokens_are_refused_by_the_rest_apis_and_the_gateway() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let backend = EchoBackend::start("attack-tokens").await.expect("backend");
    let api_id = deployed_api(&node, &backend).await;
    let (_, key, secret) = subscribed_app(&node, &api_id, "AttackTokens").await;
    let (user, password) = node.admin();
    // A real admin token (password grant, apim:admin) and its claims: the base of every forgery.
    let real = token(
        &node,
        (&key, &secret),
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", "apim:admin default"),
        ],
    )
    .await;
    assert_eq!(
        rest_status(&node, &real).await,
        StatusCode::OK,
        "the real token works on REST"
    );
    assert_eq!(gateway_status(&node, &real).await, StatusCode::OK, "and at the gateway");
    let header = jwt_part(&real, 0);
    let claims = jwt_part(&real, 1);
    let kid = header["kid"].as_str().expect("kid").to_owned();
    let node_key = std::fs::read(node.home.join("conf/security/node-key.pem")).expect("node key");
    let node_cert = std::fs::read(node.home.join("conf/security/node-cert.pem")).expect("node cert");
    let public_pem = {
        let output = std::process::Command::new("openssl")
            .args(["x509", "-pubkey", "-noout", "-in"])
            .arg(node.home.join("conf/security/node-cert.pem"))
            .output();
        match output {
            Ok(o) if o.status.success() => o.stdout,
            // Without openssl, the certificate's PEM stands in for "the public key as text".
            _ => node_cert.clone(),
        }
    };
    let stranger = portico_keystore::generate_self_signed(&["stranger.test".into()], portico_keystore::KeyType::EcP256)
        .expect("another cluster's key");

    // Controls: the node's own key, valid claims, with and without kid.
    let control = sign(&node_key, Some(&kid), &with(&claims, &json!({"jti": "control"})));
    assert_eq!(
        rest_status(&node, &control).await,
        StatusCode::OK,
        "a re-signed token is accepted"
    );
    assert_eq!(gateway_status(&node, &control).await, StatusCode::OK);

    let t = now();
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none, no signature",
            raw(&json!({"alg": "none", "typ": "JWT", "kid": kid}), &claims, b""),
        ),
        ("alg none, the real signature kept", {
            let signature = real.rsplit('.').next().expect("signature");
            format!(
                "{}.{}.{signature}",
                b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
                b64(&claims)
            )
        }),
        (
            "alg NONE in other case",
            raw(&json!({"alg": "NONE", "typ": "JWT"}), &claims, b""),
        ),
        (
            "HS256 keyed with the public key PEM",
            hs256(&public_pem, &json!({"alg": "HS256", "typ": "JWT", "kid": kid}), &claims),
        ),
        (
            "HS256 keyed with the certificate PEM",
            hs256(&node_cert, &json!({"alg": "HS256", "typ": "JWT", "kid": kid}), &claims),
        ),
        ("RS256 header on the EC signature", {
            let signed = sign(&node_key, Some(&kid), &claims);
            let signature = signed.rsplit('.').next().expect("signature");
            format!(
                "{}.{}.{signature}",
                b64(&json!({"alg": "RS256", "typ": "JWT", "kid": kid})),
                b64(&claims)
            )
        }),
        (
            "kid path traversal",
            sign(
                stranger.private_key_pem.as_bytes(),
                Some("../../../../conf/security/node-key.pem"),
                &claims,
            ),
        ),
        (
            "kid path traversal, the node's real signature",
            sign(&node_key, Some("../../../../../etc/passwd"), &claims),
        ),
        (
            "kid SQL injection",
            sign(stranger.private_key_pem.as_bytes(), Some("' OR '1'='1' --"), &claims),
        ),
        (
            "kid of 10,000 characters",
            sign(stranger.private_key_pem.as_bytes(), Some(&"k".repeat(10_000)), &claims),
        ),
        (
            "kid of a JWK URL",
            raw(
                &json!({"alg": "ES256", "kid": kid, "jku": "http://127.0.0.1:1/jwks", "x5u": "http://127.0.0.1:1/x"}),
                &claims,
                b"sig",
            ),
        ),
        ("an attacker's JWK embedded in the header", {
            let pair = stranger_jwk(&stranger);
            sign_raw(
                stranger.private_key_pem.as_bytes(),
                &json!({"alg": "ES256", "typ": "JWT", "kid": kid, "jwk": pair}),
                &claims,
            )
        }),
        ("the real token, claims changed (signature no longer matches)", {
            let mut parts = real.split('.');
            let (h, _, s) = (parts.next().expect("h"), parts.next(), parts.next().expect("s"));
            format!("{h}.{}.{s}", b64(&with(&claims, &json!({"sub": "someone-else"}))))
        }),
        (
            "expired an hour ago",
            sign(
                &node_key,
                Some(&kid),
                &with(
                    &claims,
                    &json!({"exp": t - 3600, "iat": t - 7200, "nbf": t - 7200, "jti": "expired"}),
                ),
            ),
        ),
        (
            "not valid for another hour",
            sign(
                &node_key,
                Some(&kid),
                &with(
                    &claims,
                    &json!({"nbf": t + 3600, "iat": t, "exp": t + 7200, "jti": "early"}),
                ),
            ),
        ),
        ("no exp", {
            let mut c = with(&claims, &json!({"jti": "no-exp"}));
            c.as_object_mut().expect("object").remove("exp");
            sign(&node_key, Some(&kid), &c)
        }),
        (
            "another issuer, the node's key",
            sign(
                &node_key,
                Some(&kid),
                &with(
                    &claims,
                    &json!({"iss": "https://evil.example/oauth2/token", "jti": "iss"}),
                ),
            ),
        ),
        (
            "another cluster's key, under the node's kid",
            sign(stranger.private_key_pem.as_bytes(), Some(&kid), &claims),
        ),
        (
            "another cluster's key, without kid",
            sign(stranger.private_key_pem.as_bytes(), None, &claims),
        ),
        ("not a JWT", "not.a.jwt".into()),
        ("empty", String::new()),
    ];
    let mut accepted = Vec::new();
    for (name, forged) in &cases {
        let rest = rest_status(&node, forged).await;
        let gateway = gateway_status(&node, forged).await;
        if rest != StatusCode::UNAUTHORIZED || gateway != StatusCode::UNAUTHORIZED {
            accepted.push(format!("{name}: REST {rest}, gateway {gateway} (expected 401 on both)"));
        }
    }
    assert!(
        accepted.is_empty(),
        "{} of {} forged tokens not refused:\n{}",
        accepted.len(),
        cases.len(),
        accepted.join("\n")
    );
    eprintln!(
        "attack suite, tokens: {} forged tokens refused on REST and gateway",
        cases.len()
    );
}
