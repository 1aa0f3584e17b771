//! What a client can and cannot make the gateway forward, over raw sockets against a backend that
//! records every request it receives: `X-Forwarded-For` sent in several lines and the client
//! address behind trusted proxies; identity headers; HTTP/2 bodies without a length; and the
//! parsing rules a front end such as nginx holds clients to (transfer codings, trailers,
//! chunk-size lines, repeated lengths, `Host`, HEAD answers, Content-Length beside
//! Transfer-Encoding on every path, `Expect`).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::wire::{RecordingBackend, TestCertificate, exchange, h2_request, statuses};
use common::{TestGateway, wildcard_api};
use portico_gateway::model::{EndpointDef, TargetDef};
use portico_gateway::{AnalyticsRecord, GatewaySettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// A request that follows an attack in the same write: it must never reach the backend when the
/// attack is refused (the connection closes with the refusal).
const SMUGGLED: &str = "GET /p/1.0.0/smuggled HTTP/1.1\r\nHost: gw\r\n\r\n";

/// API `/p` (GET, POST and HEAD on every path) in front of `backend`.
fn install(gw: &TestGateway, backend: &RecordingBackend) {
    let errors = gw.gateway.install(vec![wildcard_api(
        "p",
        "/p",
        EndpointDef::Single(TargetDef::new(backend.url())),
    )]);
    assert!(errors.is_empty(), "{errors:?}");
}

async fn gateway(settings: GatewaySettings) -> (TestGateway, RecordingBackend) {
    let backend = RecordingBackend::start().await;
    let gw = TestGateway::start_with(settings).await;
    install(&gw, &backend);
    (gw, backend)
}

/// Sends `attack` with a request after it in the same write: the answer is one `status` and
/// nothing reaches the backend, not even the request after the attack. Returns the answer.
async fn assert_refused(gw: &TestGateway, backend: &RecordingBackend, attack: &str, status: u16) -> String {
    let answer = exchange(gw.addr, format!("{attack}{SMUGGLED}").as_bytes()).await;
    assert_eq!(statuses(&answer), [status], "{attack}: {answer}");
    let received = backend.settle().await;
    assert!(
        received.is_empty(),
        "{attack}: {:?}",
        received.iter().map(|r| &r.head).collect::<Vec<_>>()
    );
    answer
}

async fn next_record(records: &mut mpsc::Receiver<AnalyticsRecord>) -> AnalyticsRecord {
    tokio::time::timeout(Duration::from_secs(5), records.recv())
        .await
        .expect("a record in time")
        .expect("a record")
}

#[tokio::test]
async fn forwarded_for_lines_are_combined_and_trusted_proxies_name_the_client() {
    let wire = "GET /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 10.0.0.5\r\nConnection: close\r\n\r\n";
    let trusting = GatewaySettings {
        trusted_proxies: vec!["127.0.0.0/8".parse().expect("net"), "10.0.0.0/8".parse().expect("net")],
        ..Default::default()
    };
    for (settings, client) in [(trusting, "6.6.6.6"), (GatewaySettings::default(), "127.0.0.1")] {
        let backend = RecordingBackend::start().await;
        let (records, mut analytics) = mpsc::channel(16);
        let gw = TestGateway::start_with_analytics(settings, Some(records)).await;
        install(&gw, &backend);

        let answer = exchange(gw.addr, wire.as_bytes()).await;
        assert_eq!(statuses(&answer), [200], "{answer}");
        let received = backend.settle().await;
        assert_eq!(received.len(), 1);
        assert_eq!(
            received[0].fields("x-forwarded-for"),
            ["6.6.6.6, 10.0.0.5, 127.0.0.1"],
            "both lines, in order, then the peer: {}",
            received[0].head
        );
        assert_eq!(received[0].field("x-real-ip").as_deref(), Some(client));
        let record = next_record(&mut analytics).await;
        assert_eq!(record.context.client_ip, Some(client.parse::<IpAddr>().expect("ip")));
    }
}

#[tokio::test]
async fn identity_headers_from_clients_never_reach_the_backend() {
    let key = rcgen::KeyPair::generate().expect("key");
    let settings = GatewaySettings {
        backend_jwt: Some(portico_gateway::BackendJwtSettings {
            header: http::HeaderName::from_static("x-caller-jwt"),
            key: jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("key"),
            algorithm: jsonwebtoken::Algorithm::ES256,
            kid: "node-key".into(),
            max_ttl_seconds: 900,
        }),
        strip_request_headers: vec!["X-Internal-*".into(), "X-Tenant".into()],
        ..Default::default()
    };
    let (gw, backend) = gateway(settings).await;
    let forged = [
        "X-JWT-Assertion: forged",
        "X_JWT_Assertion: forged",
        "x-jwt-ASSERTION: forged",
        "X-Caller-JWT: forged",
        "X_Caller_JWT: forged",
        "X-Forwarded-For: 6.6.6.6",
        "X_Forwarded_For: 7.7.7.7",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Proto: https",
        "X-Forwarded-Port: 443",
        "X-Forwarded-User: admin",
        "Forwarded: for=6.6.6.6;proto=https",
        "X-Real-IP: 6.6.6.6",
        "X_Real_IP: 6.6.6.6",
        "X-WSO2-Tenant: carbon.super",
        "X-Internal-User: admin",
        "x_internal_role: root",
        "X-Tenant: other",
    ];
    let wire = format!(
        "GET /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\n{}\r\nX-Kept: 1\r\nX-Tenants: kept\r\nConnection: close\r\n\r\n",
        forged.join("\r\n")
    );
    let answer = exchange(gw.addr, wire.as_bytes()).await;
    assert_eq!(statuses(&answer), [200], "{answer}");
    let received = backend.settle().await;
    assert_eq!(received.len(), 1);
    let seen = &received[0];
    assert!(!seen.head.contains("forged"), "{}", seen.head);
    assert!(!seen.head.contains("7.7.7.7"), "{}", seen.head);
    for name in [
        "x_jwt_assertion",
        "x-jwt-assertion",
        "x-caller-jwt",
        "x_caller_jwt",
        "x_forwarded_for",
        "x-forwarded-port",
        "x-forwarded-user",
        "forwarded",
        "x_real_ip",
        "x-wso2-tenant",
        "x-internal-user",
        "x_internal_role",
        "x-tenant",
    ] {
        assert!(seen.fields(name).is_empty(), "{name}: {}", seen.head);
    }
    // The client's own `X-Forwarded-For` is the start of the chain the gateway extends (the
    // client address stays the peer: no proxy is trusted).
    assert_eq!(seen.fields("x-forwarded-for"), ["6.6.6.6, 127.0.0.1"]);
    assert_eq!(seen.fields("x-forwarded-host"), ["gw"]);
    assert_eq!(seen.fields("x-forwarded-proto"), ["http"]);
    assert_eq!(seen.fields("x-real-ip"), ["127.0.0.1"]);
    assert_eq!(seen.fields("x-kept"), ["1"]);
    assert_eq!(seen.fields("x-tenants"), ["kept"]);
}

#[tokio::test]
async fn http2_bodies_without_a_length_stream_to_the_backend() {
    let certificate = TestCertificate::new();
    let backend = RecordingBackend::start().await;
    let gw = TestGateway::start_tls(GatewaySettings::default(), certificate.server_config()).await;
    install(&gw, &backend);

    let (status, body) = h2_request(
        gw.addr,
        &certificate,
        "POST",
        "/p/1.0.0/upload",
        &[b"abc", b"def"],
        false,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let received = backend.settle().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, b"abcdef", "{}", received[0].head);
    assert_eq!(received[0].fields("transfer-encoding"), ["chunked"]);
    assert!(received[0].fields("content-length").is_empty());

    let (status, _) = h2_request(
        gw.addr,
        &certificate,
        "POST",
        "/p/1.0.0/upload",
        &[b"abc", b"def"],
        true,
    )
    .await;
    assert_eq!(status, 200);
    let received = backend.settle().await;
    assert_eq!(received[0].body, b"abcdef");
    assert_eq!(received[0].fields("content-length"), ["6"]);
    assert!(received[0].fields("transfer-encoding").is_empty());

    let (status, _) = h2_request(gw.addr, &certificate, "GET", "/p/1.0.0/x", &[], false).await;
    assert_eq!(status, 200);
    let received = backend.settle().await;
    assert!(
        received[0].fields("content-length").is_empty() && received[0].fields("transfer-encoding").is_empty(),
        "a GET without a body carries no framing: {}",
        received[0].head
    );
}

/// Transfer codings other than exactly `chunked`, trailers that are no fields and chunk-size
/// lines off the grammar are refused, and nothing reaches the backend: neither the request nor
/// what was written after it.
#[tokio::test]
async fn bad_transfer_codings_trailers_and_chunk_sizes_are_refused() {
    let (gw, backend) = gateway(GatewaySettings::default()).await;
    let post = "POST /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\n";
    let cases: [(&str, u16, &str); 10] = [
        (
            "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            400,
            "transfer codings other than chunked are not accepted",
        ),
        (
            "Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            400,
            "chunked is not the final transfer coding",
        ),
        (
            "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            501,
            "unknown transfer coding",
        ),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            400,
            "chunked is applied more than once",
        ),
        (
            "Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            400,
            "chunked is not the final transfer coding",
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\n5 junk\r\nhello\r\n0\r\n\r\n",
            400,
            "the client's chunked body is malformed: invalid chunk extension",
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n",
            400,
            "the client's chunked body is malformed: invalid chunk extension",
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            400,
            "the client's chunked body is malformed: invalid chunk size",
        ),
        (
            // The final CRLF is missing: the next request would be read as trailers.
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
            400,
            "the client's chunked body is malformed: invalid trailer field",
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n folded\r\n\r\n",
            400,
            "the client's chunked body is malformed: invalid trailer field",
        ),
    ];
    for (rest, status, description) in cases {
        let answer = assert_refused(&gw, &backend, &format!("{post}{rest}"), status).await;
        assert!(answer.contains(description), "says what was wrong: {rest}: {answer}");
    }

    // A well-formed chunked body with extensions and trailers passes, decoded.
    let answer = exchange(
        gw.addr,
        format!("{post}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5 ; name=\"v\"\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(statuses(&answer), [200], "{answer}");
    let received = backend.settle().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, b"hello");
}

#[tokio::test]
async fn repeated_content_lengths_go_on_as_one_field() {
    let (gw, backend) = gateway(GatewaySettings::default()).await;
    for lengths in [
        "Content-Length: 5\r\nContent-Length: 05\r\n",
        "Content-Length: 5, 5\r\n",
    ] {
        let wire = format!("POST /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\n{lengths}Connection: close\r\n\r\nhello");
        let answer = exchange(gw.addr, wire.as_bytes()).await;
        assert_eq!(statuses(&answer), [200], "{lengths}: {answer}");
        let received = backend.settle().await;
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].fields("content-length"), ["5"], "{}", received[0].head);
        assert_eq!(received[0].body, b"hello");
    }
    let answer = exchange(
        gw.addr,
        b"POST /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 5, 6\r\n\r\nhello",
    )
    .await;
    assert_eq!(statuses(&answer), [400], "{answer}");

    // Responses too: the backend's `5, 5` or `5` and `05` reach the client as one field.
    for path in ["dup-length-list", "dup-length-lines"] {
        let wire = format!("GET /p/1.0.0/{path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
        let answer = exchange(gw.addr, wire.as_bytes()).await;
        let lower = answer.to_ascii_lowercase();
        assert_eq!(lower.matches("content-length").count(), 1, "{path}: {answer}");
        assert!(lower.contains("content-length: 5\r\n"), "{path}: {answer}");
        assert!(answer.ends_with("\r\n\r\nhello"), "{path}: {answer}");
    }
    backend.settle().await;
}

