//! Interoperability with an independent implementation: a Python script using PyJWT (with
//! cryptography) and requests obtains tokens from a started node, validates our JWTs against our
//! JWKS, introspects and revokes (tests/interop/oauth_interop.py). Needs
//! `pip install pyjwt cryptography requests`; skipped when they are missing, except under CI=true.

use std::process::Command;

use portico_testkit::{Node, NodeOptions};

const BIN: &str = env!("CARGO_BIN_EXE_portico");

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import jwt, cryptography, requests"])
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn run_interop(key_type: &'static str) {
    if !python_ready() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "python3 with pyjwt, cryptography and requests is required under CI=true \
             (pip install pyjwt cryptography requests)"
        );
        eprintln!(
            "SKIPPING interop test: python3 lacks pyjwt/cryptography/requests (pip install pyjwt cryptography requests)"
        );
        return;
    }
    let node = Node::start(
        std::path::Path::new(BIN),
        NodeOptions {
            key_type,
            ..Default::default()
        },
    )
    .await
    .expect("node");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/oauth_interop.py");
    let (user, pw) = node.admin();
    let out = Command::new("python3")
        .arg(&script)
        .arg(node.url(""))
        .arg(user)
        .arg(pw)
        .arg(node.home.join("conf/security/node-cert.pem"))
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "interop script failed ({key_type}):\n{stdout}\n{stderr}\nnode log:\n{}",
        node.output()
    );
    assert!(stdout.contains("interop OK"), "{stdout}");
}

#[tokio::test]
async fn pyjwt_validates_es256_tokens() {
    run_interop("ec").await;
}

#[tokio::test]
async fn pyjwt_validates_rs256_tokens() {
    run_interop("rsa").await;
}
