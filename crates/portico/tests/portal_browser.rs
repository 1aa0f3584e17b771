//! The web portals in a real browser: Debian's headless `chromium` driven over WebDriver by
//! `chromedriver` (both from apt; nothing is downloaded), against a started node and the
//! testkit's echo backend. One journey: a publisher signs in, imports an API from an OpenAPI
//! file, deploys and publishes it; a new developer signs up, creates an application, subscribes,
//! generates a token, calls the API from the try-it console and sees the backend's answer; an
//! admin adds a user; that second developer cannot see the first one's application; a form
//! with an error keeps what was typed; `<script>` in an API name, an application name and a
//! description shows as text; a cross-site form post without the CSRF token is refused.
//!
//! Screenshots of each portal's main pages go to `<workspace>/target/portal-screenshots/`.
//! Without chromium and chromedriver the test prints SKIPPING and passes, except under
//! `CI=true`, where it fails (`.ci/run` installs them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use portico_testkit::{EchoBackend, Node, NodeOptions};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Option<Driver> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{CHROMIUM} and {CHROMEDRIVER} are required when CI=true (apt-get install chromium chromium-driver)"
        );
        eprintln!("SKIPPING portal browser test: {CHROMIUM} or {CHROMEDRIVER} is missing");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver { child, port })
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    // The node's certificate is self-signed.
    caps.insert("acceptInsecureCerts".into(), json!(true));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1200,1000", "--no-first-run", "--no-default-browser-check"],
        }),
    );
    ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session")
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/portal-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

struct Journey<'a> {
    browser: Client,
    node: &'a Node,
    shots: PathBuf,
}

