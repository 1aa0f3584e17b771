//! Wire-level helpers shared by the gateway's raw-socket tests: reading a request as a backend
//! sees it, a backend that records every request it receives, raw exchanges with a listener,
//! and a TLS certificate with an HTTP/2 client for the HTTPS listener.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the raw backend read it.
pub struct Received {
    pub method: String,
    pub path: String,
    /// The request line and fields as they arrived.
    pub head: String,
    /// The body, decoded when chunked.
    pub body: Vec<u8>,
}

pub async fn read_request<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Option<Received> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end);
    let lower = head.to_ascii_lowercase();
    let mut parts = head.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let mut body = Vec::new();
    if let Some(length) = length {
        while buf.len() < length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        body = buf.drain(..length).collect();
    } else if lower.contains("transfer-encoding: chunked") {
        // Decode chunk by chunk as bytes arrive.
        loop {
            let line_end = loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let size = usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).ok()?, 16).ok()?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            body.extend(buf.drain(..size));
            buf.drain(..2);
            if size == 0 {
                break;
            }
        }
    }
    Some(Received {
        method,
        path,
        head,
        body,
    })
}

impl Received {
    /// Every value of the field `name` (any case), in order.
    pub fn fields(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// The one value of `name`; panics when there are several.
    pub fn field(&self, name: &str) -> Option<String> {
        let mut values = self.fields(name);
        assert!(values.len() <= 1, "{name} more than once: {}", self.head);
        values.pop()
    }
}

/// A backend that records every complete request it receives and answers by path: `/head-chunked`
/// with a chunked body (none to HEAD), `/dup-length-list` with `Content-Length: 5, 5`,
/// `/dup-length-lines` with `Content-Length: 5` and `05`, anything else `200 ok`.
pub struct RecordingBackend {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl RecordingBackend {
    pub async fn start() -> RecordingBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind backend");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    while let Some(request) = read_request(&mut stream, &mut buf).await {
                        let answer = recorded_answer(&request);
                        record.lock().expect("record").push(request);
                        if stream.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        RecordingBackend { addr, received }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The requests received since the last call.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().expect("record"))
    }

    /// The requests received since the last call, after waiting a moment for stragglers.
    pub async fn settle(&self) -> Vec<Received> {
        tokio::time::sleep(Duration::from_millis(150)).await;
        self.take()
    }
}

fn recorded_answer(request: &Received) -> Vec<u8> {
    let head = request.method == "HEAD";
    let answer: &[u8] = match (request.path.rsplit('/').next().unwrap_or_default(), head) {
        ("head-chunked", true) => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n",
        ("head-chunked", false) => {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        }
        ("dup-length-list", _) => b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
        ("dup-length-lines", _) => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\nhello",
        (_, true) => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
        _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    };
    answer.to_vec()
}

/// Writes `wire` to `addr`, closes the writing side and reads the answer until the server closes
/// (at most 10 s; a reset ends it too).
pub async fn exchange(addr: SocketAddr, wire: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(wire).await;
    let _ = stream.shutdown().await;
    read_until_closed(&mut stream).await
}

/// [`exchange`] for servers that take a half-closed connection for a client gone away (nginx
/// stops serving it): the writing side stays open, so `wire` must ask for the connection to
/// close (or be refused).
pub async fn exchange_without_closing(addr: SocketAddr, wire: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(wire).await;
    read_until_closed(&mut stream).await
}

async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    let read = async {
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server answers and closes in time");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status codes of the responses in `answer`, in order (interim ones included).
pub fn statuses(answer: &str) -> Vec<u16> {
    answer
        .split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|rest| rest.get(..3)?.parse().ok())
        .collect()
}

/// A self-signed certificate for `localhost` and `127.0.0.1`: its DER and PEM, and the key's PEM.
pub struct TestCertificate {
    pub der: rustls::pki_types::CertificateDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
    key_der: Vec<u8>,
}

impl TestCertificate {
    pub fn new() -> TestCertificate {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate");
        TestCertificate {
            der: certified.cert.der().clone(),
            cert_pem: certified.cert.pem(),
            key_pem: certified.signing_key.serialize_pem(),
            key_der: certified.signing_key.serialize_der(),
        }
    }

    /// A server configuration offering HTTP/2 and HTTP/1.1 by ALPN.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(self.key_der.clone().into());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.der.clone()], key)
            .expect("server config");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// One HTTP/2 request over TLS (ALPN `h2`) to `addr`, trusting `certificate`: `chunks` as the
/// body, sent one by one as DATA frames, with `content-length` only when `with_length`. Answers
/// the status and the body.
pub async fn h2_request(
    addr: SocketAddr,
    certificate: &TestCertificate,
    method: &str,
    path: &str,
    chunks: &[&'static [u8]],
    with_length: bool,
) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate.der.clone()).expect("root");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "HTTP/2 negotiated");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    let (body_sender, chunks_received) = tokio::sync::mpsc::channel(4);
    let body = StreamedBody {
        chunks: (!chunks.is_empty()).then_some(chunks_received),
    };
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("https://localhost:{}{path}", addr.port()));
    if with_length {
        request = request.header("content-length", chunks.iter().map(|c| c.len()).sum::<usize>());
    }
    let request = request.body(body).expect("request");
    let chunks: Vec<&'static [u8]> = chunks.to_vec();
    tokio::spawn(async move {
        for chunk in chunks {
            // The frames go out one by one, as a client streaming its upload would send them.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if body_sender.send(Bytes::from_static(chunk)).await.is_err() {
                return;
            }
        }
    });
    let response = sender.send_request(request).await.expect("h2 response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A request body whose chunks arrive over a channel, of unknown length; none at all (the
/// request ends with its head) when there is no channel.
struct StreamedBody {
    chunks: Option<tokio::sync::mpsc::Receiver<Bytes>>,
}

impl http_body::Body for StreamedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        match self.chunks.as_mut() {
            Some(chunks) => chunks
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(http_body::Frame::data(c)))),
            None => std::task::Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_none()
    }
}
