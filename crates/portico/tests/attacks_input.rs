//! Attack suite, hostile input through the REST APIs: SQL injection strings in every path and
//! query parameter of every operation the node serves from WSO2's documents (on SQLite and on
//! PostgreSQL), path traversal in artifact and revision names, server-side request forgery through
//! "import OpenAPI from URL" and key manager discovery (internal addresses refused unless allowed).
//! Each case states the answer it expects.

mod attack_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use attack_support::{P, id};
use portico_testkit::{Admin, Node, NodeOptions, node_on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");

/// WSO2's REST documents: `WSO2_REST_DIR`, else `../shared/wso2-rest` beside the repository.
fn wso2_rest_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("WSO2_REST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/wso2-rest"));
    if dir.join("publisher-api.yaml").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "WSO2's OpenAPI documents are missing at {} (CI=true)",
        dir.display()
    );
    eprintln!("skipped: WSO2's OpenAPI documents are not at {}", dir.display());
    None
}

/// One operation of a WSO2 document: method, full path template, its path and query parameters.
#[derive(Debug, Clone)]
struct Operation {
    method: Method,
    path: String,
    path_params: Vec<String>,
    query_params: Vec<String>,
}

/// Every operation of the three documents, and every OAuth2 scope they name.
fn wso2_operations(dir: &Path) -> (Vec<Operation>, BTreeSet<String>) {
    let mut operations = Vec::new();
    let mut scopes = BTreeSet::new();
    for (file, prefix) in [
        ("publisher-api.yaml", "/api/am/publisher/v4"),
        ("devportal-api.yaml", "/api/am/devportal/v3"),
        ("admin-api.yaml", "/api/am/admin/v4"),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).expect("document");
        let doc: Value = serde_yaml_ng::from_str(&text).expect("YAML");
        if let Some(flows) = doc.pointer("/components/securitySchemes/OAuth2Security/flows/password/scopes") {
            scopes.extend(flows.as_object().expect("scopes").keys().cloned());
        }
        let components = &doc["components"]["parameters"];
        let resolve = |p: &Value| -> Value {
            match p.get("$ref").and_then(Value::as_str) {
                Some(r) => components[r.rsplit('/').next().unwrap_or_default()].clone(),
                None => p.clone(),
            }
        };
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let shared: Vec<Value> = item["parameters"].as_array().cloned().unwrap_or_default();
            for method in ["get", "put", "post", "delete", "patch"] {
                let Some(op) = item.get(method) else { continue };
                let mut params: Vec<Value> = shared.iter().map(&resolve).collect();
                params.extend(
                    op["parameters"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(&resolve),
                );
                let names = |kind: &str| -> Vec<String> {
                    params
                        .iter()
                        .filter(|p| p["in"] == kind)
                        .filter_map(|p| p["name"].as_str().map(str::to_owned))
                        .collect()
                };
                operations.push(Operation {
                    method: Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                    path: format!("{prefix}{path}"),
                    path_params: names("path"),
                    query_params: names("query"),
                });
            }
        }
    }
    (operations, scopes)
}

/// Whether the node routes `op` (not the fallback's "No resource at" 404, not 405), probed
/// without credentials.
async fn served(node: &Node, op: &Operation) -> bool {
    let path = fill(&op.path, |_| "attack-probe".into());
    let r = node
        .client
        .request(op.method.clone(), node.url(&path))
        .send()
        .await
        .expect("probe");
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    !(status == StatusCode::METHOD_NOT_ALLOWED || (status == StatusCode::NOT_FOUND && body.contains("No resource at")))
}