#[tokio::test]
async fn host_is_required_once_and_valid_and_absolute_targets_win() {
    let (gw, backend) = gateway(GatewaySettings::default()).await;
    for head in [
        "GET /p/1.0.0/x HTTP/1.1\r\n",
        "GET /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\nHost: gw\r\n",
        "GET /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\nHost: other\r\n",
        "GET /p/1.0.0/x HTTP/1.1\r\nHost: \r\n",
        "GET /p/1.0.0/x HTTP/1.1\r\nHost: g w\r\n",
        "GET /p/1.0.0/x HTTP/1.1\r\nHost: gw/x\r\n",
        "GET /p/1.0.0/x HTTP/1.1\r\nHost: user@gw\r\n",
        "GET http://user@gw/p/1.0.0/x HTTP/1.1\r\nHost: gw\r\n",
    ] {
        let answer = assert_refused(&gw, &backend, &format!("{head}\r\n"), 400).await;
        assert!(
            answer.contains("\"description\":\"The request head was refused: "),
            "{answer}"
        );
        assert!(
            answer.contains("Host") || answer.contains("authority"),
            "says what was wrong: {answer}"
        );
    }

    let answer = exchange(
        gw.addr,
        b"GET http://api.example:8280/p/1.0.0/x HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), [200], "{answer}");
    let answer = exchange(gw.addr, b"GET /p/1.0.0/y HTTP/1.0\r\n\r\n").await;
    assert_eq!(statuses(&answer), [200], "HTTP/1.0 needs no Host: {answer}");
    let received = backend.settle().await;
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].path, "/x");
    assert_eq!(
        received[0].fields("x-forwarded-host"),
        ["api.example:8280"],
        "the target's authority wins"
    );
    assert!(received[1].fields("x-forwarded-host").is_empty());
}

