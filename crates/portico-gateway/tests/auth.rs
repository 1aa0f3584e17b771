//! Authentication and authorisation at the gateway: bearer JWTs through the token cache,
//! subscriptions, key types, scopes and revocation. Tokens are signed here with a key pair made
//! by the keystore crate, as the Key Manager signs them with the node's primary key.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::issuer::{Issuer, claims, now};
use common::{TestGateway, api};
use portico_gateway::identity::{
    AppInfo, ClientInfo, Identity, KeyType, RevocationCheck, SubscriptionInfo, SubscriptionStatus, VerificationKey,
};
use portico_gateway::model::{EndpointDef, TargetDef};
use portico_testkit::EchoBackend as Backend;
use serde_json::{Value, json};

fn identity(issuer: &Issuer, subscription: SubscriptionStatus) -> Identity {
    let app = Arc::new(AppInfo {
        id: "app-1".into(),
        name: "PizzaApp".into(),
        owner: "alice".into(),
        tier: "Unlimited".into(),
    });
    let mut clients = HashMap::default();
    clients.insert(
        "prod-client".into(),
        ClientInfo {
            app: app.clone(),
            key_type: KeyType::Production,
        },
    );
    clients.insert(
        "sandbox-client".into(),
        ClientInfo {
            app,
            key_type: KeyType::Sandbox,
        },
    );
    let mut subscriptions = HashMap::default();
    subscriptions.insert(
        ("app-1".to_owned(), "pizza".to_owned()),
        SubscriptionInfo {
            id: "sub-1".into(),
            tier: "Gold".into(),
            status: subscription,
        },
    );
    Identity {
        keys: vec![VerificationKey::from_public_pem("node-key", &issuer.public_pem, false).expect("verification key")],
        issuers: vec!["https://localhost:9443/oauth2/token".into()],
        clients,
        subscriptions,
        ..Identity::default()
    }
}

/// Revocations as the Key Manager reports them: token ids revoked, and users whose tokens issued
/// before a time (seconds) are cut off.
#[derive(Default)]
struct Revocations {
    token_ids: Vec<String>,
    users_cut_off: Vec<(String, u64)>,
}

impl RevocationCheck for Revocations {
    fn is_revoked(&self, jti: &str, subject: &str, _client_id: &str, issued_at: u64) -> bool {
        self.token_ids.iter().any(|revoked| revoked == jti)
            || self
                .users_cut_off
                .iter()
                .any(|(user, not_before)| user == subject && issued_at < *not_before)
    }
}

/// `identity` with `revocations` as the live revocation check.
fn identity_revoking(issuer: &Issuer, revocations: Revocations) -> Identity {
    Identity {
        revocations: Some(Arc::new(revocations)),
        ..identity(issuer, SubscriptionStatus::Unblocked)
    }
}

async fn setup() -> (TestGateway, Backend, Backend, Issuer) {
    let production = Backend::start("production").await.expect("backend");
    let sandbox = Backend::start("sandbox").await.expect("backend");
    let gw = TestGateway::start().await;
    let mut pizza = api(
        "pizza",
        "/pizza",
        EndpointDef::Single(TargetDef::new(production.url("/"))),
    );
    pizza.sandbox = Some(EndpointDef::Single(TargetDef::new(sandbox.url("/"))));
    pizza.resources.push(common::resource("GET", "/admin", true));
    pizza.resources.last_mut().expect("resource").scopes = vec!["pizza:admin".into()];
    let other = api(
        "other",
        "/other",
        EndpointDef::Single(TargetDef::new(production.url("/"))),
    );
    gw.gateway.install(vec![pizza, other]);
    let issuer = Issuer::new();
    gw.gateway
        .install_identity(identity(&issuer, SubscriptionStatus::Unblocked));
    (gw, production, sandbox, issuer)
}

