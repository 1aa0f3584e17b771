//! Listener limits of hyper-served connections (the management server's): request heads over
//! the limit are answered 431, over a real socket.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from(request.uri().path().to_owned()))))
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let listener = portico_net::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // The default limit, 64 KiB.
    let limits = portico_net::ListenerLimits::default();
    tokio::spawn(portico_net::serve(
        listener,
        None,
        tower::service_fn(answer),
        limits,
        std::future::pending(),
        Duration::from_secs(1),
    ));

    for (size, want) in [(1024, "HTTP/1.1 200"), (70 * 1024, "HTTP/1.1 431")] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "GET /p HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(size)
        );
        // The server may answer and close before reading all of it.
        let _ = stream.write_all(request.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with(want), "{size}-byte header: {text}");
    }
}