#[tokio::test]
async fn head_answers_keep_the_framing_the_get_would_have() {
    let (gw, backend) = gateway(GatewaySettings::default()).await;
    let answer = exchange(
        gw.addr,
        b"HEAD /p/1.0.0/head-chunked HTTP/1.1\r\nHost: gw\r\n\r\nGET /p/1.0.0/head-chunked HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), [200, 200], "{answer}");
    let (head_answer, get_answer) = answer.split_at(answer.rfind("HTTP/1.1 200").expect("second"));
    let head_lower = head_answer.to_ascii_lowercase();
    assert!(head_lower.contains("transfer-encoding: chunked\r\n"), "{head_answer}");
    assert!(!head_lower.contains("content-length"), "{head_answer}");
    assert!(head_answer.ends_with("\r\n\r\n"), "no body: {head_answer}");
    assert!(
        get_answer.to_ascii_lowercase().contains("transfer-encoding: chunked"),
        "{get_answer}"
    );
    assert!(get_answer.ends_with("5\r\nhello\r\n0\r\n\r\n"), "{get_answer}");
    assert_eq!(backend.settle().await.len(), 2);
}

#[tokio::test]
async fn content_length_beside_transfer_encoding_is_refused_on_every_path() {
    let (gw, backend) = gateway(GatewaySettings::default()).await;
    for head in [
        "GET /health HTTP/1.1\r\n",
        "OPTIONS /p/1.0.0/x HTTP/1.1\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n",
        "POST /p/1.0.0/x HTTP/1.1\r\n",
        "POST /nowhere HTTP/1.1\r\n",
    ] {
        let attack = format!("{head}Host: gw\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        let answer = assert_refused(&gw, &backend, &attack, 400).await;
        assert!(
            answer.contains("may not carry both Content-Length and Transfer-Encoding"),
            "{answer}"
        );
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    }
}

#[tokio::test]
async fn expect_is_answered_by_the_gateway_and_not_forwarded() {
    let (gw, backend) = gateway(GatewaySettings::default()).await;
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    stream
        .write_all(b"POST /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .await
        .expect("head");
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).await.expect("100 Continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"hello").await.expect("body");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(statuses(&answer), [200], "{answer}");
    let received = backend.settle().await;
    assert_eq!(received.len(), 1);
    assert!(received[0].fields("expect").is_empty(), "{}", received[0].head);
    assert_eq!(received[0].body, b"hello");
}