async fn call(gw: &TestGateway, path: &str, token: &str) -> (u16, Value) {
    let r = gw
        .client
        .get(gw.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn valid_token_with_subscription_passes_and_picks_the_key_types_endpoint() {
    let (gw, production, sandbox, issuer) = setup().await;
    let token = issuer.token(claims("t1", "prod-client", "PRODUCTION", "default", 3600));
    for _ in 0..3 {
        // The second and third calls come from the token cache.
        let (status, body) = call(&gw, "/pizza/1.0.0/secure", &token).await;
        assert_eq!((status, body["backend"].as_str()), (200, Some("production")));
        assert!(body["headers"].get("authorization").is_none());
    }
    let sandbox_token = issuer.token(claims("t2", "sandbox-client", "SANDBOX", "default", 3600));
    let (status, body) = call(&gw, "/pizza/1.0.0/secure", &sandbox_token).await;
    assert_eq!((status, body["backend"].as_str()), (200, Some("sandbox")));
    production.stop().await;
    sandbox.stop().await;
}

#[tokio::test]
async fn bad_tokens_answer_900901() {
    let (gw, production, sandbox, issuer) = setup().await;
    let stranger = Issuer::new();
    let cases = [
        (
            "another key",
            stranger.token(claims("x1", "prod-client", "PRODUCTION", "", 3600)),
        ),
        (
            "expired",
            issuer.token(claims("x2", "prod-client", "PRODUCTION", "", -120)),
        ),
        (
            "unknown client",
            issuer.token(claims("x3", "nobody", "PRODUCTION", "", 3600)),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let r = gw
            .client
            .get(gw.url("/pizza/1.0.0/secure"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401, "{what}");
        assert!(r.headers().get("www-authenticate").is_some(), "{what}");
        assert_eq!(r.json::<Value>().await.expect("json")["code"], "900901", "{what}");
    }
    let mut wrong_issuer = claims("x4", "prod-client", "PRODUCTION", "", 3600);
    wrong_issuer["iss"] = json!("https://evil.example/token");
    assert_eq!(
        call(&gw, "/pizza/1.0.0/secure", &issuer.token(wrong_issuer)).await.0,
        401
    );
    production.stop().await;
    sandbox.stop().await;
}

#[tokio::test]
async fn subscriptions_and_scopes_are_enforced() {
    let (gw, production, sandbox, issuer) = setup().await;
    let token = issuer.token(claims("s1", "prod-client", "PRODUCTION", "default", 3600));
    let (status, body) = call(&gw, "/other/1.0.0/secure", &token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("900908")),
        "no subscription to `other`"
    );

    let (status, body) = call(&gw, "/pizza/1.0.0/admin", &token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("900910")),
        "scope pizza:admin missing"
    );
    let admin_token = issuer.token(claims("s2", "prod-client", "PRODUCTION", "default pizza:admin", 3600));
    assert_eq!(call(&gw, "/pizza/1.0.0/admin", &admin_token).await.0, 200);

    // PROD_ONLY_BLOCKED: production traffic refused, sandbox allowed; BLOCKED: both refused.
    gw.gateway
        .install_identity(identity(&issuer, SubscriptionStatus::ProdOnlyBlocked));
    assert_eq!(call(&gw, "/pizza/1.0.0/secure", &token).await.1["code"], "900908");
    let sandbox_token = issuer.token(claims("s3", "sandbox-client", "SANDBOX", "", 3600));
    assert_eq!(call(&gw, "/pizza/1.0.0/secure", &sandbox_token).await.0, 200);
    gw.gateway
        .install_identity(identity(&issuer, SubscriptionStatus::Blocked));
    assert_eq!(
        call(&gw, "/pizza/1.0.0/secure", &sandbox_token).await.1["code"],
        "900908"
    );
    production.stop().await;
    sandbox.stop().await;
}

#[tokio::test]
async fn revocation_applies_to_cached_tokens_at_once() {
    let (gw, production, sandbox, issuer) = setup().await;
    let token = issuer.token(claims("r1", "prod-client", "PRODUCTION", "", 3600));
    assert_eq!(
        call(&gw, "/pizza/1.0.0/secure", &token).await.0,
        200,
        "validated and cached"
    );

    let revoked = identity_revoking(
        &issuer,
        Revocations {
            token_ids: vec!["r1".into()],
            ..Revocations::default()
        },
    );
    gw.gateway.install_identity(revoked);
    let (status, body) = call(&gw, "/pizza/1.0.0/secure", &token).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("900901")));

    // A user-wide cut-off (user deleted) refuses tokens issued before it.
    let other = issuer.token(claims("r2", "prod-client", "PRODUCTION", "", 3600));
    assert_eq!(call(&gw, "/pizza/1.0.0/secure", &other).await.0, 200);
    let cut = identity_revoking(
        &issuer,
        Revocations {
            users_cut_off: vec![("alice".into(), now() + 1)],
            ..Revocations::default()
        },
    );
    gw.gateway.install_identity(cut);
    assert_eq!(call(&gw, "/pizza/1.0.0/secure", &other).await.0, 401);
    tokio::time::sleep(Duration::from_millis(10)).await;
    production.stop().await;
    sandbox.stop().await;
}

#[tokio::test]
async fn unsecured_resources_and_prototypes_need_no_token() {
    let (gw, production, sandbox, _issuer) = setup().await;
    assert_eq!(gw.get("/pizza/1.0.0/menu").await.0, 200, "authType None");
    assert_eq!(gw.get("/pizza/1.0.0/secure").await.1["code"], "900902");
    production.stop().await;
    sandbox.stop().await;
}

