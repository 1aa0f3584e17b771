//! The gateway's HTTP/1.1 client against a backend that writes raw bytes: every way a response
//! body can end (length, chunked with extensions and trailers, connection close), interim 100
//! answers, HEAD and 204, responses trickled a byte at a time, broken and oversized heads, bodies
//! cut short, and request bodies sent with their length or chunked. Also that connections are
//! reused only when the response allows it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::wire::{Received, read_request};
use common::{TestGateway, api, resource, wildcard_api};
use portico_gateway::GatewaySettings;
use portico_gateway::model::{EndpointDef, TargetDef};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend that answers each request by its path with canned bytes, and `/echo` with what it
/// received (request line, headers and decoded body) as text.
struct RawBackend {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl RawBackend {
    async fn start() -> RawBackend {
        RawBackend::start_with_tls(None).await
    }

    /// With `tls`, the backend speaks HTTPS with that server configuration.
    async fn start_with_tls(tls: Option<Arc<rustls::ServerConfig>>) -> RawBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind backend");
        let port = listener.local_addr().expect("addr").port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}/"),
            None => format!("http://127.0.0.1:{port}/"),
        };
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve_raw(stream).await;
                            }
                        }
                        None => serve_raw(stream).await,
                    }
                });
            }
        });
        RawBackend { url, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve_raw<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buf).await {
        if !answer(&mut stream, &request).await {
            stream.shutdown().await.ok();
            return;
        }
    }
}

/// Writes the canned answer for `request`; false when the connection is to be closed.
async fn answer<S: AsyncWrite + Unpin>(stream: &mut S, request: &Received) -> bool {
    let path = request.path.as_str();
    let pieces: Vec<Vec<u8>> = match path {
        "/length" => vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: length\r\n\r\nhello".to_vec()],
        "/chunked" => vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n".to_vec(),
            b"5;ext=1\r\nhello\r\n".to_vec(),
            b"6\r\n world\r\n".to_vec(),
            b"0\r\nX-Trailer: t\r\n\r\n".to_vec(),
        ],
        "/until-close" => vec![b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end".to_vec()],
        "/continue" => vec![
            b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
            b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        ],
        "/no-content" => vec![b"HTTP/1.1 204 No Content\r\nX-Kind: none\r\n\r\n".to_vec()],
        "/close" => vec![b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye".to_vec()],
        "/trickle" => b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Kind: trickle\r\n\r\ntrickle"
            .iter()
            .map(|b| vec![*b])
            .collect(),
        "/short" => vec![b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this".to_vec()],
        "/huge-head" => vec![format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "a".repeat(70 * 1024)).into_bytes()],
        "/garbage" => vec![b"SMTP ready\r\n\r\n".to_vec()],
        "/cors" => vec![
            b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: https://evil.example\r\nVary: Accept-Encoding\r\nX-Mixed-Case: Kept\r\nContent-Length: 2\r\n\r\nok"
                .to_vec(),
        ],
        "/echo" => {
            let text = format!(
                "{}\n{}",
                request.head.trim_end(),
                String::from_utf8_lossy(&request.body)
            );
            vec![format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}", text.len()).into_bytes()]
        }
        _ => vec![b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()],
    };
    if path == "/big-length" || path == "/big-chunked" {
        return write_big(stream, path == "/big-chunked").await;
    }
    let body_less = request.method == "HEAD";
    for piece in pieces {
        let piece = if body_less && path == "/length" {
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec()
        } else {
            piece
        };
        if stream.write_all(&piece).await.is_err() {
            return false;
        }
        if path == "/trickle" || path == "/chunked" {
            stream.flush().await.ok();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    !matches!(path, "/until-close" | "/close" | "/short" | "/huge-head" | "/garbage")
}

/// Size of the large bodies the raw backend streams, and their bytes (a pattern that shows
/// reordering or loss).
const BIG: usize = 24 * 1024 * 1024;
fn big_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// A large response body in 64 KiB writes, with its length or chunked.
async fn write_big<S: AsyncWrite + Unpin>(stream: &mut S, chunked: bool) -> bool {
    let head: &[u8] = if chunked {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    } else {
        b"HTTP/1.1 200 OK\r\nContent-Length: 25165824\r\n\r\n"
    };
    if stream.write_all(head).await.is_err() {
        return false;
    }
    let piece_len = 64 * 1024;
    for start in (0..BIG).step_by(piece_len) {
        let piece: Vec<u8> = (start..start + piece_len).map(big_byte).collect();
        let mut wire = Vec::with_capacity(piece_len + 16);
        if chunked {
            wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        }
        wire.extend_from_slice(&piece);
        if chunked {
            wire.extend_from_slice(b"\r\n");
        }
        if stream.write_all(&wire).await.is_err() {
            return false;
        }
    }
    if chunked && stream.write_all(b"0\r\n\r\n").await.is_err() {
        return false;
    }
    true
}

async fn gateway_for(backend: &RawBackend) -> TestGateway {
    gateway_with(backend, Default::default(), true).await
}

async fn gateway_with(backend: &RawBackend, settings: GatewaySettings, verify_tls: bool) -> TestGateway {
    let gw = TestGateway::start_with(settings).await;
    let target = TargetDef {
        verify_tls,
        ..TargetDef::new(backend.url.clone())
    };
    let errors = gw
        .gateway
        .install(vec![wildcard_api("raw", "/raw", EndpointDef::Single(target))]);
    assert!(errors.is_empty(), "{errors:?}");
    gw
}

async fn get_text(gw: &TestGateway, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = gw.client.get(gw.url(path)).send().await.expect("send");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("body"))
}

#[tokio::test]
async fn every_response_framing_is_relayed() {
    let backend = RawBackend::start().await;
    let gw = gateway_for(&backend).await;

    let (status, headers, body) = get_text(&gw, "/raw/1.0.0/length").await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    assert_eq!(headers["x-kind"], "length");

    let (status, headers, body) = get_text(&gw, "/raw/1.0.0/chunked").await;
    assert_eq!((status, body.as_str()), (200, "hello world"));
    assert_eq!(headers["x-kind"], "chunked");
    assert!(headers.get("x-trailer").is_none(), "trailers are dropped");

    let (status, _, body) = get_text(&gw, "/raw/1.0.0/trickle").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "trickle"),
        "a response sent byte by byte"
    );

    let (status, _, body) = get_text(&gw, "/raw/1.0.0/continue").await;
    assert_eq!((status, body.as_str()), (201, "ok"), "interim 100 skipped");

    let (status, headers, body) = get_text(&gw, "/raw/1.0.0/no-content").await;
    assert_eq!((status, body.as_str()), (204, ""));
    assert_eq!(headers["x-kind"], "none");

    let r = gw.client.head(gw.url("/raw/1.0.0/length")).send().await.expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        "5",
        "HEAD keeps the length, sends no body"
    );

    // All of the above were keep-alive answers: one backend connection carried them.
    assert_eq!(backend.connections(), 1, "one connection reused throughout");

    let (status, _, body) = get_text(&gw, "/raw/1.0.0/until-close").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "until the end"),
        "body ends with the connection"
    );
    let (status, _, body) = get_text(&gw, "/raw/1.0.0/length").await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    assert_eq!(backend.connections(), 2, "a connection ended by its body is not reused");

    let (status, _, body) = get_text(&gw, "/raw/1.0.0/close").await;
    assert_eq!((status, body.as_str()), (200, "bye"));
    let (status, _, _) = get_text(&gw, "/raw/1.0.0/length").await;
    assert_eq!(status, 200);
    assert_eq!(backend.connections(), 3, "Connection: close is honoured");
}

