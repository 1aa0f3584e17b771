//! External key managers end to end on one running node: an identity provider (a JWKS served over
//! HTTP by this test process, tokens signed here with its RSA and EC keys) is registered through
//! the Admin REST API, an application maps one of its client ids in the DevPortal, and the
//! gateway accepts, maps and subscription-checks that provider's tokens as it does its own: and
//! refuses forged, expired, unsigned and HMAC tokens, unknown issuers and unmapped clients,
//! follows a key rotation with one refetch, and stops at once when the key manager is disabled or
//! deleted. On SQLite and again on PostgreSQL.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portico_keystore::{KeyMaterial, KeyType, PublicKeyComponents};
use portico_testkit::{Admin, EchoBackend, Node, NodeOptions, PgDatabase};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const A: &str = "/api/am/admin/v4";
const D: &str = "/api/am/devportal/v3";
const P: &str = "/api/am/publisher/v4";
const ISSUER: &str = "https://idp.example.test/realms/shop";

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}")).to_owned()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// A signing key of the fake identity provider and its JWK.
struct SigningKey {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
    certificate_pem: String,
}

impl SigningKey {
    fn new(kid: &str, key_type: KeyType) -> SigningKey {
        let pair = portico_keystore::generate_self_signed(&["idp.example.test".into()], key_type).expect("key pair");
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        portico_keystore::write_pair(&pair, &cert, &key, false).expect("write");
        let public = KeyMaterial::load(&cert, &key)
            .expect("load")
            .public_key()
            .expect("public key");
        let (algorithm, encoding, jwk) = match public.components {
            PublicKeyComponents::Rsa { n, e } => (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(pair.private_key_pem.as_bytes()).expect("rsa key"),
                json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64url(&n), "e": b64url(&e)}),
            ),
            PublicKeyComponents::Ec { x, y } => (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(pair.private_key_pem.as_bytes()).expect("ec key"),
                json!({"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256", "x": b64url(&x), "y": b64url(&y)}),
            ),
        };
        SigningKey {
            kid: kid.into(),
            algorithm,
            encoding,
            jwk,
            certificate_pem: pair.certificate_pem,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// Serves HTTP/1.1 on `listener` until aborted: each request (head and `Content-Length` body,
/// as text) gets `answer(request)` back as JSON, one request per connection.
fn serve_json<F>(listener: tokio::net::TcpListener, answer: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(&str) -> Value + Send + Sync + 'static,
{
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = answer(&String::from_utf8_lossy(&request)).to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    })
}