impl Journey<'_> {
    async fn go(&self, path: &str) {
        self.browser.goto(&self.node.url(path)).await.expect("goto");
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.browser.find(Locator::Css(css)).await.expect(css);
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks a button or link that loads a new page, and waits until the new page is there
    /// (the old document's root element has gone stale and the new one has loaded).
    async fn click(&self, css: &str) {
        let old_root = self.browser.find(Locator::Css("html")).await.expect("page");
        self.browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .expect("click");
        let deadline = Instant::now() + Duration::from_secs(20);
        while old_root.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "clicking {css} loaded no new page");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        while self
            .browser
            .execute("return document.readyState", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(|s| s == "complete"))
            != Some(true)
        {
            assert!(Instant::now() < deadline, "the page after {css} did not finish loading");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        self.browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    async fn value(&self, css: &str) -> String {
        self.browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    async fn source(&self) -> String {
        self.browser.source().await.expect("source")
    }

    async fn path(&self) -> String {
        self.browser.current_url().await.expect("url").path().to_owned()
    }

    async fn shot(&self, name: &str) {
        let png = self.browser.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Signs in on the sign-in page the browser is on.
    async fn sign_in(&self, user: &str, password: &str) {
        self.fill("#f-username", user).await;
        self.fill("#f-password", password).await;
        self.click("#sign-in").await;
    }

    async fn sign_out(&self) {
        self.click("header.top form button").await;
    }

    /// No `alert()` ran: a script that had would leave an open dialog.
    async fn no_dialog(&self) {
        assert!(
            self.browser.get_alert_text().await.is_err(),
            "a script ran: an alert dialog is open"
        );
    }
}

#[tokio::test]
async fn portal_journey_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let backend = EchoBackend::start("portal-echo").await.expect("backend");
    let node = Node::start(Path::new(env!("CARGO_BIN_EXE_portico")), NodeOptions::default())
        .await
        .expect("node");
    let j = Journey {
        browser: browser(&driver).await,
        node: &node,
        shots: screenshot_dir(),
    };
    let admin_pw = node.admin_password.clone();
    let run = std::process::id();

    // The start page offers the three portals.
    j.go("/").await;
    let home = j.source().await;
    for portal in ["/publisher", "/devportal", "/admin"] {
        assert!(
            home.contains(&format!("href=\"{portal}\"")),
            "{portal} on the start page"
        );
    }
    j.shot("home").await;

    // A publisher signs in (the authorization_code grant with PKCE, through the sign-in page).
    j.go("/publisher").await;
    assert_eq!(j.path().await, "/oauth2/authorize");
    j.shot("sign-in").await;
    j.sign_in("admin", "wrong-password").await;
    assert!(j.text("#login-error").await.contains("Wrong user name or password"));
    assert_eq!(j.value("#f-username").await, "admin", "the user name is kept");
    j.sign_in("admin", &admin_pw).await;
    assert_eq!(j.path().await, "/publisher");

    // A form with an error shows it next to the field and keeps what was typed.
    j.go("/publisher/apis/new").await;
    j.fill("#f-name", "Kept API").await;
    j.fill("#f-context", "/a/../b").await;
    j.fill("#f-version", "2.0.0").await;
    j.fill("#f-description", "typed before the error").await;
    j.click("form.card button[type=submit]").await;
    assert!(
        j.text("#e-context").await.contains(".."),
        "the context's error is next to it"
    );
    assert_eq!(j.value("#f-name").await, "Kept API");
    assert_eq!(j.value("#f-context").await, "/a/../b");
    assert_eq!(j.value("#f-version").await, "2.0.0");
    assert_eq!(j.value("#f-description").await, "typed before the error");
    j.shot("publisher-form-error").await;

    // Import from an OpenAPI file, with `<script>` in the API's name.
    let definition = std::env::temp_dir().join(format!("portal-openapi-{run}.yaml"));
    std::fs::write(
        &definition,
        format!(
            "openapi: 3.0.1\ninfo: {{title: Echo, version: 1.0.0}}\nservers: [{{url: \"{}\"}}]\npaths:\n  /menu:\n    get:\n      summary: The menu\n      responses: {{\"200\": {{description: OK}}}}\n",
            backend.url("/v1")
        ),
    )
    .expect("definition file");
    // WSO2's name rule refuses `<` in API names: the refused name comes back as text, in the
    // field and in the error beside it, and nothing runs.
    let bad_name = "<script>alert('api')</script>Echo";
    let context = format!("/echo{run}");
    let choose_file = || async {
        j.browser
            .find(Locator::Css("#f-file"))
            .await
            .expect("file input")
            .send_keys(&definition.display().to_string())
            .await
            .expect("choose file");
    };
    j.go("/publisher/apis/import").await;
    choose_file().await;
    j.fill("#f-context", &context).await;
    j.fill("#f-name", bad_name).await;
    j.fill("#f-version", "1.0.0").await;
    j.click("form.card button[type=submit]").await;
    assert!(
        j.text("#e-name").await.contains("may not use"),
        "the name's error is next to it"
    );
    assert_eq!(j.value("#f-name").await, bad_name, "the typed name is kept, as text");
    assert_eq!(j.value("#f-context").await, context);
    assert!(j.source().await.contains("&lt;script&gt;alert("), "the name is escaped");
    j.no_dialog().await;
    let api_name = "Echo API";
    choose_file().await;
    j.fill("#f-name", api_name).await;
    j.click("form.card button[type=submit]").await;
    let api_path = j.path().await;
    assert!(
        api_path.starts_with("/publisher/apis/") && api_path != "/publisher/apis/import",
        "not imported: {}",
        j.source().await
    );
    let api_id = api_path.trim_start_matches("/publisher/apis/").to_owned();
    assert_eq!(j.text("h1").await, format!("{api_name} 1.0.0"));

    // A description with `<script>` and a tag, through the settings form.
    j.fill("#f-description", "<script>alert('description')</script>Echoes requests")
        .await;
    j.fill("#f-tags", "echo").await;
    j.click("form.card button[type=submit]").await;
    let saved = j.source().await;
    assert!(saved.contains("Saved."), "not saved: {saved}");
    assert_eq!(
        j.value("#f-description").await,
        "<script>alert('description')</script>Echoes requests"
    );
    assert!(
        j.source().await.contains("&lt;script&gt;alert("),
        "the description is escaped"
    );
    j.no_dialog().await;
    j.shot("publisher-api").await;

    // Revise, deploy, publish: only the transitions allowed from CREATED are offered.
    j.go(&format!("/publisher/apis/{api_id}/lifecycle")).await;
    assert!(j.browser.find(Locator::Css("#lifecycle-publish")).await.is_ok());
    assert!(
        j.browser.find(Locator::Css("#lifecycle-retire")).await.is_err(),
        "Retire is not allowed from CREATED"
    );
    j.fill("#f-description", "first").await;
    j.click("#create-revision").await;
    j.click("button.deploy").await;
    assert!(
        j.source().await.contains("Default (localhost): APPROVED"),
        "deployed with its status"
    );
    j.click("#lifecycle-publish").await;
    assert_eq!(j.text("#api-state").await, "PUBLISHED");
    j.shot("publisher-lifecycle").await;
    j.go("/publisher").await;
    j.shot("publisher-apis").await;
    j.sign_out().await;

    // Anonymous visitors see the published PUBLIC API in the catalogue.
    j.go("/devportal").await;
    assert!(j.source().await.contains(&format!("/devportal/apis/{api_id}")));
    j.no_dialog().await;
    j.shot("devportal-catalogue").await;
    // The same page on a phone's screen.
    j.browser.set_window_size(390, 844).await.expect("phone size");
    j.go("/devportal").await;
    j.shot("devportal-catalogue-phone").await;
    j.browser.set_window_size(1200, 1000).await.expect("desktop size");

    // A new developer signs up, then signs in.
    let dev1 = format!("dev1-{run}");
    j.go("/devportal/login").await;
    j.click("a[href='/devportal/signup']").await;
    j.fill("#f-userName", &dev1).await;
    j.fill("#f-password", "dev1-password").await;
    j.fill("#f-confirm", "dev1-other").await;
    j.click("#sign-up").await;
    assert!(j.text("#e-confirm").await.contains("differ"));
    assert_eq!(j.value("#f-userName").await, dev1, "the user name is kept");
    j.fill("#f-password", "dev1-password").await;
    j.fill("#f-confirm", "dev1-password").await;
    j.click("#sign-up").await;
    assert_eq!(j.path().await, "/oauth2/authorize");
    j.sign_in(&dev1, "dev1-password").await;
    assert_eq!(j.path().await, "/devportal/applications");

    // An application whose name and description hold `<script>`.
    let app_name = "<script>alert('app')</script>App";
    j.fill("#f-name", app_name).await;
    j.fill("#f-description", "<img src=x onerror=alert('desc')>my app")
        .await;
    j.click("#create-application").await;
    let app_path = j.path().await;
    assert!(
        app_path.starts_with("/devportal/applications/"),
        "created: now at {app_path}"
    );
    assert_eq!(j.text("#app-name").await, app_name);
    assert!(j.source().await.contains("&lt;img src=x onerror="));
    j.no_dialog().await;

    // Keys, then a token with chosen scopes and validity.
    j.click("#generate-PRODUCTION").await;
    assert!(j.text("#issued").await.contains("Consumer secret"));
    j.fill("#validity-PRODUCTION", "600").await;
    j.click("#token-PRODUCTION").await;
    let token = j.text("#issued-value").await;
    assert!(token.starts_with("ey"), "an access token: {token}");
    assert!(j.text("#issued").await.contains("valid for 600 s"));
    j.shot("devportal-application").await;

    // Subscribe from the API's page, then try it with the token.
    j.go(&format!("/devportal/apis/{api_id}")).await;
    assert_eq!(j.text("#api-name").await, format!("{api_name} 1.0.0"));
    assert_eq!(
        j.text("#api-description").await,
        "<script>alert('description')</script>Echoes requests"
    );
    j.no_dialog().await;
    j.click("#subscribe").await;
    assert!(j.source().await.contains("Subscribed."));
    j.fill("#f-path", "/menu").await;
    j.fill("#f-token", &token).await;
    j.click("#try-it").await;
    assert_eq!(j.text("#try-status").await, "200");
    let answer = j.text("#try-body").await;
    assert!(
        answer.contains("portal-echo") && answer.contains("/v1/menu"),
        "the backend's answer: {answer}"
    );
    j.no_dialog().await;
    j.shot("devportal-api-try-it").await;
    j.go("/devportal/applications").await;
    j.shot("devportal-applications").await;
    let app_id = app_path.trim_start_matches("/devportal/applications/").to_owned();

    // A cross-site form post without the CSRF token is refused (the page comes from another origin).
    let attack = format!(
        "data:text/html,<form method=post action='{}'><input name=name value=Forged><input name=throttlingPolicy value=Unlimited></form><script>document.forms[0].submit()</script>",
        node.url("/devportal/applications")
    );
    j.browser.goto(&attack).await.expect("attacker page");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = j.source().await;
        if body.contains("Refused") {
            break;
        }
        assert!(Instant::now() < deadline, "the forged post was not refused: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    j.go("/devportal/applications").await;
    assert!(
        !j.source().await.contains("Forged"),
        "no application was created by the forged post"
    );
    j.sign_out().await;

    // An admin adds a user.
    let dev2 = format!("dev2-{run}");
    j.go("/admin").await;
    j.sign_in("admin", &admin_pw).await;
    j.shot("admin-overview").await;
    j.go("/admin/users").await;
    j.fill("#f-userName", &dev2).await;
    j.fill("#f-password", "dev2-password").await;
    j.click("#add-user").await;
    assert!(j.source().await.contains(&dev2));
    j.shot("admin-users").await;
    for page in ["key-managers", "environments", "throttling", "cluster"] {
        j.go(&format!("/admin/{page}")).await;
        assert!(!j.source().await.contains("That did not work"), "/admin/{page} shows");
        j.shot(&format!("admin-{page}")).await;
    }
    j.sign_out().await;

    // The second developer cannot see the first one's application.
    j.go("/devportal/applications").await;
    j.sign_in(&dev2, "dev2-password").await;
    assert_eq!(j.path().await, "/devportal/applications");
    assert!(
        !j.source().await.contains("alert('app')"),
        "dev2's list lacks dev1's application"
    );
    j.go(&format!("/devportal/applications/{app_id}")).await;
    assert!(j.text("h1").await.contains("Not found"));
    j.sign_out().await;

    j.browser.close().await.expect("close");
    let _ = std::fs::remove_file(definition);
    backend.stop().await;
}
