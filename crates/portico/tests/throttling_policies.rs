//! Throttling policies and deny policies through the Admin REST API v4 of running nodes, on
//! SQLite and on PostgreSQL: WSO2's defaults on a fresh node, CRUD with WSO2's fields, the
//! Publisher's and DevPortal's listings showing burst control, each refusal naming its field,
//! duplicate names, deletion refused while APIs or applications use a policy, search, deny
//! policies (malformed addresses refused), admin-only access, and a change on one node seen on
//! a second node sharing the database (with its feed event) within a second.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use portico_store::{EVENT_DENY_POLICY_CHANGED, EVENT_POLICY_CHANGED};
use portico_testkit::{Admin, Node, NodeOptions, PgDatabase, node_on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::node_store;

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const A: &str = "/api/am/admin/v4";
const P: &str = "/api/am/publisher/v4";
const D: &str = "/api/am/devportal/v3";

node_on_both_backends!(sqlite_policies, postgres_policies, |node, db| check_policies(node, db));
node_on_both_backends!(sqlite_refusals, postgres_refusals, check_refusals);
node_on_both_backends!(sqlite_deny_policies, postgres_deny_policies, |node, db| check_deny(
    node, db
));

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}"))
}

fn request_count(count: i64, unit_time: i64, unit: &str) -> Value {
    json!({"type": "REQUESTCOUNTLIMIT", "requestCount": {"requestCount": count, "unitTime": unit_time, "timeUnit": unit}})
}

fn subscription_policy(name: &str, count: i64) -> Value {
    json!({
        "policyName": name, "displayName": format!("{name} tier"), "description": "Allows bursts of 10/s",
        "defaultLimit": request_count(count, 1, "min"),
        "rateLimitCount": 10, "rateLimitTimeUnit": "sec", "stopOnQuotaReach": true,
        "billingPlan": "FREE", "customAttributes": [], "graphQLMaxComplexity": 0, "graphQLMaxDepth": 0,
    })
}