/// An identity provider's JWKS endpoint on a loopback port: serves whatever `keys` holds now and
/// counts the fetches.
struct FakeIdp {
    url: String,
    keys: Arc<std::sync::Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeIdp {
    async fn start(keys: Vec<Value>) -> FakeIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/oauth2/jwks", listener.local_addr().expect("addr"));
        let keys = Arc::new(std::sync::Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (keys.clone(), fetches.clone());
        let server = serve_json(listener, move |_request| {
            counted.fetch_add(1, Ordering::SeqCst);
            json!({"keys": *served.lock().expect("keys")})
        });
        FakeIdp {
            url,
            keys,
            fetches,
            server,
        }
    }

    fn serve(&self, keys: Vec<Value>) {
        *self.keys.lock().expect("keys") = keys;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An access token of the provider for `client`, valid for an hour, with `extra` claims.
fn claims(client: &str, extra: Value) -> Value {
    let mut c = json!({
        "iss": ISSUER, "sub": "alice", "azp": client, "iat": now(), "exp": now() + 3600,
        "jti": uuid_like(), "scope": "openid profile",
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

fn uuid_like() -> String {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("jti-{}-{}", now(), NEXT.fetch_add(1, Ordering::SeqCst))
}

struct Call {
    status: u16,
    code: Option<String>,
    body: Value,
}

async fn invoke(node: &Node, path: &str, token: &str) -> Call {
    let r = node
        .client
        .get(node.gateway_url(path))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("gateway");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    Call {
        status,
        code: body["code"].as_str().map(str::to_owned),
        body,
    }
}

/// Asserts the gateway answers `want` (and `code` for errors) for `token` on `path`.
async fn expect(node: &Node, path: &str, token: &str, want: u16, code: Option<&str>, why: &str) {
    let call = invoke(node, path, token).await;
    assert_eq!(
        (call.status, call.code.as_deref()),
        (want, code),
        "{why}: {}",
        call.body
    );
}

/// Polls for at most `limit` until the gateway answers `want`; how long it took.
async fn within(node: &Node, path: &str, token: &str, want: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let call = invoke(node, path, token).await;
        if call.status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "still {} {} after {limit:?}, wanted {want}",
            call.status,
            call.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An API on an echo backend with an open-to-subscribers `/menu` and a `/orders` that needs the
/// `orders:read` scope, deployed and published.
async fn publish_api(admin: &Admin<'_>, backend: &EchoBackend) -> String {
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": "ShopAPI", "context": "/shop", "version": "1.0.0", "policies": ["Unlimited"],
                "securityScheme": ["oauth2"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend.url("/")}},
                "operations": [
                    {"target": "/menu", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited"},
                    {"target": "/orders", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited", "scopes": ["orders:read"]}
                ]
            }),
        )
        .await;
    let api_id = id(&api, "id");
    admin.deploy_and_publish(&api_id).await;
    api_id
}

/// Creates the DevPortal application `ShopApp`, maps the client id `consumer_key` of
/// `key_manager` to its `key_type` keys, and subscribes it to `api_id`; its id.
async fn subscribed_app_with_mapped_key(
    admin: &Admin<'_>,
    api_id: &str,
    consumer_key: &str,
    key_type: &str,
    key_manager: &str,
) -> String {
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": "ShopApp", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    let app_id = id(&app, "applicationId");
    admin
        .post(
            &format!("{D}/applications/{app_id}/map-keys"),
            &json!({"consumerKey": consumer_key, "keyType": key_type, "keyManager": key_manager}),
        )
        .await;
    admin
        .post(
            &format!("{D}/subscriptions"),
            &json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Unlimited"}),
        )
        .await;
    app_id
}

fn key_manager_body(name: &str, issuer: &str, certificates: Value) -> Value {
    json!({
        "name": name, "displayName": format!("{name} (test)"), "type": "Keycloak",
        "description": "the shop's Keycloak realm", "enabled": true, "issuer": issuer,
        "certificates": certificates, "consumerKeyClaim": "azp", "scopesClaim": "scope",
        "claimMapping": [{"remoteClaim": "email", "localClaim": "http://wso2.org/claims/emailaddress"}],
        "tokenType": "DIRECT", "alias": "", "enableMapOAuthConsumerApps": true, "enableOAuthAppCreation": false,
        "additionalProperties": {"self_validate_jwt": true}
    })
}

/// A node whose generated deployment.toml has `from` replaced by `to`.
async fn node_with_edit(from: &str, to: String) -> Node {
    Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: vec![(from.into(), to)],
            ..Default::default()
        },
    )
    .await
    .expect("node")
}

/// A node whose deployment.toml declares `block` (an `[[apim.jwt.issuer]]`) after the backend
/// JWT settings.
async fn node_with_issuer(block: String) -> Node {
    node_with_edit("ttl_seconds = 900", block).await
}

/// The shop API on a new echo backend, subscribed to by an application that maps `client` of
/// `key_manager`; `token` made active at `km` for that client; waits until the gateway takes it.
/// The backend must outlive the calls.
async fn opaque_token_accepted(
    node: &Node,
    km: &FakeIntrospection,
    client: &str,
    key_manager: &str,
    token: &str,
) -> EchoBackend {
    let admin = Admin(node);
    let backend = EchoBackend::start("shop").await.expect("backend");
    let api_id = publish_api(&admin, &backend).await;
    subscribed_app_with_mapped_key(&admin, &api_id, client, "PRODUCTION", key_manager).await;
    km.activate(token, client, "openid");
    within(node, "/shop/1.0.0/menu", token, 200, Duration::from_secs(5)).await;
    backend
}

/// The field a 400 names in WSO2's error list.
fn error_field(body: &Value) -> String {
    body["error"][0]["message"].as_str().unwrap_or_default().to_owned()
}

async fn admin_rest_rules(admin: &Admin<'_>, idp: &FakeIdp) {
    let jwks = json!({"type": "JWKS", "value": idp.url});
    // Missing issuer, a JWKS that is not an http(s) URL, an unreadable PEM: 400 naming the field.
    let mut body = key_manager_body("Broken", ISSUER, jwks.clone());
    body.as_object_mut().expect("object").remove("issuer");
    let (status, answer) = admin
        .call(Method::POST, &format!("{A}/key-managers"), Some(&body))
        .await;
    assert_eq!(
        (status, error_field(&answer).as_str()),
        (StatusCode::BAD_REQUEST, "issuer"),
        "{answer}"
    );
    for (certificates, why) in [
        (
            json!({"type": "JWKS", "value": "ftp://idp.example.test/jwks"}),
            "ftp URL",
        ),
        (json!({"type": "JWKS", "value": "not a url"}), "no URL"),
        (
            json!({"type": "PEM", "value": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}),
            "bad PEM",
        ),
        (json!({"type": "X509", "value": idp.url}), "unknown type"),
    ] {
        let body = key_manager_body("Broken", ISSUER, certificates);
        let (status, answer) = admin
            .call(Method::POST, &format!("{A}/key-managers"), Some(&body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {answer}");
        assert!(error_field(&answer).starts_with("certificates."), "{why}: {answer}");
    }
    let body = key_manager_body("Broken", ISSUER, json!(null));
    let (status, answer) = admin
        .call(Method::POST, &format!("{A}/key-managers"), Some(&body))
        .await;
    assert_eq!(
        (status, error_field(&answer).as_str()),
        (StatusCode::BAD_REQUEST, "certificates"),
        "{answer}"
    );

    // The resident key manager is listed, read-only and cannot be deleted.
    let list = admin.get(&format!("{A}/key-managers")).await;
    let resident = list["list"]
        .as_array()
        .and_then(|l| l.iter().find(|k| k["name"] == "Resident Key Manager"))
        .cloned()
        .unwrap_or_else(|| panic!("resident key manager in {list}"));
    assert_eq!(resident["type"], "default");
    let resident_id = id(&resident, "id");
    let (status, answer) = admin
        .call(Method::DELETE, &format!("{A}/key-managers/{resident_id}"), None)
        .await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (StatusCode::PRECONDITION_FAILED, Some(902015)),
        "{answer}"
    );
    let full = admin.get(&format!("{A}/key-managers/{resident_id}")).await;
    assert_eq!(full["name"], "Resident Key Manager");
    // Its own issuer cannot be claimed by an external key manager.
    let own_issuer = full["issuer"].as_str().expect("issuer").to_owned();
    let body = key_manager_body("Impostor", &own_issuer, jwks);
    let (status, answer) = admin
        .call(Method::POST, &format!("{A}/key-managers"), Some(&body))
        .await;
    assert_eq!(
        (status, error_field(&answer).as_str()),
        (StatusCode::BAD_REQUEST, "issuer"),
        "{answer}"
    );
}

async fn external_identity_provider(node: &Node) {
    let admin = Admin(node);
    let rsa = SigningKey::new("rsa-1", KeyType::Rsa2048);
    let ec = SigningKey::new("ec-1", KeyType::EcP256);
    let idp = FakeIdp::start(vec![rsa.jwk.clone(), ec.jwk.clone()]).await;
    admin_rest_rules(&admin, &idp).await;

    // Register the provider; a second one with the same name is a conflict.
    let created = admin
        .call(
            Method::POST,
            &format!("{A}/key-managers"),
            Some(&key_manager_body(
                "ShopIdP",
                ISSUER,
                json!({"type": "JWKS", "value": idp.url}),
            )),
        )
        .await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    let km = created.1;
    let km_id = id(&km, "id");
    assert_eq!(
        (
            &km["type"],
            &km["issuer"],
            &km["enabled"],
            &km["claimMapping"][0]["remoteClaim"],
            &km["additionalProperties"]["self_validate_jwt"]
        ),
        (
            &json!("Keycloak"),
            &json!(ISSUER),
            &json!(true),
            &json!("email"),
            &json!(true)
        ),
        "every field comes back: {km}"
    );
    let (status, answer) = admin
        .call(
            Method::POST,
            &format!("{A}/key-managers"),
            Some(&key_manager_body(
                "ShopIdP",
                "https://other.example.test",
                json!({"type": "JWKS", "value": idp.url}),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (status, answer) = admin
        .call(
            Method::POST,
            &format!("{A}/key-managers"),
            Some(&key_manager_body(
                "SameIssuer",
                ISSUER,
                json!({"type": "JWKS", "value": idp.url}),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let mut renamed = key_manager_body("Renamed", ISSUER, json!({"type": "JWKS", "value": idp.url}));
    let (status, answer) = admin
        .call(Method::PUT, &format!("{A}/key-managers/{km_id}"), Some(&renamed))
        .await;
    assert_eq!(
        (status, error_field(&answer).as_str()),
        (StatusCode::BAD_REQUEST, "name"),
        "{answer}"
    );
    renamed["name"] = json!("ShopIdP");
    let devportal_list = admin.get(&format!("{D}/key-managers")).await;
    let names: Vec<&str> = devportal_list["list"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert_eq!(names, ["Resident Key Manager", "ShopIdP"], "{devportal_list}");

    let backend = EchoBackend::start("shop").await.expect("backend");
    let api_id = publish_api(&admin, &backend).await;
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": "ShopApp", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    let app_id = id(&app, "applicationId");

    // DevPortal map-keys: the provider's client id becomes the application's PRODUCTION key.
    let mapped = admin
        .post(
            &format!("{D}/applications/{app_id}/map-keys"),
            &json!({"consumerKey": "shop-web", "consumerSecret": "idp-secret", "keyType": "PRODUCTION", "keyManager": "ShopIdP"}),
        )
        .await;
    assert_eq!(
        (
            &mapped["consumerKey"],
            &mapped["keyManager"],
            &mapped["mode"],
            &mapped["keyType"]
        ),
        (
            &json!("shop-web"),
            &json!("ShopIdP"),
            &json!("MAPPED"),
            &json!("PRODUCTION")
        ),
        "{mapped}"
    );
    let mapping_id = id(&mapped, "keyMappingId");
    for (body, want, field) in [
        (
            json!({"consumerKey": "shop-other", "keyType": "PRODUCTION", "keyManager": "ShopIdP"}),
            StatusCode::CONFLICT,
            "",
        ),
        (
            json!({"consumerKey": "shop-other", "keyType": "SANDBOX", "keyManager": "NoSuchIdP"}),
            StatusCode::BAD_REQUEST,
            "keyManager",
        ),
        (
            json!({"keyType": "SANDBOX", "keyManager": "ShopIdP"}),
            StatusCode::BAD_REQUEST,
            "consumerKey",
        ),
    ] {
        let (status, answer) = admin
            .call(
                Method::POST,
                &format!("{D}/applications/{app_id}/map-keys"),
                Some(&body),
            )
            .await;
        assert_eq!(
            (status, error_field(&answer).as_str()),
            (want, field),
            "{body}: {answer}"
        );
    }
    let (status, _) = admin
        .call(
            Method::POST,
            &format!("{D}/applications/no-such-app/map-keys"),
            Some(&json!({"consumerKey": "x", "keyType": "PRODUCTION", "keyManager": "ShopIdP"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for path in ["keys", "oauth-keys"] {
        let keys = admin.get(&format!("{D}/applications/{app_id}/{path}")).await;
        assert_eq!(
            (
                &keys["count"],
                &keys["list"][0]["keyManager"],
                &keys["list"][0]["consumerKey"],
                &keys["list"][0]["consumerSecret"]
            ),
            (&json!(1), &json!("ShopIdP"), &json!("shop-web"), &Value::Null),
            "{path}: {keys}"
        );
    }
    let (status, answer) = admin
        .call(
            Method::POST,
            &format!("{D}/applications/{app_id}/oauth-keys/{mapping_id}/generate-token"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the provider issues tokens: {answer}");

    // Not subscribed yet: 900908; subscribed: RS256 and ES256 tokens pass.
    let token = rsa.sign(&claims("shop-web", json!({})));
    expect(node, "/shop/1.0.0/menu", &token, 403, Some("900908"), "not subscribed").await;
    admin
        .post(
            &format!("{D}/subscriptions"),
            &json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Unlimited"}),
        )
        .await;
    expect(
        node,
        "/shop/1.0.0/menu",
        &token,
        200,
        None,
        "RS256 token of a mapped client",
    )
    .await;
    let es_token = ec.sign(&claims("shop-web", json!({})));
    expect(node, "/shop/1.0.0/menu", &es_token, 200, None, "ES256 token").await;
    // `client_id` when there is no `azp`.
    let mut by_client_id = claims("shop-web", json!({"client_id": "shop-web"}));
    by_client_id.as_object_mut().expect("claims").remove("azp");
    expect(
        node,
        "/shop/1.0.0/menu",
        &rsa.sign(&by_client_id),
        200,
        None,
        "client_id claim",
    )
    .await;

    // Scopes: a space-separated `scope`, or an array in `scp`.
    expect(node, "/shop/1.0.0/orders", &token, 403, Some("900910"), "scope missing").await;
    let scoped = rsa.sign(&claims("shop-web", json!({"scope": "openid orders:read"})));
    expect(node, "/shop/1.0.0/orders", &scoped, 200, None, "scope string").await;
    let mut scp = claims("shop-web", json!({"scp": ["orders:read"]}));
    scp.as_object_mut().expect("claims").remove("scope");
    expect(node, "/shop/1.0.0/orders", &rsa.sign(&scp), 200, None, "scp array").await;

    // Refused: unmapped client (WSO2: no key mapping, 900908), unknown issuer, forged, expired,
    // unsigned, HMAC-signed.
    let unmapped = rsa.sign(&claims("someone-else", json!({})));
    expect(
        node,
        "/shop/1.0.0/menu",
        &unmapped,
        403,
        Some("900908"),
        "unmapped client",
    )
    .await;
    let stranger = rsa.sign(&claims("shop-web", json!({"iss": "https://stranger.example.test"})));
    expect(
        node,
        "/shop/1.0.0/menu",
        &stranger,
        401,
        Some("900901"),
        "unknown issuer",
    )
    .await;
    let impostor = SigningKey::new("rsa-1", KeyType::Rsa2048);
    let forged = impostor.sign(&claims("shop-web", json!({})));
    expect(node, "/shop/1.0.0/menu", &forged, 401, Some("900901"), "bad signature").await;
    let expired = rsa.sign(&claims("shop-web", json!({"iat": now() - 7200, "exp": now() - 3600})));
    expect(node, "/shop/1.0.0/menu", &expired, 401, Some("900901"), "expired").await;
    let unsigned = {
        let header = b64url(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#);
        let payload = b64url(claims("shop-web", json!({})).to_string().as_bytes());
        format!("{header}.{payload}.")
    };
    expect(node, "/shop/1.0.0/menu", &unsigned, 401, Some("900901"), "alg none").await;
    let hmac = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        let n = rsa.jwk["n"].as_str().expect("n");
        jsonwebtoken::encode(
            &header,
            &claims("shop-web", json!({})),
            &EncodingKey::from_secret(n.as_bytes()),
        )
        .expect("hmac")
    };
    expect(node, "/shop/1.0.0/menu", &hmac, 401, Some("900901"), "HMAC").await;

    // The provider rotates to a new key: the first requests with its kid wait for one refetch.
    let rotated = SigningKey::new("rsa-2", KeyType::Rsa2048);
    idp.serve(vec![rotated.jwk.clone(), ec.jwk.clone()]);
    let before = idp.fetches();
    let new_token = rotated.sign(&claims("shop-web", json!({})));
    let calls: Vec<_> = (0..4).map(|_| invoke(node, "/shop/1.0.0/menu", &new_token)).collect();
    for call in join_all(calls).await {
        assert_eq!(call.status, 200, "token of the rotated key: {}", call.body);
    }
    assert_eq!(idp.fetches() - before, 1, "one refetch for concurrent requests");
    // Another unknown kid within 10 s: no fetch, refused.
    let unknown = SigningKey::new("rsa-3", KeyType::Rsa2048).sign(&claims("shop-web", json!({})));
    expect(
        node,
        "/shop/1.0.0/menu",
        &unknown,
        401,
        Some("900901"),
        "rate-limited unknown kid",
    )
    .await;
    assert_eq!(idp.fetches() - before, 1, "rate-limited refetch");
    // The withdrawn key's tokens stop too, even those validated (and cached) before.
    expect(node, "/shop/1.0.0/menu", &token, 401, Some("900901"), "withdrawn key").await;
    // From here on the provider signs with its new key.
    let token = new_token;

    // A provider given by PEM certificate instead of JWKS.
    let pem_key = SigningKey::new("pem", KeyType::EcP256);
    let pem_issuer = "https://pem-idp.example.test";
    admin
        .post(
            &format!("{A}/key-managers"),
            &key_manager_body(
                "PemIdP",
                pem_issuer,
                json!({"type": "PEM", "value": pem_key.certificate_pem}),
            ),
        )
        .await;
    admin
        .post(
            &format!("{D}/applications/{app_id}/map-keys"),
            &json!({"consumerKey": "pem-client", "keyType": "PRODUCTION", "keyManager": "PemIdP"}),
        )
        .await;
    let pem_token = pem_key.sign(&claims("pem-client", json!({"iss": pem_issuer})));
    expect(node, "/shop/1.0.0/menu", &pem_token, 200, None, "PEM key manager").await;
    let keys = admin.get(&format!("{D}/applications/{app_id}/keys")).await;
    assert_eq!(keys["count"], 2, "{keys}");

    // Disabled: refused within a second (the token was cached as valid); enabled again: accepted.
    renamed["enabled"] = json!(false);
    admin
        .call(Method::PUT, &format!("{A}/key-managers/{km_id}"), Some(&renamed))
        .await;
    let took = within(node, "/shop/1.0.0/menu", &token, 401, Duration::from_secs(1)).await;
    eprintln!("disabled key manager refused after {took:?}");
    let listed = admin.get(&format!("{D}/key-managers")).await;
    assert_eq!(listed["count"], 2, "disabled ones are not offered: {listed}");
    let (status, answer) = admin
        .call(
            Method::POST,
            &format!("{D}/applications/{app_id}/map-keys"),
            Some(&json!({"consumerKey": "shop-other", "keyType": "SANDBOX", "keyManager": "ShopIdP"})),
        )
        .await;
    assert_eq!(
        (status, error_field(&answer).as_str()),
        (StatusCode::BAD_REQUEST, "keyManager"),
        "{answer}"
    );
    renamed["enabled"] = json!(true);
    let (status, answer) = admin
        .call(Method::PUT, &format!("{A}/key-managers/{km_id}"), Some(&renamed))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    within(node, "/shop/1.0.0/menu", &token, 200, Duration::from_secs(2)).await;

    // Deleting a key manager that applications use is refused (WSO2's 412); once the mapping is
    // removed its tokens are unmapped (900908), and once it is deleted, unknown (900901).
    let (status, answer) = admin
        .call(Method::DELETE, &format!("{A}/key-managers/{km_id}"), None)
        .await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (StatusCode::PRECONDITION_FAILED, Some(902015)),
        "{answer}"
    );
    let admin_list = admin.get(&format!("{A}/key-managers")).await;
    let shop = admin_list["list"]
        .as_array()
        .and_then(|l| l.iter().find(|k| k["name"] == "ShopIdP"))
        .cloned()
        .expect("listed");
    assert_eq!(shop["isUsed"], true, "{shop}");
    let (status, _) = admin
        .call(
            Method::POST,
            &format!("{D}/applications/{app_id}/oauth-keys/{mapping_id}/clean-up"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    within(node, "/shop/1.0.0/menu", &token, 403, Duration::from_secs(1)).await;
    expect(node, "/shop/1.0.0/menu", &token, 403, Some("900908"), "mapping removed").await;
    let (status, answer) = admin
        .call(Method::DELETE, &format!("{A}/key-managers/{km_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    within(node, "/shop/1.0.0/menu", &token, 401, Duration::from_secs(1)).await;
    expect(
        node,
        "/shop/1.0.0/menu",
        &token,
        401,
        Some("900901"),
        "key manager deleted",
    )
    .await;
    let (status, _) = admin
        .call(Method::GET, &format!("{A}/key-managers/{km_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting the application removes its remaining mapping from the gateway.
    expect(
        node,
        "/shop/1.0.0/menu",
        &pem_token,
        200,
        None,
        "PEM key manager still mapped",
    )
    .await;
    let (status, _) = admin
        .call(Method::DELETE, &format!("{D}/applications/{app_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    within(node, "/shop/1.0.0/menu", &pem_token, 403, Duration::from_secs(1)).await;
}

/// Runs the calls concurrently on this task and returns their answers in order.
async fn join_all<F: std::future::Future<Output = Call>>(futures: Vec<F>) -> Vec<Call> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<Call>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(call) => results[i] = Some(call),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

portico_testkit::node_on_both_backends!(
    sqlite_external_identity_provider,
    postgres_external_identity_provider,
    external_identity_provider
);

/// Two nodes on one PostgreSQL database: a key manager, a mapping and a subscription made on
/// node 1 reach node 2's gateway through the change feed, and so does disabling the key manager.
#[tokio::test]
async fn postgres_two_nodes_follow_key_managers() {
    let Some(db) = PgDatabase::create("key_managers_cluster").await.expect("database") else {
        return;
    };
    let options = NodeOptions::on_postgres(&db);
    let (node1, node2) = tokio::join!(
        Node::start(Path::new(BIN), options.clone()),
        Node::start(Path::new(BIN), options)
    );
    let (node1, node2) = (node1.expect("node 1"), node2.expect("node 2"));
    let admin = Admin(&node1);
    let rsa = SigningKey::new("rsa-1", KeyType::Rsa2048);
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    let km = admin
        .post(
            &format!("{A}/key-managers"),
            &key_manager_body("ShopIdP", ISSUER, json!({"type": "JWKS", "value": idp.url})),
        )
        .await;
    let backend = EchoBackend::start("shop").await.expect("backend");
    let api_id = publish_api(&admin, &backend).await;
    subscribed_app_with_mapped_key(&admin, &api_id, "shop-web", "PRODUCTION", "ShopIdP").await;
    let token = rsa.sign(&claims("shop-web", json!({})));
    expect(&node1, "/shop/1.0.0/menu", &token, 200, None, "node 1").await;
    let took = within(&node2, "/shop/1.0.0/menu", &token, 200, Duration::from_secs(5)).await;
    eprintln!("node 2 accepted the external token after {took:?}");

    let mut disabled = key_manager_body("ShopIdP", ISSUER, json!({"type": "JWKS", "value": idp.url}));
    disabled["enabled"] = json!(false);
    let (status, answer) = admin
        .call(
            Method::PUT,
            &format!("{A}/key-managers/{}", id(&km, "id")),
            Some(&disabled),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    expect(
        &node1,
        "/shop/1.0.0/menu",
        &token,
        401,
        Some("900901"),
        "node 1, disabled",
    )
    .await;
    let took = within(&node2, "/shop/1.0.0/menu", &token, 401, Duration::from_secs(2)).await;
    eprintln!("node 2 refused it after {took:?}");
}

/// A key manager of deployment.toml (`[[apim.jwt.issuer]]`): listed, read-only through REST,
/// mappable in the DevPortal, and its tokens accepted by the gateway.
#[tokio::test]
async fn sqlite_configured_issuer() {
    let rsa = SigningKey::new("rsa-1", KeyType::Rsa2048);
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    let issuer_block = format!(
        "ttl_seconds = 900\n\n[[apim.jwt.issuer]]\nname = \"{ISSUER}\"\njwks.url = \"{}\"\nconsumer_key_claim = \"cid\"\n",
        idp.url
    );
    let node = node_with_issuer(issuer_block).await;
    let admin = Admin(&node);
    let list = admin.get(&format!("{A}/key-managers")).await;
    let configured = list["list"]
        .as_array()
        .and_then(|l| l.iter().find(|k| k["name"] == ISSUER))
        .cloned()
        .unwrap_or_else(|| panic!("configured issuer listed: {list}"));
    let km_id = id(&configured, "id");
    let full = admin.get(&format!("{A}/key-managers/{km_id}")).await;
    assert_eq!(
        (&full["issuer"], &full["consumerKeyClaim"]),
        (&json!(ISSUER), &json!("cid")),
        "{full}"
    );
    let body = key_manager_body(ISSUER, ISSUER, json!({"type": "JWKS", "value": idp.url}));
    let (status, answer) = admin
        .call(Method::PUT, &format!("{A}/key-managers/{km_id}"), Some(&body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = admin
        .call(Method::DELETE, &format!("{A}/key-managers/{km_id}"), None)
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{answer}");
    let same_issuer = key_manager_body("Other", ISSUER, json!({"type": "JWKS", "value": idp.url}));
    let (status, answer) = admin
        .call(Method::POST, &format!("{A}/key-managers"), Some(&same_issuer))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");

    let backend = EchoBackend::start("shop").await.expect("backend");
    let api_id = publish_api(&admin, &backend).await;
    subscribed_app_with_mapped_key(&admin, &api_id, "shop-cli", "SANDBOX", ISSUER).await;
    // The configured claim holds the client id; the API has no sandbox endpoint, so the mapped
    // SANDBOX key type shows in the gateway's answer.
    let token = rsa.sign(&claims("not-this", json!({"cid": "shop-cli"})));
    let call = invoke(&node, "/shop/1.0.0/menu", &token).await;
    assert_eq!(
        (call.status, call.code.as_deref(), call.body["description"].as_str()),
        (503, Some("101503"), Some("This API has no sandbox endpoint")),
        "the configured issuer's token is accepted and mapped to the SANDBOX keys: {}",
        call.body
    );
}

/// A key manager's RFC 7662 introspection endpoint, served by this test: `POST` answers from
/// `active` (token -> claims; any other token is inactive) and records each request; `GET`
/// answers an empty JWKS (the key manager's `certificates`).
struct FakeIntrospection {
    url: String,
    active: Arc<std::sync::Mutex<std::collections::HashMap<String, Value>>>,
    requests: Arc<std::sync::Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeIntrospection {
    async fn start() -> FakeIntrospection {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let active = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<String, Value>::new()));
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (answers, seen) = (active.clone(), requests.clone());
        let server = serve_json(listener, move |request| {
            if !request.starts_with("POST") {
                return json!({"keys": []});
            }
            let form = request.split("\r\n\r\n").nth(1).unwrap_or_default();
            let token = form
                .split('&')
                .find_map(|pair| pair.strip_prefix("token="))
                .unwrap_or_default();
            seen.lock().expect("requests").push(request.to_owned());
            answers
                .lock()
                .expect("answers")
                .get(token)
                .cloned()
                .unwrap_or_else(|| json!({"active": false}))
        });
        FakeIntrospection {
            url,
            active,
            requests,
            server,
        }
    }

    fn activate(&self, token: &str, client: &str, scope: &str) {
        let answer = json!({
            "active": true, "client_id": client, "username": "alice", "scope": scope,
            "token_type": "Bearer", "iat": now(), "exp": now() + 3600,
        });
        self.active.lock().expect("answers").insert(token.to_owned(), answer);
    }

    /// The introspection requests made so far for `token`.
    fn asked(&self, token: &str) -> Vec<String> {
        let needle = format!("token={token}&");
        self.requests
            .lock()
            .expect("requests")
            .iter()
            .filter(|r| r.contains(&needle))
            .cloned()
            .collect()
    }
}

impl Drop for FakeIntrospection {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Opaque access tokens of an external key manager: the gateway asks its introspection endpoint
/// (authenticated with the key manager's client credentials), maps the client id, checks the
/// subscription and scopes, reuses the answer, and refuses inactive tokens.
#[tokio::test]
async fn sqlite_opaque_tokens_by_introspection() {
    let node = Node::start(Path::new(BIN), NodeOptions::default()).await.expect("node");
    let admin = Admin(&node);
    let km = FakeIntrospection::start().await;
    let issuer = "https://opaque.example.test";
    let mut body = key_manager_body(
        "OpaqueIdP",
        issuer,
        json!({"type": "JWKS", "value": format!("{}/jwks", km.url)}),
    );
    body["introspectionEndpoint"] = json!("ftp://opaque.example.test/introspect");
    let (status, answer) = admin
        .call(Method::POST, &format!("{A}/key-managers"), Some(&body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(error_field(&answer).contains("introspectionEndpoint"), "{answer}");
    body["introspectionEndpoint"] = json!(format!("{}/oauth2/introspect", km.url));
    body["additionalProperties"] =
        json!({"client_id": "gateway", "client_secret": "s3cret", "self_validate_jwt": true});
    let (status, answer) = admin
        .call(Method::POST, &format!("{A}/key-managers"), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let _backend = opaque_token_accepted(&node, &km, "opaque-client", "OpaqueIdP", "opaque-menu-token").await;
    let first = km.asked("opaque-menu-token");
    let request = first.last().expect("introspected").to_ascii_lowercase();
    // HTTP Basic with the key manager's client credentials: base64("gateway:s3cret").
    assert!(
        request.contains("authorization: basic z2f0zxdhetpzm2nyzxq="),
        "the gateway authenticates with the client credentials: {request}"
    );
    assert!(request.contains("token_type_hint=access_token"), "{request}");
    for _ in 0..5 {
        expect(
            &node,
            "/shop/1.0.0/menu",
            "opaque-menu-token",
            200,
            None,
            "active token",
        )
        .await;
    }
    assert_eq!(
        km.asked("opaque-menu-token").len(),
        first.len(),
        "active answers are reused"
    );

    // Inactive (unknown, revoked) tokens are refused, and the answer is reused too.
    for _ in 0..2 {
        expect(
            &node,
            "/shop/1.0.0/menu",
            "no-such-token",
            401,
            Some("900901"),
            "inactive token",
        )
        .await;
    }
    assert_eq!(km.asked("no-such-token").len(), 1, "inactive answers are reused");
    // An active token of a client no application mapped: not subscribed, as for JWTs.
    km.activate("stranger-token", "someone-else", "openid");
    expect(
        &node,
        "/shop/1.0.0/menu",
        "stranger-token",
        403,
        Some("900908"),
        "unmapped client",
    )
    .await;
    // Scopes come from the answer's `scope`.
    expect(
        &node,
        "/shop/1.0.0/orders",
        "opaque-menu-token",
        403,
        Some("900910"),
        "scope missing",
    )
    .await;
    km.activate("opaque-orders-token", "opaque-client", "openid orders:read");
    expect(
        &node,
        "/shop/1.0.0/orders",
        "opaque-orders-token",
        200,
        None,
        "scope granted",
    )
    .await;
    // The client secret is never read back, and a PUT of what GET answered keeps it.
    let list = admin.get(&format!("{A}/key-managers")).await;
    let km_id = list["list"]
        .as_array()
        .and_then(|l| l.iter().find(|k| k["name"] == "OpaqueIdP"))
        .map(|k| id(k, "id"))
        .expect("listed");
    let mut read = admin.get(&format!("{A}/key-managers/{km_id}")).await;
    assert_eq!(
        read["additionalProperties"]["client_secret"],
        json!("********"),
        "{read}"
    );
    read["description"] = json!("renamed description");
    let (status, answer) = admin
        .call(Method::PUT, &format!("{A}/key-managers/{km_id}"), Some(&read))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    km.activate("after-put-token", "opaque-client", "openid");
    within(
        &node,
        "/shop/1.0.0/menu",
        "after-put-token",
        200,
        Duration::from_secs(5),
    )
    .await;
    let request = km
        .asked("after-put-token")
        .pop()
        .expect("introspected")
        .to_ascii_lowercase();
    assert!(
        request.contains("authorization: basic z2f0zxdhetpzm2nyzxq="),
        "the stored secret is still sent: {request}"
    );
    // An expired answer is not taken: `exp` in the past.
    km.active.lock().expect("answers").insert(
        "expired-token".into(),
        json!({"active": true, "client_id": "opaque-client", "scope": "openid", "exp": now() - 600}),
    );
    expect(
        &node,
        "/shop/1.0.0/menu",
        "expired-token",
        401,
        Some("900901"),
        "expired token",
    )
    .await;
}

/// `POST /key-managers/discover` as the super admin, with multipart `parts`.
async fn discover(node: &Node, parts: &[(&str, &str)]) -> (StatusCode, Value) {
    let boundary = "portico-discover-boundary";
    let mut body = String::new();
    for (name, value) in parts {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let (user, password) = node.admin();
    let response = node
        .client
        .post(node.url(&format!("{A}/key-managers/discover")))
        .basic_auth(user, Some(password))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("discover");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An identity provider's OpenID configuration becomes a key manager draft that can be created
/// as it is; documents that are not one, and URLs that are not http(s), are told apart.
#[tokio::test]
async fn sqlite_discover_from_well_known() {
    // The fake identity provider listens on loopback.
    let node = Node::start(
        Path::new(BIN),
        NodeOptions {
            config_edits: vec![(
                "allow_private_discovery_urls = false".into(),
                "allow_private_discovery_urls = true".into(),
            )],
            ..NodeOptions::default()
        },
    )
    .await
    .expect("node");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let issuer = "https://discovered.example.test/realms/shop";
    let served_base = base.clone();
    let _idp = serve_json(listener, move |request| {
        if request.starts_with("GET /not-oidc") {
            return json!({"keys": []});
        }
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{served_base}/certs"),
            "token_endpoint": format!("{served_base}/token"),
            "introspection_endpoint": format!("{served_base}/token/introspect"),
            "revocation_endpoint": format!("{served_base}/revoke"),
            "userinfo_endpoint": format!("{served_base}/userinfo"),
            "authorization_endpoint": format!("{served_base}/auth"),
            "grant_types_supported": ["authorization_code", "client_credentials"],
        })
    });
    let well_known = format!("{base}/.well-known/openid-configuration");
    let (status, answer) = discover(&node, &[("url", &well_known), ("type", "Keycloak")]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let value = &answer["value"];
    assert_eq!(
        (
            &answer["valid"],
            &value["issuer"],
            &value["type"],
            &value["certificates"],
            &value["introspectionEndpoint"],
            &value["tokenEndpoint"],
            &value["wellKnownEndpoint"],
            &value["availableGrantTypes"][1],
        ),
        (
            &json!(true),
            &json!(issuer),
            &json!("Keycloak"),
            &json!({"type": "JWKS", "value": format!("{base}/certs")}),
            &json!(format!("{base}/token/introspect")),
            &json!(format!("{base}/token")),
            &json!(well_known),
            &json!("client_credentials"),
        ),
        "{answer}"
    );
    // The draft, named, is a key manager Admin REST accepts as it is.
    let mut draft = value.clone();
    draft["name"] = json!("Discovered");
    let (status, created) = Admin(&node)
        .call(Method::POST, &format!("{A}/key-managers"), Some(&draft))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["introspectionEndpoint"],
        json!(format!("{base}/token/introspect"))
    );

    // Not an OpenID configuration, nothing listening: answered, but not valid, with the reason.
    let (status, answer) = discover(&node, &[("url", &format!("{base}/not-oidc"))]).await;
    assert_eq!((status, &answer["valid"]), (StatusCode::OK, &json!(false)), "{answer}");
    assert!(
        answer["reason"].as_str().unwrap_or_default().contains("jwks_uri"),
        "{answer}"
    );
    let (status, answer) = discover(&node, &[("url", "http://127.0.0.1:9/.well-known/openid-configuration")]).await;
    assert_eq!((status, &answer["valid"]), (StatusCode::OK, &json!(false)), "{answer}");
    // No URL, or not an http(s) one: 400 naming `url`.
    for parts in [vec![("type", "Keycloak")], vec![("url", "ftp://idp.example.test/x")]] {
        let (status, answer) = discover(&node, &parts).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(error_field(&answer), "url", "{answer}");
    }
}

/// A deployment.toml issuer with an introspection endpoint: its opaque tokens pass the gateway
/// like a REST-made key manager's.
#[tokio::test]
async fn sqlite_configured_issuer_introspection() {
    let km = FakeIntrospection::start().await;
    let issuer_block = format!(
        "ttl_seconds = 900\n\n[[apim.jwt.issuer]]\nname = \"ConfiguredOpaque\"\nissuer = \"https://configured.example.test\"\njwks.url = \"{0}/jwks\"\nintrospection.url = \"{0}/introspect\"\nintrospection.client_id = \"gw\"\nintrospection.client_secret = \"pw\"\n",
        km.url
    );
    let node = node_with_issuer(issuer_block).await;
    let _backend = opaque_token_accepted(
        &node,
        &km,
        "configured-client",
        "ConfiguredOpaque",
        "configured-opaque-token",
    )
    .await;
    let asked = km.asked("configured-opaque-token");
    assert!(
        asked
            .iter()
            .all(|r| r.to_ascii_lowercase().contains("authorization: basic z3c6chc=")),
        "HTTP Basic gw:pw: {asked:?}"
    );
}

/// An API with `audiences` takes only tokens whose `aud` names one of them (a string or a list);
/// others, and tokens without `aud`, are 900901. With the backend JWT on, the key manager's
/// `claimMapping` puts the token's mapped claims into it under their local names.
#[tokio::test]
async fn sqlite_api_audiences_and_claim_mapping() {
    let node = node_with_edit("[apim.jwt]\nenable = false", "[apim.jwt]\nenable = true".into()).await;
    let admin = Admin(&node);
    let rsa = SigningKey::new("rsa-1", KeyType::Rsa2048);
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    admin
        .post(
            &format!("{A}/key-managers"),
            &key_manager_body("ShopIdP", ISSUER, json!({"type": "JWKS", "value": idp.url})),
        )
        .await;
    let backend = EchoBackend::start("shop").await.expect("backend");
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({
                "name": "AudienceAPI", "context": "/aud", "version": "1.0.0", "policies": ["Unlimited"],
                "securityScheme": ["oauth2"], "audiences": ["shop-api", "shop-api-v2"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend.url("/")}},
                "operations": [{"target": "/menu", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited"}]
            }),
        )
        .await;
    let api_id = id(&api, "id");
    assert_eq!(api["audiences"], json!(["shop-api", "shop-api-v2"]), "{api}");
    admin.deploy_and_publish(&api_id).await;
    subscribed_app_with_mapped_key(&admin, &api_id, "shop-cli", "PRODUCTION", "ShopIdP").await;

    let meant = rsa.sign(&claims(
        "shop-cli",
        json!({"aud": "shop-api", "email": "alice@shop.test"}),
    ));
    within(&node, "/aud/1.0.0/menu", &meant, 200, Duration::from_secs(5)).await;
    // key_manager_body maps `email` to http://wso2.org/claims/emailaddress.
    let call = invoke(&node, "/aud/1.0.0/menu", &meant).await;
    let assertion = call.body["headers"]["x-jwt-assertion"]
        .as_str()
        .unwrap_or_else(|| panic!("backend JWT sent: {}", call.body));
    let payload = assertion.split('.').nth(1).expect("payload");
    let payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("json");
    assert_eq!(
        (&payload["http://wso2.org/claims/emailaddress"], &payload["iss"]),
        (&json!("alice@shop.test"), &json!("wso2.org/products/am")),
        "{payload}"
    );
    let listed = rsa.sign(&claims("shop-cli", json!({"aud": ["account", "shop-api-v2"]})));
    expect(
        &node,
        "/aud/1.0.0/menu",
        &listed,
        200,
        None,
        "one of the listed audiences",
    )
    .await;
    let elsewhere = rsa.sign(&claims("shop-cli", json!({"aud": ["account", "billing"]})));
    expect(
        &node,
        "/aud/1.0.0/menu",
        &elsewhere,
        401,
        Some("900901"),
        "another audience",
    )
    .await;
    let none = rsa.sign(&claims("shop-cli", json!({})));
    let call = invoke(&node, "/aud/1.0.0/menu", &none).await;
    assert_eq!(
        (call.status, call.code.as_deref()),
        (401, Some("900901")),
        "{}",
        call.body
    );
    assert!(
        call.body["description"]
            .as_str()
            .unwrap_or_default()
            .contains("audience"),
        "{}",
        call.body
    );
}
