//! Arbitrary paths, query strings, headers and bodies never make the
//! server fail with a 500 or answer without the JSON error envelope.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestServer;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("agents".to_string()),
        Just("runs".to_string()),
        Just("escalations".to_string()),
        Just("resolve".to_string()),
        Just("activate".to_string()),
        Just("agt_01J8K2M9P3Q4R5S6T7V8V9W0XY".to_string()),
        Just("esc_01J8K2M9P3Q4R5S6T7V8V9W0XY".to_string()),
        "[a-zA-Z0-9_%.~-]{0,30}",
    ]
}

fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(r#"{"name":"x","description":"When an invoice is paid in QuickBooks, post to #finance in Slack."}"#.to_string()),
        Just(r#"{"action":"approve"}"#.to_string()),
        Just(r#"{"mode":"test","input":{"invoice_id":"INV-1"}}"#.to_string()),
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        (any::<String>(), any::<String>()).prop_map(|(k, v)| {
            serde_json::json!({"name": k, "description": v, "connectors": [k]}).to_string()
        }),
    ]
}

#[tokio::test]
async fn arbitrary_requests_get_json_answers_and_never_a_500() {
    let s = TestServer::start_with(1_000_000, 4096).await;
    let strategy = (
        prop::sample::select(vec![Method::GET, Method::POST, Method::PUT, Method::DELETE]),
        prop::collection::vec(segment(), 0..4),
        "[a-z_]{0,10}",
        "[ -~]{0,20}",
        prop::sample::select(vec![
            None,
            Some("application/json"),
            Some("text/plain"),
            Some("application/json; charset=utf-8"),
            Some("multipart/form-data"),
        ]),
        body(),
        any::<bool>(),
    );
    let mut runner = TestRunner::new(Config {
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..Config::default()
    });
    for _ in 0..400 {
        let (method, segs, qk, qv, ct, body, authed) =
            strategy.new_tree(&mut runner).unwrap().current();
        let url = format!("{}/v1/{}", s.base, segs.join("/"));
        let mut req = s
            .http
            .request(method.clone(), &url)
            .query(&[(qk.as_str(), qv.as_str())]);
        if authed {
            req = req.bearer_auth(&s.a.key);
        }
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        if !body.is_empty() {
            req = req.body(body.clone());
        }
        // `send` asserts the JSON envelope on every error.
        let answer = s.send(req).await;
        assert!(
            answer.status.as_u16() < 500,
            "{method} {url} {body:?}: {} {}",
            answer.status,
            answer.body
        );
    }
}