#[tokio::test]
async fn backend_jwt_carries_wso2_claims_signed_by_the_node_key() {
    let production = Backend::start("production").await.expect("backend");
    let issuer = Issuer::new();
    let settings = portico_gateway::GatewaySettings {
        backend_jwt: Some(portico_gateway::BackendJwtSettings {
            header: http::HeaderName::from_static("x-jwt-assertion"),
            key: jsonwebtoken::EncodingKey::from_ec_pem(issuer.private_pem.as_bytes()).expect("key"),
            algorithm: jsonwebtoken::Algorithm::ES256,
            kid: "node-key".into(),
            max_ttl_seconds: 900,
        }),
        ..Default::default()
    };
    let gw = TestGateway::start_with(settings).await;
    gw.gateway.install(vec![api(
        "pizza",
        "/pizza",
        EndpointDef::Single(TargetDef::new(production.url("/"))),
    )]);
    gw.gateway
        .install_identity(identity(&issuer, SubscriptionStatus::Unblocked));
    let token = issuer.token(claims("b1", "prod-client", "PRODUCTION", "", 3600));
    let (status, body) = call(&gw, "/pizza/1.0.0/secure", &token).await;
    assert_eq!(status, 200);
    let assertion = body["headers"]["x-jwt-assertion"]
        .as_str()
        .expect("assertion sent")
        .to_owned();
    let key = jsonwebtoken::DecodingKey::from_ec_pem(issuer.public_pem.as_bytes()).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_aud = false;
    let decoded = jsonwebtoken::decode::<Value>(&assertion, &key, &validation).expect("verifies with the node key");
    let c = decoded.claims;
    assert_eq!(c["iss"], "wso2.org/products/am");
    assert_eq!(c["http://wso2.org/claims/applicationname"], "PizzaApp");
    assert_eq!(c["http://wso2.org/claims/apicontext"], "/pizza");
    assert_eq!(c["http://wso2.org/claims/tier"], "Gold");
    assert_eq!(c["http://wso2.org/claims/keytype"], "PRODUCTION");
    assert_eq!(c["http://wso2.org/claims/enduser"], "alice");
    // The second call reuses the cached assertion.
    let (_, again) = call(&gw, "/pizza/1.0.0/secure", &token).await;
    assert_eq!(again["headers"]["x-jwt-assertion"], assertion.as_str());
    // Unsecured resources carry none, and a consumer cannot pass one of its own: its header
    // is left out whether or not the gateway adds the real one.
    let forged = gw
        .client
        .get(gw.url("/pizza/1.0.0/menu"))
        .header("x-jwt-assertion", "forged")
        .send()
        .await
        .expect("send");
    let forged: Value = forged.json().await.expect("json");
    assert!(forged["headers"].get("x-jwt-assertion").is_none(), "{forged}");
    let r = gw
        .client
        .get(gw.url("/pizza/1.0.0/secure"))
        .bearer_auth(&token)
        .header("x-jwt-assertion", "forged")
        .send()
        .await
        .expect("send");
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["headers"]["x-jwt-assertion"],
        assertion.as_str(),
        "only the gateway's"
    );
    production.stop().await;
}

/// WSO2's API-key claims: the application inside, no client id, maybe no expiry.
fn api_key_claims(jti: &str, app_id: &str, keytype: &str, exp_in: Option<i64>) -> Value {
    let mut claims = json!({
        "sub": "alice", "iss": "https://localhost:9443/oauth2/token", "iat": now(), "jti": jti,
        "token_type": "apiKey", "keytype": keytype,
        "application": {"id": app_id, "uuid": app_id, "name": "PizzaApp", "owner": "alice", "tier": "Unlimited"},
        "subscribedAPIs": [{"name": "pizza", "context": "/pizza/1.0.0", "version": "1.0.0",
            "publisher": "admin", "subscriptionTier": "Gold", "subscriberTenantDomain": "carbon.super"}],
        "tierInfo": {}, "permittedIP": "", "permittedReferer": "",
    });
    if let Some(exp_in) = exp_in {
        claims["exp"] = json!(now() as i64 + exp_in);
    }
    claims
}

/// `pizza` with `securityScheme: [oauth2, api_key]`, `other` with OAuth2 only.
async fn setup_api_keys() -> (TestGateway, Backend, Issuer) {
    let production = Backend::start("production").await.expect("backend");
    let gw = TestGateway::start().await;
    let mut pizza = api(
        "pizza",
        "/pizza",
        EndpointDef::Single(TargetDef::new(production.url("/"))),
    );
    pizza.security = portico_gateway::model::SecurityDef::from_schemes(["oauth2", "api_key"]);
    let mut other = api(
        "other",
        "/other",
        EndpointDef::Single(TargetDef::new(production.url("/"))),
    );
    other.security = portico_gateway::model::SecurityDef::from_schemes(["oauth2"]);
    gw.gateway.install(vec![pizza, other]);
    let issuer = Issuer::new();
    let mut identity = identity(&issuer, SubscriptionStatus::Unblocked);
    identity.subscriptions.insert(
        ("app-1".to_owned(), "other".to_owned()),
        SubscriptionInfo {
            id: "sub-2".into(),
            tier: "Gold".into(),
            status: SubscriptionStatus::Unblocked,
        },
    );
    gw.gateway.install_identity(identity);
    (gw, production, issuer)
}

