//! The live clients against fake servers on loopback that speak each
//! service's API shapes: the request each operation sends (method, path,
//! auth header, body, query, idempotency key), the outputs, and the
//! classification of error and rate-limit answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use nexwatt_connectors::live::{
    live_clients, try_live_clients, ConfigError, HttpClient, HttpConfig, HubSpotClient,
    HubSpotConfig, LiveConfig, QuickBooksClient, QuickBooksConfig, SlackClient, SlackConfig,
};
use nexwatt_engine::connector::{Connector, ConnectorError, ConnectorErrorKind, ExecutionContext};
use nexwatt_engine::model::{OperationKind, RunMode};
use serde_json::{json, Value};

// ---------------------------------------------------------------- fake server

/// One request the fake received.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    raw_query: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Recorded {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    fn q(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

/// What the fake answers.
enum Reply {
    Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Never answers.
    Hang,
}

fn json_reply(status: u16, body: Value) -> Reply {
    Reply::Answer {
        status,
        headers: vec![("content-type", "application/json".to_string())],
        body: body.to_string(),
    }
}

fn with_header(reply: Reply, name: &'static str, value: &str) -> Reply {
    match reply {
        Reply::Answer {
            status,
            mut headers,
            body,
        } => {
            headers.push((name, value.to_string()));
            Reply::Answer {
                status,
                headers,
                body,
            }
        }
        Reply::Hang => Reply::Hang,
    }
}

type Responder = dyn Fn(&Recorded) -> Reply + Send + Sync;

struct FakeState {
    respond: Box<Responder>,
    requests: Mutex<Vec<Recorded>>,
}

struct Fake {
    base: String,
    addr: std::net::SocketAddr,
    state: Arc<FakeState>,
}

impl Fake {
    fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
    fn only_request(&self) -> Recorded {
        let r = self.requests();
        assert_eq!(r.len(), 1, "expected exactly one request, got {r:#?}");
        r.into_iter().next().unwrap()
    }
}

