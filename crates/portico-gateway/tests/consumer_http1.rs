//! The gateway's own HTTP/1.1 server, spoken to over raw sockets: pipelining, `Expect:
//! 100-continue`, HTTP/1.0 clients, the header read timeout (slowloris), request bodies the
//! phases never read, and draining on shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{TestGateway, api};
use portico_gateway::model::{EndpointDef, TargetDef};
use portico_testkit::EchoBackend as Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `gw` with API `/p` (the resources of `common::api`) in front of a new echoing backend.
async fn with_backend(gw: TestGateway) -> (TestGateway, Backend) {
    let backend = Backend::start("b").await.expect("backend");
    let errors = gw.gateway.install(vec![api(
        "p",
        "/p",
        EndpointDef::Single(TargetDef::new(backend.url("/"))),
    )]);
    assert!(errors.is_empty(), "{errors:?}");
    (gw, backend)
}

/// Reads until the server closes the connection (at most 10 s).
async fn read_all(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection in time")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Reads one response head (up to the blank line).
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("in time")
            .expect("read");
        assert_eq!(
            n,
            1,
            "connection closed before a full head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("a content-length")
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (gw, backend) = with_backend(TestGateway::start().await).await;
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    stream
        .write_all(
            b"GET /p/1.0.0/menu/1 HTTP/1.1\r\nHost: gw\r\n\r\nGET /p/1.0.0/menu/2 HTTP/1.1\r\nHost: gw\r\n\r\nGET /p/1.0.0/menu/3 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
    let text = read_all(&mut stream).await;
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
    let first = text.find("/menu/1").expect("first");
    let second = text.find("/menu/2").expect("second");
    let third = text.find("/menu/3").expect("third");
    assert!(first < second && second < third, "in order: {text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "the last asked to close"
    );
    backend.stop().await;
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_read() {
    let (gw, backend) = with_backend(TestGateway::start().await).await;
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    stream
        .write_all(b"POST /p/1.0.0/orders HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .await
        .expect("write head");
    let interim = read_head(&mut stream).await;
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    stream.write_all(b"hello").await.expect("write body");
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = vec![0u8; content_length(&head)];
    stream.read_exact(&mut body).await.expect("body");
    assert!(String::from_utf8_lossy(&body).contains("\"bodyLength\":5"));

    // A request refused before its body is read gets no 100: its answer comes at once, and the
    // connection closes after it (whether the client will still send the body is unknown).
    stream
        .write_all(
            b"POST /p/1.0.0/nothing-here HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .expect("write head");
    let text = read_all(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    backend.stop().await;
}

#[tokio::test]
async fn http10_clients_get_answers_that_end_with_the_connection() {
    let (gw, backend) = with_backend(TestGateway::start().await).await;
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    stream
        .write_all(b"GET /p/1.0.0/menu HTTP/1.0\r\n\r\n")
        .await
        .expect("write");
    let text = read_all(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    assert!(text.contains("\"/menu\""), "{text}");
    backend.stop().await;
}

#[tokio::test]
async fn slow_request_heads_and_idle_connections_are_closed_after_the_header_timeout() {
    let limits = portico_net::ListenerLimits {
        header_read_timeout: Duration::from_millis(400),
        ..Default::default()
    };
    let (gw, backend) = with_backend(TestGateway::start_with_limits(limits).await).await;

    // Slowloris: a head that never completes.
    let started = Instant::now();
    let mut slow = TcpStream::connect(gw.addr).await.expect("connect");
    slow.write_all(b"GET /p/1.0.0/menu HTTP/1.1\r\nHost: gw\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = slow.write_all(b"X-Trickle: 1\r\n").await;
    let text = read_all(&mut slow).await;
    let waited = started.elapsed();
    assert!(text.is_empty(), "no answer to a head that never completed: {text}");
    assert!(
        waited >= Duration::from_millis(350),
        "closed only after the timeout: {waited:?}"
    );

    // A keep-alive connection that answered one request and then idles is closed too; one
    // that keeps sending requests is not.
    let mut busy = TcpStream::connect(gw.addr).await.expect("connect");
    for _ in 0..4 {
        busy.write_all(b"GET /p/1.0.0/menu HTTP/1.1\r\nHost: gw\r\n\r\n")
            .await
            .expect("write");
        let head = read_head(&mut busy).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut body = vec![0u8; content_length(&head)];
        busy.read_exact(&mut body).await.expect("body");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let idle_since = Instant::now();
    let text = read_all(&mut busy).await;
    assert!(text.is_empty(), "{text}");
    assert!(idle_since.elapsed() < Duration::from_secs(3));
    backend.stop().await;
}

#[tokio::test]
async fn unread_request_bodies_never_break_the_answer() {
    let (gw, backend) = with_backend(TestGateway::start().await).await;

    // A small body sent whole with its request: skipped, the connection carries on.
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /p/1.0.0/nothing-here HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhelloGET /p/1.0.0/menu HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
    let text = read_all(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert_eq!(
        text.matches("HTTP/1.1 200 OK").count(),
        1,
        "the next request is served: {text}"
    );

    // A large body the gateway refuses without reading: the answer arrives whole and the
    // connection closes (not reset while the client is still sending).
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    let mut wire = b"POST /p/1.0.0/nothing-here HTTP/1.1\r\nHost: gw\r\nContent-Length: 3000000\r\n\r\n".to_vec();
    wire.extend(std::iter::repeat_n(b'x', 3_000_000));
    let (mut reader, mut writer) = stream.split();
    let write = async {
        let _ = writer.write_all(&wire).await;
    };
    let read = async {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    };
    let ((), text) = tokio::join!(write, read);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert!(text.contains("900906"), "the whole error body: {text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    backend.stop().await;
}

#[tokio::test]
async fn draining_closes_idle_connections_and_finishes_requests_in_flight() {
    let (mut gw, backend) = with_backend(TestGateway::start().await).await;

    let mut idle = TcpStream::connect(gw.addr).await.expect("connect");
    idle.write_all(b"GET /p/1.0.0/menu HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .expect("write");
    let head = read_head(&mut idle).await;
    assert!(head.starts_with("HTTP/1.1 200"));

    let mut busy = TcpStream::connect(gw.addr).await.expect("connect");
    busy.write_all(b"GET /p/1.0.0/slow HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let drained = gw.shut_down();
    // The idle one closes at once (after the rest of its first response).
    let started = Instant::now();
    let _ = read_all(&mut idle).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "idle connection closed promptly"
    );
    // The busy one gets its answer, marked as the connection's last.
    let text = read_all(&mut busy).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    tokio::time::timeout(Duration::from_secs(5), drained)
        .await
        .expect("drain ends once the connections have closed")
        .expect("serve task");
    assert!(TcpStream::connect(gw.addr).await.is_err(), "no longer listening");
    backend.stop().await;
}
