//! Production hardening (issue 20): production mode's refusals, the dev-mode banner line, and
//! secrets sealed into `[secrets]` by `portico vault encrypt` that never show anywhere.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use portico_testkit::{Node, NodeOptions, init_home};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const STRONG: &str = "correct-horse-battery-staple";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn portico(args: &[&str], home: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--home")
        .arg(home)
        .output()
        .expect("run portico")
}

/// `portico serve` on a home that production mode refuses: it must exit (status 2) rather than
/// start; returns what it printed.
fn refused_serve(home: &Path) -> String {
    let out = portico(&["serve"], home);
    assert_eq!(out.status.code(), Some(2), "serve must refuse: {}", text(&out));
    text(&out)
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn edit(home: &Path, from: &str, to: &str) {
    let path = home.join("conf/deployment.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "no `{from}` in deployment.toml");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

const PRODUCTION: (&str, &str) = ("mode = \"dev\"", "mode = \"production\"");

#[tokio::test]
async fn production_mode_refuses_each_weakness_naming_the_fix_then_starts_hardened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    let options = NodeOptions {
        admin_password: "admin".into(),
        config_edits: vec![
            (PRODUCTION.0.into(), PRODUCTION.1.into()),
            (
                "[apim.sample_backend]\n# enable = true".into(),
                "[apim.sample_backend]\nenable = true".into(),
            ),
        ],
        ..NodeOptions::default()
    };
    init_home(Path::new(BIN), home, &options).expect("init");
    let config = home.join("conf/deployment.toml");
    let key = home.join("conf/security/node-key.pem");
    chmod(&config, 0o644);
    chmod(&key, 0o640);

    let printed = refused_serve(home);
    for expected in [
        "[server] mode = \"production\"",
        "[apim.sample_backend] enable = true serves the PizzaShack sample: remove the key or set it to false",
        &format!(
            "{} is readable by other users (mode 644): run `chmod 600",
            config.display()
        ),
        &format!(
            "{} is readable by other users (mode 640): run `chmod 600",
            key.display()
        ),
        "the stored password of the admin `admin` is a default or common one",
    ] {
        assert!(printed.contains(expected), "`{expected}` missing from:\n{printed}");
    }
    let check = portico(&["config", "check"], home);
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    assert!(text(&check).contains("readable by other users"), "{}", text(&check));

    chmod(&config, 0o600);
    chmod(&key, 0o600);
    edit(
        home,
        "[apim.sample_backend]\nenable = true",
        "[apim.sample_backend]\nenable = false",
    );
    let printed = refused_serve(home);
    assert!(printed.contains("is a default or common one"), "{printed}");
    assert!(!printed.contains("readable by other users"), "{printed}");

    // A plain [super_admin] password is held to the password policy before anything else.
    edit(home, "password_hash = ", "password = \"short\"\n# password_hash = ");
    let check = portico(&["config", "check"], home);
    assert!(
        text(&check).contains("[super_admin] password must be at least 12 characters (it has 5)"),
        "{}",
        text(&check)
    );

    // Hardened: a strong admin, nothing else to refuse. The node starts, without the dev banner.
    let dir = tempfile::tempdir().expect("tempdir");
    let hardened = NodeOptions {
        admin_password: STRONG.into(),
        config_edits: vec![(PRODUCTION.0.into(), PRODUCTION.1.into())],
        ..NodeOptions::default()
    };
    init_home(Path::new(BIN), dir.path(), &hardened).expect("init");
    let node = Node::start(
        Path::new(BIN),
        NodeOptions {
            home: Some(dir.path().to_path_buf()),
            ..hardened
        },
    )
    .await
    .expect("a hardened production node starts");
    assert!(!node.output().contains("DEV MODE"), "{}", node.output());
    let sample = node
        .client
        .get(node.url("/am/sample/pizzashack/v1/api/menu"))
        .send()
        .await
        .expect("sample");
    assert_eq!(sample.status(), 404, "no sample backend in production");
    // The password policy applies to the users an admin makes.
    let admin = portico_testkit::Admin(&node);
    let (status, body) = admin
        .call(
            reqwest::Method::POST,
            "/scim2/Users",
            Some(&serde_json::json!({"userName": "dave", "password": "dave-pw-1", "roles": ["subscriber"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("password must be at least 12 characters"),
        "{body}"
    );
    admin
        .post(
            "/scim2/Users",
            &serde_json::json!({"userName": "dave", "password": "a long enough passphrase", "roles": ["subscriber"]}),
        )
        .await;
}

#[tokio::test]
async fn dev_mode_says_it_is_not_for_production() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let banner = node.output();
    let lines: Vec<&str> = banner.lines().filter(|l| l.contains("not for production")).collect();
    assert_eq!(lines.len(), 1, "{banner}");
    assert!(
        lines[0].contains("DEV MODE") && lines[0].contains("mode = \"production\""),
        "{banner}"
    );
}

#[test]
fn production_mode_refuses_an_empty_env_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = NodeOptions {
        config_edits: vec![
            (PRODUCTION.0.into(), PRODUCTION.1.into()),
            (
                "pool_size = 10".into(),
                "pool_size = 10\npassword = \"$env{PORTICO_TEST_DB_PW}\"".into(),
            ),
        ],
        ..NodeOptions::default()
    };
    init_home(Path::new(BIN), dir.path(), &options).expect("init");
    let out = Command::new(BIN)
        .args(["config", "check", "--home"])
        .arg(dir.path())
        .env("PORTICO_TEST_DB_PW", "")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("key `database.apim_db.password`: $env{PORTICO_TEST_DB_PW} is empty"),
        "{}",
        text(&out)
    );
}

/// `portico vault encrypt --alias <alias>` with `value` on standard input.
fn seal(home: &Path, alias: &str, value: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["vault", "encrypt", "--alias", alias, "--home"])
        .arg(home)
        .env_remove("PORTICO_VAULT_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{value}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

#[tokio::test]
async fn sealed_secrets_work_and_never_show_in_files_output_errors_or_answers() {
    let admin_secret = "Adm1n-Vault-Secret-7f3a";
    let km_secret = "Km-Introspection-Secret-c91e";
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    init_home(Path::new(BIN), home, &NodeOptions::default()).expect("init");
    let printed = seal(home, "admin_pw", admin_secret) + &seal(home, "km_secret", km_secret);
    assert!(printed.contains("Created the vault key"), "{printed}");
    assert!(printed.contains("Use it as \"$secret{admin_pw}\""), "{printed}");
    let vault_key = home.join("conf/security/vault.key");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&vault_key).expect("key").permissions()) & 0o777,
        0o600
    );
    // The admin is created from the sealed password at the first start.
    edit(
        home,
        "password_hash = ",
        "password = \"$secret{admin_pw}\"\n# password_hash = ",
    );
    edit(
        home,
        "# [[apim.jwt.issuer]]\n",
        "[[apim.jwt.issuer]]\nname = \"https://sso.test/realms/a\"\njwks.url = \"https://sso.test/certs\"\nintrospection.url = \"https://sso.test/introspect\"\nintrospection.client_id = \"gw\"\nintrospection.client_secret = \"$secret{km_secret}\"\n",
    );
    let check = portico(&["config", "check"], home);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("secrets: 2 alias(es), all decrypt: admin_pw, km_secret"),
        "{}",
        text(&check)
    );

    let node = Node::start(
        Path::new(BIN),
        NodeOptions {
            home: Some(home.to_path_buf()),
            admin_password: admin_secret.into(),
            ..NodeOptions::default()
        },
    )
    .await
    .expect("node");
    let mut answers = String::new();
    for path in [
        "/api/am/admin/v4/key-managers",
        "/api/am/devportal/v3/key-managers",
        "/health/ready",
    ] {
        let r = node
            .client
            .get(node.url(path))
            .basic_auth("admin", Some(admin_secret))
            .send()
            .await
            .expect("request");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        answers.push_str(&r.text().await.expect("body"));
    }
    assert!(answers.contains("https://sso.test/realms/a"), "{answers}");

    // A reference to an alias that does not exist: the error names it, shows no value.
    edit(home, "$secret{km_secret}", "$secret{km_secrets}");
    let broken = portico(&["config", "check"], home);
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        text(&broken).contains("`$secret{km_secrets}` names no alias"),
        "{}",
        text(&broken)
    );

    let mut everything = format!("{printed}{}{}{answers}{}", text(&check), text(&broken), node.output());
    for entry in walk(home) {
        everything.push_str(&String::from_utf8_lossy(&std::fs::read(&entry).expect("read")));
    }
    for secret in [admin_secret, km_secret] {
        assert!(!everything.contains(secret), "`{secret}` leaked");
    }
}

/// Every file under `dir`: configuration, keys, database, logs.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
