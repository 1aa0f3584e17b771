//! DevPortal REST API v3 over HTTPS against started nodes: applications and their isolation
//! between users, OAuth keys (generate, token, regenerate secret, clean-up), API keys (WSO2's JWT
//! format, revocation), subscriptions (rules, blocking from the Publisher, the gateway's view in
//! the store), and application deletion revoking tokens; on SQLite and again on PostgreSQL.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portico_testkit::{Node, PgDatabase};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::node_store;

const D: &str = "/api/am/devportal/v3";
const P: &str = "/api/am/publisher/v4";

/// One user's view of the node's REST APIs (HTTP Basic).
struct As<'a> {
    node: &'a Node,
    user: String,
    password: String,
}

impl As<'_> {
    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.node
            .client
            .request(method, self.node.url(path))
            .basic_auth(&self.user, Some(&self.password))
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let r = rb.send().await.expect("send");
        let status = r.status();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.req(Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.req(Method::POST, path).json(body)).await
    }

    async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.req(Method::POST, path)).await
    }

    async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.req(Method::PUT, path).json(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.req(Method::DELETE, path)).await
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `POST /oauth2/token` with client_credentials.
async fn cc_token(node: &Node, key: &str, secret: &str) -> (StatusCode, Value) {
    let r = node
        .client
        .post(node.url("/oauth2/token"))
        .basic_auth(key, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("grant_type", "client_credentials")]))
        .send()
        .await
        .expect("token");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Whether `/oauth2/introspect` (authenticated by `client`) says the token is active.
