//! Portico behind a real nginx, as it is deployed: every case of the gateway's request hygiene
//! (forwarded-for lines, identity headers, HTTP/2 bodies, the parsing rules) sent straight to
//! Portico and through nginx in front of it, against a backend that records every request it
//! receives. For each case the two paths agree: either both refuse, or exactly one clean
//! request reaches the backend (the one the client meant, without forged identity headers, with
//! one length and no `Expect`), and nothing written after a refused request is ever served.
//!
//! nginx runs as a child process (`master_process off`: one process, killed by its PID at the
//! end) with a configuration written into a temporary directory, on free loopback ports. Without
//! nginx the test is skipped, unless `CI=true`: then it fails.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::wire::{Received, RecordingBackend, TestCertificate, exchange_without_closing, h2_request, statuses};
use common::{TestGateway, wildcard_api};
use portico_gateway::GatewaySettings;
use portico_gateway::model::{EndpointDef, TargetDef};

/// An nginx reverse proxy in front of one upstream, as a child process.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    http: SocketAddr,
    https: SocketAddr,
}

/// The nginx binary: `/usr/sbin/nginx`, else `nginx` on the `PATH`.
fn nginx_binary() -> Option<PathBuf> {
    let installed = Path::new("/usr/sbin/nginx");
    if installed.exists() {
        return Some(installed.to_path_buf());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("nginx"))
        .find(|candidate| candidate.exists())
}

/// A loopback port nothing listens on now.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

