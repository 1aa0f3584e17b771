//! The Key Manager over HTTPS against started nodes: WSO2's DCR and password grant, the token
//! endpoint's errors, client_credentials, rotating refresh tokens, revocation, introspection,
//! JWKS, bearer tokens on the Admin API with scope checks, and two nodes sharing one key and
//! one PostgreSQL database.

use std::time::{Duration, Instant};

use portico_testkit::{Node, NodeOptions, PgDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portico");

fn bin() -> &'static std::path::Path {
    std::path::Path::new(BIN)
}

/// application/x-www-form-urlencoded bodies (reqwest's `form` feature is not enabled).
trait FormPairs {
    fn form_pairs(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormPairs for reqwest::RequestBuilder {
    fn form_pairs(self, pairs: &[(&str, &str)]) -> Self {
        fn enc(s: &str) -> String {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                    b' ' => "+".to_owned(),
                    _ => format!("%{b:02X}"),
                })
                .collect()
        }
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"))
    }
}

async fn json(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

/// WSO2's quick-start DCR request, as admin.
async fn register(node: &Node, name: &str, grants: &str) -> (String, String) {
    let (user, pw) = node.admin();
    let r = node
        .client
        .post(node.url("/client-registration/v0.17/register"))
        .basic_auth(user, Some(pw))
        .json(&json!({
            "callbackUrl": "www.google.lk",
            "clientName": name,
            "owner": "admin",
            "grantType": grants,
            "saasApp": true,
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert_eq!(body["clientName"], format!("admin_{name}"));
    assert_eq!(body["callBackURL"], "www.google.lk");
    assert_eq!(body["appOwner"], "admin");
    assert_eq!(body["isSaasApplication"], true);
    let id = body["clientId"].as_str().expect("clientId").to_owned();
    let secret = body["clientSecret"].as_str().expect("clientSecret").to_owned();
    assert!(secret.len() >= 43, "256-bit secret: {secret}");
    (id, secret)
}

async fn token(node: &Node, client: &(String, String), form: &[(&str, &str)]) -> reqwest::Response {
    node.client
        .post(node.url("/oauth2/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form_pairs(form)
        .send()
        .await
        .expect("token request")
}

async fn environments(node: &Node, bearer: &str) -> reqwest::Response {
    node.client
        .get(node.url("/api/am/admin/v4/environments"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("environments")
}

async fn oauth_error(r: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status);
    let body = json(r).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["error_description"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

/// The flows every backend must pass.
async fn check_key_manager(node: &Node) {
    let client = register(node, "rest_api_publisher", "client_credentials password refresh_token").await;
    let (_, pw) = node.admin();

    // WSO2's quick-start password grant with Publisher/DevPortal scopes.
    let r = token(
        node,
        &client,
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", pw),
            (
                "scope",
                "apim:api_view apim:api_create apim:api_publish apim:subscribe openid",
            ),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body = json(r).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(
        body["scope"], "apim:api_view apim:api_create apim:api_publish apim:subscribe",
        "unknown scopes are dropped"
    );
    let access = body["access_token"].as_str().expect("access_token").to_owned();
    let refresh = body["refresh_token"].as_str().expect("refresh_token").to_owned();
    assert_eq!(access.split('.').count(), 3, "a JWT");

    // The JWT's header names a key the JWKS lists; its claims are WSO2's.
    use base64::Engine;
    let decode = |part: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let parts: Vec<&str> = access.split('.').collect();
    let header = decode(parts[0]);
    let claims = decode(parts[1]);
    assert_eq!(header["alg"], "ES256");
    let jwks = json(node.client.get(node.url("/oauth2/jwks")).send().await.expect("jwks")).await;
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    for claim in [
        "sub",
        "aut",
        "aud",
        "azp",
        "client_id",
        "scope",
        "iss",
        "iat",
        "nbf",
        "exp",
        "jti",
        "keytype",
    ] {
        assert!(!claims[claim].is_null(), "claim {claim} missing: {claims}");
    }
    assert_eq!(claims["sub"], "admin");
    assert_eq!(claims["aut"], "APPLICATION_USER");
    assert_eq!(claims["client_id"], client.0.as_str());
    assert_eq!(claims["keytype"], "PRODUCTION");
    let issuer = format!("https://localhost:{}/oauth2/token", node.ports.management);
    assert_eq!(claims["iss"], issuer.as_str());
    for path in [
        "/oauth2/token/.well-known/openid-configuration",
        "/.well-known/openid-configuration",
    ] {
        let d = json(node.client.get(node.url(path)).send().await.expect("discovery")).await;
        assert_eq!(d["issuer"], issuer.as_str());
        assert!(d["jwks_uri"].as_str().is_some_and(|u| u.ends_with("/oauth2/jwks")));
    }

    // The token has no apim:admin scope: 403 900910 on the Admin API; with it, 200.
    let r = environments(node, &access).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(json(r).await["code"], 900910);
    let admin_token = json(
        token(
            node,
            &client,
            &[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", pw),
                ("scope", "apim:admin"),
            ],
        )
        .await,
    )
    .await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let r = environments(node, &admin_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(r).await["list"][0]["name"], "Default");
    // A tampered token is refused.
    let mut tampered = admin_token.clone();
    tampered.pop();
    tampered.push(if admin_token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(environments(node, &tampered).await.status(), StatusCode::UNAUTHORIZED);

    // Token endpoint errors, exactly RFC 6749 §5.2.
    let r = token(
        node,
        &(client.0.clone(), "wrong".into()),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let r = node
        .client
        .post(node.url("/oauth2/token"))
        .form_pairs(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("send");
    oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let r = token(node, &client, &[("grant_type", "implicit"), ("code", "x")]).await;
    oauth_error(r, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    // authorization_code is served (tests/portal.rs), but only to clients registered for it.
    let r = token(node, &client, &[("grant_type", "authorization_code"), ("code", "x")]).await;
    oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    let r = token(
        node,
        &client,
        &[("grant_type", "password"), ("username", "admin"), ("password", "nope")],
    )
    .await;
    oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = token(node, &client, &[("grant_type", "password"), ("username", "admin")]).await;
    let body = oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("password")
    );
    let r = token(node, &client, &[]).await;
    oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = token(
        node,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "apim:admin"),
        ],
    )
    .await;
    oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;

    // client_credentials by form fields: acts for the owner, no refresh token.
    let r = node
        .client
        .post(node.url("/oauth2/token"))
        .form_pairs(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.0.as_str()),
            ("client_secret", client.1.as_str()),
            ("scope", "apim:admin apim:api_view"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert!(body["refresh_token"].is_null());
    assert_eq!(body["scope"], "apim:admin apim:api_view");
    let cc = body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(environments(node, &cc).await.status(), StatusCode::OK);
    // A client registered without a grant may not use it.
    let cc_only = register(node, "cc_only", "client_credentials").await;
    let r = token(
        node,
        &cc_only,
        &[("grant_type", "password"), ("username", "admin"), ("password", pw)],
    )
    .await;
    oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;

    // Introspection needs client (or admin) credentials.
    let r = node
        .client
        .post(node.url("/oauth2/introspect"))
        .form_pairs(&[("token", cc.as_str())])
        .send()
        .await
        .expect("send");
    oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let introspect = |t: String| {
        let client = client.clone();
        async move {
            let r = node
                .client
                .post(node.url("/oauth2/introspect"))
                .basic_auth(&client.0, Some(&client.1))
                .form_pairs(&[("token", t.as_str())])
                .send()
                .await
                .expect("introspect");
            assert_eq!(r.status(), StatusCode::OK);
            json(r).await
        }
    };
    let i = introspect(cc.clone()).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], client.0.as_str());
    assert_eq!(i["username"], "admin");
    assert_eq!(introspect("not-a-token".into()).await["active"], false);

    // Revoking the access token: refused at once, introspection says inactive.
    let r = node
        .client
        .post(node.url("/oauth2/revoke"))
        .basic_auth(&client.0, Some(&client.1))
        .form_pairs(&[("token", cc.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(environments(node, &cc).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(cc.clone()).await["active"], false);

    // Refresh rotation: the new pair works, the old refresh token's reuse revokes the chain.
    let r = token(
        node,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    let refresh2 = body["refresh_token"].as_str().expect("rotated").to_owned();
    let access2 = body["access_token"].as_str().expect("access").to_owned();
    assert_ne!(refresh2, refresh);
    assert_eq!(introspect(refresh2.clone()).await["active"], true);
    let r = token(
        node,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = token(
        node,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh2)],
    )
    .await;
    oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(introspect(access2.clone()).await["active"], false, "chain revoked");
    assert_eq!(introspect(access.clone()).await["active"], false, "chain revoked");

    // Revoking a refresh token (RFC 7009) revokes its access token too.
    let body = json(
        token(
            node,
            &client,
            &[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", pw),
                ("scope", "apim:admin"),
            ],
        )
        .await,
    )
    .await;
    let (a3, r3) = (
        body["access_token"].as_str().expect("a").to_owned(),
        body["refresh_token"].as_str().expect("r").to_owned(),
    );
    assert_eq!(environments(node, &a3).await.status(), StatusCode::OK);
    let r = node
        .client
        .post(node.url("/oauth2/revoke"))
        .basic_auth(&client.0, Some(&client.1))
        .form_pairs(&[("token", r3.as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(environments(node, &a3).await.status(), StatusCode::UNAUTHORIZED);

    // Registering the same name again gives a new secret; the old one and its tokens stop working.
    let fresh = json(
        token(
            node,
            &client,
            &[("grant_type", "client_credentials"), ("scope", "apim:admin")],
        )
        .await,
    )
    .await["access_token"]
        .as_str()
        .expect("t")
        .to_owned();
    let again = register(node, "rest_api_publisher", "client_credentials password refresh_token").await;
    assert_eq!(again.0, client.0);
    assert_ne!(again.1, client.1);
    let r = token(node, &client, &[("grant_type", "client_credentials")]).await;
    oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_eq!(environments(node, &fresh).await.status(), StatusCode::UNAUTHORIZED);
    let r = token(
        node,
        &again,
        &[("grant_type", "client_credentials"), ("scope", "apim:admin")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = json(r).await["access_token"].as_str().expect("t").to_owned();
    assert_eq!(environments(node, &t).await.status(), StatusCode::OK);

    // DCR read and delete; deleting the client invalidates its tokens.
    let (user, pw) = node.admin();
    let r = node
        .client
        .get(node.url(&format!("/client-registration/v0.17/register/{}", again.0)))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert!(body["clientSecret"].is_null(), "secrets are not stored readably");
    let r = node
        .client
        .delete(node.url(&format!("/client-registration/v0.17/register/{}", again.0)))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(environments(node, &t).await.status(), StatusCode::UNAUTHORIZED);
    // DCR without credentials: WSO2's 401.
    let r = node
        .client
        .post(node.url("/client-registration/v0.17/register"))
        .json(&json!({"clientName": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(r).await["code"], 900902);
}

portico_testkit::node_on_both_backends!(sqlite_key_manager_flows, postgres_key_manager_flows, check_key_manager);

/// The database files' bytes (the main file and its write-ahead log; `-shm` only holds readers' marks).
fn database_bytes(node: &Node) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["portico.db", "portico.db-wal"] {
        if let Ok(b) = std::fs::read(node.home.join("database").join(name)) {
            bytes.extend_from_slice(&b);
        }
    }
    bytes
}

/// Issuing client_credentials tokens reads the client (once) and writes nothing.
#[tokio::test]
async fn client_credentials_issuance_writes_nothing() {
    let node = Node::start(bin(), NodeOptions::default()).await.expect("node");
    let client = register(&node, "no_writes", "client_credentials").await;
    let first = token(&node, &client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(first.status(), StatusCode::OK);
    let before = database_bytes(&node);
    assert!(!before.is_empty(), "the node's SQLite files exist");
    for _ in 0..50 {
        let r = token(
            &node,
            &client,
            &[("grant_type", "client_credentials"), ("scope", "apim:admin")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert!(
        database_bytes(&node) == before,
        "client_credentials issuance changed the database"
    );
}

#[tokio::test]
async fn rsa_primary_key_signs_rs256() {
    let node = Node::start(
        bin(),
        NodeOptions {
            key_type: "rsa",
            ..Default::default()
        },
    )
    .await
    .expect("node");
    let client = register(&node, "rsa", "client_credentials").await;
    let r = token(
        &node,
        &client,
        &[("grant_type", "client_credentials"), ("scope", "apim:admin")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = json(r).await["access_token"].as_str().expect("t").to_owned();
    let jwks = json(node.client.get(node.url("/oauth2/jwks")).send().await.expect("jwks")).await;
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert_eq!(environments(&node, &t).await.status(), StatusCode::OK);
}

/// Two nodes on one PostgreSQL database holding the same primary key: each validates the
/// other's tokens, and a revocation on node 1 is refused by node 2 within a second.
#[tokio::test]
async fn two_nodes_share_tokens_and_revocations() {
    let Some(db) = PgDatabase::create("oauth_cluster").await.expect("database") else {
        return;
    };
    let options = NodeOptions::on_postgres(&db);
    let node1 = Node::start(bin(), options.clone()).await.expect("node 1");
    let dir2 = tempfile::Builder::new()
        .prefix("portico-node2-")
        .tempdir()
        .expect("tempdir");
    portico_testkit::init_home(bin(), dir2.path(), &options).expect("init node 2");
    // Node 2 gets node 1's keys (the seed's step 7) and the cluster's one issuer name.
    for entry in std::fs::read_dir(node1.home.join("conf/security")).expect("read") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir2.path().join("conf/security").join(entry.file_name())).expect("copy");
    }
    let issuer = format!("https://localhost:{}/oauth2/token", node1.ports.management);
    let conf = dir2.path().join("conf/deployment.toml");
    let mut text = std::fs::read_to_string(&conf).expect("read conf");
    text.push_str(&format!("\n[oauth]\nissuer = \"{issuer}\"\n"));
    std::fs::write(&conf, text).expect("write conf");
    let node2 = Node::start(
        bin(),
        NodeOptions {
            home: Some(dir2.path().to_path_buf()),
            ..options
        },
    )
    .await
    .expect("node 2");

    let k1 = json(node1.client.get(node1.url("/oauth2/jwks")).send().await.expect("jwks")).await;
    let k2 = json(node2.client.get(node2.url("/oauth2/jwks")).send().await.expect("jwks")).await;
    assert_eq!(k1["keys"][0]["kid"], k2["keys"][0]["kid"], "same key, same kid");

    let client = register(&node1, "cluster", "client_credentials password refresh_token").await;
    let t1 = json(
        token(
            &node1,
            &client,
            &[("grant_type", "client_credentials"), ("scope", "apim:admin")],
        )
        .await,
    )
    .await["access_token"]
        .as_str()
        .expect("t1")
        .to_owned();
    // Node 2 knows the client (shared database) and issues tokens node 1 accepts, and vice versa.
    let t2 = json(
        token(
            &node2,
            &client,
            &[("grant_type", "client_credentials"), ("scope", "apim:admin")],
        )
        .await,
    )
    .await["access_token"]
        .as_str()
        .expect("t2")
        .to_owned();
    assert_eq!(environments(&node2, &t1).await.status(), StatusCode::OK);
    assert_eq!(environments(&node1, &t2).await.status(), StatusCode::OK);

    // Revoke on node 1; node 2 refuses within a second.
    let r = node1
        .client
        .post(node1.url("/oauth2/revoke"))
        .basic_auth(&client.0, Some(&client.1))
        .form_pairs(&[("token", t1.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::OK);
    let started = Instant::now();
    loop {
        let status = environments(&node2, &t1).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "node 2 still accepts the revoked token after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        environments(&node1, &t2).await.status(),
        StatusCode::OK,
        "only t1 was revoked"
    );

    // A role removed on node 1 cuts the user's tokens off on node 2 too (the user keeps apim:admin,
    // so only the propagated cut-off can refuse the token).
    let (admin, admin_pw) = node1.admin();
    let r = node1
        .client
        .post(node1.url("/scim2/Users"))
        .basic_auth(admin, Some(admin_pw))
        .json(&json!({"userName": "ops", "password": "ops-pw-1", "roles": ["admin", "Internal/subscriber"]}))
        .send()
        .await
        .expect("create ops");
    assert_eq!(r.status(), StatusCode::CREATED);
    let ops_id = json(r).await["id"].as_str().expect("id").to_owned();
    let ops_token = json(
        token(
            &node2,
            &client,
            &[
                ("grant_type", "password"),
                ("username", "ops"),
                ("password", "ops-pw-1"),
                ("scope", "apim:admin"),
            ],
        )
        .await,
    )
    .await["access_token"]
        .as_str()
        .expect("ops token")
        .to_owned();
    assert_eq!(environments(&node2, &ops_token).await.status(), StatusCode::OK);
    let r = node1
        .client
        .patch(node1.url(&format!("/scim2/Users/{ops_id}")))
        .basic_auth(admin, Some(admin_pw))
        .json(&json!({"Operations": [{"op": "remove", "path": "roles", "value": ["Internal/subscriber"]}]}))
        .send()
        .await
        .expect("patch ops");
    assert_eq!(r.status(), StatusCode::OK);
    let started = Instant::now();
    while environments(&node2, &ops_token).await.status() != StatusCode::UNAUTHORIZED {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "node 2 still accepts the token of a user whose role was removed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