/// `template` with each `{name}` replaced by `value(name)`.
fn fill(template: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else { break };
        out.push_str(&rest[..start]);
        out.push_str(&value(&rest[start + 1..start + end]));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

const INJECTIONS: [&str; 5] = [
    "' OR '1'='1",
    "1; DROP TABLE apis; --",
    "\" OR \"\"=\"",
    "x') UNION SELECT password_hash, username FROM users --",
    "%' AND 1=(SELECT COUNT(*) FROM users) --",
];

/// What a database error leaking into an answer looks like.
const LEAKS: [&str; 6] = [
    "syntax error",
    "SQLSTATE",
    "sqlite",
    "near \"",
    "unrecognized token",
    "pg_",
];

/// A bearer token of the admin carrying every scope the documents name (a JWT check per
/// request instead of an argon2 password check).
async fn admin_token(node: &Node, scopes: &BTreeSet<String>) -> String {
    let (user, password) = node.admin();
    let r = node
        .client
        .post(node.url("/client-registration/v0.17/register"))
        .basic_auth(user, Some(password))
        .json(&json!({"clientName": "attack_sql", "owner": user, "grantType": "password", "saasApp": true}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::OK);
    let client: Value = r.json().await.expect("JSON");
    let scope = scopes.iter().cloned().collect::<Vec<_>>().join(" ");
    let r = node
        .client
        .post(node.url("/oauth2/token"))
        .basic_auth(id(&client, "clientId"), Some(id(&client, "clientSecret")))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", &scope),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    id(&r.json::<Value>().await.expect("JSON"), "access_token")
}

node_on_both_backends!(
    sqlite_sql_injection_in_every_parameter,
    postgres_sql_injection_in_every_parameter,
    |node, _db| check_sql_injection(node)
);

async fn check_sql_injection(node: &Node) {
    let Some(dir) = wso2_rest_dir() else { return };
    let (operations, scopes) = wso2_operations(&dir);
    let token = admin_token(node, &scopes).await;
    let admin = Admin(node);
    // A canary the injected deletes and updates must leave alone.
    let canary = admin
        .post(
            &format!("{P}/apis"),
            &json!({"name": "Canary", "context": "/canary", "version": "1.0.0", "policies": ["Unlimited"],
                "operations": [{"target": "/x", "verb": "GET"}]}),
        )
        .await;
    let canary_id = id(&canary, "id");
    let users_before = admin.get("/scim2/Users").await["totalResults"].clone();
    let (mut sent, mut served_count, mut wrong) = (0usize, 0usize, Vec::new());
    for op in &operations {
        if !served(node, op).await {
            continue;
        }
        served_count += 1;
        for payload in INJECTIONS {
            let encoded: String = url_encode(payload);
            // Each path parameter in turn (the others a plausible id), then each query parameter.
            let mut requests: Vec<(String, Vec<(String, String)>)> = op
                .path_params
                .iter()
                .map(|target| {
                    let path = fill(&op.path, |name| {
                        if name == target {
                            encoded.clone()
                        } else {
                            canary_id.clone()
                        }
                    });
                    (path, Vec::new())
                })
                .collect();
            let plain = fill(&op.path, |_| canary_id.clone());
            for q in &op.query_params {
                requests.push((plain.clone(), vec![(q.clone(), payload.to_owned())]));
            }
            for (path, query) in requests {
                // Never the canary itself through a destructive operation.
                if op.method == Method::DELETE && !path.contains(&encoded) {
                    continue;
                }
                let url = match query.first() {
                    Some((name, value)) => format!("{}?{name}={}", node.url(&path), url_encode(value)),
                    None => node.url(&path),
                };
                let mut request = node.client.request(op.method.clone(), url).bearer_auth(&token);
                if matches!(op.method, Method::POST | Method::PUT | Method::PATCH) {
                    request = request.json(&json!({}));
                }
                let r = request.send().await.expect("send");
                sent += 1;
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                let leak = LEAKS.iter().find(|l| body.to_lowercase().contains(&l.to_lowercase()));
                if status.is_server_error() || leak.is_some() {
                    wrong.push(format!(
                        "{} {path} {query:?}: {status} {}",
                        op.method,
                        &body[..body.len().min(300)]
                    ));
                }
            }
        }
    }
    assert!(served_count > 50, "only {served_count} WSO2 operations served?");
    assert!(
        wrong.is_empty(),
        "{} of {sent} injected requests answered 5xx or leaked a database error:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let (status, _) = admin.call(Method::GET, &format!("{P}/apis/{canary_id}"), None).await;
    assert_eq!(status, StatusCode::OK, "the canary API survived");
    assert_eq!(
        admin.get("/scim2/Users").await["totalResults"],
        users_before,
        "no user was added or removed"
    );
    eprintln!(
        "attack suite, SQL injection: {sent} requests over {served_count} served operations, none answered 5xx or leaked"
    );
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.insert(path.strip_prefix(dir).unwrap_or(&path).to_path_buf());
            }
        }
    }
    found
}

