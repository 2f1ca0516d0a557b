//! Authentication and workspace isolation over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestServer;
use nexwatt_engine::id::RunId;
use nexwatt_server::keys;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn missing_wrong_malformed_and_revoked_keys_get_401() {
    let s = TestServer::start().await;
    let paths = [
        (Method::GET, "/v1/agents"),
        (Method::POST, "/v1/agents"),
        (Method::GET, "/v1/runs"),
        (Method::GET, "/v1/escalations"),
    ];
    for (method, path) in &paths {
        let none = s.call(None, method.clone(), path, None).await;
        assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(none.code(), "unauthorized");
        assert!(none.headers.get("www-authenticate").is_some());

        let wrong = s
            .call(Some(&keys::generate_secret()), method.clone(), path, None)
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        let junk = s.call(Some("not-a-key"), method.clone(), path, None).await;
        assert_eq!(junk.status, StatusCode::UNAUTHORIZED);
    }
    // Basic auth and a bare token are not bearer keys.
    let basic = s
        .send(
            s.http
                .get(s.url("/v1/agents"))
                .header("authorization", format!("Basic {}", s.a.key)),
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    let bare = s
        .send(
            s.http
                .get(s.url("/v1/agents"))
                .header("authorization", s.a.key.clone()),
        )
        .await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);

    // The key works until it is revoked.
    assert_eq!(s.get(&s.a.key, "/v1/agents").await.status, StatusCode::OK);
    let key_id = s.storage.list_api_keys(Some(s.a.workspace)).await.unwrap()[0]
        .id
        .to_string();
    keys::revoke_key(s.storage.as_ref(), &key_id).await.unwrap();
    let revoked = s.get(&s.a.key, "/v1/agents").await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert!(revoked.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    // The other workspace's key is untouched.
    assert_eq!(s.get(&s.b.key, "/v1/agents").await.status, StatusCode::OK);
}

#[tokio::test]
async fn another_workspaces_ids_are_404_on_every_endpoint_and_lists_are_disjoint() {
    let s = TestServer::start().await;
    // Workspace A: an agent, a test run waiting at its escalation.
    let agent = s.seed_agent(&s.a).await;
    let agent_id = agent["agent_id"].as_str().unwrap().to_string();
    let run = s
        .post(
            &s.a.key,
            &format!("/v1/agents/{agent_id}/runs"),
            r#"{"mode":"test"}"#,
        )
        .await;
    let run_id = run.body["run_id"].as_str().unwrap().to_string();
    let rid: RunId = run_id.parse().unwrap();
    s.engine.wait_for_run(s.a.workspace, rid).await.unwrap();
    let escs = s.get(&s.a.key, "/v1/escalations").await;
    let esc_id = escs.body["escalations"][0]["escalation_id"]
        .as_str()
        .unwrap()
        .to_string();

    let b = &s.b.key;
    let gets = [
        format!("/v1/agents/{agent_id}"),
        format!("/v1/runs/{run_id}"),
        format!("/v1/escalations/{esc_id}"),
    ];
    for path in &gets {
        let r = s.get(b, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "GET {path}: {}", r.body);
        assert_eq!(r.code(), "not_found");
        assert!(
            !r.body.to_string().contains("invoice"),
            "leaks data: {}",
            r.body
        );
    }
    let posts = [
        (format!("/v1/agents/{agent_id}/activate"), None),
        (format!("/v1/agents/{agent_id}/pause"), None),
        (
            format!("/v1/agents/{agent_id}/runs"),
            Some(r#"{"mode":"test"}"#),
        ),
        (
            format!("/v1/escalations/{esc_id}/resolve"),
            Some(r#"{"action":"abort","resolution_note":"not yours"}"#),
        ),
    ];
    for (path, body) in &posts {
        let r = s.call(Some(b), Method::POST, path, *body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "POST {path}: {}", r.body);
        assert_eq!(r.code(), "not_found");
    }
    // Lists in B see nothing of A, even when filtered by A's ids.
    for path in [
        "/v1/agents".to_string(),
        "/v1/runs".to_string(),
        format!("/v1/runs?agent_id={agent_id}"),
        "/v1/escalations".to_string(),
        format!("/v1/escalations?run_id={run_id}"),
        format!("/v1/escalations?agent_id={agent_id}"),
    ] {
        let r = s.get(b, &path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let items = r
            .body
            .as_object()
            .unwrap()
            .iter()
            .find_map(|(k, v)| (k != "next_cursor").then_some(v))
            .unwrap();
        assert!(items.as_array().unwrap().is_empty(), "{path}: {}", r.body);
    }
    // A's cursor is refused in B, not followed.
    for _ in 0..2 {
        let body = common::SEED_CREATE.replace("invoice-sync-v1", "another");
        s.post(&s.a.key, "/v1/agents", &body).await;
    }
    let page = s.get(&s.a.key, "/v1/agents?limit=1").await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    let foreign = s.get(b, &format!("/v1/agents?cursor={cursor}")).await;
    assert!(
        foreign.status == StatusCode::BAD_REQUEST
            || foreign.body["agents"]
                .as_array()
                .is_some_and(|a| a.is_empty()),
        "{}",
        foreign.body
    );

    // And A's state is unchanged by B's attempts.
    let esc = s.get(&s.a.key, &format!("/v1/escalations/{esc_id}")).await;
    assert_eq!(esc.body["status"], "open");
    let agent = s.get(&s.a.key, &format!("/v1/agents/{agent_id}")).await;
    assert_eq!(agent.body["status"], "draft");
}