async fn handle(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<HashMap<String, String>>()
        })
        .unwrap_or_default();
    let recorded = Recorded {
        method,
        path: uri.path().to_string(),
        raw_query: uri.query().unwrap_or_default().to_string(),
        query,
        headers,
        body: body.to_vec(),
    };
    let reply = (state.respond)(&recorded);
    state.requests.lock().unwrap().push(recorded);
    match reply {
        Reply::Answer {
            status,
            headers,
            body,
        } => {
            let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
            for (k, v) in headers {
                response.headers_mut().insert(k, v.parse().unwrap());
            }
            response
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}

/// Decodes `a=1&b=x%20y` (with `+` as space).
fn url_pairs(q: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn serve_fake<F>(prefix: &str, respond: F) -> Fake
where
    F: Fn(&Recorded) -> Reply + Send + Sync + 'static,
{
    let state = Arc::new(FakeState {
        respond: Box::new(respond),
        requests: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Fake {
        base: format!("http://{addr}{prefix}"),
        addr,
        state,
    }
}

fn live_ctx() -> ExecutionContext {
    let mut ctx = ExecutionContext::for_test();
    ctx.mode = RunMode::Live;
    ctx
}

fn assert_error(e: &ConnectorError, kind: ConnectorErrorKind, code: &str) {
    assert_eq!(e.kind(), kind, "kind of {e}");
    assert_eq!(e.code(), code, "code of {e}");
}

fn assert_no_secret(e: &ConnectorError, secret: &str) {
    assert!(!e.to_string().contains(secret), "secret in {e}");
    assert!(!format!("{e:?}").contains(secret), "secret in {e:?}");
}

/// Asserts `out` has every field of the catalog's example output of
/// `connector.operation` (recursively; scalars of the same JSON type or
/// null), so bindings written against the sandbox work live.
fn assert_catalog_shape(connector: &str, operation: &str, out: &Value) {
    let example = &nexwatt_connectors::catalog()
        .unwrap()
        .operation(connector, operation)
        .unwrap()
        .example_output;
    check_shape(example, out, &format!("{connector}.{operation}"));
}

/// Asserts `out` has the top-level fields of the catalog's example output
/// (for `http`, whose `body` is whatever the endpoint sends).
fn assert_catalog_keys(connector: &str, operation: &str, out: &Value) {
    let example = &nexwatt_connectors::catalog()
        .unwrap()
        .operation(connector, operation)
        .unwrap()
        .example_output;
    for key in example.as_object().unwrap().keys() {
        assert!(
            out.get(key).is_some(),
            "{connector}.{operation}: {key} missing from {out}"
        );
    }
}

fn check_shape(example: &Value, out: &Value, path: &str) {
    if out.is_null() {
        return;
    }
    match example {
        Value::Object(fields) => {
            let o = out
                .as_object()
                .unwrap_or_else(|| panic!("{path} is not an object: {out}"));
            for (k, v) in fields {
                let child = o
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} is missing from {out}"));
                check_shape(v, child, &format!("{path}.{k}"));
            }
        }
        Value::Array(items) => {
            let arr = out
                .as_array()
                .unwrap_or_else(|| panic!("{path} is not an array: {out}"));
            if let (Some(e), Some(o)) = (items.first(), arr.first()) {
                check_shape(e, o, &format!("{path}[0]"));
            }
        }
        Value::Number(_) => assert!(out.is_number(), "{path} is not a number: {out}"),
        Value::String(_) => assert!(out.is_string(), "{path} is not a string: {out}"),
        Value::Bool(_) => assert!(out.is_boolean(), "{path} is not a boolean: {out}"),
        Value::Null => {}
    }
}

// ---------------------------------------------------------------------- Slack

const SLACK_TOKEN: &str = "xoxb-test-7777-secret-token";

fn slack(fake: &Fake) -> SlackClient {
    SlackClient::new(&SlackConfig::new(SLACK_TOKEN).with_base_url(&fake.base)).unwrap()
}

fn slack_user(id: &str, name: &str, real: &str, email: &str) -> Value {
    json!({"id": id, "name": name, "real_name": real, "is_bot": false, "deleted": false,
           "tz": "America/New_York", "profile": {"email": email, "display_name": name}})
}

fn slack_ok(r: &Recorded) -> Reply {
    match r.path.as_str() {
        "/api/chat.postMessage" => {
            let channel = r.json()["channel"].as_str().unwrap_or_default().to_string();
            let id = if channel.starts_with('#') {
                "C05FINANCE".to_string()
            } else {
                channel
            };
            json_reply(
                200,
                json!({"ok": true, "channel": id, "ts": "1700000000.000100",
                       "message": {"text": r.json()["text"], "type": "message", "user": "U0BOT"}}),
            )
        }
        "/api/users.lookupByEmail" => json_reply(
            200,
            json!({"ok": true, "user": slack_user("U024BE7LH", "dana", "Dana Brooks", r.q("email").unwrap_or_default())}),
        ),
        "/api/users.info" => json_reply(
            200,
            json!({"ok": true, "user": slack_user(r.q("user").unwrap_or_default(), "sam", "Sam Patel", "sam@example.com")}),
        ),
        "/api/users.list" => match r.q("cursor") {
            None => json_reply(
                200,
                json!({"ok": true, "members": [slack_user("U1", "ann", "Ann Lee", "ann@example.com")],
                       "response_metadata": {"next_cursor": "dXNlcjpVMEc5V0ZYTlo="}}),
            ),
            Some(_) => json_reply(
                200,
                json!({"ok": true, "members": [slack_user("U2", "dana.brooks", "Dana Brooks", "dana@example.com")],
                       "response_metadata": {"next_cursor": ""}}),
            ),
        },
        "/api/conversations.open" => {
            json_reply(200, json!({"ok": true, "channel": {"id": "D069C7QFK"}}))
        }
        _ => json_reply(404, json!({"ok": false, "error": "unknown_method"})),
    }
}

#[tokio::test]
async fn slack_message_send_posts_to_the_channel() {
    let fake = serve_fake("/api", slack_ok).await;
    let out = slack(&fake)
        .execute(
            "message.send",
            json!({"channel": "#finance", "text": "Invoice 1001 is paid"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let r = fake.only_request();
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, "/api/chat.postMessage");
    assert_eq!(
        r.header("authorization").unwrap(),
        format!("Bearer {SLACK_TOKEN}")
    );
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        r.json(),
        json!({"channel": "#finance", "text": "Invoice 1001 is paid"})
    );
    assert_catalog_shape("slack", "message.send", &out);
    assert_eq!(out["ok"], true);
    assert_eq!(out["message"]["channel"], "#finance");
    assert_eq!(out["message"]["channel_id"], "C05FINANCE");
    assert_eq!(out["message"]["ts"], "1700000000.000100");
    assert_eq!(out["message"]["text"], "Invoice 1001 is paid");
}

#[tokio::test]
async fn slack_message_without_text_describes_the_record() {
    let fake = serve_fake("/api", slack_ok).await;
    slack(&fake)
        .execute(
            "message.send",
            json!({"channel": "finance", "invoice": {"number": "4419", "amount": 1250.0, "currency": "USD",
                   "status": "paid", "customer": {"name": "Acme Logistics"}}}),
            &live_ctx(),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.only_request().json()["text"],
        "Nexwatt: invoice 4419 (Acme Logistics, 1250.0 USD, paid)"
    );
}

#[tokio::test]
async fn slack_dm_by_email_looks_up_opens_and_posts() {
    let fake = serve_fake("/api", slack_ok).await;
    let out = slack(&fake)
        .execute(
            "dm.send",
            json!({"owner": {"email": "dana@example.com", "name": "Dana"}, "text": "Deal won!"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let reqs = fake.requests();
    let paths: Vec<_> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/users.lookupByEmail",
            "/api/conversations.open",
            "/api/chat.postMessage"
        ]
    );
    assert_eq!(reqs[0].method, Method::GET);
    assert_eq!(reqs[0].q("email"), Some("dana@example.com"));
    assert_eq!(reqs[1].json(), json!({"users": "U024BE7LH"}));
    assert_eq!(
        reqs[2].json(),
        json!({"channel": "D069C7QFK", "text": "Deal won!"})
    );
    for r in &reqs {
        assert_eq!(
            r.header("authorization").unwrap(),
            format!("Bearer {SLACK_TOKEN}")
        );
    }
    assert_catalog_shape("slack", "dm.send", &out);
    assert_eq!(out["message"]["channel_id"], "D069C7QFK");
    assert_eq!(out["message"]["user_id"], "U024BE7LH");
}

#[tokio::test]
async fn slack_dm_to_a_user_id_skips_the_lookup() {
    let fake = serve_fake("/api", slack_ok).await;
    slack(&fake)
        .execute(
            "dm.send",
            json!({"user_id": "U0ABC123", "text": "hi"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    // The manifest lets `user_id` carry an email too.
    slack(&fake)
        .execute(
            "dm.send",
            json!({"user_id": "dana@example.com", "text": "hi"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let reqs = fake.requests();
    let paths: Vec<_> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/conversations.open",
            "/api/chat.postMessage",
            "/api/users.lookupByEmail",
            "/api/conversations.open",
            "/api/chat.postMessage"
        ]
    );
    assert_eq!(reqs[0].json(), json!({"users": "U0ABC123"}));
    assert_eq!(reqs[1].json()["text"], "hi");
}

#[tokio::test]
async fn slack_user_find_by_email_id_and_name() {
    let fake = serve_fake("/api", slack_ok).await;
    let client = slack(&fake);
    let out = client
        .execute(
            "user.find",
            json!({"email": "dana@example.com"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    assert_catalog_shape("slack", "user.find", &out);
    assert_eq!(out["user"]["id"], "U024BE7LH");
    assert_eq!(out["user"]["email"], "dana@example.com");
    assert_eq!(out["user"]["real_name"], "Dana Brooks");
    assert_eq!(out["user"]["is_bot"], false);
    let by_id = client
        .execute("user.find", json!({"user_id": "U04SPATEL"}), &live_ctx())
        .await
        .unwrap();
    assert_eq!(by_id["user"]["id"], "U04SPATEL");
    let by_name = client
        .execute("user.find", json!({"name": "Dana Brooks"}), &live_ctx())
        .await
        .unwrap();
    assert_eq!(by_name["user"]["id"], "U2");
    let reqs = fake.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/api/users.lookupByEmail")
    );
    assert_eq!(reqs[0].q("email"), Some("dana@example.com"));
    assert_eq!(reqs[1].path, "/api/users.info");
    assert_eq!(reqs[1].q("user"), Some("U04SPATEL"));
    // users.list is paged through with its cursor.
    assert_eq!(reqs[2].path, "/api/users.list");
    assert_eq!(reqs[3].q("cursor"), Some("dXNlcjpVMEc5V0ZYTlo="));
    let e = client
        .execute("user.find", json!({"name": "Nobody Here"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "not_found");
}

#[tokio::test]
async fn slack_ok_false_errors_are_classified() {
    let cases = [
        (
            "invalid_auth",
            ConnectorErrorKind::Permanent,
            "unauthorized",
        ),
        ("not_authed", ConnectorErrorKind::Permanent, "unauthorized"),
        (
            "channel_not_found",
            ConnectorErrorKind::Permanent,
            "not_found",
        ),
        (
            "users_not_found",
            ConnectorErrorKind::Permanent,
            "not_found",
        ),
        (
            "internal_error",
            ConnectorErrorKind::Retryable,
            "service_unavailable",
        ),
        (
            "msg_too_long",
            ConnectorErrorKind::Permanent,
            "invalid_input",
        ),
        (
            "is_archived",
            ConnectorErrorKind::Permanent,
            "request_rejected",
        ),
    ];
    for (slack_code, kind, code) in cases {
        let fake = serve_fake("/api", move |_| {
            json_reply(200, json!({"ok": false, "error": slack_code}))
        })
        .await;
        let e = slack(&fake)
            .execute(
                "message.send",
                json!({"channel": "C1", "text": "x"}),
                &live_ctx(),
            )
            .await
            .unwrap_err();
        assert_error(&e, kind, code);
        assert!(e.message().contains(slack_code), "{e}");
        assert_no_secret(&e, SLACK_TOKEN);
    }
}

#[tokio::test]
async fn slack_rate_limits_carry_retry_after() {
    // HTTP 429 with Retry-After.
    let fake = serve_fake("/api", |_| {
        with_header(
            json_reply(429, json!({"ok": false, "error": "ratelimited"})),
            "retry-after",
            "7",
        )
    })
    .await;
    let e = slack(&fake)
        .execute("user.find", json!({"email": "a@b.co"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Retryable, "rate_limited");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));

    // ok:false "ratelimited" on HTTP 200.
    let fake = serve_fake("/api", |_| {
        with_header(
            json_reply(200, json!({"ok": false, "error": "ratelimited"})),
            "retry-after",
            "3",
        )
    })
    .await;
    let e = slack(&fake)
        .execute("user.find", json!({"email": "a@b.co"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Retryable, "rate_limited");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
}

#[tokio::test]
async fn slack_http_401_is_permanent_and_500_retryable() {
    let fake = serve_fake("/api", |_| {
        json_reply(401, json!({"ok": false, "error": "invalid_auth"}))
    })
    .await;
    let client = slack(&fake);
    let e = client
        .execute(
            "message.send",
            json!({"channel": "C1", "text": "x"}),
            &live_ctx(),
        )
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "unauthorized");
    assert_no_secret(&e, SLACK_TOKEN);
    assert!(!format!("{client:?}").contains(SLACK_TOKEN));

    let fake = serve_fake("/api", |_| Reply::Answer {
        status: 500,
        headers: vec![],
        body: "upstream exploded".into(),
    })
    .await;
    let e = slack(&fake)
        .execute(
            "message.send",
            json!({"channel": "C1", "text": "x"}),
            &live_ctx(),
        )
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Retryable, "service_unavailable");
}

#[tokio::test]
async fn slack_bad_input_and_triggers_send_nothing() {
    let fake = serve_fake("/api", slack_ok).await;
    let client = slack(&fake);
    let e = client
        .execute("message.send", json!({"text": "no channel"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "invalid_input");
    let e = client
        .execute("dm.send", json!({"text": "to nobody"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "invalid_input");
    let e = client
        .execute("message.send", json!("not an object"), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "invalid_input");
    let e = client
        .execute("message.posted", json!({}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "not_supported_live");
    let e = client
        .execute("message.delete", json!({}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "unknown_operation");
    // A write from a test-mode run never reaches the service.
    let e = client
        .execute(
            "message.send",
            json!({"channel": "#x", "text": "t"}),
            &ExecutionContext::for_test(),
        )
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "live_write_in_test");
    assert!(fake.requests().is_empty());
}

// -------------------------------------------------------------------- HubSpot

const HUBSPOT_TOKEN: &str = "pat-na1-11111111-2222-3333-4444-555555555555";

fn hubspot(fake: &Fake) -> HubSpotClient {
    HubSpotClient::new(&HubSpotConfig::new(HUBSPOT_TOKEN).with_base_url(&fake.base)).unwrap()
}

fn hs_object(id: &str, props: Value) -> Value {
    json!({"id": id, "properties": props, "createdAt": "2026-01-02T10:00:00.000Z",
           "updatedAt": "2026-01-03T10:00:00.000Z", "archived": false})
}

fn deal_77() -> Value {
    json!({"dealname": "Acme renewal", "amount": "5000", "dealstage": "contractsent",
           "pipeline": "default", "hubspot_owner_id": "123", "deal_currency_code": "USD",
           "closedate": "2026-12-15T00:00:00Z"})
}

fn hubspot_ok(r: &Recorded) -> Reply {
    let body = r.json();
    match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/crm/v3/objects/contacts/search") => json_reply(
            200,
            json!({"total": 3, "results": [hs_object("51", json!({
                "email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace",
                "hubspot_owner_id": "123", "lifecyclestage": "lead", "company": "Analytical Engines",
                "phone": "+441234"}))]}),
        ),
        ("POST", "/crm/v3/objects/deals/search") => json_reply(
            200,
            json!({"total": 1, "results": [hs_object("77", deal_77())]}),
        ),
        ("POST", "/crm/v3/objects/contacts") => {
            json_reply(201, hs_object("52", body["properties"].clone()))
        }
        ("POST", "/crm/v3/objects/deals") => {
            json_reply(201, hs_object("78", body["properties"].clone()))
        }
        ("PATCH", p) if p.starts_with("/crm/v3/objects/") => {
            let id = p.rsplit('/').next().unwrap();
            json_reply(200, hs_object(id, body["properties"].clone()))
        }
        ("GET", "/crm/v3/owners/123") => json_reply(
            200,
            json!({"id": "123", "email": "dana@example.com", "firstName": "Dana",
                   "lastName": "Brooks", "userId": 9001, "archived": false,
                   "teams": [{"id": "1", "name": "Sales", "primary": true}]}),
        ),
        ("GET", "/crm/v3/objects/deals/77") => {
            let mut deal = hs_object("77", deal_77());
            deal["associations"] = json!({
                "companies": {"results": [{"id": "9", "type": "deal_to_company"}]},
                "contacts": {"results": [{"id": "51", "type": "deal_to_contact"}]}
            });
            json_reply(200, deal)
        }
        ("GET", "/crm/v3/objects/companies/9") => {
            json_reply(200, hs_object("9", json!({"name": "Acme Corp"})))
        }
        ("GET", "/crm/v3/objects/contacts/51") => {
            json_reply(200, hs_object("51", json!({"email": "ada@example.com"})))
        }
        ("POST", "/crm/v3/objects/tasks") => {
            json_reply(201, hs_object("901", body["properties"].clone()))
        }
        ("POST", "/crm/v3/objects/notes") => {
            json_reply(201, hs_object("902", body["properties"].clone()))
        }
        _ => json_reply(
            404,
            json!({"status": "error", "message": "Not found", "category": "OBJECT_NOT_FOUND"}),
        ),
    }
}

fn assert_hubspot_auth(r: &Recorded) {
    assert_eq!(
        r.header("authorization").unwrap(),
        format!("Bearer {HUBSPOT_TOKEN}")
    );
}

#[tokio::test]
async fn hubspot_contact_find_searches_by_email() {
    let fake = serve_fake("", hubspot_ok).await;
    let out = hubspot(&fake)
        .execute(
            "contact.find",
            json!({"email": "ada@example.com"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let r = fake.only_request();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/crm/v3/objects/contacts/search")
    );
    assert_hubspot_auth(&r);
    let body = r.json();
    assert_eq!(
        body["filterGroups"],
        json!([{"filters": [{"propertyName": "email", "operator": "EQ", "value": "ada@example.com"}]}])
    );
    assert!(body["properties"]
        .as_array()
        .unwrap()
        .contains(&json!("hubspot_owner_id")));
    assert_catalog_shape("hubspot", "contact.find", &out);
    // HubSpot's total, not the page's length.
    assert_eq!(out["match_count"], 3);
    assert_eq!(out["contact"]["id"], "51");
    assert_eq!(out["contact"]["email"], "ada@example.com");
    assert_eq!(out["contact"]["name"], "Ada Lovelace");
    assert_eq!(out["contact"]["owner_id"], "123");
}

#[tokio::test]
async fn hubspot_contact_find_by_name_and_company() {
    let fake = serve_fake("", hubspot_ok).await;
    hubspot(&fake)
        .execute(
            "contact.find",
            json!({"name": "Ada Lovelace", "company": "Analytical Engines"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let filters = fake.only_request().json()["filterGroups"][0]["filters"].clone();
    assert_eq!(
        filters,
        json!([
            {"propertyName": "firstname", "operator": "EQ", "value": "Ada"},
            {"propertyName": "lastname", "operator": "EQ", "value": "Lovelace"},
            {"propertyName": "company", "operator": "EQ", "value": "Analytical Engines"}
        ])
    );
}

#[tokio::test]
async fn hubspot_search_without_match_is_not_found() {
    let fake = serve_fake("", |_| json_reply(200, json!({"total": 0, "results": []}))).await;
    let e = hubspot(&fake)
        .execute("deal.find", json!({"name": "Nope"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "not_found");
}

#[tokio::test]
async fn hubspot_deal_find_by_contact_email_uses_associations() {
    let fake = serve_fake("", hubspot_ok).await;
    let out = hubspot(&fake)
        .execute(
            "deal.find",
            json!({"email": "ada@example.com"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let reqs = fake.requests();
    let paths: Vec<_> = reqs.iter().map(|r| r.path.as_str()).collect();
    // The contact by email, its deals, then the first deal with its
    // associations, and the associated company's name and contact's email.
    assert_eq!(
        paths,
        [
            "/crm/v3/objects/contacts/search",
            "/crm/v3/objects/deals/search",
            "/crm/v3/objects/deals/77",
            "/crm/v3/objects/companies/9",
            "/crm/v3/objects/contacts/51"
        ]
    );
    assert_eq!(reqs[2].q("associations"), Some("companies,contacts"));
    assert_eq!(reqs[3].q("properties"), Some("name"));
    assert_eq!(
        reqs[1].json()["filterGroups"][0]["filters"][0],
        json!({"propertyName": "associations.contact", "operator": "EQ", "value": "51"})
    );
    assert_catalog_shape("hubspot", "deal.find", &out);
    assert_eq!(out["deal"]["id"], "77");
    assert_eq!(out["deal"]["name"], "Acme renewal");
    assert_eq!(out["deal"]["stage"], "Contract Sent");
    assert_eq!(out["deal"]["stage_id"], "contractsent");
    assert_eq!(out["deal"]["amount"], 5000.0);
    assert_eq!(out["deal"]["currency"], "USD");
    assert_eq!(out["deal"]["close_date"], "2026-12-15");
    assert_eq!(out["deal"]["company"], "Acme Corp");
    assert_eq!(out["deal"]["contact_email"], "ada@example.com");
}

#[tokio::test]
async fn hubspot_deal_find_by_id_or_company() {
    let fake = serve_fake("", hubspot_ok).await;
    let client = hubspot(&fake);
    let out = client
        .execute("deal.find", json!({"deal_id": 77}), &live_ctx())
        .await
        .unwrap();
    assert_eq!(out["deal"]["amount"], 5000.0);
    assert_eq!(out["deal"]["stage"], "Contract Sent");
    assert_eq!(out["deal"]["company"], "Acme Corp");
    client
        .execute("deal.find", json!({"company": "Acme"}), &live_ctx())
        .await
        .unwrap();
    let reqs = fake.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/crm/v3/objects/deals/77")
    );
    assert!(reqs[0].q("properties").unwrap().contains("dealstage"));
    let search = reqs
        .iter()
        .find(|r| r.path == "/crm/v3/objects/deals/search")
        .unwrap();
    assert_eq!(search.json()["query"], "Acme");
}

#[tokio::test]
async fn hubspot_deal_parties_are_best_effort() {
    // A token without the companies scope: the deal is still found.
    let fake = serve_fake("", |r| {
        if r.path.starts_with("/crm/v3/objects/companies/") {
            json_reply(403, json!({"status": "error", "message": "missing scopes", "category": "MISSING_SCOPES"}))
        } else {
            hubspot_ok(r)
        }
    })
    .await;
    let out = hubspot(&fake)
        .execute("deal.find", json!({"deal_id": "77"}), &live_ctx())
        .await
        .unwrap();
    assert_eq!(out["deal"]["id"], "77");
    assert_eq!(out["deal"]["company"], Value::Null);
    assert_eq!(out["deal"]["contact_email"], "ada@example.com");
}

#[tokio::test]
async fn hubspot_contact_create_and_update() {
    let fake = serve_fake("", hubspot_ok).await;
    let client = hubspot(&fake);
    let created = client
        .execute(
            "contact.create",
            json!({"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
                   "company": "Navy", "owner_id": "123"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    assert_catalog_shape("hubspot", "contact.create", &created);
    assert_eq!(created["contact"]["id"], "52");
    assert_eq!(created["contact"]["lifecycle_stage"], "lead");
    let updated = client
        .execute(
            "contact.update",
            json!({"contact_id": "52", "email": "grace@example.com", "property": "lifecycle_stage", "value": "Customer"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    client
        .execute(
            "contact.update",
            json!({"email": "grace@example.com", "properties": {"Lead Status": "in progress"}}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let reqs = fake.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/crm/v3/objects/contacts")
    );
    assert_eq!(
        reqs[0].json()["properties"],
        json!({"email": "grace@example.com", "firstname": "Grace", "lastname": "Hopper",
               "company": "Navy", "hubspot_owner_id": "123", "lifecyclestage": "lead"})
    );
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path.as_str()),
        ("PATCH", "/crm/v3/objects/contacts/52")
    );
    assert_eq!(
        reqs[1].json(),
        json!({"properties": {"lifecyclestage": "customer"}})
    );
    assert_catalog_shape("hubspot", "contact.update", &updated);
    assert_eq!(updated["changed"], json!(["lifecycle_stage"]));
    assert_eq!(updated["contact"]["lifecycle_stage"], "customer");
    assert_eq!(reqs[2].path, "/crm/v3/objects/contacts/grace@example.com");
    assert_eq!(reqs[2].q("idProperty"), Some("email"));
    assert_eq!(
        reqs[2].json(),
        json!({"properties": {"hs_lead_status": "IN_PROGRESS"}})
    );
    for r in &reqs {
        assert_hubspot_auth(r);
    }
}

#[tokio::test]
async fn hubspot_deal_create_and_update() {
    let fake = serve_fake("", hubspot_ok).await;
    let client = hubspot(&fake);
    let created = client
        .execute(
            "deal.create",
            json!({"company": "Acme", "amount": "$1,500", "contact_email": "ada@example.com", "company_id": "9"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    assert_catalog_shape("hubspot", "deal.create", &created);
    assert_eq!(created["deal"]["id"], "78");
    assert_eq!(created["deal"]["name"], "Acme");
    assert_eq!(created["deal"]["stage"], "Appointment Scheduled");
    assert_eq!(created["deal"]["company"], "Acme");
    assert_eq!(created["deal"]["contact_email"], "ada@example.com");
    let updated = client
        .execute(
            "deal.update",
            json!({"deal": {"id": "77"}, "stage": "Closed Won"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let reqs = fake.requests();
    // The contact named by email is looked up for the association.
    assert_eq!(reqs[0].path, "/crm/v3/objects/contacts/search");
    let create = reqs[1].json();
    assert_eq!(reqs[1].path, "/crm/v3/objects/deals");
    assert_eq!(
        create["properties"],
        json!({"dealname": "Acme", "dealstage": "appointmentscheduled", "amount": "1500.0", "pipeline": "default"})
    );
    assert_eq!(create["associations"][0]["to"]["id"], "51");
    assert_eq!(
        create["associations"][0]["types"][0]["associationTypeId"],
        3
    );
    assert_eq!(create["associations"][1]["to"]["id"], "9");
    assert_eq!(
        create["associations"][1]["types"][0]["associationTypeId"],
        5
    );
    // The update reads the deal first (for previous_stage), then patches.
    assert_eq!(
        (reqs[2].method.as_str(), reqs[2].path.as_str()),
        ("GET", "/crm/v3/objects/deals/77")
    );
    assert_eq!(
        (reqs[3].method.as_str(), reqs[3].path.as_str()),
        ("PATCH", "/crm/v3/objects/deals/77")
    );
    assert_eq!(
        reqs[3].json(),
        json!({"properties": {"dealstage": "closedwon"}})
    );
    assert_catalog_shape("hubspot", "deal.update", &updated);
    assert_eq!(updated["previous_stage"], "Contract Sent");
    assert_eq!(updated["changed"], json!(["stage"]));
    assert_eq!(updated["deal"]["stage"], "Closed Won");
    assert_eq!(updated["deal"]["company"], "Acme Corp");
    assert_eq!(updated["deal"]["contact_email"], "ada@example.com");
}

#[tokio::test]
async fn hubspot_owner_get_from_a_deal() {
    let fake = serve_fake("", hubspot_ok).await;
    let out = hubspot(&fake)
        .execute(
            "owner.get",
            json!({"deal": {"id": "77", "owner_id": "123"}}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let r = fake.only_request();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/crm/v3/owners/123")
    );
    assert_hubspot_auth(&r);
    assert_catalog_shape("hubspot", "owner.get", &out);
    assert_eq!(out["owner"]["email"], "dana@example.com");
    assert_eq!(out["owner"]["name"], "Dana Brooks");
    assert_eq!(out["owner"]["team"], "Sales");
}

#[tokio::test]
async fn hubspot_owner_get_by_email() {
    let fake = serve_fake("", |r| {
        json_reply(200, json!({"results": [{"id": "124", "email": r.q("email"), "firstName": "Sam", "lastName": "Patel"}]}))
    })
    .await;
    let out = hubspot(&fake)
        .execute(
            "owner.get",
            json!({"email": "sam@example.com"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let r = fake.only_request();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/crm/v3/owners")
    );
    assert_eq!(r.q("email"), Some("sam@example.com"));
    assert_eq!(out["owner"]["id"], "124");
}

#[tokio::test]
async fn hubspot_task_and_note_with_associations() {
    let fake = serve_fake("", hubspot_ok).await;
    let client = hubspot(&fake);
    let task = client
        .execute(
            "task.create",
            json!({"title": "Call Ada", "contact_id": "51", "deal_id": "77", "due_date": "2026-03-01",
                   "priority": "high", "owner_id": "123", "notes": "ask about renewal"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    assert_catalog_shape("hubspot", "task.create", &task);
    assert_eq!(task["task"]["id"], "901");
    assert_eq!(task["task"]["title"], "Call Ada");
    assert_eq!(task["task"]["due_date"], "2026-03-01");
    assert_eq!(task["task"]["notes"], "ask about renewal");
    let note = client
        .execute(
            "note.create",
            json!({"body": "Signed the contract", "contact": {"id": "51"}}),
            &live_ctx(),
        )
        .await
        .unwrap();
    assert_catalog_shape("hubspot", "note.create", &note);
    assert_eq!(note["note"]["body"], "Signed the contract");
    assert_eq!(note["note"]["contact_id"], "51");
    let reqs = fake.requests();
    assert_eq!(reqs[0].path, "/crm/v3/objects/tasks");
    let t = reqs[0].json();
    assert_eq!(t["properties"]["hs_task_subject"], "Call Ada");
    assert_eq!(t["properties"]["hs_task_body"], "ask about renewal");
    assert_eq!(t["properties"]["hs_timestamp"], "2026-03-01T09:00:00.000Z");
    assert_eq!(t["properties"]["hs_task_priority"], "HIGH");
    assert_eq!(t["properties"]["hs_task_status"], "NOT_STARTED");
    assert_eq!(t["properties"]["hubspot_owner_id"], "123");
    let types: Vec<_> = t["associations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["to"]["id"].clone(),
                a["types"][0]["associationTypeId"].clone(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [(json!("51"), json!(204)), (json!("77"), json!(216))]
    );
    assert_eq!(reqs[1].path, "/crm/v3/objects/notes");
    let n = reqs[1].json();
    assert_eq!(n["properties"]["hs_note_body"], "Signed the contract");
    assert!(n["properties"]["hs_timestamp"].is_string());
    assert_eq!(n["associations"][0]["types"][0]["associationTypeId"], 202);
    assert_eq!(
        n["associations"][0]["types"][0]["associationCategory"],
        "HUBSPOT_DEFINED"
    );
}

#[tokio::test]
async fn hubspot_task_defaults_title_and_due_date() {
    let fake = serve_fake("", hubspot_ok).await;
    let out = hubspot(&fake)
        .execute(
            "task.create",
            json!({"deal": {"id": "77", "name": "Acme renewal", "amount": 5000, "stage": "Closed Won"}}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let t = fake.only_request().json();
    assert_eq!(
        t["properties"]["hs_task_subject"],
        "Follow up: deal Acme renewal (5000, Closed Won)"
    );
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(out["task"]["due_date"], tomorrow);
    assert_eq!(out["task"]["deal_id"], "77");
}

#[tokio::test]
async fn hubspot_errors_are_classified() {
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(20))
        .to_rfc2822()
        .replace("+0000", "GMT");
    let fake = serve_fake("", move |_| {
        with_header(
            json_reply(
                429,
                json!({"status": "error", "message": "You have reached your secondly limit.",
                       "errorType": "RATE_LIMIT", "policyName": "SECONDLY"}),
            ),
            "retry-after",
            &soon,
        )
    })
    .await;
    let e = hubspot(&fake)
        .execute("contact.find", json!({"email": "a@b.co"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Retryable, "rate_limited");
    let wait = e.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
        "{wait:?}"
    );

    let fake = serve_fake("", |_| {
        json_reply(
            429,
            json!({"status": "error", "message": "daily", "policyName": "DAILY"}),
        )
    })
    .await;
    let e = hubspot(&fake)
        .execute("contact.find", json!({"email": "a@b.co"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "quota_exhausted");

    let cases = [
        (401, ConnectorErrorKind::Permanent, "unauthorized"),
        (403, ConnectorErrorKind::Permanent, "unauthorized"),
        (404, ConnectorErrorKind::Permanent, "not_found"),
        (409, ConnectorErrorKind::Permanent, "conflict"),
        (400, ConnectorErrorKind::Permanent, "invalid_input"),
        (500, ConnectorErrorKind::Retryable, "service_unavailable"),
        (502, ConnectorErrorKind::Retryable, "service_unavailable"),
    ];
    for (status, kind, code) in cases {
        let fake = serve_fake("", move |_| {
            json_reply(
                status,
                json!({"status": "error", "message": format!("failure {status} for token {HUBSPOT_TOKEN}"),
                       "correlationId": "abc"}),
            )
        })
        .await;
        let client = hubspot(&fake);
        let e = client
            .execute("contact.create", json!({"email": "a@b.co"}), &live_ctx())
            .await
            .unwrap_err();
        assert_error(&e, kind, code);
        assert!(e.message().contains(&format!("failure {status}")), "{e}");
        assert_no_secret(&e, HUBSPOT_TOKEN);
        assert!(!format!("{client:?}").contains(HUBSPOT_TOKEN));
    }
}

#[tokio::test]
async fn hubspot_rate_limit_without_retry_after_waits_out_the_window() {
    let fake = serve_fake("", |_| {
        json_reply(
            429,
            json!({"status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING",
                   "message": "You have reached your ten_secondly_rolling limit."}),
        )
    })
    .await;
    let e = hubspot(&fake)
        .execute("owner.get", json!({"owner_id": "1"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Retryable, "rate_limited");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(10)));
}

#[tokio::test]
async fn hubspot_ids_cannot_escape_the_path() {
    let fake = serve_fake("", hubspot_ok).await;
    let e = hubspot(&fake)
        .execute(
            "owner.get",
            json!({"owner_id": "../../crm/v3/objects/contacts"}),
            &live_ctx(),
        )
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "invalid_input");
    assert!(fake.requests().is_empty());
}

// ----------------------------------------------------------------- QuickBooks

const QBO_TOKEN: &str = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.qbo-secret";
const REALM: &str = "9130350";

fn qbo(fake: &Fake) -> QuickBooksClient {
    QuickBooksClient::new(&QuickBooksConfig::new(QBO_TOKEN, REALM).with_base_url(&fake.base))
        .unwrap()
}

fn qbo_invoice(id: &str, balance: f64) -> Value {
    json!({"Id": id, "DocNumber": "1001", "TxnDate": "2026-01-05", "DueDate": "2026-02-04",
           "TotalAmt": 1500.0, "Balance": balance, "CustomerRef": {"value": "58", "name": "Acme Corp"},
           "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
           "BillEmail": {"Address": "ap@acme.example"}, "EmailStatus": "NotSet", "SyncToken": "0",
           "Line": [{"Id": "1", "LineNum": 1, "Description": "Consulting", "Amount": 1500.0,
                     "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}},
                    {"Amount": 1500.0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}]})
}

fn qbo_customer(id: &str) -> Value {
    json!({"Id": id, "DisplayName": "Mary O'Brien", "CompanyName": "O'Brien Ltd",
           "PrimaryEmailAddr": {"Address": "mary@obrien.example"}, "Balance": 0, "SyncToken": "0",
           "CurrencyRef": {"value": "USD"}, "MetaData": {"CreateTime": "2026-03-02T15:04:05-08:00"}})
}

fn qbo_ok(r: &Recorded) -> Reply {
    let company = format!("/v3/company/{REALM}");
    let Some(path) = r.path.strip_prefix(&company) else {
        return json_reply(
            404,
            json!({"Fault": {"Error": [{"Message": "no company", "code": "610"}], "type": "ValidationFault"}}),
        );
    };
    let body = r.json();
    match (r.method.as_str(), path) {
        ("GET", "/query") => {
            let q = r.q("query").unwrap_or_default();
            if q.starts_with("SELECT * FROM Invoice") {
                json_reply(
                    200,
                    json!({"QueryResponse": {"Invoice": [qbo_invoice("130", 1500.0)],
                           "startPosition": 1, "maxResults": 1}, "time": "2026-01-05T10:00:00-08:00"}),
                )
            } else {
                json_reply(
                    200,
                    json!({"QueryResponse": {"Customer": [qbo_customer("58")]}}),
                )
            }
        }
        ("GET", "/invoice/130") => json_reply(200, json!({"Invoice": qbo_invoice("130", 1500.0)})),
        ("GET", "/customer/58") => json_reply(200, json!({"Customer": qbo_customer("58")})),
        ("POST", "/invoice") => {
            let mut inv = body.clone();
            inv["Id"] = json!("131");
            inv["TotalAmt"] = body["Line"][0]["Amount"].clone();
            inv["Balance"] = body["Line"][0]["Amount"].clone();
            inv["TxnDate"] = json!("2026-01-05");
            json_reply(200, json!({"Invoice": inv}))
        }
        ("POST", "/invoice/130/send") => {
            let mut inv = qbo_invoice("130", 1500.0);
            inv["EmailStatus"] = json!("EmailSent");
            json_reply(200, json!({"Invoice": inv}))
        }
        ("POST", "/payment") => {
            let mut p = body.clone();
            p["Id"] = json!("201");
            p["UnappliedAmt"] = json!(0);
            p["TxnDate"] = json!("2026-01-20");
            json_reply(200, json!({"Payment": p}))
        }
        ("POST", "/customer") => {
            let mut c = body.clone();
            c["Id"] = json!("59");
            c["Balance"] = json!(0);
            json_reply(200, json!({"Customer": c}))
        }
        _ => json_reply(
            400,
            json!({"Fault": {"Error": [{"Message": "unexpected", "code": "2010"}], "type": "ValidationFault"}}),
        ),
    }
}

fn assert_qbo_auth(r: &Recorded) {
    assert_eq!(
        r.header("authorization").unwrap(),
        format!("Bearer {QBO_TOKEN}")
    );
    assert_eq!(r.header("accept").unwrap(), "application/json");
    assert_eq!(r.q("minorversion"), Some("75"));
}

#[tokio::test]
async fn qbo_invoice_find_queries_by_number() {
    let fake = serve_fake("", qbo_ok).await;
    let out = qbo(&fake)
        .execute("invoice.find", json!({"number": "1001"}), &live_ctx())
        .await
        .unwrap();
    let r = fake.only_request();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/v3/company/9130350/query")
    );
    assert_qbo_auth(&r);
    assert_eq!(
        r.q("query"),
        Some("SELECT * FROM Invoice WHERE DocNumber = '1001' ORDERBY TxnDate DESC MAXRESULTS 10")
    );
    assert_eq!(r.q("requestid"), None, "reads carry no requestid");
    assert_catalog_shape("quickbooks", "invoice.find", &out);
    let inv = &out["invoice"];
    assert_eq!(out["match_count"], 1);
    assert_eq!(inv["id"], "130");
    assert_eq!(inv["number"], "1001");
    assert_eq!(inv["amount"], 1500.0);
    assert_eq!(inv["balance"], 1500.0);
    assert_eq!(inv["currency"], "USD");
    assert_eq!(inv["status"], "overdue");
    assert_eq!(inv["sent"], false);
    assert_eq!(
        inv["lines"],
        json!([{"description": "Consulting", "amount": 1500.0}])
    );
    assert_eq!(
        inv["customer"],
        json!({"id": "58", "name": "Acme Corp", "email": "ap@acme.example"})
    );
    assert_eq!(inv["raw"]["Id"], "130", "QuickBooks' own record is kept");
}

#[tokio::test]
async fn qbo_invoice_find_by_id_customer_email_and_status() {
    let fake = serve_fake("", qbo_ok).await;
    let client = qbo(&fake);
    let out = client
        .execute(
            "invoice.find",
            json!({"invoice": {"id": "130"}}),
            &live_ctx(),
        )
        .await
        .unwrap();
    assert_eq!(out["invoice"]["number"], "1001");
    client
        .execute(
            "invoice.find",
            json!({"customer_email": "mary@obrien.example", "status": "overdue"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs[0].path, "/v3/company/9130350/invoice/130");
    assert_eq!(
        reqs[1].q("query"),
        Some("SELECT * FROM Customer WHERE PrimaryEmailAddr = 'mary@obrien.example' MAXRESULTS 1")
    );
    let q = reqs[2].q("query").unwrap();
    assert!(
        q.contains("CustomerRef = '58' AND Balance > '0' AND DueDate < '"),
        "{q}"
    );
}

#[tokio::test]
async fn qbo_customer_find_escapes_quotes() {
    let fake = serve_fake("", qbo_ok).await;
    let out = qbo(&fake)
        .execute(
            "customer.find",
            json!({"name": "Mary O'Brien"}),
            &live_ctx(),
        )
        .await
        .unwrap();
    let r = fake.only_request();
    assert_eq!(
        r.q("query"),
        Some("SELECT * FROM Customer WHERE DisplayName = 'Mary O\\'Brien' MAXRESULTS 10")
    );
    assert_catalog_shape("quickbooks", "customer.find", &out);
    assert_eq!(out["customer"]["id"], "58");
    assert_eq!(out["customer"]["name"], "Mary O'Brien");
    assert_eq!(out["customer"]["email"], "mary@obrien.example");
    assert_eq!(out["customer"]["created_at"], "2026-03-02T15:04:05-08:00");
    let e = qbo(&fake)
        .execute("customer.find", json!({"name": "back\\slash"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "invalid_input");
}

#[tokio::test]
async fn qbo_invoice_create_sends_requestid() {
    let fake = serve_fake("", qbo_ok).await;
    let ctx = live_ctx();
    let out = qbo(&fake)
        .execute(
            "invoice.create",
            json!({"customer_id": "58", "amount": 1500, "description": "Consulting"}),
            &ctx,
        )
        .await
        .unwrap();
    let r = fake.only_request();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v3/company/9130350/invoice")
    );
    assert_qbo_auth(&r);
    assert_eq!(r.q("requestid"), Some(ctx.idempotency_key.as_str()));
    let body = r.json();
    assert_eq!(body["CustomerRef"], json!({"value": "58"}));
    assert_eq!(body["Line"][0]["Amount"], 1500.0);
    assert_eq!(body["Line"][0]["DetailType"], "SalesItemLineDetail");
    assert_eq!(
        body["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"],
        "1"
    );
    assert_eq!(body["Line"][0]["Description"], "Consulting");
    // Due in 30 days unless the input says otherwise.
    let due = chrono::Utc::now().date_naive() + chrono::Duration::days(30);
    assert_eq!(body["DueDate"], due.format("%Y-%m-%d").to_string());
    assert_catalog_shape("quickbooks", "invoice.create", &out);
    assert_eq!(out["invoice"]["id"], "131");
    assert_eq!(out["invoice"]["amount"], 1500.0);
    assert_eq!(out["invoice"]["status"], "open");
}

#[tokio::test]
async fn qbo_invoice_create_for_a_customer_email() {
    let fake = serve_fake("", qbo_ok).await;
    let ctx = live_ctx();
    qbo(&fake)
        .execute(
            "invoice.create",
            json!({"customer_email": "mary@obrien.example", "amount": "250.50", "due_in_days": 14, "currency": "usd"}),
            &ctx,
        )
        .await
        .unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs[0].path, "/v3/company/9130350/query");
    assert_eq!(reqs[0].q("requestid"), None);
    let body = reqs[1].json();
    assert_eq!(body["CustomerRef"]["value"], "58");
    assert_eq!(body["BillEmail"]["Address"], "mary@obrien.example");
    assert_eq!(body["Line"][0]["Amount"], 250.5);
    assert_eq!(body["CurrencyRef"]["value"], "USD");
    let due = chrono::Utc::now().date_naive() + chrono::Duration::days(14);
    assert_eq!(body["DueDate"], due.format("%Y-%m-%d").to_string());
    assert_eq!(reqs[1].q("requestid"), Some(ctx.idempotency_key.as_str()));
}

#[tokio::test]
async fn qbo_invoice_send_posts_to_send() {
    let fake = serve_fake("", qbo_ok).await;
    let ctx = live_ctx();
    let out = qbo(&fake)
        .execute(
            "invoice.send",
            json!({"invoice_id": "130", "to": "ap@acme.example"}),
            &ctx,
        )
        .await
        .unwrap();
    let r = fake.only_request();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v3/company/9130350/invoice/130/send")
    );
    assert_qbo_auth(&r);
    assert_eq!(r.q("sendTo"), Some("ap@acme.example"));
    assert_eq!(r.q("requestid"), Some(ctx.idempotency_key.as_str()));
    assert_eq!(
        r.header("content-type").unwrap(),
        "application/octet-stream"
    );
    assert_catalog_shape("quickbooks", "invoice.send", &out);
    assert_eq!(out["sent_to"], "ap@acme.example");
    assert_eq!(out["invoice"]["sent"], true);
}

#[tokio::test]
async fn qbo_payment_defaults_to_the_invoice_balance() {
    let fake = serve_fake("", qbo_ok).await;
    let ctx = live_ctx();
    let out = qbo(&fake)
        .execute(
            "payment.record",
            json!({"invoice_id": "130", "method": "check", "paid_on": "2026-01-20"}),
            &ctx,
        )
        .await
        .unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/v3/company/9130350/invoice/130")
    );
    assert_eq!(reqs[0].q("requestid"), None);
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path.as_str()),
        ("POST", "/v3/company/9130350/payment")
    );
    assert_eq!(reqs[1].q("requestid"), Some(ctx.idempotency_key.as_str()));
    assert_eq!(
        reqs[1].json(),
        json!({"CustomerRef": {"value": "58"}, "TotalAmt": 1500.0,
               "Line": [{"Amount": 1500.0, "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}],
               "TxnDate": "2026-01-20", "PrivateNote": "Payment method: check",
               "CurrencyRef": {"value": "USD"}})
    );
    assert_catalog_shape("quickbooks", "payment.record", &out);
    assert_eq!(out["payment"]["id"], "201");
    assert_eq!(out["payment"]["invoice_id"], "130");
    assert_eq!(out["payment"]["amount"], 1500.0);
    assert_eq!(out["payment"]["method"], "check");
    assert_eq!(out["payment"]["paid_on"], "2026-01-20");
    assert_eq!(out["invoice"]["balance"], 0.0);
    assert_eq!(out["invoice"]["status"], "paid");
}

#[tokio::test]
async fn qbo_customer_create() {
    let fake = serve_fake("", qbo_ok).await;
    let ctx = live_ctx();
    let out = qbo(&fake)
        .execute(
            "customer.create",
            json!({"name": "Grace Hopper", "email": "grace@example.com", "company": "Navy", "phone": "+15550100"}),
            &ctx,
        )
        .await
        .unwrap();
    let r = fake.only_request();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v3/company/9130350/customer")
    );
    assert_qbo_auth(&r);
    assert_eq!(r.q("requestid"), Some(ctx.idempotency_key.as_str()));
    assert_eq!(
        r.json(),
        json!({"DisplayName": "Grace Hopper", "CompanyName": "Navy",
               "PrimaryEmailAddr": {"Address": "grace@example.com"},
               "PrimaryPhone": {"FreeFormNumber": "+15550100"}})
    );
    assert_catalog_shape("quickbooks", "customer.create", &out);
    assert_eq!(out["customer"]["id"], "59");
    assert_eq!(out["customer"]["email"], "grace@example.com");
    assert_eq!(out["customer"]["company"], "Navy");
}

fn fault(fault_type: &str, code: &str, message: &str) -> Value {
    json!({"Fault": {"Error": [{"Message": message, "Detail": format!("{message} detail"), "code": code, "element": ""}],
                     "type": fault_type}, "time": "2026-01-05T10:00:00.000-08:00"})
}

#[tokio::test]
async fn qbo_faults_are_classified() {
    let cases = [
        (
            400,
            "ValidationFault",
            "6240",
            ConnectorErrorKind::Permanent,
            "conflict",
        ),
        (
            400,
            "ValidationFault",
            "610",
            ConnectorErrorKind::Permanent,
            "not_found",
        ),
        (
            400,
            "ValidationFault",
            "2020",
            ConnectorErrorKind::Permanent,
            "invalid_input",
        ),
        (
            401,
            "AuthenticationFault",
            "3200",
            ConnectorErrorKind::Permanent,
            "unauthorized",
        ),
        (
            403,
            "AuthorizationFault",
            "003100",
            ConnectorErrorKind::Permanent,
            "unauthorized",
        ),
        (
            500,
            "SystemFault",
            "10000",
            ConnectorErrorKind::Retryable,
            "service_unavailable",
        ),
        (
            200,
            "ValidationFault",
            "2500",
            ConnectorErrorKind::Permanent,
            "invalid_input",
        ),
    ];
    for (status, fault_type, code, kind, expected) in cases {
        let fake = serve_fake("", move |_| {
            json_reply(status, fault(fault_type, code, "Something went wrong"))
        })
        .await;
        let e = qbo(&fake)
            .execute("customer.create", json!({"name": "X"}), &live_ctx())
            .await
            .unwrap_err();
        assert_error(&e, kind, expected);
        assert!(
            e.message().contains(fault_type) && e.message().contains(code),
            "{e}"
        );
        assert!(e.message().contains("Something went wrong detail"), "{e}");
        assert_no_secret(&e, QBO_TOKEN);
    }

    let fake = serve_fake("", |_| {
        with_header(
            json_reply(429, fault("ThrottlingFault", "003001", "ThrottleExceeded")),
            "retry-after",
            "60",
        )
    })
    .await;
    let client = qbo(&fake);
    let e = client
        .execute("invoice.find", json!({"invoice_id": "1"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Retryable, "rate_limited");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(60)));
    assert!(!format!("{client:?}").contains(QBO_TOKEN));

    // A 401 without a Fault body (an expired token at the gateway).
    let fake = serve_fake("", |_| Reply::Answer {
        status: 401,
        headers: vec![],
        body: String::new(),
    })
    .await;
    let e = qbo(&fake)
        .execute("invoice.find", json!({"invoice_id": "1"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "unauthorized");
}

// ----------------------------------------------------------------------- http

fn http_client(fake: &Fake) -> HttpClient {
    HttpClient::new(&HttpConfig::allowing([fake.addr.to_string()]).unwrap()).unwrap()
}

#[tokio::test]
async fn http_get_sends_headers_and_query_and_parses_json() {
    let fake = serve_fake("", |r| match r.path.as_str() {
        "/status" => json_reply(200, json!({"healthy": true, "version": 3})),
        _ => Reply::Answer {
            status: 200,
            headers: vec![("content-type", "text/plain".into())],
            body: "plain words".into(),
        },
    })
    .await;
    let client = http_client(&fake);
    let out = client
        .execute(
            "request.get",
            json!({"url": format!("{}/status?a=1", fake.base), "headers": {"X-Api-Key": "k-123456"},
                   "query": {"region": "eu west", "tag": ["a", "b"]}}),
            &live_ctx(),
        )
        .await
        .unwrap();
    assert_catalog_keys("http", "request.get", &out);
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], json!({"healthy": true, "version": 3}));
    assert_eq!(out["headers"]["content-type"], "application/json");
    let text = client
        .execute(
            "request.get",
            json!({"url": format!("{}/text", fake.base)}),
            &live_ctx(),
        )
        .await
        .unwrap();
    assert_eq!(text["body"], "plain words");
    let reqs = fake.requests();
    assert_eq!(reqs[0].method, Method::GET);
    assert_eq!(reqs[0].path, "/status");
    assert_eq!(reqs[0].q("a"), Some("1"));
    assert_eq!(reqs[0].q("region"), Some("eu west"));
    assert_eq!(
        reqs[0].raw_query.matches("tag=").count(),
        2,
        "{}",
        reqs[0].raw_query
    );
    assert_eq!(reqs[0].header("x-api-key").unwrap(), "k-123456");
    assert_eq!(reqs[0].header("idempotency-key"), None);
}

#[tokio::test]
async fn http_post_sends_json_and_the_idempotency_key() {
    let fake = serve_fake("", |r| json_reply(201, json!({"received": r.json()}))).await;
    let client = http_client(&fake);
    let ctx = live_ctx();
    let out = client
        .execute(
            "request.post",
            json!({"url": format!("{}/hooks/in", fake.base), "body": {"invoice": "1001", "amount": 1500}}),
            &ctx,
        )
        .await
        .unwrap();
    assert_catalog_keys("http", "request.post", &out);
    assert_eq!(out["status"], 201);
    assert_eq!(
        out["body"]["received"],
        json!({"invoice": "1001", "amount": 1500})
    );
    // Without `body`, the other input fields are the body.
    client
        .execute(
            "request.post",
            json!({"url": format!("{}/hooks/in", fake.base), "headers": {"Idempotency-Key": "mine"},
                   "order": 7, "note": "x"}),
            &ctx,
        )
        .await
        .unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs[0].method, Method::POST);
    assert_eq!(reqs[0].path, "/hooks/in");
    assert_eq!(
        reqs[0].header("idempotency-key").unwrap(),
        ctx.idempotency_key
    );
    assert!(reqs[0]
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(reqs[1].json(), json!({"order": 7, "note": "x"}));
    assert_eq!(reqs[1].header("idempotency-key").unwrap(), "mine");
}

#[tokio::test]
async fn http_statuses_are_classified() {
    let date = (chrono::Utc::now() + chrono::Duration::seconds(30))
        .to_rfc2822()
        .replace("+0000", "GMT");
    let fake = serve_fake("", move |r| {
        let reply = |status: u16| Reply::Answer {
            status,
            headers: vec![],
            body: format!(
                "error; you sent {}",
                r.header("authorization").unwrap_or_default()
            ),
        };
        match r.path.as_str() {
            "/429" => with_header(reply(429), "retry-after", "12"),
            "/429date" => with_header(reply(429), "retry-after", &date),
            "/503" => with_header(reply(503), "retry-after", "2"),
            "/500" => reply(500),
            "/401" => reply(401),
            "/403" => reply(403),
            "/404" => reply(404),
            _ => reply(422),
        }
    })
    .await;
    let client = http_client(&fake);
    let secret = "Bearer sk_live_abcdefghijklmnop";
    let call = |path: &str| {
        let client = &client;
        let input =
            json!({"url": format!("{}{path}", fake.base), "headers": {"Authorization": secret}});
        async move {
            client
                .execute("request.get", input, &live_ctx())
                .await
                .unwrap_err()
        }
    };
    let e = call("/429").await;
    assert_error(&e, ConnectorErrorKind::Retryable, "rate_limited");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(12)));
    let e = call("/429date").await;
    assert_error(&e, ConnectorErrorKind::Retryable, "rate_limited");
    let wait = e.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    let e = call("/503").await;
    assert_error(&e, ConnectorErrorKind::Retryable, "service_unavailable");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    assert_error(
        &call("/500").await,
        ConnectorErrorKind::Retryable,
        "service_unavailable",
    );
    for path in ["/401", "/403"] {
        let e = call(path).await;
        assert_error(&e, ConnectorErrorKind::Permanent, "unauthorized");
        assert_no_secret(&e, "sk_live_abcdefghijklmnop");
        assert!(e.message().contains("[redacted]"), "{e}");
    }
    assert_error(
        &call("/404").await,
        ConnectorErrorKind::Permanent,
        "not_found",
    );
    assert_error(
        &call("/422").await,
        ConnectorErrorKind::Permanent,
        "invalid_input",
    );
}

#[tokio::test]
async fn http_hosts_outside_the_allow_list_are_refused() {
    let fake = serve_fake("", |_| json_reply(200, json!({}))).await;
    // The default policy refuses loopback.
    let client = HttpClient::new(&HttpConfig::default()).unwrap();
    let e = client
        .execute(
            "request.get",
            json!({"url": format!("{}/x", fake.base)}),
            &live_ctx(),
        )
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::RuleViolation, "host_not_allowed");
    // A list without the host refuses it too.
    let client = HttpClient::new(&HttpConfig::allowing(["api.example.com"]).unwrap()).unwrap();
    let e = client
        .execute(
            "request.post",
            json!({"url": format!("{}/x", fake.base)}),
            &live_ctx(),
        )
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::RuleViolation, "host_not_allowed");
    // Bad URLs are bad input.
    for url in [
        "not a url",
        "ftp://example.com/x",
        "http://user:pw@127.0.0.1/",
    ] {
        let e = http_client(&fake)
            .execute("request.get", json!({"url": url}), &live_ctx())
            .await
            .unwrap_err();
        assert_error(&e, ConnectorErrorKind::Permanent, "invalid_input");
        assert!(!e.message().contains("pw@"), "{e}");
    }
    assert!(fake.requests().is_empty());
}

/// Under the default policy a name is checked after DNS too: the machine's
/// own host name (which resolves to a local or private address on any
/// ordinary machine) is refused before anything is sent.
#[tokio::test]
async fn http_default_policy_refuses_names_that_resolve_to_private_addresses() {
    let Ok(hostname) = std::fs::read_to_string("/etc/hostname") else {
        return;
    };
    let hostname = hostname.trim().to_string();
    let resolved: Vec<std::net::SocketAddr> =
        match tokio::net::lookup_host((hostname.as_str(), 0)).await {
            Ok(addrs) => addrs.collect(),
            Err(_) => return,
        };
    let all_private = !resolved.is_empty()
        && resolved.iter().all(|a| match a.ip() {
            std::net::IpAddr::V4(ip) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
            std::net::IpAddr::V6(ip) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        });
    if hostname.is_empty() || hostname.contains("localhost") || !all_private {
        return;
    }
    let fake = serve_fake("", |_| json_reply(200, json!({}))).await;
    let e = HttpClient::new(&HttpConfig::default())
        .unwrap()
        .execute(
            "request.get",
            json!({"url": format!("http://{hostname}:{}/x", fake.addr.port())}),
            &live_ctx(),
        )
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::RuleViolation, "host_not_allowed");
    assert!(e.message().contains(&hostname), "{e}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn http_redirects_are_followed_only_to_allowed_hosts() {
    let fake = serve_fake("", |r| match r.path.as_str() {
        "/old" => with_header(
            Reply::Answer {
                status: 302,
                headers: vec![],
                body: String::new(),
            },
            "location",
            "/new",
        ),
        "/away" => with_header(
            Reply::Answer {
                status: 302,
                headers: vec![],
                body: String::new(),
            },
            "location",
            "http://169.254.169.254/latest/meta-data/",
        ),
        _ => json_reply(200, json!({"here": true})),
    })
    .await;
    let client = http_client(&fake);
    let out = client
        .execute(
            "request.get",
            json!({"url": format!("{}/old", fake.base)}),
            &live_ctx(),
        )
        .await
        .unwrap();
    assert_eq!(out["body"]["here"], true);
    let e = client
        .execute(
            "request.get",
            json!({"url": format!("{}/away", fake.base)}),
            &live_ctx(),
        )
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "redirect_refused");
}

#[tokio::test]
async fn http_large_responses_are_refused() {
    let fake = serve_fake("", |_| Reply::Answer {
        status: 200,
        headers: vec![],
        body: "x".repeat(5000),
    })
    .await;
    let mut config = HttpConfig::allowing([fake.addr.to_string()]).unwrap();
    config.max_response_bytes = 1000;
    let e = HttpClient::new(&config)
        .unwrap()
        .execute(
            "request.get",
            json!({"url": format!("{}/big", fake.base)}),
            &live_ctx(),
        )
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Permanent, "response_too_large");
}

// ------------------------------------------------------------------ deadlines

#[tokio::test]
async fn every_client_gives_up_at_the_deadline() {
    let fake = serve_fake("", |_| Reply::Hang).await;
    let qbo_fake = fake;
    let clients: Vec<(Arc<dyn Connector>, &str, Value)> = vec![
        (
            Arc::new(slack(&qbo_fake)),
            "user.find",
            json!({"email": "a@b.co"}),
        ),
        (
            Arc::new(hubspot(&qbo_fake)),
            "owner.get",
            json!({"owner_id": "1"}),
        ),
        (
            Arc::new(qbo(&qbo_fake)),
            "invoice.find",
            json!({"invoice_id": "1"}),
        ),
        (
            Arc::new(http_client(&qbo_fake)),
            "request.get",
            json!({"url": format!("{}/x", qbo_fake.base)}),
        ),
    ];
    for (client, op, input) in clients {
        let mut ctx = live_ctx();
        let started = tokio::time::Instant::now();
        ctx.deadline = started + Duration::from_millis(200);
        let e = client.execute(op, input, &ctx).await.unwrap_err();
        assert_error(&e, ConnectorErrorKind::Retryable, "timeout");
        // The step's deadline, not a default timeout, ended the call.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        qbo_fake.requests().len(),
        4,
        "every client reached the server"
    );
}

#[tokio::test]
async fn a_passed_deadline_sends_nothing() {
    let fake = serve_fake("", |_| json_reply(200, json!({"ok": true}))).await;
    let mut ctx = live_ctx();
    ctx.deadline = tokio::time::Instant::now();
    let e = slack(&fake)
        .execute("user.find", json!({"email": "a@b.co"}), &ctx)
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Retryable, "timeout");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    // Bind and drop a listener: its port is closed.
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let client = HubSpotClient::new(
        &HubSpotConfig::new(HUBSPOT_TOKEN).with_base_url(format!("http://{addr}")),
    )
    .unwrap();
    let e = client
        .execute("owner.get", json!({"owner_id": "1"}), &live_ctx())
        .await
        .unwrap_err();
    assert_error(&e, ConnectorErrorKind::Retryable, "connection_failed");
    assert_no_secret(&e, HUBSPOT_TOKEN);
}

// ------------------------------------------------------- config and coverage

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn config_from_env() {
    let config = LiveConfig::from_lookup(env(&[
        ("NEXWATT_SLACK_TOKEN", SLACK_TOKEN),
        ("NEXWATT_SLACK_BASE_URL", "http://127.0.0.1:9/api/"),
        ("NEXWATT_HUBSPOT_TOKEN", HUBSPOT_TOKEN),
        ("NEXWATT_QBO_TOKEN", QBO_TOKEN),
        ("NEXWATT_QBO_REALM_ID", REALM),
        (
            "NEXWATT_QBO_BASE_URL",
            "https://sandbox-quickbooks.api.intuit.com",
        ),
        (
            "NEXWATT_HTTP_ALLOW",
            "api.example.com, *.internal.example.com,127.0.0.1:8080",
        ),
    ]))
    .unwrap();
    assert_eq!(
        config.slack.as_ref().unwrap().base_url,
        "http://127.0.0.1:9/api/"
    );
    assert_eq!(
        config.hubspot.as_ref().unwrap().base_url,
        "https://api.hubapi.com"
    );
    let q = config.quickbooks.as_ref().unwrap();
    assert_eq!((q.realm_id.as_str(), q.minor_version), (REALM, 75));
    assert!(config.http.allows("api.example.com", 443));
    assert!(config.http.allows("billing.internal.example.com", 443));
    assert!(config.http.allows("127.0.0.1", 8080));
    assert!(!config.http.allows("127.0.0.1", 8081));
    assert!(!config.http.allows("evil.com", 443));
    let debug = format!("{config:?}");
    for secret in [SLACK_TOKEN, HUBSPOT_TOKEN, QBO_TOKEN] {
        assert!(!debug.contains(secret), "{debug}");
    }

    let empty = LiveConfig::from_lookup(env(&[("NEXWATT_SLACK_TOKEN", "  ")])).unwrap();
    assert_eq!(empty, LiveConfig::default());
    assert!(!empty.http.allows("localhost", 80) && !empty.http.allows("10.1.2.3", 80));
    assert!(!empty.http.allows("[::1]", 80) && empty.http.allows("example.com", 443));
}

#[test]
fn config_errors_name_the_setting_never_the_secret() {
    let e = LiveConfig::from_lookup(env(&[("NEXWATT_QBO_TOKEN", QBO_TOKEN)])).unwrap_err();
    assert!(
        matches!(&e, ConfigError::Missing { setting, .. } if setting == "NEXWATT_QBO_REALM_ID")
    );
    assert_eq!(e.code(), "missing_setting");
    assert!(!e.to_string().contains(QBO_TOKEN));
    let e = LiveConfig::from_lookup(env(&[
        ("NEXWATT_HUBSPOT_TOKEN", HUBSPOT_TOKEN),
        ("NEXWATT_HUBSPOT_BASE_URL", "ftp://example.com"),
    ]))
    .unwrap_err();
    assert_eq!(e.code(), "invalid_setting");
    assert!(e.to_string().contains("hubspot.base_url"));
    let e = LiveConfig::from_lookup(env(&[("NEXWATT_HTTP_ALLOW", "https://example.com/x")]))
        .unwrap_err();
    assert!(e.to_string().contains("NEXWATT_HTTP_ALLOW"), "{e}");
    let e = LiveConfig::from_lookup(env(&[
        ("NEXWATT_QBO_TOKEN", "t0k3n"),
        ("NEXWATT_QBO_REALM_ID", "../x"),
    ]))
    .unwrap_err();
    assert_eq!(e.code(), "invalid_setting");
    let e: Result<LiveConfig, _> =
        serde_json::from_value(json!({"slack": {"token": "x", "base_url": "h", "extra": 1}}));
    assert!(e.is_err());
}

#[test]
fn live_clients_cover_what_is_configured_with_catalog_manifests() {
    let catalog = nexwatt_connectors::catalog().unwrap();
    let only_http = live_clients(&LiveConfig::default());
    assert_eq!(only_http.len(), 1);
    assert_eq!(only_http[0].manifest().id, "http");

    let config: LiveConfig = serde_json::from_value(json!({
        "slack": {"token": SLACK_TOKEN},
        "hubspot": {"token": HUBSPOT_TOKEN},
        "quickbooks": {"token": QBO_TOKEN, "realm_id": REALM},
    }))
    .unwrap();
    let clients = try_live_clients(&config).unwrap();
    let ids: Vec<_> = clients.iter().map(|c| c.manifest().id.clone()).collect();
    assert_eq!(ids, ["quickbooks", "hubspot", "slack", "http"]);
    for c in &clients {
        assert_eq!(c.manifest(), catalog.connector(&c.manifest().id).unwrap());
        let debug = format!("{c:?}");
        for secret in [SLACK_TOKEN, HUBSPOT_TOKEN, QBO_TOKEN] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
    assert_eq!(live_clients(&config).len(), 4);
}

/// The crate's registry glue routes live runs to these clients and test
/// runs' writes to the sandboxes; connectors without a live client say so.
#[test]
fn registered_with_the_sandboxes() {
    use nexwatt_engine::connector::Route;
    use nexwatt_engine::model::Effect;
    let config: LiveConfig = serde_json::from_value(json!({
        "slack": {"token": SLACK_TOKEN},
        "quickbooks": {"token": QBO_TOKEN, "realm_id": REALM},
    }))
    .unwrap();
    let registry = nexwatt_connectors::sandbox::Sandboxes::new(7).registry(live_clients(&config));
    let (route, client) = registry
        .resolve("slack", Effect::Write, RunMode::Live)
        .unwrap();
    assert_eq!(route, Route::Live);
    assert!(format!("{client:?}").starts_with("SlackClient"));
    let (route, _) = registry
        .resolve("quickbooks", Effect::Write, RunMode::Test)
        .unwrap();
    assert_eq!(route, Route::Sandbox);
    assert_eq!(
        registry
            .resolve("http", Effect::Read, RunMode::Live)
            .unwrap()
            .0,
        Route::Live
    );
    let e = registry
        .resolve("hubspot", Effect::Read, RunMode::Live)
        .unwrap_err();
    assert_eq!(e.code(), "no_live_client");
}

/// Every action of the four connectors has an API mapping (it reaches the
/// fake server, whose 503 comes back as a retryable error) and every
/// trigger says `not_supported_live` without a request.
#[tokio::test]
async fn every_catalog_action_is_mapped_and_triggers_are_not_pretended() {
    let fake = serve_fake("", |_| {
        json_reply(503, json!({"ok": false, "error": "service_unavailable"}))
    })
    .await;
    let clients: Vec<Arc<dyn Connector>> = vec![
        Arc::new(slack(&fake)),
        Arc::new(hubspot(&fake)),
        Arc::new(qbo(&fake)),
        Arc::new(http_client(&fake)),
    ];
    // An input that satisfies every operation's required fields.
    let input = json!({
        "channel": "#ops", "text": "hi", "email": "a@b.co", "user_id": "U1ABC",
        "contact_id": "1", "deal_id": "2", "owner_id": "3", "invoice_id": "4", "customer_id": "5",
        "name": "N", "amount": 10, "stage": "closedwon", "property": "phone", "value": "1",
        "body": "note", "title": "t", "url": format!("{}/x", fake.base),
    });
    for client in clients {
        let manifest = client.manifest().clone();
        for op in &manifest.operations {
            let before = fake.requests().len();
            let e = client
                .execute(&op.id, input.clone(), &live_ctx())
                .await
                .unwrap_err();
            let sent = fake.requests().len() - before;
            if op.kind == OperationKind::Trigger {
                assert_error(&e, ConnectorErrorKind::Permanent, "not_supported_live");
                assert_eq!(sent, 0);
            } else {
                assert!(e.is_retryable(), "{}.{}: {e}", manifest.id, op.id);
                assert!(sent >= 1, "{}.{} sent nothing", manifest.id, op.id);
            }
        }
    }
}

// ------------------------------------------------------------ logs and spans

/// Records every span and event field as text.
struct Capture {
    text: Arc<Mutex<String>>,
    next_id: std::sync::atomic::AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut text = self.text.lock().unwrap();
        text.push_str(&format!("span {} ", span.metadata().name()));
        span.record(&mut Fields(&mut text));
        text.push('\n');
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::span::Id::from_u64(id + 1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Fields(&mut self.text.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = self.text.lock().unwrap();
        text.push_str(&format!("event {} ", event.metadata().level()));
        event.record(&mut Fields(&mut text));
        text.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Every log line and span field of successful and failing calls, at every
/// level, is free of the tokens and of secret headers; the calls do log
/// (inside the step's span).
#[tokio::test]
async fn logs_never_carry_secrets() {
    let text = Arc::new(Mutex::new(String::new()));
    let _guard = tracing::subscriber::set_default(Capture {
        text: Arc::clone(&text),
        next_id: std::sync::atomic::AtomicU64::new(0),
    });
    let header_secret = "sk_live_zyxwvutsrqponm";
    // Every answer echoes the request's Authorization header back.
    let fake = serve_fake("", |r| {
        let echo = r.header("authorization").unwrap_or_default();
        match r.path.as_str() {
            p if p.ends_with("/fail") => json_reply(401, json!({"ok": false, "error": "invalid_auth", "message": echo})),
            _ => json_reply(500, json!({"ok": false, "error": "internal_error", "message": echo,
                                        "Fault": {"Error": [{"Message": echo, "code": "1"}], "type": "SystemFault"}})),
        }
    })
    .await;
    let mut ctx = live_ctx();
    ctx.span = tracing::info_span!("step", n = 1);
    let calls: Vec<(Arc<dyn Connector>, &str, Value)> = vec![
        (
            Arc::new(slack(&fake)),
            "user.find",
            json!({"email": "a@b.co"}),
        ),
        (
            Arc::new(hubspot(&fake)),
            "owner.get",
            json!({"owner_id": "1"}),
        ),
        (
            Arc::new(qbo(&fake)),
            "invoice.find",
            json!({"invoice_id": "1"}),
        ),
        (
            Arc::new(http_client(&fake)),
            "request.get",
            json!({"url": format!("{}/fail?api_key={header_secret}", fake.base),
                   "headers": {"Authorization": format!("Bearer {header_secret}")}}),
        ),
    ];
    for (client, op, input) in calls {
        let e = client.execute(op, input, &ctx).await.unwrap_err();
        for secret in [SLACK_TOKEN, HUBSPOT_TOKEN, QBO_TOKEN, header_secret] {
            assert_no_secret(&e, secret);
        }
    }
    let logged = text.lock().unwrap().clone();
    assert!(logged.contains("live_call"), "{logged}");
    assert!(logged.contains("live call failed"), "{logged}");
    for secret in [SLACK_TOKEN, HUBSPOT_TOKEN, QBO_TOKEN, header_secret] {
        assert!(!logged.contains(secret), "a secret was logged:\n{logged}");
    }
}

// ------------------------------------------------ parity with the sandboxes

/// Every field of `sandbox` (recursively) is in `live`.
fn assert_has_fields_of(sandbox: &Value, live: &Value, path: &str) {
    match (sandbox, live) {
        (Value::Object(s), Value::Object(l)) => {
            for (k, v) in s {
                let lv = l.get(k).unwrap_or_else(|| {
                    panic!("{path}.{k}: the sandbox has it, the live client not ({live})")
                });
                assert_has_fields_of(v, lv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(s), Value::Array(l)) => {
            if let (Some(s0), Some(l0)) = (s.first(), l.first()) {
                assert_has_fields_of(s0, l0, &format!("{path}[0]"));
            }
        }
        _ => {}
    }
}

/// For every action the live clients map, the live output has every field
/// the sandbox's output has, so a workflow tested against the sandboxes
/// finds the same fields when it runs live.
#[tokio::test]
async fn live_outputs_have_every_field_of_the_sandbox_outputs() {
    let sandboxes = nexwatt_connectors::sandbox::Sandboxes::new(11);
    let slack_fake = serve_fake("/api", slack_ok).await;
    let hubspot_fake = serve_fake("", hubspot_ok).await;
    let qbo_fake = serve_fake("", qbo_ok).await;
    let slack_live: Arc<dyn Connector> = Arc::new(slack(&slack_fake));
    let hubspot_live: Arc<dyn Connector> = Arc::new(hubspot(&hubspot_fake));
    let qbo_live: Arc<dyn Connector> = Arc::new(qbo(&qbo_fake));
    // (connector, operation, sandbox input, live input)
    let cases: Vec<(&Arc<dyn Connector>, &str, Value, Value)> = vec![
        (
            &slack_live,
            "message.send",
            json!({"channel": "#finance", "text": "hi"}),
            json!({"channel": "#finance", "text": "hi"}),
        ),
        (
            &slack_live,
            "dm.send",
            json!({"email": "dana.brooks@brightline.io", "text": "hi"}),
            json!({"email": "dana@example.com", "text": "hi"}),
        ),
        (
            &slack_live,
            "user.find",
            json!({"email": "dana.brooks@brightline.io"}),
            json!({"email": "dana@example.com"}),
        ),
        (
            &hubspot_live,
            "contact.find",
            json!({"email": "maya.chen@acmelogistics.com"}),
            json!({"email": "ada@example.com"}),
        ),
        (
            &hubspot_live,
            "contact.create",
            json!({"email": "new.person@example.com", "first_name": "New"}),
            json!({"email": "new.person@example.com", "first_name": "New"}),
        ),
        (
            &hubspot_live,
            "contact.update",
            json!({"contact_id": "501", "property": "lifecycle_stage", "value": "customer"}),
            json!({"contact_id": "51", "property": "lifecycle_stage", "value": "customer"}),
        ),
        (
            &hubspot_live,
            "deal.find",
            json!({"deal_id": "7001"}),
            json!({"deal_id": "77"}),
        ),
        (
            &hubspot_live,
            "deal.create",
            json!({"company": "Blue Harbor Foods", "amount": 4800}),
            json!({"company": "Blue Harbor Foods", "amount": 4800}),
        ),
        (
            &hubspot_live,
            "deal.update",
            json!({"deal_id": "7001", "stage": "Closed Won"}),
            json!({"deal_id": "77", "stage": "Closed Won"}),
        ),
        (
            &hubspot_live,
            "owner.get",
            json!({"owner_id": "9001"}),
            json!({"owner_id": "123"}),
        ),
        (
            &hubspot_live,
            "task.create",
            json!({"deal_id": "7001", "title": "Call"}),
            json!({"deal_id": "77", "title": "Call"}),
        ),
        (
            &hubspot_live,
            "note.create",
            json!({"contact_id": "501", "body": "note"}),
            json!({"contact_id": "51", "body": "note"}),
        ),
        (
            &qbo_live,
            "invoice.find",
            json!({"invoice_id": "INV-4419"}),
            json!({"invoice_id": "130"}),
        ),
        (
            &qbo_live,
            "invoice.create",
            json!({"customer_id": "58", "amount": 100}),
            json!({"customer_id": "58", "amount": 100}),
        ),
        (
            &qbo_live,
            "invoice.send",
            json!({"invoice_id": "INV-4420"}),
            json!({"invoice_id": "130"}),
        ),
        (
            &qbo_live,
            "customer.find",
            json!({"customer_id": "58"}),
            json!({"customer_id": "58"}),
        ),
        (
            &qbo_live,
            "customer.create",
            json!({"name": "New Co", "email": "ap@newco.example"}),
            json!({"name": "New Co", "email": "ap@newco.example"}),
        ),
        (
            &qbo_live,
            "payment.record",
            json!({"invoice_id": "INV-4420"}),
            json!({"invoice_id": "130"}),
        ),
    ];
    for (live, op, sandbox_input, live_input) in cases {
        let id = live.manifest().id.clone();
        let sandbox = sandboxes.get(&id).unwrap();
        let expected = sandbox
            .execute(op, sandbox_input, &ExecutionContext::for_test())
            .await
            .unwrap_or_else(|e| panic!("sandbox {id}.{op}: {e}"));
        let got = live
            .execute(op, live_input, &live_ctx())
            .await
            .unwrap_or_else(|e| panic!("live {id}.{op}: {e}"));
        assert_has_fields_of(&expected, &got, &format!("{id}.{op}"));
    }
}