#[tokio::test]
async fn path_traversal_in_artifact_and_revision_names_is_refused() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let admin = Admin(&node);
    let before = files_under(&node.home);
    // Names with separators and dot segments: refused (a `/` in a name, `..` in a context or
    // version, a `/` or `\\` in a name), or kept as data (dots in a name).
    let mut ids = Vec::new();
    for (name, context, version, expected) in [
        (
            "../../../../tmp/portico-traversal",
            "/trav0",
            "1.0.0",
            StatusCode::BAD_REQUEST,
        ),
        ("..\\..\\trav", "/trav5", "1.0.0", StatusCode::BAD_REQUEST),
        ("..trav..1", "/trav1", "1.0.0", StatusCode::CREATED),
        ("Trav2", "/../../etc", "1.0.0", StatusCode::BAD_REQUEST),
        ("Trav3", "/trav3", "../../1.0.0", StatusCode::BAD_REQUEST),
        // Kept as the literal text: a context is matched, never joined to a file path.
        ("Trav4", "/trav4/%2e%2e/x", "1.0.0", StatusCode::CREATED),
    ] {
        let (status, body) = admin
            .call(
                Method::POST,
                &format!("{P}/apis"),
                Some(
                    &json!({"name": name, "context": context, "version": version, "policies": ["Unlimited"],
                    "operations": [{"target": "/x", "verb": "GET"}]}),
                ),
            )
            .await;
        assert_eq!(
            status, expected,
            "name {name:?}, context {context:?}, version {version:?}: {body}"
        );
        if status.is_success() {
            ids.push(id(&body, "id"));
        }
    }
    let api_id = ids.first().expect("the API with the hostile name").clone();
    let revision = admin
        .post(&format!("{P}/apis/{api_id}/revisions"), &json!({"description": "r"}))
        .await;
    let revision_id = id(&revision, "id");
    for environment in ["../../../../tmp/portico-env", "Default/../../x", "..", "Default\u{0}x"] {
        let (status, body) = admin
            .call(
                Method::POST,
                &format!("{P}/apis/{api_id}/deploy-revision?revisionId={revision_id}"),
                Some(&json!([{"name": environment, "vhost": "localhost"}])),
            )
            .await;
        assert!(status.is_client_error(), "environment {environment:?}: {status} {body}");
    }
    for hostile in ["..%2F..%2Fconf%2Fdeployment.toml", "%2e%2e", "..%5C..%5Cconf"] {
        let (status, body) = admin
            .call(Method::GET, &format!("{P}/apis/{api_id}/revisions/{hostile}"), None)
            .await;
        assert!(status.is_client_error(), "revision {hostile}: {status}");
        assert!(!body.to_string().contains("[server]"), "configuration leaked: {body}");
    }
    // A real deployment: its artifact is named by the API id, under deployment/server/Default/.
    let (status, body) = admin
        .call(
            Method::POST,
            &format!("{P}/apis/{api_id}/deploy-revision?revisionId={revision_id}"),
            Some(&json!([{"name": "Default", "vhost": "localhost"}])),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let added: Vec<PathBuf> = files_under(&node.home).difference(&before).cloned().collect();
    for path in &added {
        let text = path.display().to_string();
        let allowed = text.starts_with("deployment/server/Default/") && !text.contains("..")
            || text.starts_with("database/")
            || text.starts_with("logs/");
        assert!(
            allowed,
            "a file outside the artifact tree: {text} (all new files: {added:?})"
        );
    }
    assert!(
        added.iter().any(|p| p.ends_with(format!("{api_id}.json"))),
        "the artifact is named by the id: {added:?}"
    );
    assert!(!Path::new("/tmp/portico-traversal.json").exists() && !Path::new("/tmp/portico-env").exists());
}

