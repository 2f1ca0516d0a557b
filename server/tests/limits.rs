//! Rate limiting and bad input over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{TestServer, SEED_CREATE};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn the_301st_request_in_a_minute_gets_429_and_other_workspaces_are_unaffected() {
    let s = TestServer::start().await;
    for i in 0..300u32 {
        let r = s.get(&s.a.key, "/v1/runs?limit=1").await;
        assert_eq!(r.status, StatusCode::OK, "request {}", i + 1);
        assert_eq!(r.headers["ratelimit-limit"], "300");
        assert_eq!(
            r.headers["ratelimit-remaining"].to_str().unwrap(),
            (299 - i).to_string()
        );
        assert!(r.headers.get("ratelimit-reset").is_some());
    }
    let limited = s.get(&s.a.key, "/v1/runs").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    assert_eq!(limited.headers["retry-after"], "1");
    assert_eq!(limited.headers["ratelimit-remaining"], "0");
    assert_eq!(limited.headers["ratelimit-limit"], "300");
    // Every endpoint shares the budget.
    let post = s.post(&s.a.key, "/v1/agents", SEED_CREATE).await;
    assert_eq!(post.status, StatusCode::TOO_MANY_REQUESTS);

    // Workspace B is unaffected.
    let b = s.get(&s.b.key, "/v1/runs").await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(b.headers["ratelimit-remaining"], "299");

    // After 60 s / 300 one request comes back; after a minute all of them.
    s.clock.advance(Duration::from_millis(200));
    assert_eq!(s.get(&s.a.key, "/v1/runs").await.status, StatusCode::OK);
    assert_eq!(
        s.get(&s.a.key, "/v1/runs").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    s.clock.advance(Duration::from_secs(60));
    let back = s.get(&s.a.key, "/v1/runs").await;
    assert_eq!(back.status, StatusCode::OK);
    assert_eq!(back.headers["ratelimit-remaining"], "299");
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_an_error_body() {
    let s = TestServer::start().await;
    let k = s.a.key.clone();
    let agent = s.seed_agent(&s.a).await;
    let id = agent["agent_id"].as_str().unwrap().to_string();

    // 413: a body over 64 KiB.
    let big = format!(
        r#"{{"name":"big","description":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let r = s.post(&k, "/v1/agents", &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.code(), "payload_too_large");

    // 415: not JSON.
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = s
            .send(
                s.http
                    .post(s.url("/v1/agents"))
                    .bearer_auth(&k)
                    .header("content-type", ct)
                    .body(SEED_CREATE),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(r.code(), "unsupported_media_type");
    }
    let no_ct = s
        .send(
            s.http
                .post(s.url("/v1/agents"))
                .bearer_auth(&k)
                .body(SEED_CREATE),
        )
        .await;
    assert_eq!(no_ct.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // 400s.
    let cases: Vec<(Method, String, Option<String>, &str)> = vec![
        (Method::POST, "/v1/agents".into(), Some("{not json".into()), "malformed JSON"),
        (Method::POST, "/v1/agents".into(), Some("[1,2]".into()), "not an object"),
        (
            Method::POST,
            "/v1/agents".into(),
            Some(r#"{"name":"a","description":"When an invoice is paid in QuickBooks, post to #finance in Slack.","colour":"red"}"#.into()),
            "unknown field",
        ),
        (Method::POST, "/v1/agents".into(), Some(r#"{"name":"a"}"#.into()), "missing field"),
        (
            Method::POST,
            "/v1/agents".into(),
            Some(format!(r#"{{"name":"long","description":"{}"}}"#, "a".repeat(2001))),
            "description over 2000 characters",
        ),
        (
            Method::POST,
            "/v1/agents".into(),
            Some(r#"{"name":"a","description":"","connectors":[]}"#.into()),
            "empty description",
        ),
        (
            Method::POST,
            "/v1/agents".into(),
            Some(r#"{"name":"a","description":"When an invoice is paid in QuickBooks, post to #finance in Slack.","confidence_threshold":1.5}"#.into()),
            "threshold out of range",
        ),
        (
            Method::POST,
            "/v1/agents".into(),
            Some(r#"{"name":"a","description":"When an invoice is paid in QuickBooks, post to #finance in Slack.","connectors":["nosuch"]}"#.into()),
            "unknown connector",
        ),
        (Method::GET, "/v1/agents/agt_01J8K2M9P3Q4R5S6T7U8V9W0".into(), None, "the seed's illustrative id is not a ULID"),
        (Method::GET, "/v1/agents/run_01J8K3N0P1Q2R3S4T5V6V7W8XY".into(), None, "wrong prefix"),
        (Method::GET, "/v1/runs/nope".into(), None, "bad run id"),
        (Method::GET, "/v1/escalations/esc_".into(), None, "bad escalation id"),
        (Method::POST, "/v1/agents/xyz/activate".into(), None, "bad id on activate"),
        (Method::POST, "/v1/escalations/esc_1/resolve".into(), Some(r#"{"action":"approve"}"#.into()), "bad id on resolve"),
        (Method::GET, "/v1/agents?limit=0".into(), None, "limit 0"),
        (Method::GET, "/v1/agents?limit=101".into(), None, "limit 101"),
        (Method::GET, "/v1/runs?limit=abc".into(), None, "limit not a number"),
        (Method::GET, "/v1/escalations?limit=-1".into(), None, "negative limit"),
        (Method::GET, "/v1/agents?status=deleted".into(), None, "bad agent status"),
        (Method::GET, "/v1/runs?status=done".into(), None, "bad run status"),
        (Method::GET, "/v1/escalations?status=closed".into(), None, "bad escalation status"),
        (Method::GET, "/v1/runs?agent_id=agt_x".into(), None, "bad agent_id filter"),
        (Method::GET, "/v1/escalations?run_id=x".into(), None, "bad run_id filter"),
        (Method::GET, "/v1/agents?cursor=cur_garbage".into(), None, "bad cursor"),
        (Method::GET, "/v1/agents?colour=red".into(), None, "unknown query parameter"),
        (
            Method::POST,
            format!("/v1/agents/{id}/runs"),
            Some(r#"{"mode":"dry-run"}"#.into()),
            "bad mode",
        ),
        (
            Method::POST,
            format!("/v1/agents/{id}/runs"),
            Some(r#"{"mode":"test","input":[1]}"#.into()),
            "input not an object",
        ),
        (
            Method::POST,
            format!("/v1/agents/{id}/runs"),
            Some(r#"{"mode":"test","extra":1}"#.into()),
            "unknown run field",
        ),
    ];
    for (method, path, body, why) in cases {
        let r = s
            .call(Some(&k), method.clone(), &path, body.as_deref())
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{why}: {method} {path}: {}",
            r.body
        );
        assert_eq!(r.code(), "invalid_request", "{why}");
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
    }

    // A resolve body with an unknown action or field.
    let run = s
        .post(&k, &format!("/v1/agents/{id}/runs"), r#"{"mode":"test"}"#)
        .await;
    let rid = run.body["run_id"].as_str().unwrap().parse().unwrap();
    s.engine.wait_for_run(s.a.workspace, rid).await.unwrap();
    let esc = s.get(&k, "/v1/escalations").await.body["escalations"][0]["escalation_id"]
        .as_str()
        .unwrap()
        .to_string();
    for body in [
        r#"{"action":"maybe"}"#,
        r#"{"action":"approve","by":"me"}"#,
        r#"{}"#,
    ] {
        let r = s
            .post(&k, &format!("/v1/escalations/{esc}/resolve"), body)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
    }

    // Unknown ids of the right shape: 404.
    let missing = s.get(&k, "/v1/runs/run_01J8K3N0P1Q2R3S4T5V6V7W8XY").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Unknown routes and wrong methods: JSON errors too.
    let nowhere = s
        .send(s.http.get(s.url("/v1/nowhere")).bearer_auth(&k))
        .await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(nowhere.code(), "route_not_found");
    let root = s.send(s.http.get(s.url("/"))).await;
    assert_eq!(root.status, StatusCode::NOT_FOUND);
    let wrong = s
        .send(s.http.delete(s.url("/v1/agents")).bearer_auth(&k))
        .await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.code(), "method_not_allowed");
}

#[tokio::test]
async fn description_unrecognized_is_a_clear_error() {
    let s = TestServer::start().await;
    let r = s
        .post(
            &s.a.key,
            "/v1/agents",
            r#"{"name":"poem","description":"The quick brown fox jumps over the lazy dog."}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.code(), "description_unrecognized");
}
