//! The command line: init, config check, cert, serve-initialises, version.

use std::path::Path;
use std::process::{Command, Output};

use portico_testkit::{Node, NodeOptions, init_home};

const BIN: &str = env!("CARGO_BIN_EXE_portico");

fn portico(args: &[&str], home: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--home")
        .arg(home)
        .output()
        .expect("run portico")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn version_prints_the_crate_version() {
    let out = Command::new(BIN).arg("--version").output().expect("run");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("portico {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn init_creates_the_home_and_refuses_to_overwrite_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("node");
    let out = portico(&["init"], &home);
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    let password_line = printed
        .lines()
        .find(|l| l.contains("Admin password:"))
        .expect("password printed");
    let password = password_line.split(':').nth(1).expect("value").trim();
    assert!(password.len() >= 20, "strong generated password: {password}");

    for dir in ["conf/security", "database", "deployment/server", "logs"] {
        assert!(home.join(dir).is_dir(), "{dir}");
    }
    let config = std::fs::read_to_string(home.join("conf/deployment.toml")).expect("config");
    assert!(config.contains("password_hash = \"$argon2id$"), "hash stored");
    assert!(!config.contains(password), "the plain password is not stored");
    assert!(config.contains("[keystore.primary]") && config.contains("[[apim.gateway.environment]]"));

    let before = std::fs::read(home.join("conf/security/node-key.pem")).expect("key");
    let again = portico(&["init"], &home);
    assert!(!again.status.success());
    assert!(text(&again).contains("refusing to overwrite"), "{}", text(&again));
    assert_eq!(
        std::fs::read(home.join("conf/security/node-key.pem")).expect("key"),
        before,
        "key untouched"
    );

    let check = portico(&["config", "check"], &home);
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("is valid"));
}

#[test]
fn config_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    init_home(Path::new(BIN), dir.path(), &NodeOptions::default()).expect("init");
    let path = dir.path().join("conf/deployment.toml");
    let original = std::fs::read_to_string(&path).expect("read");

    let cases: &[(&str, &str, &str)] = &[
        // (replace, with, expected key in the message)
        (
            "hostname = \"localhost\"",
            "hostname = \"localhost\"\nhostnme = \"typo\"",
            "hostnme",
        ),
        ("pool_size = 10", "pool_size = \"ten\"", "database.apim_db.pool_size"),
        ("pool_size = 10", "pool_size = 0", "database.apim_db.pool_size"),
        ("mode = \"dev\"", "mode = \"staging\"", "server.mode"),
        ("type = \"sqlite\"", "type = \"oracle\"", "database.apim_db.type"),
    ];
    for (from, to, key) in cases {
        let broken = original.replacen(from, to, 1);
        let line = broken
            .lines()
            .position(|l| l.contains(to.lines().last().unwrap_or(to)))
            .expect("edited line")
            + 1;
        std::fs::write(&path, &broken).expect("write");
        for args in [&["config", "check"][..], &["serve"][..]] {
            let out = portico(args, dir.path());
            assert_eq!(out.status.code(), Some(2), "{args:?} with {to}: {}", text(&out));
            let message = text(&out);
            assert!(message.contains("deployment.toml"), "file named: {message}");
            assert!(message.contains(&format!(":{line}:")), "line {line} named: {message}");
            assert!(message.contains(key), "key {key} named: {message}");
        }
    }
    std::fs::write(&path, original).expect("restore");
    assert!(portico(&["config", "check"], dir.path()).status.success());
}

#[test]
fn cert_show_and_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    init_home(Path::new(BIN), dir.path(), &NodeOptions::default()).expect("init");
    let show = portico(&["cert", "show"], dir.path());
    assert!(show.status.success(), "{}", text(&show));
    let shown = text(&show);
    assert!(shown.contains("[keystore.tls]") && shown.contains("[keystore.primary]"));
    assert!(
        shown.contains("EC P-256") && shown.contains("DNS:localhost") && shown.contains("IP:127.0.0.1"),
        "{shown}"
    );

    let refused = portico(&["cert", "create"], dir.path());
    assert!(!refused.status.success());
    assert!(text(&refused).contains("--force"), "{}", text(&refused));

    let created = portico(
        &[
            "cert",
            "create",
            "--key-type",
            "rsa",
            "--hostname",
            "gw.example.com",
            "--force",
        ],
        dir.path(),
    );
    assert!(created.status.success(), "{}", text(&created));
    let shown = text(&portico(&["cert", "show"], dir.path()));
    assert!(
        shown.contains("RSA 2048") && shown.contains("DNS:gw.example.com"),
        "{shown}"
    );
}

#[tokio::test]
async fn rsa_node_serves_tls() {
    let node = Node::start(
        Path::new(BIN),
        NodeOptions {
            key_type: "rsa",
            ..Default::default()
        },
    )
    .await
    .expect("node");
    let r = node
        .client
        .get(node.url("/health/live"))
        .send()
        .await
        .expect("live over RSA TLS");
    assert!(r.status().is_success());
}

#[tokio::test]
async fn serve_without_a_home_initialises_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("fresh");
    // The auto-initialised node listens on the default ports, which may be taken on a test
    // machine, so this test stops it once the home is written and checks what init did.
    let mut child = Command::new(BIN)
        .args(["serve", "--home"])
        .arg(&home)
        .env("PORTICO_ADMIN_PASSWORD", "given-pw")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !home.join("conf/deployment.toml").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    let printed = text(&out);
    assert!(printed.contains("initialising one first"), "{printed}");
    assert!(home.join("conf/deployment.toml").exists());
    assert!(
        !printed.contains("Admin password:"),
        "a given password is not printed: {printed}"
    );
}
