//! Attack suite, the wire: request smuggling (Content-Length beside Transfer-Encoding, two
//! different Content-Lengths, obs-fold, bare LF), oversized heads and bodies, and slowloris,
//! against a real node's gateway (its own HTTP/1.1 server) and management port (hyper behind
//! TLS). Each case states the answer it expects; a request smuggled behind an attack must never
//! get an answer of its own.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_testkit::{Node, NodeOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_portico");

/// A second request written right behind the attack: if the server reads it, it answers twice.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// What a case expects.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exactly this status, then the connection closes (nothing behind it is read).
    Closes(u16),
    /// One answer with this status; what follows is read as the next request.
    Answered(u16),
}

struct Case {
    name: &'static str,
    /// Sent as is, followed by [`SMUGGLED`].
    request: String,
    gateway: Expect,
    management: Expect,
}

fn cases() -> Vec<Case> {
    let huge = "a".repeat(70 * 1024);
    vec![
        Case {
            name: "Content-Length and Transfer-Encoding (CL.TE)",
            request: "POST /health/live HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX".into(),
            gateway: Expect::Closes(400),
            // hyper frames by Transfer-Encoding (RFC 9112 §6.3), answers (405: GET only) and
            // closes the connection: what follows is never read.
            management: Expect::Closes(405),
        },
        Case {
            name: "Transfer-Encoding then Content-Length (TE.CL)",
            request: "POST /health/live HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n".into(),
            gateway: Expect::Closes(400),
            management: Expect::Closes(405),
        },
        Case {
            name: "two different Content-Lengths",
            request: "POST /health/live HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde".into(),
            gateway: Expect::Closes(400),
            management: Expect::Closes(400),
        },
        Case {
            name: "Content-Length with a sign",
            request: "POST /health/live HTTP/1.1\r\nHost: localhost\r\nContent-Length: +3\r\n\r\nabc".into(),
            gateway: Expect::Closes(400),
            management: Expect::Closes(400),
        },
        Case {
            name: "obs-fold (a field continued on the next line)",
            request: "GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\n\r\n".into(),
            gateway: Expect::Closes(400),
            management: Expect::Closes(400),
        },
        Case {
            name: "Transfer-Encoding hidden by obs-fold",
            request: "POST /health/live HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n".into(),
            gateway: Expect::Closes(400),
            management: Expect::Closes(400),
        },
        Case {
            name: "bare LF line endings",
            request: "GET /health/live HTTP/1.1\nHost: localhost\n\n".into(),
            gateway: Expect::Answered(404),
            // RFC 9112 §2.2 lets a recipient take a lone LF as a line end; both ports do, the same
            // way for every field, so the pipelined request behind it is read as the next one (not
            // smuggled: it is answered as itself); the gateway writes CRLF heads to backends.
            management: Expect::Answered(200),
        },
        Case {
            name: "Transfer-Encoding behind a lone LF in the head",
            request: "POST /health/live HTTP/1.1\r\nHost: localhost\r\nX-A: b\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc".into(),
            // Both ports see the lone LF as a line end, so both see both framings.
            gateway: Expect::Closes(400),
            management: Expect::Closes(405),
        },
        Case {
            name: "a space before the colon",
            request: "POST /health/live HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc".into(),
            gateway: Expect::Closes(400),
            management: Expect::Closes(400),
        },
        Case {
            name: "a 70 KiB header (limit 64 KiB)",
            request: format!("GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Big: {huge}\r\n\r\n"),
            gateway: Expect::Closes(431),
            management: Expect::Closes(431),
        },
        Case {
            name: "a body over [transport.https] max_request_body (1 KiB here)",
            request: format!(
                "POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4096\r\n\r\n{}",
                "a".repeat(4096)
            ),
            // The gateway streams bodies to the backend (its answer for an unknown API here).
            gateway: Expect::Answered(404),
            // The management port refuses it; the body is framed by its length, so the request
            // behind it is read as the next one.
            management: Expect::Answered(413),
        },
        Case {
            name: "a plain request (the control)",
            request: "GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n".into(),
            gateway: Expect::Answered(404),
            management: Expect::Answered(200),
        },
    ]
}

/// Writes `bytes`, then reads until the server closes or 5 s pass without data; returns the
/// status codes answered, in order, and whether the server closed.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, bytes: &[u8]) -> (Vec<u16>, bool) {
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    let text = String::from_utf8_lossy(&received);
    let statuses = text
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect();
    (statuses, closed)
}

fn tls_connector(node: &Node) -> tokio_rustls::TlsConnector {
    let pem = std::fs::read(node.home.join("conf/security/node-cert.pem")).expect("certificate");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("PEM")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

use rustls_pki_types::pem::PemObject;

async fn management_stream(node: &Node) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", node.ports.management))
        .await
        .expect("connect");
    tls_connector(node)
        .connect(rustls_pki_types::ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake")
}

async fn gateway_stream(node: &Node) -> TcpStream {
    TcpStream::connect(("127.0.0.1", node.ports.gateway_http))
        .await
        .expect("connect")
}

fn judge(port: &str, case: &Case, expect: Expect, (statuses, closed): (Vec<u16>, bool)) -> Option<String> {
    let ok = match expect {
        Expect::Closes(status) => statuses == [status] && closed,
        Expect::Answered(status) => statuses.first() == Some(&status),
    };
    (!ok).then(|| {
        format!(
            "{port}: {}: expected {expect:?}, got statuses {statuses:?}, closed: {closed}",
            case.name
        )
    })
}

async fn small_body_limit_node() -> Node {
    Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: vec![("max_request_body = 10485760".into(), "max_request_body = 1024".into())],
            ..NodeOptions::default()
        },
    )
    .await
    .expect("node")
}

#[tokio::test]
async fn smuggling_and_oversized_requests_get_their_expected_answers_on_both_ports() {
    let node = small_body_limit_node().await;
    let mut wrong = Vec::new();
    for case in cases() {
        let bytes = format!("{}{SMUGGLED}", case.request);
        let gateway = exchange(gateway_stream(&node).await, bytes.as_bytes()).await;
        wrong.extend(judge("gateway", &case, case.gateway, gateway));
        let management = exchange(management_stream(&node).await, bytes.as_bytes()).await;
        wrong.extend(judge("management", &case, case.management, management));
    }
    assert!(
        wrong.is_empty(),
        "{} case(s) answered otherwise:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Sends a request head one byte every 2 s and never finishes it; returns how long the server
/// kept the connection open (it must close it: the header read timeout, 30 s by default).
async fn slowloris<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Duration {
    let started = Instant::now();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("first bytes");
    let mut buf = [0u8; 1024];
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the connection is still open after 90 s of a request head that never ends"
        );
        if stream.write_all(b"X").await.is_err() {
            return started.elapsed();
        }
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            // An answer (408) before closing is fine; keep reading until the close.
            Ok(Ok(_)) | Err(_) => {}
        }
    }
}

#[tokio::test]
async fn slowloris_connections_are_closed_on_the_gateway_and_the_management_port() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let (gateway, management) = tokio::join!(async { slowloris(gateway_stream(&node).await).await }, async {
        slowloris(management_stream(&node).await).await
    },);
    // Closed by the server (the loop above fails the test after 90 s otherwise); the node still
    // serves others.
    eprintln!("slowloris closed after: gateway {gateway:?}, management {management:?}");
    let live = node.client.get(node.url("/health/live")).send().await.expect("live");
    assert!(live.status().is_success());
}
