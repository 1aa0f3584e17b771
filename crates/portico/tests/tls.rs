//! TLS on the node's HTTPS listeners, probed with `openssl s_client` (a peer that still speaks
//! the old protocols): TLS 1.0 and 1.1 and CBC suites are refused, TLS 1.2 with an AEAD suite and
//! TLS 1.3 are accepted; each refused probe first succeeds against an `openssl s_server` that
//! allows everything, so a refusal is the node's. The certificate is replaced without a restart,
//! on SIGHUP and when its files change.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use portico_testkit::{Node, NodeOptions, NodePorts};

const BIN: &str = env!("CARGO_BIN_EXE_portico");

fn openssl_present() -> bool {
    let present = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("openssl is needed for the TLS probes (CI=true)");
    }
    present
}

fn s_client(port: u16, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["10", "openssl", "s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "localhost"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client")
}

/// Whether the handshake completed, and what s_client printed.
fn handshake(port: u16, args: &[&str]) -> (bool, String) {
    let out = s_client(port, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let done = text.contains("New, TLSv1") && !text.contains("Cipher is (NONE)");
    (done, text)
}

/// The probes a modern server must refuse, each with what s_client is told.
const REFUSED: [(&str, &[&str]); 4] = [
    ("TLS 1.0", &["-tls1", "-cipher", "ALL:@SECLEVEL=0"]),
    ("TLS 1.1", &["-tls1_1", "-cipher", "ALL:@SECLEVEL=0"]),
    (
        "TLS 1.2 with AES-CBC-SHA",
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"],
    ),
    (
        "TLS 1.2 with AES-CBC-SHA256",
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:@SECLEVEL=0"],
    ),
];

const ACCEPTED: [(&str, &[&str]); 3] = [
    (
        "TLS 1.2 with ECDHE-ECDSA-AES128-GCM",
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
    ),
    (
        "TLS 1.2 with ECDHE-ECDSA-CHACHA20",
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"],
    ),
    ("TLS 1.3", &["-tls1_3"]),
];

/// `openssl s_server` with the node's key, allowing every protocol and suite: the control.
struct PermissiveServer(Child, u16);

impl PermissiveServer {
    fn start(home: &Path) -> PermissiveServer {
        let port = NodePorts::free().expect("port").management;
        let child = Command::new("openssl")
            .args(["s_server", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(home.join("conf/security/node-cert.pem"))
            .arg("-key")
            .arg(home.join("conf/security/node-key.pem"))
            .args(["-cipher", "ALL:@SECLEVEL=0", "-www"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "s_server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        PermissiveServer(child, port)
    }
}

impl Drop for PermissiveServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn old_protocols_and_cbc_suites_are_refused_on_every_https_listener() {
    if !openssl_present() {
        return;
    }
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let control = PermissiveServer::start(&node.home);
    for (what, args) in REFUSED {
        let (done, text) = handshake(control.1, args);
        assert!(
            done,
            "the control server accepts {what}, so the probe offers it:\n{text}"
        );
        for (listener, port) in [
            ("management", node.ports.management),
            ("gateway", node.ports.gateway_https),
        ] {
            let (done, text) = handshake(port, args);
            assert!(!done, "{what} accepted on the {listener} port:\n{text}");
        }
    }
    for (what, args) in ACCEPTED {
        for (listener, port) in [
            ("management", node.ports.management),
            ("gateway", node.ports.gateway_https),
        ] {
            let (done, text) = handshake(port, args);
            assert!(done, "{what} refused on the {listener} port:\n{text}");
        }
    }
}

/// The certificate `port` presents, as the base64 of its PEM (whitespace removed).
fn presented(port: u16) -> String {
    let (done, text) = handshake(port, &[]);
    assert!(done, "{text}");
    first_certificate(&text)
}

fn first_certificate(pem: &str) -> String {
    let start = pem.find("-----BEGIN CERTIFICATE-----").expect("a certificate");
    let end = pem[start..].find("-----END CERTIFICATE-----").expect("its end") + start;
    pem[start + 27..end].split_whitespace().collect()
}

fn file_certificate(home: &Path) -> String {
    first_certificate(&std::fs::read_to_string(home.join("conf/security/node-cert.pem")).expect("read"))
}

/// A new pair where [keystore.tls] points (`portico cert create --force`).
fn replace_certificate(home: &Path) {
    let out = Command::new(BIN)
        .args(["cert", "create", "--force", "--home"])
        .arg(home)
        .output()
        .expect("cert create");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

async fn eventually_presented(node: &Node, expected: &str, what: &str) {
    let started = Instant::now();
    for port in [node.ports.management, node.ports.gateway_https] {
        while presented(port) != expected {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{what}: port {port} presents the old certificate"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test]
async fn the_certificate_reloads_on_sighup_and_on_file_change_without_a_restart() {
    if !openssl_present() {
        return;
    }
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let first = file_certificate(&node.home);
    assert_eq!(presented(node.ports.management), first);
    assert_eq!(presented(node.ports.gateway_https), first);
    let pid = node.pid().expect("running").to_string();

    replace_certificate(&node.home);
    let second = file_certificate(&node.home);
    assert_ne!(second, first);
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    eventually_presented(&node, &second, "after SIGHUP").await;

    // No signal: the node notices the files changed.
    tokio::time::sleep(Duration::from_millis(1100)).await; // a later modification time
    replace_certificate(&node.home);
    let third = file_certificate(&node.home);
    eventually_presented(&node, &third, "after the files changed").await;
    assert!(
        node.output().contains("Reloaded the TLS certificate"),
        "{}",
        node.output()
    );
    // Still the same process, still serving.
    assert_eq!(node.pid().map(|p| p.to_string()), Some(pid));
    let ready = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client")
        .get(node.url("/health/ready"))
        .send()
        .await
        .expect("ready");
    assert!(ready.status().is_success());
}