async fn active(node: &Node, client: &(String, String), token: &str) -> bool {
    let r = node
        .client
        .post(node.url("/oauth2/introspect"))
        .basic_auth(&client.0, Some(&client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", token)]))
        .send()
        .await
        .expect("introspect");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    body["active"] == true
}

fn jwt_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).expect("JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("a string: {v}")).to_owned()
}

/// Creates an API as admin and (when `publish`) publishes it.
async fn api(admin: &As<'_>, name: &str, context: &str, publish: bool) -> String {
    let (status, body) = admin
        .post(
            &format!("{P}/apis"),
            &json!({"name": name, "context": context, "version": "1.0.0", "policies": ["Gold", "Unlimited"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://backend.example/x"}},
                "operations": [{"target": "/menu", "verb": "GET"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = s(&body["id"]);
    if publish {
        let (status, body) = admin
            .post_empty(&format!("{P}/apis/change-lifecycle?apiId={id}&action=Publish"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    id
}

async fn subscriber<'a>(admin: &As<'a>, name: &str) -> As<'a> {
    let password = format!("{name}-pw-1");
    let (status, body) = admin
        .post(
            "/scim2/Users",
            &json!({"userName": name, "password": password, "roles": ["Internal/subscriber"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    As {
        node: admin.node,
        user: name.into(),
        password,
    }
}

/// WSO2's quick-start generate-keys body.
fn generate_keys_body(key_type: &str) -> Value {
    json!({
        "keyType": key_type,
        "keyManager": "Resident Key Manager",
        "grantTypesToBeSupported": ["refresh_token", "urn:ietf:params:oauth:grant-type:saml2-bearer", "password", "client_credentials"],
        "callbackUrl": "",
        "scopes": ["am_application_scope", "default"],
        "validityTime": 3600,
        "additionalProperties": {"application_access_token_expiry_time": "N/A"}
    })
}

async fn check_devportal(node: &Node, pg: Option<&PgDatabase>) {
    let (user, pw) = node.admin();
    let admin = As {
        node,
        user: user.into(),
        password: pw.into(),
    };
    let store = node_store(node, pg).await;
    let published = api(&admin, "Pizza", "/pizza", true).await;
    let draft = api(&admin, "Draft", "/draft", false).await;
    let alice = subscriber(&admin, "alice").await;
    let bob = subscriber(&admin, "bob").await;
    // A client of admin's for introspection.
    let (status, dcr) = admin
        .post(
            "/client-registration/v0.17/register",
            &json!({"clientName": "introspector", "owner": "admin", "grantType": "client_credentials password", "saasApp": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dcr}");
    let introspector = (s(&dcr["clientId"]), s(&dcr["clientSecret"]));

    // Published APIs are listed, anonymously too; drafts are not.
    let r = node
        .client
        .get(node.url(&format!("{D}/apis")))
        .send()
        .await
        .expect("apis");
    assert_eq!(r.status(), StatusCode::OK);
    let apis: Value = r.json().await.expect("json");
    assert_eq!(apis["count"], 1, "{apis}");
    assert_eq!(apis["list"][0]["id"], published.as_str());
    let (status, one) = alice.get(&format!("{D}/apis/{published}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["tiers"][0]["tierName"], "Gold");
    assert!(one.get("endpointConfig").is_none(), "{one}");
    assert_eq!(alice.get(&format!("{D}/apis/{draft}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        alice.get(&format!("{D}/apis/{published}/swagger")).await.0,
        StatusCode::OK
    );
    // RESTRICTED APIs: only holders of a visible role see them.
    let restricted = api(&admin, "Internal", "/internal", true).await;
    let (status, body) = admin
        .put(
            &format!("{P}/apis/{restricted}"),
            &json!({"visibility": "RESTRICTED", "visibleRoles": ["Internal/creator"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        alice.get(&format!("{D}/apis/{restricted}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(alice.get(&format!("{D}/apis")).await.1["count"], 1);
    let (status, body) = admin
        .put(
            &format!("{P}/apis/{restricted}"),
            &json!({"visibility": "RESTRICTED", "visibleRoles": ["Internal/subscriber"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(alice.get(&format!("{D}/apis/{restricted}")).await.0, StatusCode::OK);
    let r = node
        .client
        .get(node.url(&format!("{D}/apis/{restricted}")))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "anonymous callers see only PUBLIC APIs"
    );
    let (status, tiers) = alice.get(&format!("{D}/throttling-policies/application")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tiers["count"], 4, "{tiers}");

    // Applications: WSO2's quick-start body, duplicate, bad tier, wrong types.
    let app_body = json!({"name": "PizzaApp", "throttlingPolicy": "Unlimited", "description": "Sample pizza shack application",
        "tokenType": "JWT", "status": "APPROVED", "owner": "admin", "hashEnabled": true,
        "attributes": {"region": "eu"}, "groups": [], "subscriptionScopes": []});
    let (status, app) = alice.post(&format!("{D}/applications"), &app_body).await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app_id = s(&app["applicationId"]);
    assert_eq!(app["owner"], "alice");
    assert_eq!(app["tokenType"], "JWT");
    assert_eq!(app["attributes"]["region"], "eu");
    let (status, body) = alice.post(&format!("{D}/applications"), &app_body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = alice
        .post(
            &format!("{D}/applications"),
            &json!({"name": "Other", "throttlingPolicy": "Platinum"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"][0]["message"], "throttlingPolicy", "{body}");
    let (status, body) = alice
        .post(
            &format!("{D}/applications"),
            &json!({"name": ["x"], "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"][0]["message"], "name", "{body}");
    let (status, body) = alice
        .post(
            &format!("{D}/applications"),
            &json!({"name": "T", "throttlingPolicy": "Unlimited", "tokenType": "SAML"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = alice
        .send(
            alice
                .req(Method::POST, &format!("{D}/applications"))
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, list) = alice.get(&format!("{D}/applications")).await;
    assert_eq!(list["count"], 1, "refused requests changed nothing: {list}");

    // A bearer token with only apim:subscribe (WSO2's quick-start scopes) manages applications.
    let (status, tok) = alice
        .send(
            node.client
                .post(node.url("/oauth2/token"))
                .basic_auth(&introspector.0, Some(&introspector.1))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "alice-pw-1"),
                    ("scope", "apim:subscribe"),
                ])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    let r = node
        .client
        .get(node.url(&format!("{D}/applications/{app_id}")))
        .bearer_auth(s(&tok["access_token"]))
        .send()
        .await
        .expect("bearer");
    assert_eq!(r.status(), StatusCode::OK);
    // Without a DevPortal scope: 403.
    let (_, cc) = cc_token(node, &introspector.0, &introspector.1).await;
    let r = node
        .client
        .get(node.url(&format!("{D}/applications")))
        .bearer_auth(s(&cc["access_token"]))
        .send()
        .await
        .expect("bearer");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Isolation: bob neither sees nor changes alice's application; the same name is his to use.
    assert_eq!(
        bob.get(&format!("{D}/applications/{app_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.put(&format!("{D}/applications/{app_id}"), &app_body).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.delete(&format!("{D}/applications/{app_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(bob.get(&format!("{D}/applications")).await.1["count"], 0);
    let (status, bob_app) = bob.post(&format!("{D}/applications"), &app_body).await;
    assert_eq!(status, StatusCode::CREATED, "{bob_app}");
    let (status, updated) = alice
        .put(
            &format!("{D}/applications/{app_id}"),
            &json!({"name": "PizzaApp", "throttlingPolicy": "50PerMin", "description": "fresh"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["throttlingPolicy"], "50PerMin");

    // Keys: WSO2's quick-start request; the first token is real.
    let (status, keys) = alice
        .post(
            &format!("{D}/applications/{app_id}/generate-keys"),
            &generate_keys_body("PRODUCTION"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert_eq!(keys["keyState"], "COMPLETED");
    assert_eq!(keys["mode"], "CREATED");
    assert_eq!(keys["keyManager"], "Resident Key Manager");
    assert!(
        keys["supportedGrantTypes"]
            .as_array()
            .expect("grants")
            .contains(&json!("urn:ietf:params:oauth:grant-type:saml2-bearer")),
        "{keys}"
    );
    let key = s(&keys["consumerKey"]);
    let secret = s(&keys["consumerSecret"]);
    let mapping = s(&keys["keyMappingId"]);
    let first = s(&keys["token"]["accessToken"]);
    assert_eq!(keys["token"]["validityTime"], 3600);
    assert!(active(node, &introspector, &first).await);
    assert_eq!(jwt_part(&first, 1)["sub"], "alice");
    let (status, t) = cc_token(node, &key, &secret).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let second = s(&t["access_token"]);
    assert!(active(node, &introspector, &second).await);
    let (status, body) = alice
        .post(
            &format!("{D}/applications/{app_id}/generate-keys"),
            &generate_keys_body("PRODUCTION"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = alice
        .post(
            &format!("{D}/applications/{app_id}/generate-keys"),
            &json!({"keyType": "STAGING", "grantTypesToBeSupported": ["client_credentials"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"][0]["message"], "keyType");
    assert_eq!(
        bob.post(
            &format!("{D}/applications/{app_id}/generate-keys"),
            &generate_keys_body("SANDBOX")
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, with_keys) = alice.get(&format!("{D}/applications/{app_id}")).await;
    assert_eq!(with_keys["keys"][0]["consumerKey"], key.as_str(), "{with_keys}");
    assert!(
        with_keys["keys"][0]["consumerSecret"].is_null(),
        "secrets are shown only once"
    );
    let (status, list) = alice.get(&format!("{D}/applications/{app_id}/oauth-keys")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 1);
    assert_eq!(list["list"][0]["consumerKey"], key.as_str());

    // generate-token as the quick-start sends it.
    let (status, token) = alice
        .post(
            &format!("{D}/applications/{app_id}/oauth-keys/{mapping}/generate-token"),
            &json!({"consumerSecret": secret, "validityPeriod": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert!(active(node, &introspector, &s(&token["accessToken"])).await);

    // PUT changes grants and callback.
    let (status, changed) = alice
        .put(
            &format!("{D}/applications/{app_id}/oauth-keys/{mapping}"),
            &json!({"supportedGrantTypes": ["client_credentials", "password"], "callbackUrl": "https://cb.example/"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["callbackUrl"], "https://cb.example/");
    assert_eq!(
        changed["supportedGrantTypes"],
        json!(["client_credentials", "password"])
    );

    // A new secret: the old one fails, earlier tokens are revoked.
    let (status, regenerated) = alice
        .post_empty(&format!(
            "{D}/applications/{app_id}/oauth-keys/{mapping}/regenerate-secret"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{regenerated}");
    let new_secret = s(&regenerated["consumerSecret"]);
    assert_ne!(new_secret, secret);
    assert_eq!(cc_token(node, &key, &secret).await.0, StatusCode::UNAUTHORIZED);
    assert!(!active(node, &introspector, &first).await);
    assert!(!active(node, &introspector, &second).await);
    let (status, t) = cc_token(node, &key, &new_secret).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let third = s(&t["access_token"]);
    assert!(active(node, &introspector, &third).await);

    // SANDBOX keys with only an unknown grant type: accepted, no token; then cleaned up.
    let (status, sandbox) = alice
        .post(
            &format!("{D}/applications/{app_id}/generate-keys"),
            &json!({"keyType": "SANDBOX", "grantTypesToBeSupported": ["urn:ietf:params:oauth:grant-type:saml2-bearer", "iwa:ntlm"], "validityTime": "600"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sandbox}");
    assert_eq!(sandbox["token"]["accessToken"], "");
    let sandbox_mapping = s(&sandbox["keyMappingId"]);
    let (status, _) = alice
        .post_empty(&format!(
            "{D}/applications/{app_id}/oauth-keys/{sandbox_mapping}/clean-up"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        alice.get(&format!("{D}/applications/{app_id}/oauth-keys")).await.1["count"],
        1
    );
    assert_eq!(
        cc_token(node, &s(&sandbox["consumerKey"]), &s(&sandbox["consumerSecret"]))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let events = store
        .events_of_kind(portico_store::EVENT_KEY_MAPPING_CHANGED, 10)
        .await
        .expect("events");
    assert_eq!(events[0].entity_id, sandbox_mapping);

    // Subscriptions: tier, lifecycle, duplicate, isolation.
    let sub_url = format!("{D}/subscriptions");
    let (status, body) = alice
        .post(
            &sub_url,
            &json!({"applicationId": app_id, "apiId": published, "throttlingPolicy": "Bronze"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"].as_str().expect("description").contains("Bronze"),
        "{body}"
    );
    let (status, body) = alice
        .post(
            &sub_url,
            &json!({"applicationId": app_id, "apiId": draft, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, sub) = alice
        .post(
            &sub_url,
            &json!({"applicationId": app_id, "apiId": published, "throttlingPolicy": "Gold", "requestedThrottlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    assert_eq!(sub["status"], "UNBLOCKED");
    assert_eq!(sub["apiInfo"]["name"], "Pizza");
    let sub_id = s(&sub["subscriptionId"]);
    let (status, body) = alice
        .post(
            &sub_url,
            &json!({"applicationId": app_id, "apiId": published, "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = bob
        .post(
            &sub_url,
            &json!({"applicationId": app_id, "apiId": published, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(bob.get(&format!("{sub_url}/{sub_id}")).await.0, StatusCode::NOT_FOUND);
    let (_, list) = alice.get(&format!("{sub_url}?applicationId={app_id}")).await;
    assert_eq!(list["count"], 1, "{list}");
    let (_, list) = alice.get(&format!("{sub_url}?apiId={published}")).await;
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(bob.get(&format!("{sub_url}?apiId={published}")).await.1["count"], 0);

    // API keys: WSO2's format, signed by the key /oauth2/jwks publishes.
    let (status, generated) = alice
        .post(
            &format!("{D}/applications/{app_id}/api-keys/PRODUCTION/generate"),
            &json!({"validityPeriod": 3600, "additionalProperties": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{generated}");
    assert_eq!(generated["validityTime"], 3600);
    let apikey = s(&generated["apikey"]);
    let header = jwt_part(&apikey, 0);
    let claims = jwt_part(&apikey, 1);
    let jwks: Value = node
        .client
        .get(node.url("/oauth2/jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let jwk = &jwks["keys"][0];
    assert_eq!(header["kid"], jwk["kid"]);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(&s(&jwk["x"]), &s(&jwk["y"])).expect("jwk");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<Value>(&apikey, &decoding, &validation).expect("the API key verifies against the JWKS");
    let access_iss = jwt_part(&third, 1)["iss"].clone();
    assert_eq!(claims["iss"], access_iss);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["token_type"], "apiKey");
    assert_eq!(claims["keytype"], "PRODUCTION");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        3600
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() == 36), "{claims}");
    assert_eq!(
        claims["application"],
        json!({"id": app_id, "uuid": app_id, "name": "PizzaApp", "owner": "alice", "tier": "50PerMin"})
    );
    assert_eq!(
        claims["subscribedAPIs"],
        json!([{"name": "Pizza", "context": "/pizza/1.0.0", "version": "1.0.0", "publisher": "admin",
            "subscriptionTier": "Gold", "subscriberTenantDomain": "carbon.super"}])
    );
    assert_eq!(claims["tierInfo"], json!({}));
    assert_eq!(claims["permittedIP"], "");
    assert_eq!(claims["permittedReferer"], "");
    // No expiry: no `exp`.
    let (status, forever) = alice
        .post(
            &format!("{D}/applications/{app_id}/api-keys/SANDBOX/generate"),
            &json!({"validityPeriod": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{forever}");
    let forever_claims = jwt_part(&s(&forever["apikey"]), 1);
    assert!(forever_claims.get("exp").is_none(), "{forever_claims}");
    assert_eq!(forever_claims["keytype"], "SANDBOX");
    // Revoking: a key of another type is refused; the right one lands in the revocation list.
    let (status, _) = alice
        .post(
            &format!("{D}/applications/{app_id}/api-keys/SANDBOX/revoke"),
            &json!({"apikey": apikey}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = alice
        .post(
            &format!("{D}/applications/{app_id}/api-keys/PRODUCTION/revoke"),
            &json!({"apikey": apikey}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jti = s(&claims["jti"]);
    let revoked = store.revoked_access_tokens().await.expect("revoked");
    let entry = revoked.iter().find(|r| r.jti == jti).expect("jti revoked");
    assert_eq!(entry.expires_at, claims["exp"].as_i64().expect("exp") * 1000);
    let events = store
        .events_of_kind(portico_store::EVENT_TOKEN_REVOKED, 5)
        .await
        .expect("events");
    assert_eq!(events[0].entity_id, jti);
    let (status, _) = alice
        .post(
            &format!("{D}/applications/{app_id}/api-keys/SANDBOX/revoke"),
            &json!({"apikey": s(&forever["apikey"])}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let forever_jti = s(&forever_claims["jti"]);
    let revoked = store.revoked_access_tokens().await.expect("revoked");
    let entry = revoked.iter().find(|r| r.jti == forever_jti).expect("jti revoked");
    let century = (forever_claims["iat"].as_i64().expect("iat") + 100 * 365 * 24 * 3600) * 1000;
    assert_eq!(entry.expires_at, century);

    // Blocking from the Publisher: feed event, gateway view, Publisher listing; then unblock.
    let (status, body) = alice
        .post_empty(&format!(
            "{P}/subscriptions/block-subscription?subscriptionId={sub_id}&blockState=BLOCKED"
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "subscribers cannot block: {body}");
    let (status, body) = admin
        .post_empty(&format!(
            "{P}/subscriptions/block-subscription?subscriptionId={sub_id}&blockState=BLOCKED"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = store
        .events_of_kind(portico_store::EVENT_SUBSCRIPTION_CHANGED, 5)
        .await
        .expect("events");
    assert_eq!(events[0].entity_id, sub_id);
    let identity = store.gateway_identity().await.expect("identity");
    let gw_sub = identity
        .subscriptions
        .iter()
        .find(|g| g.application_id == app_id)
        .expect("subscription");
    assert_eq!(gw_sub.status, "BLOCKED");
    assert_eq!(gw_sub.api_id, published);
    assert_eq!(gw_sub.tier, "Gold");
    let gw_key = identity
        .key_mappings
        .iter()
        .find(|k| k.client_id == key)
        .expect("key mapping");
    assert_eq!(
        (
            gw_key.owner.as_str(),
            gw_key.application_tier.as_str(),
            gw_key.key_type.as_str()
        ),
        ("alice", "50PerMin", "PRODUCTION")
    );
    let (status, pub_list) = admin.get(&format!("{P}/subscriptions?apiId={published}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pub_list["count"], 1, "{pub_list}");
    assert_eq!(pub_list["list"][0]["subscriptionStatus"], "BLOCKED");
    assert_eq!(pub_list["list"][0]["applicationInfo"]["subscriber"], "alice");
    let (status, _) = admin
        .post_empty(&format!(
            "{P}/subscriptions/block-subscription?subscriptionId={sub_id}&blockState=SOMETIMES"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = admin
        .post_empty(&format!(
            "{P}/subscriptions/unblock-subscription?subscriptionId={sub_id}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alice.get(&format!("{sub_url}/{sub_id}")).await.1["status"], "UNBLOCKED");

    // Tier change, then delete.
    let (status, body) = alice
        .put(
            &format!("{sub_url}/{sub_id}"),
            &json!({"applicationId": app_id, "apiId": published, "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["throttlingPolicy"], "Unlimited");
    assert_eq!(alice.delete(&format!("{sub_url}/{sub_id}")).await.0, StatusCode::OK);
    assert_eq!(alice.get(&format!("{sub_url}/{sub_id}")).await.0, StatusCode::NOT_FOUND);
    let (status, multi) = alice
        .post(
            &format!("{sub_url}/multiple"),
            &json!([{"applicationId": app_id, "apiId": published, "throttlingPolicy": "Gold"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{multi}");
    assert_eq!(multi.as_array().map(Vec::len), Some(1));

    // Deleting the application revokes its tokens and removes it from the gateway's view.
    assert!(active(node, &introspector, &third).await);
    assert_eq!(
        alice.delete(&format!("{D}/applications/{app_id}")).await.0,
        StatusCode::OK
    );
    assert!(!active(node, &introspector, &third).await);
    assert_eq!(
        alice.get(&format!("{D}/applications/{app_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(cc_token(node, &key, &new_secret).await.0, StatusCode::UNAUTHORIZED);
    let identity = store.gateway_identity().await.expect("identity");
    assert!(identity.key_mappings.iter().all(|k| k.application_id != app_id));
    assert!(identity.subscriptions.iter().all(|k| k.application_id != app_id));
    let events = store
        .events_of_kind(portico_store::EVENT_APPLICATION_CHANGED, 1)
        .await
        .expect("events");
    assert_eq!(events[0].entity_id, app_id);
    store.close().await;
}

portico_testkit::node_on_both_backends!(sqlite_devportal, postgres_devportal, |node, database| check_devportal(
    node, database
));
