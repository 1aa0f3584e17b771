//! The portals over HTTPS without a browser: the authorization_code grant with PKCE (S256 only)
//! for the portals and for a registered client, the session cookie's attributes and lifetime,
//! logout revoking the session's token, the CSRF check, the security headers and page weights,
//! self sign-up switched off, and a session started on one node used on another (PostgreSQL).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use portico_testkit::{Node, NodeOptions, PgDatabase, node_on_both_backends};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

/// A client that keeps cookies by hand and does not follow redirects.
struct Visitor<'a> {
    node: &'a Node,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

struct Answer {
    status: StatusCode,
    location: String,
    set_cookies: Vec<String>,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl<'a> Visitor<'a> {
    fn new(node: &'a Node) -> Visitor<'a> {
        let cert = std::fs::read(node.home.join("conf/security/node-cert.pem")).expect("cert");
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("pem"))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Visitor {
            node,
            http,
            cookies: BTreeMap::new(),
        }
    }

    /// The same cookies, against another node.
    fn on(&self, node: &'a Node) -> Visitor<'a> {
        Visitor {
            cookies: self.cookies.clone(),
            ..Visitor::new(node)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let r = request
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .expect("send");
        let status = r.status();
        let headers = r.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let location = headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = r.text().await.expect("body");
        Answer {
            status,
            location,
            set_cookies,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.node.url(path)
        };
        let request = self.http.get(url);
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let request = self.http.post(self.node.url(path)).form(form);
        self.send(request).await
    }

    fn csrf(&self) -> String {
        self.cookies.get("__Host-portico-csrf").cloned().expect("csrf cookie")
    }
}

/// `value` of the hidden input named `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {page}"))
        + marker.len();
    let end = page[start..].find('"').expect("quote") + start;
    page[start..end]
        .replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&amp;", "&")
}

/// Signs in through `/oauth2/authorize` from `/<app>` and returns the callback's answer.
async fn sign_in(v: &mut Visitor<'_>, app: &str, user: &str, password: &str) -> Answer {
    let login = v.get(&format!("/{app}/login?next=%2F{app}")).await;
    assert!(login.location.starts_with("/oauth2/authorize?"), "{}", login.location);
    assert!(login.location.contains("code_challenge_method=S256"));
    let page = v.get(&login.location).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let fields: Vec<(String, String)> = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ]
    .iter()
    .map(|n| (n.to_string(), hidden(&page.body, n)))
    .collect();
    let csrf = v.csrf();
    let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    form.extend([("csrf", csrf.as_str()), ("username", user), ("password", password)]);
    let code = v.post("/oauth2/authorize", &form).await;
    assert_eq!(code.status, StatusCode::SEE_OTHER, "{}", code.body);
    assert!(
        code.location.starts_with(&format!("/{app}/callback?code=")),
        "{}",
        code.location
    );
    v.get(&code.location).await
}

fn edits(session_minutes: u32) -> Vec<(String, String)> {
    vec![(
        "session_minutes = 60".into(),
        format!("session_minutes = {session_minutes}"),
    )]
}

async fn check_sessions(node: &Node) {
    let mut v = Visitor::new(node);
    let start = v.get("/publisher").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "the Publisher needs a session");
    assert_eq!(start.location, "/publisher/login?next=%2Fpublisher");
    let done = sign_in(&mut v, "publisher", "admin", &node.admin_password).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location, "/publisher");
    let session = done
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-portico-session="))
        .expect("session cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=300"] {
        assert!(session.contains(attribute), "{attribute} in {session}");
    }
    let token = v.cookies["__Host-portico-session"].clone();
    // The session's token lives as long as the session.
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("payload"))
            .expect("base64"),
    )
    .expect("claims");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        300
    );

    let list = v.get("/publisher").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("<h1>APIs</h1>"));
    let csp = list.headers[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(list.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(list.headers[header::REFERRER_POLICY], "same-origin");

    // Without the CSRF field, or with another one, a form post is refused.
    let refused = v.post("/publisher/apis/new", &[("name", "x")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = v
        .post(
            "/publisher/apis/new",
            &[("name", "x"), ("csrf", "0123456789012345678901234567890123456789abc")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Logging out revokes the token: the old cookie no longer opens a page, nor the REST API.
    let csrf = v.csrf();
    let out = v.post("/publisher/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!v.cookies.contains_key("__Host-portico-session"));
    v.cookies.insert("__Host-portico-session".into(), token.clone());
    let again = v.get("/publisher").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "a revoked session goes to sign in");
    let rest = node
        .client
        .get(node.url("/api/am/publisher/v4/apis"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("rest");
    assert_eq!(rest.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sqlite_portal_sessions() {
    let options = NodeOptions {
        config_edits: edits(5),
        ..NodeOptions::default()
    };
    let node = Node::start(Path::new(env!("CARGO_BIN_EXE_portico")), options)
        .await
        .expect("node");
    check_sessions(&node).await;
}

#[tokio::test]
async fn postgres_session_works_on_either_node() {
    let Some(db) = PgDatabase::create("postgres_session_works_on_either_node")
        .await
        .expect("database")
    else {
        return;
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_portico"));
    let first = Node::start(
        bin,
        NodeOptions {
            config_edits: edits(5),
            ..NodeOptions::on_postgres(&db)
        },
    )
    .await
    .expect("node 1");
    check_sessions(&first).await;
    let security = first.home.join("conf/security");
    let second = Node::start(
        bin,
        NodeOptions {
            init_args: vec!["--join".into(), security.display().to_string()],
            ..NodeOptions::on_postgres(&db)
        },
    )
    .await
    .expect("node 2");
    // Signed in on node 1, the session opens pages on node 2; logging out on node 2 ends it on node 1.
    let mut on_first = Visitor::new(&first);
    let done = sign_in(&mut on_first, "admin", "admin", &first.admin_password).await;
    assert_eq!(done.location, "/admin");
    let mut on_second = on_first.on(&second);
    let page = on_second.get("/admin/users").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = on_second.csrf();
    on_second.post("/admin/logout", &[("csrf", csrf.as_str())]).await;
    let token = on_first.cookies["__Host-portico-session"].clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut probe = Visitor::new(&first);
        probe.cookies.insert("__Host-portico-session".into(), token.clone());
        if probe.get("/admin/users").await.status == StatusCode::SEE_OTHER {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 1 still accepts the session revoked on node 2"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Signs in at `url` (an authorization request of the registered client) and returns the code.
async fn issue_code(v: &mut Visitor<'_>, url: &str, user: &str, password: &str) -> String {
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let page = v.get(url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // The sign-in form's answer redirects to the client: the policy lets the form go there.
    let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
    assert!(csp.contains("form-action 'self' https://app.example;"), "{csp}");
    let csrf = v.csrf();
    let client_id = hidden(&page.body, "client_id");
    let form = [
        ("csrf", csrf.as_str()),
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", "https://app.example/cb"),
        ("state", "xyz"),
        ("scope", "apim:api_view"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("username", user),
        ("password", password),
    ];
    let answer = v.post("/oauth2/authorize", &form).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert!(
        answer.location.starts_with("https://app.example/cb?code="),
        "{}",
        answer.location
    );
    assert!(answer.location.ends_with("&state=xyz"));
    answer.location["https://app.example/cb?code=".len()..answer.location.len() - "&state=xyz".len()].to_owned()
}

/// A client registered through DCR redeems a code with PKCE at the token endpoint.
async fn check_authorization_code(node: &Node) {
    let (user, password) = node.admin();
    let registered: Value = node
        .client
        .post(node.url("/client-registration/v0.17/register"))
        .basic_auth(user, Some(password))
        .json(
            &json!({"clientName": "spa", "owner": user, "grantType": "authorization_code",
                      "callbackUrl": "https://app.example/cb", "saasApp": true}),
        )
        .send()
        .await
        .expect("dcr")
        .json()
        .await
        .expect("json");
    let client_id = registered["clientId"].as_str().expect("clientId").to_owned();
    let secret = registered["clientSecret"].as_str().expect("secret").to_owned();
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let mut v = Visitor::new(node);
    let authorize = |method: &str, redirect: &str| {
        format!(
            "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={redirect}&state=xyz&scope=apim:api_view&code_challenge={challenge}&code_challenge_method={method}"
        )
    };
    // plain, a foreign redirect URI and a missing challenge are refused before any sign-in.
    assert_eq!(
        v.get(&authorize("plain", "https://app.example/cb")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        v.get(&authorize("S256", "https://evil.example/cb")).await.status,
        StatusCode::BAD_REQUEST
    );
    let no_challenge =
        format!("/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri=https://app.example/cb");
    assert_eq!(v.get(&no_challenge).await.status, StatusCode::BAD_REQUEST);

    let token = |code: String, verifier: &'static str| {
        let request = node
            .client
            .post(node.url("/oauth2/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "https://app.example/cb"),
                ("code_verifier", verifier),
            ]);
        async move {
            let r = request.send().await.expect("token");
            (r.status(), r.json::<Value>().await.expect("json"))
        }
    };
    let url = authorize("S256", "https://app.example/cb");
    let first = issue_code(&mut v, &url, user, password).await;
    let (status, body) = token(first, "wrong-verifier-wrong-verifier-wrong-verifier-x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let second = issue_code(&mut v, &url, user, password).await;
    let (status, body) = token(second.clone(), verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "apim:api_view");
    let (status, body) = token(second, verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "a code is used once"
    );
}

node_on_both_backends!(
    sqlite_authorization_code,
    postgres_authorization_code,
    check_authorization_code
);

/// Every page of the portals stays under 100 KB; the start page needs no sign-in.
async fn check_pages(node: &Node) {
    let mut v = Visitor::new(node);
    let home = v.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(home.headers[header::X_FRAME_OPTIONS], "DENY");
    let css = v.get("/portal/static/portal.css").await;
    assert_eq!(css.status, StatusCode::OK);
    sign_in(&mut v, "devportal", "admin", &node.admin_password).await;
    for page in [
        "/",
        "/publisher",
        "/publisher/apis/new",
        "/publisher/apis/import",
        "/devportal",
        "/devportal/applications",
        "/admin",
        "/admin/users",
        "/admin/key-managers",
        "/admin/environments",
        "/admin/throttling",
        "/admin/cluster",
    ] {
        let answer = v.get(page).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}: {}", answer.body);
        assert!(
            answer.body.len() < 100 * 1024,
            "{page} weighs {} bytes",
            answer.body.len()
        );
        assert!(!answer.body.contains("<script"), "{page} has no script");
    }
}

node_on_both_backends!(sqlite_portal_pages, postgres_portal_pages, check_pages);

#[tokio::test]
async fn self_signup_can_be_switched_off() {
    let options = NodeOptions {
        config_edits: vec![("enable_self_signup = true".into(), "enable_self_signup = false".into())],
        ..NodeOptions::default()
    };
    let node = Node::start(Path::new(env!("CARGO_BIN_EXE_portico")), options)
        .await
        .expect("node");
    let mut v = Visitor::new(&node);
    assert_eq!(v.get("/devportal/signup").await.status, StatusCode::NOT_FOUND);
    let rest = node
        .client
        .post(node.url("/api/identity/user/v1.0/me"))
        .json(&json!({"user": {"username": "eve", "password": "eve-password"}}))
        .send()
        .await
        .expect("self-register");
    assert_eq!(rest.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn self_signup_creates_a_subscriber() {
    let node = Node::start(Path::new(env!("CARGO_BIN_EXE_portico")), NodeOptions::default())
        .await
        .expect("node");
    let mut v = Visitor::new(&node);
    v.get("/devportal/signup").await;
    let csrf = v.csrf();
    let short = v
        .post(
            "/devportal/signup",
            &[
                ("csrf", &csrf),
                ("userName", "carol"),
                ("password", "abc"),
                ("confirm", "abc"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(
        short.body.contains("id=\"e-password\""),
        "the password's error is next to it"
    );
    assert!(short.body.contains("value=\"carol\""), "the user name is kept");
    let ok = v
        .post(
            "/devportal/signup",
            &[
                ("csrf", &csrf),
                ("userName", "carol"),
                ("password", "carol-pw"),
                ("confirm", "carol-pw"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let (admin, password) = node.admin();
    let users: Value = node
        .client
        .get(node.url("/scim2/Users?filter=userName%20eq%20%22carol%22"))
        .basic_auth(admin, Some(password))
        .send()
        .await
        .expect("scim")
        .json()
        .await
        .expect("json");
    assert_eq!(users["Resources"][0]["roles"][0]["value"], "Internal/subscriber");
}
