//! Property tests of the live clients: arbitrary step inputs against
//! arbitrary service answers never panic, always end in an output object or
//! a classified error, and never leak the token; `Retry-After` and host
//! patterns parse any text without panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use nexwatt_connectors::live::{
    parse_retry_after, HostPattern, HttpClient, HttpConfig, HubSpotClient, HubSpotConfig,
    QuickBooksClient, QuickBooksConfig, SlackClient, SlackConfig,
};
use nexwatt_engine::connector::{Connector, ExecutionContext};
use nexwatt_engine::model::{OperationKind, RunMode};
use proptest::prelude::*;
use serde_json::Value;

const TOKEN: &str = "tok-proptest-9f8e7d6c5b4a";

/// What the fake answers next.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: String,
    retry_after: Option<String>,
}

async fn answer(State(next): State<Arc<Mutex<Answer>>>, _body: Bytes) -> Response {
    let a = next.lock().unwrap().clone();
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    let mut response = (status, a.body).into_response();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    if let Some(r) = a.retry_after.and_then(|r| r.parse().ok()) {
        response.headers_mut().insert("retry-after", r);
    }
    response
}

fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "channel",
        "text",
        "email",
        "user_id",
        "name",
        "contact_id",
        "deal_id",
        "owner_id",
        "invoice_id",
        "customer_id",
        "customer_email",
        "number",
        "status",
        "amount",
        "due_in_days",
        "property",
        "value",
        "properties",
        "stage",
        "company",
        "to",
        "headers",
        "query",
        "body",
        "title",
        "notes",
        "paid_on",
        "method",
        "lines",
        "deal",
        "contact",
        "owner",
        "filters",
        "limit",
        "currency",
        "id",
        "user",
        "blocks",
        "ok",
        "error",
        "results",
        "Fault",
        "Invoice",
        "QueryResponse",
        "members",
        "channel",
        "message",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "[a-zA-Z0-9@#._ '\\\\/:?%-]{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone().prop_map(str::to_string), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_answer() -> impl Strategy<Value = Answer> {
    (
        prop::sample::select(vec![
            200u16, 201, 204, 302, 400, 401, 403, 404, 409, 422, 429, 500, 503,
        ]),
        prop_oneof![
            arb_json().prop_map(|v| v.to_string()),
            ".{0,40}",
            Just(format!("{{\"message\": \"echo {TOKEN}\"}}")),
        ],
        prop::option::of("[0-9a-zA-Z ,:]{0,30}"),
    )
        .prop_map(|(status, body, retry_after)| Answer {
            status,
            body,
            retry_after,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn retry_after_parses_any_text(text in ".{0,40}") {
        let _ = parse_retry_after(&text, chrono::Utc::now());
    }

    #[test]
    fn retry_after_delta_seconds_are_exact(secs in 0u64..10_000_000) {
        prop_assert_eq!(
            parse_retry_after(&secs.to_string(), chrono::Utc::now()),
            Some(Duration::from_secs(secs))
        );
    }

    #[test]
    fn host_patterns_parse_any_text(text in ".{0,40}") {
        if let Ok(p) = text.parse::<HostPattern>() {
            let _ = p.matches("example.com", 443);
        }
    }

    #[test]
    fn exact_host_patterns_match_only_their_host(host in "[a-z]{1,10}(\\.[a-z]{1,6}){0,2}", port in 1u16..) {
        let p: HostPattern = host.parse().unwrap();
        prop_assert!(p.matches(&host, port));
        prop_assert!(p.matches(&host.to_uppercase(), port));
        let other = format!("x{host}");
        prop_assert!(!p.matches(&other, port));
        let with_port: HostPattern = format!("{host}:{port}").parse().unwrap();
        prop_assert!(with_port.matches(&host, port));
        prop_assert!(!with_port.matches(&host, port.wrapping_add(1).max(1)) || port == u16::MAX);
    }
}

#[test]
fn arbitrary_inputs_and_answers_end_in_an_output_or_a_classified_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let next = Arc::new(Mutex::new(Answer {
        status: 200,
        body: "{}".into(),
        retry_after: None,
    }));
    let base = rt.block_on(async {
        let app = Router::new().fallback(answer).with_state(Arc::clone(&next));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    });
    let addr = base.trim_start_matches("http://").to_string();
    let clients: Vec<Arc<dyn Connector>> = vec![
        Arc::new(SlackClient::new(&SlackConfig::new(TOKEN).with_base_url(&base)).unwrap()),
        Arc::new(HubSpotClient::new(&HubSpotConfig::new(TOKEN).with_base_url(&base)).unwrap()),
        Arc::new(
            QuickBooksClient::new(&QuickBooksConfig::new(TOKEN, "123").with_base_url(&base))
                .unwrap(),
        ),
        Arc::new(HttpClient::new(&HttpConfig::allowing([addr.as_str()]).unwrap()).unwrap()),
    ];
    let ops: Vec<(usize, String)> = clients
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            c.manifest()
                .operations
                .iter()
                .filter(|o| o.kind == OperationKind::Action)
                .map(move |o| (i, o.id.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (0..ops.len(), arb_json(), arb_answer(), any::<bool>());
    runner
        .run(&strategy, |(which, mut input, reply, real_url)| {
            let (client, op) = (&clients[ops[which].0], ops[which].1.as_str());
            if real_url {
                if let Value::Object(m) = &mut input {
                    m.insert("url".into(), Value::String(format!("{base}/p")));
                }
            }
            *next.lock().unwrap() = reply;
            let mut ctx = ExecutionContext::for_test();
            ctx.mode = RunMode::Live;
            ctx.deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let result = rt.block_on(client.execute(op, input, &ctx));
            match result {
                Ok(out) => prop_assert!(out.is_object(), "{op}: {out}"),
                Err(e) => {
                    prop_assert!(!e.code().is_empty());
                    // The http client holds no token (its secrets are the
                    // input's headers); the others must never echo theirs.
                    if client.manifest().id != "http" {
                        prop_assert!(!e.to_string().contains(TOKEN), "{op}: {e}");
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}