/// A loopback listener that counts the connections it accepts and answers an OpenAPI document.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let body = r#"{"openapi":"3.0.1","info":{"title":"Internal","version":"1"},"paths":{"/x":{"get":{"responses":{"200":{"description":"ok"}}}}},"issuer":"https://internal.test","jwks_uri":"https://internal.test/certs"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, count)
}

/// A multipart/form-data body of text parts.
fn multipart(parts: &[(&str, &str)]) -> (String, String) {
    let boundary = "portico-attack-boundary";
    let mut body = String::new();
    for (name, value) in parts {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_multipart(node: &Node, path: &str, parts: &[(&str, &str)]) -> (StatusCode, Value) {
    let (user, password) = node.admin();
    let (content_type, body) = multipart(parts);
    let r = node
        .client
        .post(node.url(path))
        .basic_auth(user, Some(password))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Where an attacker points an import or a discovery, every one an internal address.
fn internal_urls(port: u16) -> Vec<String> {
    vec![
        format!("http://127.0.0.1:{port}/openapi.json"),
        format!("http://localhost:{port}/openapi.json"),
        format!("http://[::1]:{port}/openapi.json"),
        format!("http://[::ffff:127.0.0.1]:{port}/openapi.json"),
        format!("http://0.0.0.0:{port}/openapi.json"),
        format!("http://127.1:{port}/openapi.json"),
        format!("http://2130706433:{port}/openapi.json"),
        format!("http://0x7f000001:{port}/openapi.json"),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://10.0.0.1/openapi.json".into(),
        "http://192.168.0.1/openapi.json".into(),
        "http://[fd00::1]/openapi.json".into(),
    ]
}

#[tokio::test]
async fn ssrf_through_openapi_import_and_key_manager_discovery_is_refused_unless_allowed() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let (port, connections) = counting_listener().await;
    let mut wrong = Vec::new();
    for url in internal_urls(port) {
        for path in [format!("{P}/apis/validate-openapi"), format!("{P}/apis/import-openapi")] {
            let (status, body) = post_multipart(
                &node,
                &path,
                &[
                    ("url", &url),
                    (
                        "additionalProperties",
                        r#"{"context": "/ssrf", "version": "1.0.0", "policies": ["Unlimited"]}"#,
                    ),
                ],
            )
            .await;
            let refused =
                status == StatusCode::BAD_REQUEST || (status == StatusCode::OK && body["isValid"] == json!(false));
            if !refused {
                wrong.push(format!("{path} {url}: {status} {body}"));
            }
        }
        let (status, body) = post_multipart(&node, "/api/am/admin/v4/key-managers/discover", &[("url", &url)]).await;
        let reason = body["reason"].as_str().unwrap_or_default();
        if status != StatusCode::OK
            || body["valid"] != json!(false)
            || !(reason.contains("non-public") || reason.contains("resolve"))
        {
            wrong.push(format!("discover {url}: {status} {body}"));
        }
    }
    for url in [
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "ftp://127.0.0.1/x",
    ] {
        let (status, body) = post_multipart(&node, &format!("{P}/apis/import-openapi"), &[("url", url)]).await;
        if status != StatusCode::BAD_REQUEST {
            wrong.push(format!("import {url}: {status} {body}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} internal fetches not refused:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the internal listener was reached"
    );

    // Allowed by configuration: the same loopback URL is fetched (so the refusals above are the
    // address rules, not a broken fetch).
    let allowed = Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: vec![
                (
                    "allow_private_import_urls = false".into(),
                    "allow_private_import_urls = true".into(),
                ),
                (
                    "allow_private_discovery_urls = false".into(),
                    "allow_private_discovery_urls = true".into(),
                ),
            ],
            ..NodeOptions::default()
        },
    )
    .await
    .expect("node allowing private URLs");
    let url = format!("http://127.0.0.1:{port}/openapi.json");
    let (status, body) = post_multipart(&allowed, &format!("{P}/apis/validate-openapi"), &[("url", &url)]).await;
    assert_eq!((status, &body["isValid"]), (StatusCode::OK, &json!(true)), "{body}");
    let (status, body) = post_multipart(&allowed, "/api/am/admin/v4/key-managers/discover", &[("url", &url)]).await;
    assert_eq!((status, &body["valid"]), (StatusCode::OK, &json!(true)), "{body}");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}
