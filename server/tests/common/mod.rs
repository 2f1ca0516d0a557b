//! A real server on a loopback port for the HTTP tests, with two
//! workspaces and a rate-limiter clock the test controls, plus a checker of
//! responses against the OpenAPI document.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::FakeRelativeClock;
use nexwatt_engine::id::WorkspaceId;
use nexwatt_engine::storage::Storage;
use nexwatt_engine::Engine;
use nexwatt_server::api::OPENAPI_JSON;
use nexwatt_server::ratelimit::WorkspaceRateLimiter;
use nexwatt_server::{app, keys, serve, AppState};
use nexwatt_storage_memory::MemoryStorage;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The seed's agents.create request body, exactly.
pub const SEED_CREATE: &str = r#"{
  "name": "invoice-sync-v1",
  "description": "When a new invoice is marked paid in QuickBooks, update the matching deal in HubSpot to Closed Won and notify the account owner in Slack.",
  "connectors": ["quickbooks", "hubspot", "slack"],
  "confidence_threshold": 0.70
}"#;

/// A workspace and the key that opens it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub workspace: WorkspaceId,
    pub key: String,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub struct TestServer {
    pub base: String,
    pub engine: Engine,
    pub storage: Arc<dyn Storage>,
    pub clock: FakeRelativeClock,
    pub a: Tenant,
    pub b: Tenant,
    pub http: reqwest::Client,
    pub server: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(300, nexwatt_server::api::DEFAULT_BODY_LIMIT).await
    }

    pub async fn start_with(rate_limit: u32, body_limit: usize) -> Self {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let a = keys::create_key(storage.as_ref(), "alpha").await.unwrap();
        let b = keys::create_key(storage.as_ref(), "beta").await.unwrap();
        let engine = serve::build_engine(storage.clone(), 7).await.unwrap();
        let clock = FakeRelativeClock::default();
        let limiter = WorkspaceRateLimiter::with_fake_clock(
            NonZeroU32::new(rate_limit).unwrap(),
            clock.clone(),
        );
        let mut state = AppState::new(engine.clone(), limiter);
        state.body_limit = body_limit;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app(state)).await.unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            engine,
            storage,
            clock,
            a: Tenant {
                workspace: a.workspace.id,
                key: a.secret,
            },
            b: Tenant {
                workspace: b.workspace.id,
                key: b.secret,
            },
            http: reqwest::Client::new(),
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns the answer; every JSON answer is
    /// checked against the OpenAPI document when `template` names its route.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{status}: body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        if !status.is_success() {
            assert!(
                body["error"]["code"].is_string() && body["error"]["message"].is_string(),
                "error body without code and message: {body}"
            );
            assert_eq!(
                headers.get("content-type").unwrap(),
                "application/json",
                "error content type"
            );
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Answer {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let answer = self.send(req).await;
        if let Some(template) = route_template(&method, path) {
            check_response(&method, &template, answer.status, &answer.body);
        }
        answer
    }

    pub async fn get(&self, key: &str, path: &str) -> Answer {
        self.call(Some(key), Method::GET, path, None).await
    }

    pub async fn post(&self, key: &str, path: &str, body: &str) -> Answer {
        self.call(Some(key), Method::POST, path, Some(body)).await
    }

    pub async fn post_empty(&self, key: &str, path: &str) -> Answer {
        self.call(Some(key), Method::POST, path, None).await
    }

    /// Creates the seed's invoice-sync agent in tenant `t`.
    pub async fn seed_agent(&self, t: &Tenant) -> Value {
        let a = self.post(&t.key, "/v1/agents", SEED_CREATE).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body
    }
}

/// The OpenAPI document.
pub fn openapi() -> Value {
    serde_json::from_str(OPENAPI_JSON).unwrap()
}

/// The document's path template matching a concrete path, e.g.
/// `/v1/agents/agt_…/runs` → `/v1/agents/{id}/runs`.
pub fn route_template(method: &Method, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let doc = openapi();
    let paths = doc["paths"].as_object().unwrap();
    let segs: Vec<&str> = path.split('/').collect();
    paths
        .iter()
        .find(|(template, ops)| {
            let t: Vec<&str> = template.split('/').collect();
            t.len() == segs.len()
                && t.iter()
                    .zip(&segs)
                    .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s)
                && ops.get(method.as_str().to_lowercase()).is_some()
        })
        .map(|(t, _)| t.clone())
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut node = doc;
            for part in r.trim_start_matches("#/").split('/') {
                node = &node[part];
            }
            resolve(doc, node)
        }
        None => schema,
    }
}

/// Checks `value` against an OpenAPI 3.0 schema (types, required,
/// properties, items, enum, nullable, allOf).
pub fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if value.is_null() && schema["nullable"] == Value::Bool(true) {
        return;
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            validate(doc, s, value, at);
        }
    }
    if let Some(t) = schema["type"].as_str() {
        let ok = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        assert!(ok, "{at}: expected {t}, got {value}");
    }
    if let Some(e) = schema["enum"].as_array() {
        assert!(e.contains(value), "{at}: {value} not in {e:?}");
    }
    if let Some(req) = schema["required"].as_array() {
        for r in req {
            let r = r.as_str().unwrap();
            assert!(
                value.get(r).is_some(),
                "{at}: required field {r:?} missing in {value}"
            );
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for (k, s) in props {
            if let Some(v) = obj.get(k) {
                validate(doc, s, v, &format!("{at}.{k}"));
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            validate(doc, items, v, &format!("{at}[{i}]"));
        }
    }
}

/// Checks that the document lists `status` for the route and that `body`
/// matches the schema it gives.
pub fn check_response(method: &Method, template: &str, status: StatusCode, body: &Value) {
    let doc = openapi();
    let op = &doc["paths"][template][method.as_str().to_lowercase()];
    let responses = &op["responses"];
    let code = status.as_u16().to_string();
    if status == StatusCode::PAYLOAD_TOO_LARGE
        || status == StatusCode::UNSUPPORTED_MEDIA_TYPE
        || status == StatusCode::METHOD_NOT_ALLOWED
    {
        // Documented on the routes that take a body; checked as errors.
        validate(&doc, &doc["components"]["schemas"]["Error"], body, "error");
        return;
    }
    let response = resolve(&doc, &responses[&code]);
    assert!(
        response.is_object(),
        "{method} {template}: status {code} is not documented"
    );
    let schema = &response["content"]["application/json"]["schema"];
    validate(&doc, schema, body, &format!("{method} {template} {code}"));
}