/// The backend's header fields reach the consumer as sent, except those the gateway sets:
/// its CORS answer replaces the backend's.
#[tokio::test]
async fn backend_fields_pass_and_gateway_cors_replaces_the_backends() {
    let backend = RawBackend::start().await;
    let gw = gateway_for(&backend).await;
    let r = gw
        .client
        .get(gw.url("/raw/1.0.0/cors"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let allowed: Vec<_> = r.headers().get_all("access-control-allow-origin").iter().collect();
    assert_eq!(allowed, ["*"], "only the gateway's CORS answer");
    assert_eq!(r.headers()["vary"], "Accept-Encoding");
    assert_eq!(r.headers()["x-mixed-case"], "Kept");
    assert_eq!(r.text().await.expect("body"), "ok");
}

/// Large responses stream through whole and in order, with a length (passed on) or chunked
/// (re-chunked to the consumer), and the connection is reused afterwards.
#[tokio::test]
async fn large_responses_stream_through_whole() {
    let backend = RawBackend::start().await;
    let gw = gateway_for(&backend).await;
    for path in ["/raw/1.0.0/big-length", "/raw/1.0.0/big-chunked"] {
        let r = gw.client.get(gw.url(path)).send().await.expect("send");
        assert_eq!(r.status(), 200, "{path}");
        let body = r.bytes().await.expect("body");
        assert_eq!(body.len(), BIG, "{path}");
        let first_bad = body.iter().enumerate().position(|(i, b)| *b != big_byte(i));
        assert_eq!(first_bad, None, "{path}: bytes in order");
    }
    let (status, _, body) = get_text(&gw, "/raw/1.0.0/length").await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    assert_eq!(backend.connections(), 1, "the connection carried all three");
}

#[tokio::test]
async fn broken_backend_answers_fail_cleanly() {
    let backend = RawBackend::start().await;
    let gw = gateway_for(&backend).await;

    let (status, _, body) = get_text(&gw, "/raw/1.0.0/huge-head").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("101503"), "{body}");

    let (status, _, body) = get_text(&gw, "/raw/1.0.0/garbage").await;
    assert_eq!(status, 502, "{body}");

    // A body cut short: the consumer's connection breaks (before or after the head, as the
    // server flushed it), never a short success.
    match gw.client.get(gw.url("/raw/1.0.0/short")).send().await {
        Ok(r) => assert!(
            r.bytes().await.is_err(),
            "a truncated body is an error, not a short success"
        ),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }

    // The gateway still serves.
    let (status, _, body) = get_text(&gw, "/raw/1.0.0/length").await;
    assert_eq!((status, body.as_str()), (200, "hello"));
}

#[tokio::test]
async fn request_bodies_go_out_with_their_length_or_chunked() {
    let backend = RawBackend::start().await;
    let gw = gateway_for(&backend).await;

    // A small body with its length.
    let r = gw
        .client
        .post(gw.url("/raw/1.0.0/echo"))
        .body("name=portico")
        .send()
        .await
        .expect("send");
    let echoed = r.text().await.expect("body");
    let lower = echoed.to_ascii_lowercase();
    assert!(lower.starts_with("post /echo http/1.1"), "{echoed}");
    assert!(lower.contains("content-length: 12"), "{echoed}");
    assert!(echoed.ends_with("\nname=portico"), "{echoed}");

    // A GET without a body carries no length.
    let (_, _, echoed) = get_text(&gw, "/raw/1.0.0/echo").await;
    let lower = echoed.to_ascii_lowercase();
    assert!(
        !lower.contains("content-length") && !lower.contains("transfer-encoding"),
        "{echoed}"
    );

    // A chunked upload (no length known) is streamed chunked; a large one too.
    for size in [10usize, 300_000] {
        let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
        let mut wire =
            b"POST /raw/1.0.0/echo HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                .to_vec();
        for piece in payload.chunks(7000) {
            wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            wire.extend_from_slice(piece);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        stream.write_all(&wire).await.expect("write");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("answer in time")
            .expect("read");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200"), "{}", &text[..text.len().min(300)]);
        assert!(
            text.to_ascii_lowercase().contains("transfer-encoding: chunked"),
            "the backend saw a chunked body"
        );
        assert!(
            text.ends_with(std::str::from_utf8(&payload).expect("ascii")),
            "body intact ({size} bytes)"
        );
    }
}

/// A streamed (chunked) upload over the API's body limit is refused with 413 as it flows.
#[tokio::test]
async fn streamed_uploads_over_the_limit_answer_413() {
    let backend = RawBackend::start().await;
    let gw = TestGateway::start().await;
    let mut raw = api("raw", "/raw", EndpointDef::Single(TargetDef::new(backend.url.clone())));
    raw.resources = vec![resource("POST", "/*", false)];
    raw.max_request_body = Some(100_000);
    gw.gateway.install(vec![raw]);

    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    let mut wire = b"POST /raw/1.0.0/echo HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..30 {
        wire.extend_from_slice(format!("{:x}\r\n", 5000).as_bytes());
        wire.extend_from_slice(&[b'x'; 5000]);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    // The gateway may stop reading once it has answered; a failed write is fine.
    let _ = stream.write_all(&wire).await;
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

/// A self-signed certificate for `localhost` and a server configuration using it.
fn tls_backend_config() -> (Arc<rustls::ServerConfig>, rustls::pki_types::CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server config");
    (Arc::new(config), cert)
}

/// HTTPS backends: verified against the configured roots (and refused when the certificate is
/// not trusted), or unverified where the endpoint switches verification off; bodies of every
/// framing and connection reuse work the same over TLS.
#[tokio::test]
async fn https_backends_are_verified_and_reused() {
    let (server, cert) = tls_backend_config();
    let backend = RawBackend::start_with_tls(Some(server)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let trusting = GatewaySettings {
        backend_roots: Arc::new(roots),
        ..Default::default()
    };
    let gw = gateway_with(&backend, trusting, true).await;
    for path in ["/raw/1.0.0/length", "/raw/1.0.0/chunked", "/raw/1.0.0/length"] {
        let (status, _, body) = get_text(&gw, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.starts_with("hello"), "{path}: {body}");
    }
    let r = gw
        .client
        .post(gw.url("/raw/1.0.0/echo"))
        .body(vec![b'z'; 200_000])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").ends_with(&"z".repeat(200_000)));
    assert_eq!(backend.connections(), 1, "one TLS connection reused throughout");
    let (status, _, body) = get_text(&gw, "/raw/1.0.0/until-close").await;
    assert_eq!((status, body.as_str()), (200, "until the end"));

    // Not trusted: 502 with the reason; trusted by switching verification off.
    let strict = gateway_with(&backend, Default::default(), true).await;
    let (status, _, body) = get_text(&strict, "/raw/1.0.0/length").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("101503"), "{body}");
    let lenient = gateway_with(&backend, Default::default(), false).await;
    let (status, _, body) = get_text(&lenient, "/raw/1.0.0/length").await;
    assert_eq!((status, body.as_str()), (200, "hello"));
}
