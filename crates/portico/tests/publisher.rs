//! Publisher REST API v4 over HTTPS against started nodes: APIs, input rules, lifecycle table,
//! revisions and deployments (artifact files and change-feed rows), OpenAPI import from files
//! and URLs, concurrency, policies and subscriptions; the main flows again on PostgreSQL.

mod common;

use std::path::Path;
use std::time::Duration;

use portico_store::{NewApplication, NewSubscription};
use portico_testkit::{Node, NodeOptions, PgDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::node_store;

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const P: &str = "/api/am/publisher/v4";

fn bin() -> &'static Path {
    Path::new(BIN)
}

/// A client of one node's Publisher API as the admin.
struct Publisher<'a> {
    node: &'a Node,
}

impl Publisher<'_> {
    fn url(&self, path: &str) -> String {
        self.node.url(&format!("{P}{path}"))
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let (user, pw) = self.node.admin();
        self.node
            .client
            .request(method, self.url(path))
            .basic_auth(user, Some(pw))
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let r = rb.send().await.expect("send");
        let status = r.status();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.req(reqwest::Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.req(reqwest::Method::POST, path).json(body)).await
    }

    async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.req(reqwest::Method::POST, path)).await
    }

    async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.req(reqwest::Method::PUT, path).json(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.req(reqwest::Method::DELETE, path)).await
    }

    async fn multipart(&self, method: reqwest::Method, path: &str, parts: &[(&str, &str)]) -> (StatusCode, Value) {
        let boundary = "portico-test-boundary-7f3a";
        let mut body = String::new();
        for (name, value) in parts {
            let filename = if *name == "file" { "; filename=\"def.txt\"" } else { "" };
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        self.send(
            self.req(method, path)
                .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
                .body(body),
        )
        .await
    }

    async fn create(&self, name: &str, context: &str) -> Value {
        let (status, body) = self
            .post("/apis", &json!({"name": name, "context": context, "version": "1.0.0",
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://backend.example/x"}},
                "operations": [{"target": "/items", "verb": "GET"}]}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn api_count(&self) -> i64 {
        let (status, body) = self.get("/apis?limit=1000").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["pagination"]["total"].as_i64().expect("total")
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// Create, read, list, update, definition, lifecycle, revisions, deployments, delete.
async fn check_main_flow(node: &Node, pg: Option<&PgDatabase>) {
    let p = Publisher { node };
    let store = node_store(node, pg).await;

    // Create: the context gets its leading slash; Location and ETag are set.
    let r = p
        .req(reqwest::Method::POST, "/apis")
        .json(&json!({"name": "PizzaShack", "context": "pizzashack", "version": "1.0.0", "description": "Pizza",
            "policies": ["Gold", "Bronze"], "apiThrottlingPolicy": "10KPerMin", "tags": ["food"],
            "endpointConfig": {"endpoint_type": "load_balance", "algoCombo": "roundRobin",
                "production_endpoints": [{"url": "http://a.example/p"}, {"url": "http://b.example/p"}]},
            "operations": [{"target": "/menu", "verb": "GET", "authType": "None"},
                           {"target": "/order", "verb": "POST", "throttlingPolicy": "20KPerMin", "scopes": ["order"]}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(r.headers().contains_key("etag"));
    let api: Value = r.json().await.expect("json");
    let api_id = id(&api);
    assert_eq!(location, format!("{P}/apis/{api_id}"));
    assert_eq!(api["context"], "/pizzashack");
    assert_eq!(api["lifeCycleStatus"], "CREATED");
    assert_eq!(api["provider"], "admin");
    assert_eq!(api["operations"][0]["authType"], "None");
    assert_eq!(api["operations"][1]["throttlingPolicy"], "20KPerMin");
    assert_eq!(api["operations"][1]["scopes"], json!(["order"]));

    // Read and list.
    let (status, got) = p.get(&format!("/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, api);
    p.create("Other", "/other").await;
    let (_, list) = p.get("/apis?query=name:pizza").await;
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["list"][0]["id"], api_id.as_str());
    assert_eq!(list["list"][0]["lifeCycleStatus"], "CREATED");
    let (_, list) = p.get("/apis?query=version:1.0.0&limit=1&offset=1").await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["pagination"]["total"], 2);
    assert_eq!(
        list["pagination"]["previous"],
        "/apis?limit=1&offset=0&query=version:1.0.0"
    );
    let (status, _) = p.get("/apis?limit=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Duplicates: name+version and context+version are 409 and add nothing.
    let before = p.api_count().await;
    let (status, body) = p
        .post(
            "/apis",
            &json!({"name": "pizzashack", "context": "/elsewhere", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], 409);
    let (status, _) = p
        .post(
            "/apis",
            &json!({"name": "Another", "context": "/pizzashack", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(p.api_count().await, before);

    // Update: name, version, context and provider stay; conditional requests work.
    let (status, updated) = p
        .put(
            &format!("/apis/{api_id}"),
            &json!({"name": "Renamed", "context": "/moved", "version": "9",
            "provider": "mallory", "description": "Better pizza", "isDefaultVersion": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "PizzaShack");
    assert_eq!(updated["context"], "/pizzashack");
    assert_eq!(updated["version"], "1.0.0");
    assert_eq!(updated["provider"], "admin");
    assert_eq!(updated["description"], "Better pizza");
    assert_eq!(updated["isDefaultVersion"], true);
    assert_eq!(updated["operations"], api["operations"], "fields not sent are kept");
    let r = p
        .req(reqwest::Method::GET, &format!("/apis/{api_id}"))
        .send()
        .await
        .expect("get");
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_owned();
    let r = p
        .req(reqwest::Method::GET, &format!("/apis/{api_id}"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let (status, body) = p
        .send(
            p.req(reqwest::Method::PUT, &format!("/apis/{api_id}"))
                .header("If-Match", "\"1\"")
                .json(&json!({"description": "stale"})),
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    let (status, _) = p
        .send(
            p.req(reqwest::Method::PUT, &format!("/apis/{api_id}"))
                .header("If-Match", &etag)
                .json(&json!({"description": "fresh"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = p.put("/apis/00000000-0000-0000-0000-000000000000", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The generated definition lists the operations.
    let (status, swagger) = p.get(&format!("/apis/{api_id}/swagger")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(swagger["openapi"], "3.0.1");
    assert!(swagger["paths"]["/order"]["post"].is_object(), "{swagger}");

    // Lifecycle: publish, with history and state.
    let (status, body) = p
        .post_empty(&format!("/apis/change-lifecycle?apiId={api_id}&action=Publish"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["workflowStatus"], "APPROVED");
    assert_eq!(body["lifecycleState"]["state"], "Published");
    let (_, history) = p.get(&format!("/apis/{api_id}/lifecycle-history")).await;
    assert_eq!(history["count"], 2, "{history}");
    assert_eq!(history["list"][1]["previousState"], "Created");
    assert_eq!(history["list"][1]["postState"], "Published");
    assert_eq!(history["list"][1]["user"], "admin");
    let (_, state) = p.get(&format!("/apis/{api_id}/lifecycle-state")).await;
    assert_eq!(state["state"], "Published");
    assert_eq!(
        p.get(&format!("/apis/{api_id}")).await.1["lifeCycleStatus"],
        "PUBLISHED"
    );

    // Revisions: five at most.
    let mut revisions = Vec::new();
    for n in 1..=5 {
        let (status, rev) = p
            .post(
                &format!("/apis/{api_id}/revisions"),
                &json!({"description": format!("rev {n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{rev}");
        assert_eq!(rev["displayName"], format!("Revision {n}"));
        assert_eq!(rev["apiInfo"]["id"], api_id.as_str());
        revisions.push(id(&rev));
        if n == 1 {
            // Change the working copy after revision 1, to restore it later.
            p.put(&format!("/apis/{api_id}"), &json!({"description": "after revision 1"}))
                .await;
        }
    }
    let (status, body) = p.post(&format!("/apis/{api_id}/revisions"), &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"].as_str().unwrap_or_default().contains("Maximum"),
        "{body}"
    );
    let (_, list) = p.get(&format!("/apis/{api_id}/revisions")).await;
    assert_eq!(list["count"], 5);
    let (status, rev1) = p.get(&format!("/apis/{api_id}/revisions/{}", revisions[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rev1["description"], "rev 1");
    let (status, _) = p.get(&format!("/apis/{api_id}/revisions/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deploy revision 1: a deployment, the artifact file and an api.deployed row.
    let seq_before = store.latest_seq().await.expect("seq");
    let (status, body) = p
        .post(
            &format!("/apis/{api_id}/deploy-revision?revisionId={}", revisions[0]),
            &json!([{"name": "Default", "vhost": "localhost", "displayOnDevportal": true}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["name"], "Default");
    assert_eq!(body[0]["revisionUuid"], revisions[0].as_str());
    let artifact_path = node.home.join(format!("deployment/server/Default/{api_id}.json"));
    let artifact: Value =
        serde_json::from_str(&std::fs::read_to_string(&artifact_path).expect("artifact file")).expect("json");
    assert_eq!(artifact["schema"], 1);
    assert_eq!(artifact["id"], api_id.as_str());
    assert_eq!(artifact["context"], "/pizzashack");
    assert_eq!(artifact["revisionId"], revisions[0].as_str());
    assert_eq!(artifact["revisionNumber"], 1);
    assert_eq!(artifact["environment"], "Default");
    assert_eq!(artifact["vhost"], "localhost");
    assert_eq!(artifact["lifeCycleStatus"], "PUBLISHED");
    assert_eq!(artifact["apiThrottlingPolicy"], "10KPerMin");
    assert_eq!(artifact["endpointConfig"]["endpoint_type"], "load_balance");
    assert_eq!(artifact["operations"][0]["authType"], "None");
    assert_eq!(artifact["policies"], json!(["Gold", "Bronze"]));
    let events = store.events_after(seq_before, 10).await.expect("events");
    let deployed: Vec<_> = events.iter().filter(|e| e.kind == "api.deployed").collect();
    assert_eq!(deployed.len(), 1, "{events:?}");
    let payload: Value = serde_json::from_str(&deployed[0].payload).expect("payload");
    assert_eq!(
        payload,
        json!({"apiId": api_id, "revisionId": revisions[0], "environment": "Default", "vhost": "localhost"})
    );
    let (_, deployments) = p.get(&format!("/apis/{api_id}/deployments")).await;
    assert_eq!(deployments["list"][0]["revisionUuid"], revisions[0].as_str());
    let (_, list) = p.get(&format!("/apis/{api_id}/revisions?query=deployed:true")).await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["list"][0]["deploymentInfo"][0]["name"], "Default");

    // A lifecycle change reaches the deployed artifact.
    let (status, _) = p
        .post_empty(&format!("/apis/change-lifecycle?apiId={api_id}&action=Block"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let artifact: Value =
        serde_json::from_str(&std::fs::read_to_string(&artifact_path).expect("artifact")).expect("json");
    assert_eq!(artifact["lifeCycleStatus"], "BLOCKED");

    // Unknown environment or vhost: 400, nothing recorded.
    let (status, body) = p
        .post(
            &format!("/apis/{api_id}/deploy-revision?revisionId={}", revisions[1]),
            &json!([{"name": "Mars"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"][0]["message"], "[0].name");
    let (status, _) = p
        .post(
            &format!("/apis/{api_id}/deploy-revision?revisionId={}", revisions[1]),
            &json!([{"name": "Default", "vhost": "evil.example"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = p
        .post(
            &format!("/apis/{api_id}/deploy-revision?revisionId=nope"),
            &json!([{"name": "Default"}]),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, deployments) = p.get(&format!("/apis/{api_id}/deployments")).await;
    assert_eq!(deployments["list"].as_array().map(Vec::len), Some(1));
    assert_eq!(deployments["list"][0]["revisionUuid"], revisions[0].as_str());

    // A deployed revision cannot be deleted; another can.
    let (status, body) = p.delete(&format!("/apis/{api_id}/revisions/{}", revisions[0])).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = p.delete(&format!("/apis/{api_id}/revisions/{}", revisions[4])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 4);

    // Restore revision 1: its description comes back.
    assert_eq!(
        p.get(&format!("/apis/{api_id}")).await.1["description"],
        "after revision 1"
    );
    let (status, restored) = p
        .post_empty(&format!("/apis/{api_id}/restore-revision?revisionId={}", revisions[0]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{restored}");
    assert_eq!(restored["description"], "fresh");
    assert_eq!(restored["isRevision"], false);
    assert_eq!(
        restored["lifeCycleStatus"], "BLOCKED",
        "restoring does not change the lifecycle"
    );

    // Undeploy: the deployment, the file and an api.undeployed row.
    let seq_before = store.latest_seq().await.expect("seq");
    let (status, body) = p
        .post(
            &format!("/apis/{api_id}/undeploy-revision?revisionId={}", revisions[0]),
            &json!([{"name": "Default", "vhost": "localhost"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!([]));
    assert!(!artifact_path.exists());
    let events = store.events_after(seq_before, 10).await.expect("events");
    assert_eq!(
        events.iter().filter(|e| e.kind == "api.undeployed").count(),
        1,
        "{events:?}"
    );
    let (status, _) = p.delete(&format!("/apis/{api_id}/revisions/{}", revisions[0])).await;
    assert_eq!(status, StatusCode::OK);

    // Deleting a deployed API removes its artifact and announces it.
    let (status, _) = p
        .post(
            &format!("/apis/{api_id}/deploy-revision?revisionId={}", revisions[1]),
            &json!([{"name": "Default"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(artifact_path.exists());
    let seq_before = store.latest_seq().await.expect("seq");
    let (status, _) = p.delete(&format!("/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!artifact_path.exists(), "the artifact of a deleted API is removed");
    let kinds: Vec<String> = store
        .events_after(seq_before, 10)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["api.undeployed", "api.deleted"]);
    let (status, body) = p.get(&format!("/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], 404);
    store.close().await;
}

/// Concurrent read-modify-write loops with If-Match each add a tag; none is lost. A lifecycle
/// change racing with unconditional updates is not undone by them.
async fn check_concurrency(node: &Node) {
    let p = Publisher { node };
    let api = p.create("Busy", "/busy").await;
    let api_id = id(&api);
    let mut tasks = Vec::new();
    for n in 0..6 {
        let client = node.client.clone();
        let url = p.url(&format!("/apis/{api_id}"));
        let (user, pw) = node.admin();
        let (user, pw) = (user.to_owned(), pw.to_owned());
        tasks.push(tokio::spawn(async move {
            for _ in 0..100 {
                let r = client.get(&url).basic_auth(&user, Some(&pw)).send().await.expect("get");
                let etag = r
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .expect("etag")
                    .to_owned();
                let current: Value = r.json().await.expect("json");
                let mut tags: Vec<Value> = current["tags"].as_array().cloned().unwrap_or_default();
                tags.push(json!(format!("tag-{n}")));
                let r = client
                    .put(&url)
                    .basic_auth(&user, Some(&pw))
                    .header("If-Match", etag)
                    .json(&json!({"tags": tags}))
                    .send()
                    .await
                    .expect("put");
                match r.status() {
                    StatusCode::OK => return,
                    StatusCode::PRECONDITION_FAILED => continue,
                    other => panic!("unexpected {other}"),
                }
            }
            panic!("writer {n} never got its update in");
        }));
    }
    // Unconditional updates race with a lifecycle change.
    let publish = {
        let client = node.client.clone();
        let url = p.url(&format!("/apis/change-lifecycle?apiId={api_id}&action=Publish"));
        let (user, pw) = node.admin();
        let (user, pw) = (user.to_owned(), pw.to_owned());
        tokio::spawn(async move {
            client
                .post(&url)
                .basic_auth(&user, Some(&pw))
                .send()
                .await
                .expect("publish")
                .status()
        })
    };
    for i in 0..5 {
        let (status, _) = p
            .put(&format!("/apis/{api_id}"), &json!({"description": format!("d{i}")}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    for t in tasks {
        t.await.expect("writer");
    }
    assert_eq!(publish.await.expect("publish"), StatusCode::OK);
    let (_, after) = p.get(&format!("/apis/{api_id}")).await;
    let mut tags: Vec<String> = after["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    tags.sort();
    assert_eq!(tags, (0..6).map(|n| format!("tag-{n}")).collect::<Vec<_>>(), "{after}");
    assert_eq!(after["lifeCycleStatus"], "PUBLISHED");
    assert_eq!(after["description"], "d4");
}

#[tokio::test]
async fn publisher_main_flow_sqlite() {
    let node = Node::start(bin(), NodeOptions::default()).await.expect("node");
    check_main_flow(&node, None).await;
    check_concurrency(&node).await;
}

#[tokio::test]
async fn publisher_main_flow_postgres() {
    let Some(db) = PgDatabase::create("publisher_main").await.expect("database") else {
        return;
    };
    let node = Node::start(bin(), NodeOptions::on_postgres(&db)).await.expect("node");
    check_main_flow(&node, Some(&db)).await;
    check_concurrency(&node).await;
    check_subscriptions(&node, Some(&db)).await;
}

#[tokio::test]
async fn input_rules_are_enforced_and_refusals_change_nothing() {
    let node = Node::start(bin(), NodeOptions::default()).await.expect("node");
    let p = Publisher { node: &node };
    let base = json!({"name": "Rules", "context": "/rules", "version": "1"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let long_context = format!("/{}", "c".repeat(232));
    let cases: Vec<(Value, &str)> = vec![
        (with("context", json!("/a/../b")), "context"),
        (with("context", json!("/a?b=1")), "context"),
        (with("context", json!("/a b")), "context"),
        (with("context", json!(long_context)), "context"),
        (with("context", json!(["/a"])), "context"),
        (with("name", json!({"n": 1})), "name"),
        (with("name", json!("bad/name")), "name"),
        (with("version", json!("1 0")), "version"),
        (with("tags", json!("single")), "tags"),
        (with("tags", json!([["nested"]])), "tags[0]"),
        (with("visibility", json!("EVERYONE")), "visibility"),
        (with("type", json!("GRAPHQLX")), "type"),
        (with("transport", json!(["ftp"])), "transport[0]"),
        (with("isDefaultVersion", json!("maybe")), "isDefaultVersion"),
        (with("isDefaultVersion", json!([true])), "isDefaultVersion"),
        (with("policies", json!(["Platinum"])), "policies[0]"),
        (with("apiThrottlingPolicy", json!("Gold")), "apiThrottlingPolicy"),
        (with("operations", json!({"target": "/x"})), "operations"),
        (
            with("operations", json!([{"target": "/x", "verb": "FETCH"}])),
            "operations[0].verb",
        ),
        (
            with(
                "operations",
                json!([{"target": "/x", "verb": "GET", "authType": "Sometimes"}]),
            ),
            "operations[0].authType",
        ),
        (with("operations", json!([{"verb": "GET"}])), "operations[0].target"),
        (
            with(
                "operations",
                json!([{"target": "/x", "verb": "GET", "throttlingPolicy": "Gold"}]),
            ),
            "operations[0].throttlingPolicy",
        ),
        (
            with("operations", json!([{"target": "/x", "verb": "GET", "scopes": "s"}])),
            "operations[0].scopes",
        ),
        (with("corsConfiguration", json!([])), "corsConfiguration"),
        (
            with("corsConfiguration", json!({"accessControlAllowOrigins": "*"})),
            "corsConfiguration.accessControlAllowOrigins",
        ),
        (
            with(
                "endpointConfig",
                json!({"endpoint_type": "magic", "production_endpoints": {"url": "http://a"}}),
            ),
            "endpointConfig.endpoint_type",
        ),
        (
            with(
                "endpointConfig",
                json!({"endpoint_type": "http", "production_endpoints": [{"url": "http://a"}]}),
            ),
            "endpointConfig.production_endpoints",
        ),
        (
            with(
                "endpointConfig",
                json!({"endpoint_type": "failover", "production_endpoints": {"url": "http://a"}, "production_failovers": "http://b"}),
            ),
            "endpointConfig.production_failovers",
        ),
        (
            with(
                "endpointConfig",
                json!({"endpoint_type": "load_balance", "production_endpoints": [{"url": "gopher://a"}]}),
            ),
            "endpointConfig.production_endpoints[0].url",
        ),
        (json!({"context": "/x", "version": "1"}), "name"),
        (json!({"name": "x", "version": "1"}), "context"),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in &cases {
        let (status, answer) = p.post("/apis", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_eq!(answer["code"], 400);
        assert_eq!(answer["error"][0]["message"], *field, "{body} -> {answer}");
        assert!(
            answer["description"]
                .as_str()
                .unwrap_or_default()
                .contains(field.split('[').next().unwrap_or(field)),
            "{answer}"
        );
    }
    // Malformed JSON and a wrong content type.
    let (status, answer) = p
        .send(
            p.req(reqwest::Method::POST, "/apis")
                .header("Content-Type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["description"]
            .as_str()
            .unwrap_or_default()
            .contains("not valid JSON"),
        "{answer}"
    );
    let (status, _) = p
        .send(
            p.req(reqwest::Method::POST, "/apis")
                .header("Content-Type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(p.api_count().await, 0, "refused requests created nothing");

    // Coercion as WSO2's JSON layer: numbers to strings, "true" to true; unknown fields ignored.
    let (status, api) = p
        .post(
            "/apis",
            &json!({"name": 2024, "context": "numbers", "version": 2, "isDefaultVersion": "true",
            "tags": [1, "x"], "someFutureField": {"deep": [1]},
            "operations": [{"target": "/a", "verb": "get"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(api["name"], "2024");
    assert_eq!(api["version"], "2");
    assert_eq!(api["context"], "/numbers");
    assert_eq!(api["isDefaultVersion"], true);
    assert_eq!(api["tags"], json!(["1", "x"]));
    assert_eq!(api["operations"][0]["verb"], "GET");
    assert!(api.get("someFutureField").is_none());
    let just_fits = format!("/{}", "c".repeat(231));
    let (status, _) = p
        .post("/apis", &json!({"name": "Long", "context": just_fits, "version": "1"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // A refused update changes nothing.
    let api_id = id(&api);
    let (_, before) = p.get(&format!("/apis/{api_id}")).await;
    for body in [
        json!({"description": "x", "operations": [{"target": "/x", "verb": "NOPE"}]}),
        json!({"description": "x", "policies": ["Nope"]}),
        json!({"description": "x", "endpointConfig": "http://a"}),
    ] {
        let (status, _) = p.put(&format!("/apis/{api_id}"), &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(p.get(&format!("/apis/{api_id}")).await.1, before);

    // Unknown lifecycle action: 400; missing parameters: 400; unknown API: 404.
    let (status, body) = p
        .post_empty(&format!("/apis/change-lifecycle?apiId={api_id}&action=Launch"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["description"].as_str().unwrap_or_default().contains("Launch"));
    let (status, _) = p.post_empty(&format!("/apis/change-lifecycle?apiId={api_id}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = p.post_empty("/apis/change-lifecycle?apiId=nope&action=Publish").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deploy bodies of the wrong shape.
    let (_, rev) = p
        .post(&format!("/apis/{api_id}/revisions"), &json!({"description": "r"}))
        .await;
    let rev_id = id(&rev);
    for (body, field) in [
        (json!({"name": "Default"}), "body"),
        (json!([]), "body"),
        (json!([{"vhost": "localhost"}]), "[0].name"),
        (
            json!([{"name": "Default", "displayOnDevportal": "perhaps"}]),
            "[0].displayOnDevportal",
        ),
        (json!([{"name": "Default"}, {"name": "Default"}]), "[1].name"),
    ] {
        let (status, answer) = p
            .post(&format!("/apis/{api_id}/deploy-revision?revisionId={rev_id}"), &body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_eq!(answer["error"][0]["message"], field, "{answer}");
    }
    let (status, _) = p
        .post(
            &format!("/apis/{api_id}/deploy-revision"),
            &json!([{"name": "Default"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "revisionId is required");
    assert_eq!(p.get(&format!("/apis/{api_id}/deployments")).await.1["count"], 0);
    let (status, _) = p
        .post(&format!("/apis/{api_id}/revisions"), &json!({"description": ["x"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Import from a loopback URL is refused by default.
    let (status, body) = p
        .multipart(
            reqwest::Method::POST,
            "/apis/import-openapi",
            &[("url", "http://127.0.0.1:9/openapi.yaml")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"].as_str().unwrap_or_default().contains("non-public"),
        "{body}"
    );

    // Every API-scoped endpoint answers 404 for an unknown API.
    let missing = "00000000-0000-0000-0000-000000000000";
    for (method, path) in [
        (reqwest::Method::GET, format!("/apis/{missing}")),
        (reqwest::Method::DELETE, format!("/apis/{missing}")),
        (reqwest::Method::GET, format!("/apis/{missing}/swagger")),
        (reqwest::Method::GET, format!("/apis/{missing}/lifecycle-history")),
        (reqwest::Method::GET, format!("/apis/{missing}/lifecycle-state")),
        (reqwest::Method::GET, format!("/apis/{missing}/revisions")),
        (reqwest::Method::POST, format!("/apis/{missing}/revisions")),
        (reqwest::Method::GET, format!("/apis/{missing}/revisions/{rev_id}")),
        (reqwest::Method::DELETE, format!("/apis/{missing}/revisions/{rev_id}")),
        (reqwest::Method::GET, format!("/apis/{missing}/deployments")),
        (
            reqwest::Method::POST,
            format!("/apis/{missing}/restore-revision?revisionId={rev_id}"),
        ),
        (
            reqwest::Method::POST,
            format!("/apis/{missing}/undeploy-revision?revisionId={rev_id}&allEnvironments=true"),
        ),
        (reqwest::Method::GET, format!("/apis/{api_id}/revisions/{missing}")),
        (
            reqwest::Method::POST,
            format!("/apis/{api_id}/restore-revision?revisionId={missing}"),
        ),
    ] {
        let (status, body) = p.send(p.req(method.clone(), &path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(body["code"], 404, "{method} {path}");
    }
    let (status, _) = p
        .post(
            &format!("/apis/{missing}/deploy-revision?revisionId={rev_id}"),
            &json!([{"name": "Default"}]),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Scopes: a subscriber may not create APIs; no credentials is 401.
    let store = node_store(&node, None).await;
    store
        .create_user(&portico_store::NewUser {
            username: "sam".into(),
            password_hash: portico_keymanager::hash_password("sam-pw").expect("hash"),
            roles: vec![portico_store::Role::Subscriber],
        })
        .await
        .expect("user");
    let r = node
        .client
        .post(p.url("/apis"))
        .basic_auth("sam", Some("sam-pw"))
        .json(&base)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = node.client.get(p.url("/apis")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    store.close().await;
}

#[tokio::test]
async fn lifecycle_transition_table() {
    let node = Node::start(bin(), NodeOptions::default()).await.expect("node");
    let p = Publisher { node: &node };
    // How to reach each reachable state from CREATED.
    let paths: [(&str, &[&str]); 6] = [
        ("CREATED", &[]),
        ("PROTOTYPED", &["Deploy as a Prototype"]),
        ("PUBLISHED", &["Publish"]),
        ("BLOCKED", &["Publish", "Block"]),
        ("DEPRECATED", &["Publish", "Deprecate"]),
        ("RETIRED", &["Publish", "Deprecate", "Retire"]),
    ];
    // WSO2's default lifecycle, written out independently of the implementation.
    let allowed: &[(&str, &str, &str)] = &[
        ("CREATED", "Publish", "PUBLISHED"),
        ("CREATED", "Deploy as a Prototype", "PROTOTYPED"),
        ("PROTOTYPED", "Publish", "PUBLISHED"),
        ("PROTOTYPED", "Demote to Created", "CREATED"),
        ("PROTOTYPED", "Deploy as a Prototype", "PROTOTYPED"),
        ("PUBLISHED", "Block", "BLOCKED"),
        ("PUBLISHED", "Deploy as a Prototype", "PROTOTYPED"),
        ("PUBLISHED", "Demote to Created", "CREATED"),
        ("PUBLISHED", "Deprecate", "DEPRECATED"),
        ("BLOCKED", "Deprecate", "DEPRECATED"),
        ("BLOCKED", "Re-Publish", "PUBLISHED"),
        ("DEPRECATED", "Retire", "RETIRED"),
    ];
    let actions = [
        "Publish",
        "Deploy as a Prototype",
        "Demote to Created",
        "Block",
        "Deprecate",
        "Re-Publish",
        "Retire",
    ];
    let mut n = 0;
    for (state, path) in paths {
        for action in actions {
            n += 1;
            let api = p.create(&format!("LC{n}"), &format!("/lc{n}")).await;
            let api_id = id(&api);
            for step in path {
                let (status, body) = p
                    .post_empty(&format!("/apis/change-lifecycle?apiId={api_id}&action={step}"))
                    .await;
                assert_eq!(status, StatusCode::OK, "{state} via {step}: {body}");
            }
            assert_eq!(p.get(&format!("/apis/{api_id}")).await.1["lifeCycleStatus"], state);
            let (status, body) = p
                .post_empty(&format!("/apis/change-lifecycle?apiId={api_id}&action={action}"))
                .await;
            let expected = allowed
                .iter()
                .find(|(from, a, _)| *from == state && *a == action)
                .map(|(_, _, to)| *to);
            let (_, after) = p.get(&format!("/apis/{api_id}")).await;
            match expected {
                Some(to) => {
                    assert_eq!(status, StatusCode::OK, "{state} --{action}--> {to}: {body}");
                    assert_eq!(after["lifeCycleStatus"], to, "{state} --{action}");
                }
                None => {
                    assert_eq!(
                        status,
                        StatusCode::CONFLICT,
                        "{state} --{action} must be refused: {body}"
                    );
                    assert_eq!(after["lifeCycleStatus"], state, "a refused action changes nothing");
                }
            }
            let (_, history) = p.get(&format!("/apis/{api_id}/lifecycle-history")).await;
            let changes = path.len() + usize::from(expected.is_some()) + 1;
            assert_eq!(history["count"], changes, "{state} --{action}: {history}");
        }
    }
}

const PETSTORE_YAML: &str = "openapi: 3.0.1
info:
  title: Petstore
  version: 1.0.0
  description: Pets
servers:
  - url: http://petstore.example/v1
paths:
  /pets:
    get:
      responses: {'200': {description: OK}}
    post:
      security:
        - default: [pets:write]
      x-throttling-tier: 20KPerMin
      responses: {'201': {description: Created}}
  /pets/{petId}:
    get:
      responses: {'200': {description: OK}}
";

/// Serves `body` to every HTTP request (after `delay`) on a loopback port; returns the port.
async fn serve_text(body: String, delay: Duration) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn openapi_import_from_file_and_url() {
    let node = Node::start(
        bin(),
        NodeOptions {
            config_edits: vec![
                (
                    "allow_private_import_urls = false".into(),
                    "allow_private_import_urls = true".into(),
                ),
                ("import_max_bytes = 5242880".into(), "import_max_bytes = 4096".into()),
                (
                    "import_timeout_seconds = 20".into(),
                    "import_timeout_seconds = 1".into(),
                ),
            ],
            ..Default::default()
        },
    )
    .await
    .expect("node");
    let p = Publisher { node: &node };

    // Validate: a valid YAML file, then an invalid one.
    let (status, body) = p
        .multipart(
            reqwest::Method::POST,
            "/apis/validate-openapi?returnContent=true",
            &[("file", PETSTORE_YAML)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["isValid"], true);
    assert_eq!(body["info"]["name"], "Petstore");
    assert_eq!(body["info"]["openAPIVersion"], "3.0");
    assert_eq!(body["content"], PETSTORE_YAML);
    let (status, body) = p
        .multipart(
            reqwest::Method::POST,
            "/apis/validate-openapi",
            &[("file", "{\"hello\": 1}")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["isValid"], false);
    assert!(
        body["errorMessages"][0]
            .as_str()
            .unwrap_or_default()
            .contains("OpenAPI"),
        "{body}"
    );
    let (status, _) = p.multipart(reqwest::Method::POST, "/apis/validate-openapi", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Import a file with additionalProperties.
    let (status, api) = p
        .multipart(
            reqwest::Method::POST,
            "/apis/import-openapi",
            &[
                ("file", PETSTORE_YAML),
                (
                    "additionalProperties",
                    "{\"context\": \"pets\", \"policies\": [\"Gold\"]}",
                ),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(api["name"], "Petstore");
    assert_eq!(api["context"], "/pets");
    assert_eq!(api["policies"], json!(["Gold"]));
    assert_eq!(
        api["endpointConfig"]["production_endpoints"]["url"],
        "http://petstore.example/v1"
    );
    let ops: Vec<String> = api["operations"]
        .as_array()
        .expect("ops")
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["verb"].as_str().unwrap_or(""),
                o["target"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(ops, ["GET /pets", "POST /pets", "GET /pets/{petId}"]);
    assert_eq!(api["operations"][1]["scopes"], json!(["pets:write"]));
    assert_eq!(api["operations"][1]["throttlingPolicy"], "20KPerMin");
    let api_id = id(&api);
    let r = p
        .req(reqwest::Method::GET, &format!("/apis/{api_id}/swagger"))
        .send()
        .await
        .expect("swagger");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.text().await.expect("text"),
        PETSTORE_YAML,
        "the definition is kept verbatim"
    );

    // Bad additionalProperties and bad definitions are 400 and create nothing.
    let before = p.api_count().await;
    for parts in [
        vec![("file", PETSTORE_YAML), ("additionalProperties", "{not json")],
        vec![
            ("file", PETSTORE_YAML),
            ("additionalProperties", "{\"context\": \"/a/../b\"}"),
        ],
        vec![("file", "openapi: 3.0.0\ninfo: {title: X, version: '1'}\n")],
        vec![("file", PETSTORE_YAML), ("url", "http://127.0.0.1:1/x")],
    ] {
        let (status, body) = p.multipart(reqwest::Method::POST, "/apis/import-openapi", &parts).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{parts:?}: {body}");
    }
    // The same name and version again: 409.
    let (status, _) = p
        .multipart(
            reqwest::Method::POST,
            "/apis/import-openapi",
            &[("file", PETSTORE_YAML)],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(p.api_count().await, before);

    // Swagger 2.0 JSON from a URL (private addresses allowed by this node's configuration).
    let swagger = json!({"swagger": "2.0", "info": {"title": "Stock", "version": "2.1"}, "basePath": "/stock",
        "host": "stock.example", "schemes": ["https"],
        "paths": {"/quote/{symbol}": {"get": {"responses": {"200": {"description": "ok"}}}}}});
    let port = serve_text(swagger.to_string(), Duration::ZERO).await;
    let (status, api) = p
        .multipart(
            reqwest::Method::POST,
            "/apis/import-openapi",
            &[("url", &format!("http://127.0.0.1:{port}/swagger.json"))],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(api["name"], "Stock");
    assert_eq!(api["context"], "/stock");
    assert_eq!(api["operations"][0]["target"], "/quote/{symbol}");
    assert_eq!(
        api["endpointConfig"]["production_endpoints"]["url"],
        "https://stock.example/stock"
    );

    // Too large and too slow.
    let big = format!("{PETSTORE_YAML}# {}\n", "x".repeat(5000));
    let port = serve_text(big, Duration::ZERO).await;
    let (status, body) = p
        .multipart(
            reqwest::Method::POST,
            "/apis/validate-openapi",
            &[("url", &format!("http://127.0.0.1:{port}/big.yaml"))],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["description"].as_str().unwrap_or_default().contains("4096"),
        "{body}"
    );
    let port = serve_text(PETSTORE_YAML.to_owned(), Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    let (status, body) = p
        .multipart(
            reqwest::Method::POST,
            "/apis/validate-openapi",
            &[("url", &format!("http://127.0.0.1:{port}/slow.yaml"))],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the fetch stopped at the limit"
    );
    assert!(
        body["description"].as_str().unwrap_or_default().contains("longer than"),
        "{body}"
    );

    // PUT /swagger replaces the definition and the operations.
    let new_definition = PETSTORE_YAML.replace(
        "  /pets/{petId}:",
        "  /owners:\n    get:\n      responses: {'200': {description: OK}}\n  /pets/{petId}:",
    );
    let (status, body) = p
        .multipart(
            reqwest::Method::PUT,
            &format!("/apis/{api_id}/swagger"),
            &[("apiDefinition", &new_definition)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, api) = p.get(&format!("/apis/{api_id}")).await;
    assert_eq!(api["operations"].as_array().map(Vec::len), Some(4));
    let (status, _) = p
        .multipart(
            reqwest::Method::PUT,
            &format!("/apis/{api_id}/swagger"),
            &[("apiDefinition", "nonsense: [")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        p.get(&format!("/apis/{api_id}")).await.1["operations"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
}

/// Throttling policies, environments and subscriptions.
async fn check_subscriptions(node: &Node, pg: Option<&PgDatabase>) {
    let p = Publisher { node };
    for level in ["subscription", "subcription"] {
        let (status, body) = p.get(&format!("/throttling-policies/{level}")).await;
        assert_eq!(status, StatusCode::OK);
        let tiers: Vec<(String, i64)> = body["list"]
            .as_array()
            .expect("list")
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap_or("").to_owned(),
                    t["requestCount"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        for (name, count) in [
            ("Gold", 5000),
            ("Silver", 2000),
            ("Bronze", 1000),
            ("Unauthenticated", 500),
        ] {
            assert!(tiers.contains(&(name.to_owned(), count)), "{name}: {tiers:?}");
        }
        assert!(tiers.iter().any(|(n, _)| n == "Unlimited"));
        assert_eq!(body["list"][0]["policyLevel"], "subscription");
    }
    let (_, body) = p.get("/throttling-policies/api").await;
    let names: Vec<&str> = body["list"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["Unlimited", "50KPerMin", "20KPerMin", "10KPerMin"]);
    let (status, _) = p.get("/throttling-policies/application").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, envs) = p.get("/environments").await;
    let (user, pw) = node.admin();
    let admin_envs: Value = node
        .client
        .get(node.url("/api/am/admin/v4/environments"))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    assert_eq!(envs, admin_envs);
    assert_eq!(envs["list"][0]["name"], "Default");

    let api = p.create("Subscribed", "/subscribed").await;
    let api_id = id(&api);
    let (_, subs) = p.get(&format!("/subscriptions?apiId={api_id}")).await;
    assert_eq!(subs["count"], 0);
    let store = node_store(node, pg).await;
    let app = store
        .create_application(&NewApplication {
            name: "Shop".into(),
            owner: "admin".into(),
            throttling_policy: "10PerMin".into(),
            description: None,
            ..Default::default()
        })
        .await
        .expect("app");
    store
        .create_subscription(&NewSubscription {
            application_id: app.clone(),
            api_id: api_id.clone(),
            throttling_policy: "Gold".into(),
            status: "UNBLOCKED".into(),
        })
        .await
        .expect("subscription");
    let (status, subs) = p.get(&format!("/subscriptions?apiId={api_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(subs["count"], 1);
    assert_eq!(subs["list"][0]["applicationInfo"]["applicationId"], app.as_str());
    assert_eq!(subs["list"][0]["applicationInfo"]["name"], "Shop");
    assert_eq!(subs["list"][0]["throttlingPolicy"], "Gold");
    assert_eq!(subs["list"][0]["subscriptionStatus"], "UNBLOCKED");
    let (status, _) = p.get("/subscriptions?apiId=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An API with subscriptions cannot be deleted.
    let (status, body) = p.delete(&format!("/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(p.get(&format!("/apis/{api_id}")).await.0, StatusCode::OK);
    store.close().await;
}

#[tokio::test]
async fn policies_environments_and_subscriptions_sqlite() {
    let node = Node::start(bin(), NodeOptions::default()).await.expect("node");
    check_subscriptions(&node, None).await;
}

#[tokio::test]
async fn artifacts_are_rebuilt_from_the_database_on_start() {
    let node = Node::start(bin(), NodeOptions::default()).await.expect("node");
    let p = Publisher { node: &node };
    let api = p.create("Durable", "/durable").await;
    let api_id = id(&api);
    let (_, rev) = p.post(&format!("/apis/{api_id}/revisions"), &json!({})).await;
    let (status, _) = p
        .post(
            &format!("/apis/{api_id}/deploy-revision?revisionId={}", id(&rev)),
            &json!([{"name": "Default"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let dir = node.home.join("deployment/server/Default");
    let artifact = dir.join(format!("{api_id}.json"));
    let written = std::fs::read_to_string(&artifact).expect("artifact");
    std::fs::remove_file(&artifact).expect("remove");
    std::fs::write(dir.join("stale-api.json"), "{}").expect("stray");
    std::fs::write(dir.join("half.json.1.tmp"), "{").expect("temp");

    let node = node.restart().await.expect("restart");
    assert_eq!(std::fs::read_to_string(&artifact).expect("rebuilt"), written);
    assert!(!dir.join("stale-api.json").exists());
    assert!(!dir.join("half.json.1.tmp").exists());
    assert!(
        node.output().contains("1 deployed API revision(s)"),
        "{}",
        node.output()
    );
}