async fn call_with_api_key(gw: &TestGateway, path: &str, key: &str) -> (u16, Value, Option<String>) {
    let r = gw
        .client
        .get(gw.url(path))
        .header("apikey", key)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, r.json().await.unwrap_or(Value::Null), challenge)
}

#[tokio::test]
async fn api_keys_pass_in_the_header_or_query_and_never_reach_the_backend() {
    let (gw, production, issuer) = setup_api_keys().await;
    let key = issuer.token(api_key_claims("k1", "app-1", "PRODUCTION", None));
    for _ in 0..2 {
        let (status, body, _) = call_with_api_key(&gw, "/pizza/1.0.0/secure", &key).await;
        assert_eq!((status, body["backend"].as_str()), (200, Some("production")), "{body}");
        assert!(body["headers"].get("apikey").is_none(), "the key is not forwarded");
    }
    let r = gw
        .client
        .get(gw.url(&format!("/pizza/1.0.0/secure?size=large&apikey={key}")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    let uri = body["uri"].as_str().expect("uri echoed");
    assert!(uri.ends_with("/secure?size=large"), "apikey stripped from {uri}");

    // An expiring key works until it expires.
    let expiring = issuer.token(api_key_claims("k2", "app-1", "PRODUCTION", Some(3600)));
    assert_eq!(call_with_api_key(&gw, "/pizza/1.0.0/secure", &expiring).await.0, 200);
    production.stop().await;
}

#[tokio::test]
async fn api_keys_are_refused_where_they_do_not_belong() {
    let (gw, production, issuer) = setup_api_keys().await;
    let key = issuer.token(api_key_claims("k3", "app-1", "PRODUCTION", None));

    // The API's security scheme has no api_key: the key is no credential there.
    let (status, body, _) = call_with_api_key(&gw, "/other/1.0.0/secure", &key).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("900902")));

    // An API key is not a bearer token, and an access token is not an API key.
    let (status, body) = call(&gw, "/pizza/1.0.0/secure", &key).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("900901")), "{body}");
    let access = issuer.token(claims("k4", "prod-client", "PRODUCTION", "", 3600));
    let (status, body, challenge) = call_with_api_key(&gw, "/pizza/1.0.0/secure", &access).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("900901")), "{body}");
    assert!(challenge.is_some_and(|c| c.starts_with("API Key")));

    // Expired, foreign-signed, application-less keys.
    let expired = issuer.token(api_key_claims("k5", "app-1", "PRODUCTION", Some(-120)));
    assert_eq!(call_with_api_key(&gw, "/pizza/1.0.0/secure", &expired).await.0, 401);
    let stranger = Issuer::new().token(api_key_claims("k6", "app-1", "PRODUCTION", None));
    assert_eq!(call_with_api_key(&gw, "/pizza/1.0.0/secure", &stranger).await.0, 401);
    let mut no_app = api_key_claims("k7", "app-1", "PRODUCTION", None);
    no_app.as_object_mut().expect("object").remove("application");
    assert_eq!(
        call_with_api_key(&gw, "/pizza/1.0.0/secure", &issuer.token(no_app))
            .await
            .0,
        401
    );

    // An application without a subscription to the API.
    let unsubscribed = issuer.token(api_key_claims("k8", "app-2", "PRODUCTION", None));
    let (status, body, _) = call_with_api_key(&gw, "/pizza/1.0.0/secure", &unsubscribed).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("900908")));
    production.stop().await;
}

#[tokio::test]
async fn api_keys_follow_revocation_and_the_live_subscription() {
    let (gw, production, issuer) = setup_api_keys().await;
    let key = issuer.token(api_key_claims("k9", "app-1", "PRODUCTION", None));
    assert_eq!(call_with_api_key(&gw, "/pizza/1.0.0/secure", &key).await.0, 200);

    // Blocking the subscription stops a key that lists the API.
    gw.gateway
        .install_identity(identity(&issuer, SubscriptionStatus::Blocked));
    let (status, body, _) = call_with_api_key(&gw, "/pizza/1.0.0/secure", &key).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("900908")));

    // Revoking the key's jti refuses it although it is cached.
    let revoked = identity_revoking(
        &issuer,
        Revocations {
            token_ids: vec!["k9".into()],
            ..Revocations::default()
        },
    );
    gw.gateway.install_identity(revoked);
    let (status, body, _) = call_with_api_key(&gw, "/pizza/1.0.0/secure", &key).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("900901")));
    production.stop().await;
}