impl Nginx {
    /// nginx proxying to `upstream` on a plain and a TLS (HTTP/2) listener, the way a site puts
    /// it in front of Portico: HTTP/1.1 upstream keep-alive, `Host` and `X-Forwarded-For` set.
    fn start(binary: &Path, upstream: SocketAddr, certificate: &TestCertificate) -> Nginx {
        let dir = tempfile::tempdir().expect("temp dir");
        let (http, https) = (free_port(), free_port());
        let prefix = dir.path().display().to_string();
        std::fs::write(dir.path().join("cert.pem"), &certificate.cert_pem).expect("cert");
        std::fs::write(dir.path().join("key.pem"), &certificate.key_pem).expect("key");
        let conf = format!(
            r#"master_process off;
worker_processes 1;
error_log {prefix}/error.log info;
pid {prefix}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    keepalive_timeout 0;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream portico {{
        server {upstream};
        keepalive 8;
    }}
    server {{
        listen {http};
        listen {https} ssl http2;
        ssl_certificate {prefix}/cert.pem;
        ssl_certificate_key {prefix}/key.pem;
        location / {{
            proxy_pass http://portico;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"#
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("nginx.conf");
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx {
            child,
            dir,
            http,
            https,
        };
        nginx.wait_until_listening();
        nginx
    }

    fn wait_until_listening(&mut self) {
        let started = Instant::now();
        while std::net::TcpStream::connect(self.http).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}): {}", self.error_log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen in time: {}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Only the process this test started, by its PID (one process: no master/worker split).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one path did with one case.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The client got an error and no request reached the backend.
    Refused,
    /// Exactly one clean request reached the backend, and the client got a success.
    Delivered(Delivery),
}

/// What reached the backend, reduced to what the two paths must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Delivery {
    method: String,
    path: String,
    body: Vec<u8>,
    /// The client address the gateway vouched for (`X-Real-IP`).
    client: Option<String>,
}

/// Fields no backend request may carry from a client.
const FORGED: [&str; 8] = [
    "x-jwt-assertion",
    "x_jwt_assertion",
    "x_real_ip",
    "forwarded",
    "x-forwarded-port",
    "x-wso2-tenant",
    "expect",
    "x-smuggled",
];

/// Whether `request` is clean: no forged identity fields, one length at most, no `Expect`, no
/// transfer coding but chunked.
fn check_clean(case: &str, route: &str, request: &Received) {
    let lower = request.head.to_ascii_lowercase();
    for forged in FORGED {
        assert!(
            !lower.lines().any(|line| line.starts_with(forged)),
            "{case} ({route}): the backend got `{forged}`: {}",
            request.head
        );
    }
    assert!(
        request.fields("content-length").len() <= 1,
        "{case} ({route}): {}",
        request.head
    );
    for coding in request.fields("transfer-encoding") {
        assert_eq!(coding, "chunked", "{case} ({route}): {}", request.head);
    }
    assert!(
        request.path != "/smuggled",
        "{case} ({route}): a smuggled request was served"
    );
}

/// The outcome of `answer` (what the client got) and `received` (what the backend got).
fn outcome(case: &str, route: &str, answer: &str, received: &[Received]) -> Outcome {
    let codes = statuses(answer);
    let final_codes: Vec<u16> = codes.iter().copied().filter(|c| *c >= 200).collect();
    assert!(
        final_codes.len() == 1,
        "{case} ({route}): one answer expected, got {codes:?}: {answer}"
    );
    match received {
        [] => {
            assert!(
                final_codes[0] >= 400,
                "{case} ({route}): a success without a backend request: {answer}"
            );
            Outcome::Refused
        }
        [request] => {
            check_clean(case, route, request);
            assert!(
                (200..300).contains(&final_codes[0]),
                "{case} ({route}): delivered but answered {codes:?}: {answer}"
            );
            Outcome::Delivered(Delivery {
                method: request.method.clone(),
                path: request.path.clone(),
                body: request.body.clone(),
                client: request.field("x-real-ip"),
            })
        }
        several => panic!(
            "{case} ({route}): {} requests reached the backend: {:?}",
            several.len(),
            several.iter().map(|r| &r.head).collect::<Vec<_>>()
        ),
    }
}

/// A check of the client's answer: why it is wrong, if it is.
type AnswerCheck = fn(&str) -> Result<(), String>;

/// One request as a client might write it, and what each path must do with it.
struct Case {
    name: &'static str,
    wire: String,
    direct: Outcome,
    /// What nginx in front does: the same, or (where nginx is the stricter or the more lenient
    /// reader) the other safe outcome.
    via_nginx: Outcome,
    /// What the client's answer must (not) contain, on both paths.
    answer_check: Option<AnswerCheck>,
}

fn delivered(method: &str, path: &str, body: &[u8], client: &str) -> Outcome {
    Outcome::Delivered(Delivery {
        method: method.to_owned(),
        path: path.to_owned(),
        body: body.to_vec(),
        client: Some(client.to_owned()),
    })
}

/// A request the attack is followed by, in the same write: served by neither path.
const SMUGGLED: &str = "GET /p/1.0.0/smuggled HTTP/1.1\r\nHost: gw\r\nX-Smuggled: 1\r\n\r\n";

fn cases() -> Vec<Case> {
    let post = "POST /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\n";
    let same = |name, wire: String, outcome: Outcome| Case {
        name,
        wire,
        direct: outcome.clone(),
        via_nginx: outcome,
        answer_check: None,
    };
    let hello = delivered("POST", "/x", b"hello", "127.0.0.1");
    vec![
        // 1. X-Forwarded-For in several lines: combined; the client found behind the proxies.
        same(
            "forwarded-for lines",
            "GET /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 10.0.0.5\r\nConnection: close\r\n\r\n".into(),
            delivered("GET", "/x", b"", "6.6.6.6"),
        ),
        // 2. Identity headers: never forwarded (nginx drops the `_` spellings itself).
        same(
            "identity headers",
            "GET /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\nX-JWT-Assertion: forged\r\nX_JWT_Assertion: forged\r\nX-Real-IP: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Port: 1\r\nX-WSO2-Tenant: forged\r\nConnection: close\r\n\r\n".into(),
            delivered("GET", "/x", b"", "127.0.0.1"),
        ),
        // 4. Transfer codings other than exactly chunked.
        same(
            "gzip, chunked",
            format!("{post}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        same(
            "identity and chunked lines",
            format!("{post}Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        same(
            "chunked twice",
            format!("{post}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        same(
            "unknown coding",
            format!("{post}Transfer-Encoding: foo\r\n\r\n5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        // Chunk-size lines and trailers: nginx reads extensions and trailers loosely and sends
        // the body on with its length; Portico refuses. Either way one request at most.
        Case {
            name: "chunk size with junk",
            wire: format!("{post}Transfer-Encoding: chunked\r\n\r\n5 junk\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
            direct: Outcome::Refused,
            via_nginx: hello.clone(),
            answer_check: None,
        },
        same(
            "chunk size with a bare CR",
            format!("{post}Transfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        Case {
            name: "request line in the trailers",
            wire: format!("{post}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n{SMUGGLED}"),
            direct: Outcome::Refused,
            via_nginx: hello.clone(),
            answer_check: None,
        },
        // Repeated lengths: Portico collapses equal ones; nginx refuses any repeat.
        Case {
            name: "Content-Length 5 and 05",
            wire: format!("{post}Content-Length: 5\r\nContent-Length: 05\r\nConnection: close\r\n\r\nhello"),
            direct: hello.clone(),
            via_nginx: Outcome::Refused,
            answer_check: None,
        },
        Case {
            name: "Content-Length 5, 5",
            wire: format!("{post}Content-Length: 5, 5\r\nConnection: close\r\n\r\nhello"),
            direct: hello.clone(),
            via_nginx: Outcome::Refused,
            answer_check: None,
        },
        same(
            "Content-Length 5, 6",
            format!("{post}Content-Length: 5, 6\r\n\r\nhello{SMUGGLED}"),
            Outcome::Refused,
        ),
        // Host.
        same(
            "no Host",
            format!("GET /p/1.0.0/x HTTP/1.1\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        same(
            "two Hosts",
            format!("GET /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\nHost: other\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        same(
            "invalid Host",
            format!("GET /p/1.0.0/x HTTP/1.1\r\nHost: gw/x\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        same(
            "absolute-form target",
            "GET http://api.example/p/1.0.0/x HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n".into(),
            delivered("GET", "/x", b"", "127.0.0.1"),
        ),
        // HEAD answered chunked: no `content-length: 0` made up.
        Case {
            answer_check: Some(|answer| {
                let lower = answer.to_ascii_lowercase();
                if lower.contains("content-length: 0") {
                    return Err("a HEAD answered chunked got content-length: 0".into());
                }
                Ok(())
            }),
            ..same(
                "HEAD answered chunked",
                "HEAD /p/1.0.0/head-chunked HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".into(),
                delivered("HEAD", "/head-chunked", b"", "127.0.0.1"),
            )
        },
        // Repeated lengths in a response reach the client as one.
        Case {
            answer_check: Some(|answer| {
                let lower = answer.to_ascii_lowercase();
                match lower.matches("content-length").count() {
                    1 if lower.contains("content-length: 5\r\n") => Ok(()),
                    n => Err(format!("{n} content-length fields")),
                }
            }),
            ..same(
                "response with Content-Length 5, 5",
                "GET /p/1.0.0/dup-length-list HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".into(),
                delivered("GET", "/dup-length-list", b"", "127.0.0.1"),
            )
        },
        // Content-Length beside Transfer-Encoding, on every path.
        same(
            "CL+TE on /health",
            format!("GET /health HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        same(
            "CL+TE on a preflight",
            format!("OPTIONS /p/1.0.0/x HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        same(
            "CL+TE",
            format!("{post}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            Outcome::Refused,
        ),
        // Expect: answered in front, never forwarded.
        same(
            "Expect: 100-continue",
            format!("{post}Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello"),
            hello,
        ),
    ]
}

#[tokio::test]
async fn nginx_in_front_and_portico_agree_on_every_case() {
    let Some(binary) = nginx_binary() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nginx is required under CI (.ci/run installs it)"
        );
        eprintln!("nginx is not installed: skipped");
        return;
    };
    let certificate = TestCertificate::new();
    let backend = RecordingBackend::start().await;
    // nginx and the test's own connections come from loopback, which is trusted, as is the
    // 10.0.0.0/8 of the forwarded-for case.
    let settings = || GatewaySettings {
        trusted_proxies: vec!["127.0.0.0/8".parse().expect("net"), "10.0.0.0/8".parse().expect("net")],
        ..Default::default()
    };
    let plain = TestGateway::start_with(settings()).await;
    let tls = TestGateway::start_tls(settings(), certificate.server_config()).await;
    for gw in [&plain, &tls] {
        let p = wildcard_api("p", "/p", EndpointDef::Single(TargetDef::new(backend.url())));
        assert!(gw.gateway.install(vec![p]).is_empty());
    }
    let nginx = Nginx::start(&binary, plain.addr, &certificate);

    let mut failures = Vec::new();
    for case in cases() {
        for (route, addr, expected) in [
            ("direct", plain.addr, &case.direct),
            ("nginx", nginx.http, &case.via_nginx),
        ] {
            let answer = exchange_without_closing(addr, case.wire.as_bytes()).await;
            let received = backend.settle().await;
            let got = outcome(case.name, route, &answer, &received);
            if &got != expected {
                failures.push(format!(
                    "{} ({route}): expected {expected:?}, got {got:?}: {}",
                    case.name,
                    answer.lines().next().unwrap_or_default()
                ));
            }
            if let (Some(check), Outcome::Delivered(_)) = (case.answer_check, &got)
                && let Err(why) = check(&answer)
            {
                failures.push(format!("{} ({route}): {why}: {answer}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nnginx log:\n{}",
        failures.join("\n"),
        nginx.error_log()
    );

    // 3. HTTP/2 bodies without a length, straight to Portico's TLS listener and through nginx's:
    // one request with the whole body either way.
    for (route, addr) in [("direct", tls.addr), ("nginx", nginx.https)] {
        let (status, body) = h2_request(addr, &certificate, "POST", "/p/1.0.0/upload", &[b"abc", b"def"], false).await;
        assert_eq!((status, body.as_str()), (200, "ok"), "{route}");
        let received = backend.settle().await;
        assert_eq!(received.len(), 1, "{route}");
        check_clean("HTTP/2 body", route, &received[0]);
        assert_eq!(received[0].body, b"abcdef", "{route}: {}", received[0].head);
    }
    drop(nginx);
}
