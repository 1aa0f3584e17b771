//! `bench/tokens`: client_credentials tokens per second from a started node, and the cost of one
//! JWT validation and one signature in process. Ignored by default (it measures, it does not
//! check behaviour); run it with `bench/tokens`, which builds in release mode.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portico_testkit::{Node, NodeOptions};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run bench/tokens"]
async fn client_credentials_tokens_per_second() {
    let seconds = env_number("PORTICO_BENCH_SECONDS", 5);
    let concurrency = env_number("PORTICO_BENCH_CONCURRENCY", 64);
    let node = Node::start(std::path::Path::new(BIN), NodeOptions::default())
        .await
        .expect("node");
    let (user, pw) = node.admin();
    let app: Value = node
        .client
        .post(node.url("/client-registration/v0.17/register"))
        .basic_auth(user, Some(pw))
        .json(&json!({"clientName": "bench", "grantType": "client_credentials"}))
        .send()
        .await
        .expect("dcr")
        .json()
        .await
        .expect("dcr body");
    let id = app["clientId"].as_str().expect("id").to_owned();
    let secret = app["clientSecret"].as_str().expect("secret").to_owned();
    let body = "grant_type=client_credentials&scope=apim%3Aapi_view";
    let url = node.url("/oauth2/token");

    // Warm up (TLS sessions, client cache).
    let first: Value = node
        .client
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token body");
    let sample = first["access_token"].as_str().expect("access_token").to_owned();

    let issued = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, id, secret) = (node.client.clone(), url.clone(), id.clone(), secret.clone());
        let (issued, failed) = (issued.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let r = client
                    .post(&url)
                    .basic_auth(&id, Some(&secret))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await;
                let ok = match r {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    issued.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let issued = issued.load(Ordering::Relaxed);
    println!(
        "client_credentials (ES256, HTTPS, {concurrency} concurrent requests, {seconds} s): {:.0} tokens/s ({issued} issued, {} failed)",
        issued as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );

    // In-process costs of validation and signing with the node's primary key.
    let home = &node.home;
    let key = portico_keystore::KeyMaterial::load(
        &home.join("conf/security/node-cert.pem"),
        &home.join("conf/security/node-key.pem"),
    )
    .expect("key");
    let issuer = format!("https://localhost:{}/oauth2/token", node.ports.management);
    let signer = portico_keymanager::TokenSigner::new(&key, issuer).expect("signer");
    let claims = signer.verify(&sample).expect("the node's token verifies");
    let rounds = 20_000u32;
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(signer.verify(std::hint::black_box(&sample)).expect("verify"));
    }
    let verify_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(signer.sign(std::hint::black_box(&claims)).expect("sign"));
    }
    let sign_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    println!("one JWT validation (ES256, signature + claims): {verify_us:.1} µs; one signature: {sign_us:.1} µs");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request may fail");
}