/// The policies a listing names.
fn names(list: &Value) -> Vec<String> {
    list["list"]
        .as_array()
        .unwrap_or_else(|| panic!("list in {list}"))
        .iter()
        .map(|p| {
            p["policyName"]
                .as_str()
                .or(p["name"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn find<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list["list"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p[key] == name))
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

async fn check_policies(node: &Node, db: Option<&PgDatabase>) {
    let admin = Admin(node);
    // WSO2's defaults on a fresh node, with stable ids.
    let subs = admin.get(&format!("{A}/throttling/policies/subscription")).await;
    assert_eq!(subs["count"], 5, "{subs}");
    let gold = find(&subs, "policyName", "Gold");
    assert_eq!(gold["defaultLimit"], request_count(5000, 1, "min"));
    assert_eq!(
        (gold["stopOnQuotaReach"].clone(), gold["rateLimitCount"].clone()),
        (json!(true), json!(0))
    );
    assert_eq!(gold["type"], "SubscriptionThrottlePolicy");
    let gold_id = text(gold, "policyId").to_owned();
    assert_eq!(
        admin
            .get(&format!("{A}/throttling/policies/subscription/{gold_id}"))
            .await,
        *gold
    );
    let apps = admin.get(&format!("{A}/throttling/policies/application")).await;
    assert_eq!(names(&apps), ["Unlimited", "50PerMin", "20PerMin", "10PerMin"]);
    assert_eq!(find(&apps, "policyName", "10PerMin")["burstLimit"]["rateLimitCount"], 0);
    let advanced = admin.get(&format!("{A}/throttling/policies/advanced")).await;
    assert_eq!(names(&advanced), ["Unlimited", "50KPerMin", "20KPerMin", "10KPerMin"]);

    // Create, read, update: WSO2's fields round-trip, with 201 and a Location.
    let (user, pw) = node.admin();
    let r = node
        .client
        .post(node.url(&format!("{A}/throttling/policies/subscription")))
        .basic_auth(user, Some(pw))
        .json(&subscription_policy("Platinum", 100))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().expect("location").to_owned();
    let platinum: Value = r.json().await.expect("json");
    let id = text(&platinum, "policyId").to_owned();
    assert_eq!(location, format!("{A}/throttling/policies/subscription/{id}"));
    assert_eq!(
        (
            &platinum["displayName"],
            &platinum["rateLimitCount"],
            &platinum["rateLimitTimeUnit"]
        ),
        (&json!("Platinum tier"), &json!(10), &json!("sec"))
    );
    assert_eq!(admin.get(&location).await, platinum);
    let mut changed = subscription_policy("Platinum", 200);
    changed["rateLimitCount"] = json!(20);
    changed["rateLimitTimeUnit"] = json!("min");
    changed["defaultLimit"] = request_count(3000, 2, "hour");
    let (status, updated) = admin.call(Method::PUT, &location, Some(&changed)).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["defaultLimit"], request_count(3000, 2, "hour"));
    assert_eq!(
        (&updated["rateLimitCount"], &updated["rateLimitTimeUnit"]),
        (&json!(20), &json!("min"))
    );
    assert_eq!(admin.get(&location).await, updated);
    // The name never changes; leaving it out keeps it.
    changed["policyName"] = json!("Renamed");
    let (status, body) = admin.call(Method::PUT, &location, Some(&changed)).await;
    assert_eq!(
        (status, &body["error"][0]["message"]),
        (StatusCode::BAD_REQUEST, &json!("policyName"))
    );
    changed.as_object_mut().expect("object").remove("policyName");
    let (status, body) = admin.call(Method::PUT, &location, Some(&changed)).await;
    assert_eq!((status, text(&body, "policyName")), (StatusCode::OK, "Platinum"));

    // The Publisher's and the DevPortal's listings show the burst fields.
    let listed = admin.get(&format!("{P}/throttling-policies/subscription")).await;
    let entry = find(&listed, "name", "Platinum");
    assert_eq!(
        (&entry["rateLimitCount"], &entry["rateLimitTimeUnit"]),
        (&json!(20), &json!("min"))
    );
    let app_policy = admin
        .post(
            &format!("{A}/throttling/policies/application"),
            &json!({"policyName": "5PerSec", "defaultLimit": request_count(5, 1, "sec"),
                    "burstLimit": {"rateLimitCount": 2, "rateLimitTimeUnit": "sec"}}),
        )
        .await;
    assert_eq!(
        app_policy["burstLimit"],
        json!({"rateLimitCount": 2, "rateLimitTimeUnit": "sec"})
    );
    assert_eq!(
        app_policy["displayName"], "5PerSec",
        "the display name defaults to the name"
    );
    let listed = admin.get(&format!("{D}/throttling-policies/application")).await;
    assert_eq!(find(&listed, "name", "5PerSec")["rateLimitCount"], 2);
    let advanced = admin
        .post(
            &format!("{A}/throttling/policies/advanced"),
            &json!({"policyName": "5KPerMin", "defaultLimit": request_count(5000, 1, "min"), "conditionalGroups": []}),
        )
        .await;
    assert_eq!(
        (&advanced["type"], &advanced["conditionalGroups"]),
        (&json!("AdvancedThrottlePolicy"), &json!([]))
    );

    // A duplicate name is 409; the same name at another level is another policy.
    let (status, body) = admin
        .call(
            Method::POST,
            &format!("{A}/throttling/policies/subscription"),
            Some(&subscription_policy("Gold", 1)),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(text(&body, "description").contains("Gold"), "{body}");

    check_in_use(node, &id, &app_policy, &advanced).await;
    check_search(node).await;

    // Every change appended its policy.changed event.
    let store = node_store(node, db).await;
    let events = store.events_of_kind(EVENT_POLICY_CHANGED, 50).await.expect("events");
    for (entity, action) in [(&id, "created"), (&id, "updated"), (&id, "deleted")] {
        assert!(
            events
                .iter()
                .any(|e| e.entity_id == *entity && e.payload.contains(action)),
            "{action} {entity} in {events:?}"
        );
    }
    store.close().await;
}

/// Deleting a policy that an API, an API's operation or an application names is 409 naming it;
/// once unused, 200 and gone.
async fn check_in_use(node: &Node, platinum_id: &str, app_policy: &Value, advanced: &Value) {
    let admin = Admin(node);
    let api = admin
        .post(
            &format!("{P}/apis"),
            &json!({"name": "Menu", "context": "/menu", "version": "1.0.0", "policies": ["Platinum"],
                    "operations": [{"target": "/items", "verb": "GET", "throttlingPolicy": "5KPerMin"}]}),
        )
        .await;
    let app = admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": "Kiosk", "throttlingPolicy": "5PerSec", "description": "in-use check"}),
        )
        .await;
    let cases = [
        (format!("subscription/{platinum_id}"), "API `Menu 1.0.0` (policies)"),
        (
            format!("advanced/{}", text(advanced, "policyId")),
            "API `Menu 1.0.0` (throttlingPolicy of GET /items)",
        ),
        (
            format!("application/{}", text(app_policy, "policyId")),
            "application `Kiosk` of admin",
        ),
    ];
    for (path, user) in &cases {
        let (status, body) = admin
            .call(Method::DELETE, &format!("{A}/throttling/policies/{path}"), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {body}");
        assert!(text(&body, "description").contains(user), "{path}: {body}");
    }
    let (status, _) = admin
        .call(Method::DELETE, &format!("{P}/apis/{}", text(&api, "id")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin
        .call(
            Method::DELETE,
            &format!("{D}/applications/{}", text(&app, "applicationId")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (path, _) in &cases {
        let url = format!("{A}/throttling/policies/{path}");
        let (status, body) = admin.call(Method::DELETE, &url, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let (status, _) = admin.call(Method::GET, &url, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} is gone");
    }
}

/// `/throttling/policies/search?query=type:... [name:...]`, as WSO2 reads it.
async fn check_search(node: &Node) {
    let admin = Admin(node);
    let search = |query: &str| format!("{A}/throttling/policies/search?query={}", query.replace(' ', "%20"));
    let subs = admin.get(&search("type:sub")).await;
    assert_eq!(subs["count"], 5, "{subs}");
    let bronze = find(&subs, "policyName", "Bronze");
    assert_eq!((&bronze["type"], &bronze["isDeployed"]), (&json!("sub"), &json!(true)));
    assert!(bronze["uuid"].is_string());
    assert_eq!(admin.get(&search("type:app")).await["count"], 4);
    let one = admin.get(&search("type:api name:10KPerMin")).await;
    assert_eq!(names(&one), ["10KPerMin"]);
    assert_eq!(admin.get(&search("type:all")).await["count"], 13);
    assert_eq!(admin.get(&format!("{A}/throttling/policies/search")).await["count"], 13);
    assert_eq!(admin.get(&search("type:global")).await["count"], 0);
    for bad in ["Gold", "type:tier", "type:sub oops"] {
        let (status, body) = admin.call(Method::GET, &search(bad), None).await;
        assert_eq!(
            (status, &body["error"][0]["message"]),
            (StatusCode::BAD_REQUEST, &json!("query")),
            "{bad}"
        );
    }
    let (status, _) = admin.call(Method::GET, &search("type:sub name:Nope"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Each refusal is a 400 naming its field; features not supported yet say so.
async fn check_refusals(node: &Node) {
    let admin = Admin(node);
    let base = |level: &str| format!("{A}/throttling/policies/{level}");
    let with = |mut body: Value, key: &str, value: Value| {
        body[key] = value;
        body
    };
    let sub = subscription_policy("Bad", 10);
    let cases = [
        (
            "subscription",
            with(sub.clone(), "defaultLimit", request_count(0, 1, "min")),
            "defaultLimit.requestCount.requestCount",
        ),
        (
            "subscription",
            with(sub.clone(), "defaultLimit", request_count(-5, 1, "min")),
            "defaultLimit.requestCount.requestCount",
        ),
        (
            "subscription",
            with(sub.clone(), "defaultLimit", request_count(5, -1, "min")),
            "defaultLimit.requestCount.unitTime",
        ),
        (
            "subscription",
            with(sub.clone(), "defaultLimit", request_count(5, 1, "week")),
            "defaultLimit.requestCount.timeUnit",
        ),
        (
            "subscription",
            with(sub.clone(), "rateLimitCount", json!(-1)),
            "rateLimitCount",
        ),
        (
            "subscription",
            with(sub.clone(), "rateLimitTimeUnit", json!("hour")),
            "rateLimitTimeUnit",
        ),
        ("subscription", with(sub.clone(), "policyName", json!("")), "policyName"),
        (
            "subscription",
            with(sub.clone(), "policyName", Value::Null),
            "policyName",
        ),
        (
            "subscription",
            with(sub.clone(), "defaultLimit", json!("lots")),
            "defaultLimit",
        ),
        (
            "subscription",
            with(sub.clone(), "graphQLMaxDepth", json!(5)),
            "graphQLMaxDepth",
        ),
        (
            "subscription",
            with(
                sub.clone(),
                "defaultLimit",
                json!({"type": "BANDWIDTHLIMIT", "bandwidth": {"dataAmount": 1, "dataUnit": "MB", "unitTime": 1, "timeUnit": "min"}}),
            ),
            "defaultLimit.type",
        ),
        (
            "application",
            json!({"policyName": "Bad", "defaultLimit": request_count(5, 1, "min"), "burstLimit": {"rateLimitCount": 0.5}}),
            "burstLimit.rateLimitCount",
        ),
        (
            "application",
            json!({"policyName": "Bad", "defaultLimit": request_count(5, 1, "min"), "burstLimit": {"rateLimitCount": 5, "rateLimitTimeUnit": "day"}}),
            "burstLimit.rateLimitTimeUnit",
        ),
        (
            "advanced",
            json!({"policyName": "Bad", "defaultLimit": request_count(5, 1, "min"),
                   "conditionalGroups": [{"conditions": [{"type": "IPCONDITION", "ipCondition": {"ipConditionType": "IPSPECIFIC", "specificIP": "10.0.0.1"}}],
                                          "limit": request_count(1, 1, "min")}]}),
            "conditionalGroups",
        ),
        (
            "custom",
            json!({"policyName": "Bad", "siddhiQuery": "FROM RequestStream ...", "keyTemplate": "$userId"}),
            "siddhiQuery",
        ),
    ];
    for (level, body, field) in &cases {
        let (status, answer) = admin.call(Method::POST, &base(level), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {answer}");
        assert_eq!(answer["code"], 400);
        assert_eq!(answer["error"][0]["message"], *field, "{answer}");
        assert!(text(&answer, "description").contains(field), "{answer}");
    }
    let unsupported = [
        "conditionalGroups",
        "defaultLimit.type",
        "siddhiQuery",
        "graphQLMaxDepth",
    ];
    for (level, body, _) in cases.iter().filter(|c| unsupported.contains(&c.2)) {
        let (_, answer) = admin.call(Method::POST, &base(level), Some(body)).await;
        assert!(text(&answer, "description").contains("not supported yet"), "{answer}");
    }
    assert_eq!(
        names(&admin.get(&base("subscription")).await).len(),
        5,
        "nothing was stored"
    );
    // Unknown levels and ids are 404; custom rules are none.
    assert_eq!(
        admin.call(Method::GET, &base("tier"), None).await.0,
        StatusCode::NOT_FOUND
    );
    let missing = format!("{}/00000000-0000-4000-8000-000000000000", base("application"));
    assert_eq!(admin.call(Method::GET, &missing, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        admin.call(Method::DELETE, &missing, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(admin.get(&base("custom")).await["count"], 0);
    check_admin_only(node).await;
}

/// A subscriber gets 403 on every throttling resource; a creator may read policies (WSO2's
/// `apim:tier_view`) but not change them.
async fn check_admin_only(node: &Node) {
    let admin = Admin(node);
    for (user, role) in [("sub1", "Internal/subscriber"), ("creator1", "Internal/creator")] {
        admin
            .post(
                "/scim2/Users",
                &json!({"userName": user, "password": "pw-12345678", "roles": [role]}),
            )
            .await;
    }
    let call = async |user: &str, method: Method, path: &str, body: Option<Value>| {
        let mut rb = node
            .client
            .request(method, node.url(&format!("{A}{path}")))
            .basic_auth(user, Some("pw-12345678"));
        if let Some(body) = body {
            rb = rb.json(&body);
        }
        rb.send().await.expect("send").status()
    };
    let new_policy = subscription_policy("Sneaky", 1);
    for (method, path, body) in [
        (Method::GET, "/throttling/policies/subscription", None),
        (
            Method::POST,
            "/throttling/policies/subscription",
            Some(new_policy.clone()),
        ),
        (Method::GET, "/throttling/policies/search?query=type:all", None),
        (Method::GET, "/throttling/deny-policies", None),
        (
            Method::POST,
            "/throttling/deny-policies",
            Some(json!({"conditionType": "USER", "conditionValue": "x"})),
        ),
    ] {
        assert_eq!(call("sub1", method, path, body).await, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        call("creator1", Method::GET, "/throttling/policies/subscription", None).await,
        StatusCode::OK
    );
    assert_eq!(
        call(
            "creator1",
            Method::POST,
            "/throttling/policies/subscription",
            Some(new_policy)
        )
        .await,
        StatusCode::FORBIDDEN
    );
}

async fn check_deny(node: &Node, db: Option<&PgDatabase>) {
    let admin = Admin(node);
    let add = async |body: Value| {
        admin
            .call(Method::POST, &format!("{A}/throttling/deny-policies"), Some(&body))
            .await
    };
    // Malformed values are 400 naming the field.
    for (body, field) in [
        (
            json!({"conditionType": "IP", "conditionValue": {"fixedIp": "10.0.0.300"}}),
            "conditionValue.fixedIp",
        ),
        (
            json!({"conditionType": "IP", "conditionValue": {"fixedIp": "10.0.0.1/24"}}),
            "conditionValue.fixedIp",
        ),
        (
            json!({"conditionType": "IPRANGE", "conditionValue": {"startingIp": "10.0.0.9", "endingIp": "10.0.0.1"}}),
            "conditionValue.endingIp",
        ),
        (
            json!({"conditionType": "IPRANGE", "conditionValue": {"startingIp": "fe80::1", "endingIp": "10.0.0.1"}}),
            "conditionValue.endingIp",
        ),
        (
            json!({"conditionType": "IPRANGE", "conditionValue": {"startingIp": "x", "endingIp": "10.0.0.1"}}),
            "conditionValue.startingIp",
        ),
        (json!({"conditionType": "HOST", "conditionValue": "a"}), "conditionType"),
        (
            json!({"conditionType": "API", "conditionValue": "/nope/1.0.0"}),
            "conditionValue",
        ),
        (
            json!({"conditionType": "APPLICATION", "conditionValue": "admin:NoSuchApp"}),
            "conditionValue",
        ),
        (
            json!({"conditionType": "APPLICATION", "conditionValue": "no-owner"}),
            "conditionValue",
        ),
        (json!({"conditionType": "USER"}), "conditionValue"),
    ] {
        let (status, answer) = add(body).await;
        assert_eq!(
            (status, &answer["error"][0]["message"]),
            (StatusCode::BAD_REQUEST, &json!(field)),
            "{answer}"
        );
    }

    // Each type in WSO2's value format; the answer is WSO2's BlockingCondition.
    admin
        .post(
            &format!("{P}/apis"),
            &json!({"name": "Shop", "context": "/shop", "version": "2.0.0"}),
        )
        .await;
    admin
        .post(
            &format!("{D}/applications"),
            &json!({"name": "Till", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    let mut ids = Vec::new();
    for (kind, value, answered) in [
        ("IP", json!({"fixedIp": "192.168.1.7", "invert": false}), None),
        (
            "IPRANGE",
            json!({"startingIp": "10.0.0.0", "endingIp": "10.0.0.255", "invert": true}),
            None,
        ),
        ("API", json!("/SHOP/2.0.0"), Some(json!("/shop/2.0.0"))),
        ("APPLICATION", json!("admin:Till"), None),
        ("USER", json!("mallory"), None),
    ] {
        let (status, created) =
            add(json!({"conditionType": kind, "conditionValue": value, "conditionStatus": true})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["conditionType"], kind);
        assert_eq!(created["conditionValue"], answered.unwrap_or(value));
        assert_eq!(created["conditionStatus"], true);
        ids.push(text(&created, "conditionId").to_owned());
    }
    let (status, body) = add(json!({"conditionType": "IP", "conditionValue": {"fixedIp": "192.168.1.7"}})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let all = admin.get(&format!("{A}/throttling/deny-policies")).await;
    assert_eq!(all["count"], 5, "{all}");
    let ips = admin
        .get(&format!("{A}/throttling/deny-policies?query=conditionType:IP"))
        .await;
    assert_eq!(ips["count"], 1, "{ips}");
    let by_value = admin
        .get(&format!(
            "{A}/throttling/deny-policies?query=conditionType:USER%20%26%20conditionValue:mallory"
        ))
        .await;
    assert_eq!(by_value["list"][0]["conditionId"], json!(ids[4]));

    // Status changes and deletion.
    let one = format!("{A}/throttling/deny-policy/{}", ids[0]);
    let (status, patched) = admin
        .call(Method::PATCH, &one, Some(&json!({"conditionStatus": false})))
        .await;
    assert_eq!(
        (status, &patched["conditionStatus"]),
        (StatusCode::OK, &json!(false)),
        "{patched}"
    );
    assert_eq!(admin.get(&one).await, patched);
    let (status, body) = admin.call(Method::PATCH, &one, Some(&json!({}))).await;
    assert_eq!(
        (status, &body["error"][0]["message"]),
        (StatusCode::BAD_REQUEST, &json!("conditionStatus"))
    );
    assert_eq!(admin.call(Method::DELETE, &one, None).await.0, StatusCode::OK);
    assert_eq!(admin.call(Method::GET, &one, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(admin.call(Method::DELETE, &one, None).await.0, StatusCode::NOT_FOUND);

    let store = node_store(node, db).await;
    let events = store
        .events_of_kind(EVENT_DENY_POLICY_CHANGED, 20)
        .await
        .expect("events");
    assert_eq!(events.len(), 7, "5 created, 1 updated, 1 deleted: {events:?}");
    store.close().await;
}

/// Waits until `f` holds or a second has passed.
async fn within_a_second(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !f().await {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what} after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Node 1 changes a policy; node 2, on the same database, lists the change (the Publisher's
/// listing) within a second, and the feed holds the change's event.
async fn check_second_node(db: Option<&PgDatabase>) {
    let options = db.map(NodeOptions::on_postgres).unwrap_or_default();
    let node1 = Node::start(Path::new(BIN), options.clone()).await.expect("node 1");
    let dir2 = tempfile::Builder::new()
        .prefix("portico-node2-")
        .tempdir()
        .expect("tempdir");
    portico_testkit::init_home(Path::new(BIN), dir2.path(), &options).expect("init node 2");
    if db.is_none() {
        let shared = node1.home.join("database/portico.db");
        let conf = dir2.path().join("conf/deployment.toml");
        let text = std::fs::read_to_string(&conf).expect("read conf").replacen(
            "url = \"sqlite:database/portico.db\"",
            &format!("url = \"sqlite:{}\"", shared.display()),
            1,
        );
        std::fs::write(&conf, text).expect("write conf");
    }
    let node2 = Node::start(
        Path::new(BIN),
        NodeOptions {
            home: Some(dir2.path().to_path_buf()),
            ..options
        },
    )
    .await
    .expect("node 2");

    let created = Admin(&node1)
        .post(
            &format!("{A}/throttling/policies/subscription"),
            &subscription_policy("Cluster100", 100),
        )
        .await;
    let listing = format!("{P}/throttling-policies/subscription");
    let burst_on_node2 = async |expected: i64| {
        let listed = Admin(&node2).get(&listing).await;
        listed["list"].as_array().is_some_and(|l| {
            l.iter()
                .any(|p| p["name"] == "Cluster100" && p["rateLimitCount"] == expected)
        })
    };
    within_a_second("node 2 does not list the new policy", async || burst_on_node2(10).await).await;
    let mut changed = subscription_policy("Cluster100", 100);
    changed["rateLimitCount"] = json!(25);
    let url = format!("{A}/throttling/policies/subscription/{}", text(&created, "policyId"));
    let (status, body) = Admin(&node1).call(Method::PUT, &url, Some(&changed)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    within_a_second("node 2 does not list the new burst limit", async || {
        burst_on_node2(25).await
    })
    .await;

    let store = node_store(&node1, db).await;
    let events = store.events_of_kind(EVENT_POLICY_CHANGED, 5).await.expect("events");
    assert_eq!(events[0].entity_id, text(&created, "policyId"));
    assert!(events[0].payload.contains("updated"), "{events:?}");
    store.close().await;
}

#[tokio::test]
async fn sqlite_second_node_sees_policy_changes() {
    check_second_node(None).await;
}

#[tokio::test]
async fn postgres_second_node_sees_policy_changes() {
    let Some(db) = PgDatabase::create("policies_two_nodes").await.expect("database") else {
        return;
    };
    check_second_node(Some(&db)).await;
}
