//! The seed's walkthrough over HTTP against a real server on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestServer, SEED_CREATE};
use nexwatt_engine::id::RunId;
use reqwest::StatusCode;
use serde_json::Value;

fn is_seed_timestamp(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    s.len() == 20
        && s.ends_with('Z')
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
        && s.as_bytes()[10] == b'T'
}

#[tokio::test]
async fn seed_walkthrough_create_run_escalate_resolve_complete() {
    let s = TestServer::start().await;
    let key = s.a.key.clone();

    // agents.create with the seed's body, exactly.
    let created = s.post(&key, "/v1/agents", SEED_CREATE).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let agent = &created.body;
    let mut fields: Vec<&str> = agent
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "agent_id",
            "created_at",
            "name",
            "status",
            "steps_extracted",
            "steps_flagged"
        ]
    );
    assert_eq!(agent["name"], "invoice-sync-v1");
    assert_eq!(agent["status"], "draft");
    assert_eq!(agent["steps_extracted"], 5);
    assert_eq!(agent["steps_flagged"], 1);
    assert!(
        is_seed_timestamp(&agent["created_at"]),
        "{}",
        agent["created_at"]
    );
    let agent_id = agent["agent_id"].as_str().unwrap().to_string();
    assert!(agent_id.starts_with("agt_"));

    // The agent with its plan.
    let detail = s.get(&key, &format!("/v1/agents/{agent_id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    let steps = detail.body["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert_eq!(steps.iter().filter(|s| s["flagged"] == true).count(), 1);
    assert_eq!(steps[0]["step"], 1);
    assert_eq!(steps[0]["connector"], "quickbooks");

    // It is listed, as a draft.
    let list = s.get(&key, "/v1/agents?status=draft").await;
    assert_eq!(list.body["agents"][0]["agent_id"], agent_id.as_str());
    assert!(list.body["next_cursor"].is_null());

    // agents.run in test mode.
    let run = s
        .post(
            &key,
            &format!("/v1/agents/{agent_id}/runs"),
            r#"{"mode": "test", "input": {"invoice_id": "INV-4419"}}"#,
        )
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.body);
    assert_eq!(run.body["mode"], "test");
    let run_id = run.body["run_id"].as_str().unwrap().to_string();
    let rid: RunId = run_id.parse().unwrap();

    // The flagged step stops the run for review.
    let waiting = s.engine.wait_for_run(s.a.workspace, rid).await.unwrap();
    assert_eq!(waiting.status.as_str(), "awaiting_review");

    // runs.list shows it with the seed's fields.
    let runs = s.get(&key, "/v1/runs").await;
    assert_eq!(runs.status, StatusCode::OK);
    let r = &runs.body["runs"][0];
    for f in [
        "run_id",
        "agent_id",
        "status",
        "steps_completed",
        "started_at",
        "completed_at",
    ] {
        assert!(r.get(f).is_some(), "runs[0] lacks {f}: {r}");
    }
    assert_eq!(r["run_id"], run_id.as_str());
    assert_eq!(r["status"], "awaiting_review");
    assert!(runs.body.get("next_cursor").is_some());
    let by_agent = s
        .get(
            &key,
            &format!("/v1/runs?agent_id={agent_id}&status=awaiting_review"),
        )
        .await;
    assert_eq!(by_agent.body["runs"].as_array().unwrap().len(), 1);

    // escalations.list shows the low-confidence escalation.
    let escs = s
        .get(
            &key,
            &format!("/v1/escalations?status=open&run_id={run_id}"),
        )
        .await;
    assert_eq!(escs.status, StatusCode::OK);
    let list = escs.body["escalations"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", escs.body);
    let esc = &list[0];
    assert_eq!(esc["reason"], "low_confidence");
    assert_eq!(esc["status"], "open");
    assert_eq!(esc["run_id"], run_id.as_str());
    let flagged_step = steps.iter().find(|s| s["flagged"] == true).unwrap()["step"].clone();
    assert_eq!(esc["step"], flagged_step);
    let esc_id = esc["escalation_id"].as_str().unwrap().to_string();

    // escalations.resolve with approve and a note.
    let resolved = s
        .post(
            &key,
            &format!("/v1/escalations/{esc_id}/resolve"),
            r#"{"action": "approve", "resolution_note": "Checked the deal match by hand"}"#,
        )
        .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(resolved.body["status"], "resolved");
    assert_eq!(resolved.body["resolution"]["action"], "approve");
    assert_eq!(
        resolved.body["resolution"]["resolution_note"],
        "Checked the deal match by hand"
    );

    // Resolving again is a conflict.
    let again = s
        .post(
            &key,
            &format!("/v1/escalations/{esc_id}/resolve"),
            r#"{"action": "approve"}"#,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "conflict");

    // The run completes.
    let done = s.engine.wait_for_run(s.a.workspace, rid).await.unwrap();
    assert_eq!(done.status.as_str(), "completed");
    let shown = s.get(&key, &format!("/v1/runs/{run_id}")).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body["status"], "completed");
    assert_eq!(shown.body["steps_completed"], 5);
    assert!(is_seed_timestamp(&shown.body["started_at"]));
    assert!(is_seed_timestamp(&shown.body["completed_at"]));
    let records = shown.body["steps"].as_array().unwrap();
    assert_eq!(records.len(), 5);
    assert!(
        records.iter().all(|r| r["status"] == "succeeded"),
        "{}",
        shown.body
    );

    // No open escalations remain.
    let open = s.get(&key, "/v1/escalations?status=open").await;
    assert!(open.body["escalations"].as_array().unwrap().is_empty());
    let one = s.get(&key, &format!("/v1/escalations/{esc_id}")).await;
    assert_eq!(one.body["status"], "resolved");
}

#[tokio::test]
async fn activate_pause_and_live_runs() {
    let s = TestServer::start().await;
    let key = s.a.key.clone();
    let agent = s.seed_agent(&s.a).await;
    let id = agent["agent_id"].as_str().unwrap();

    // A draft agent does not run live.
    let live = s
        .post(
            &key,
            &format!("/v1/agents/{id}/runs"),
            r#"{"mode":"live","input":{}}"#,
        )
        .await;
    assert_eq!(live.status, StatusCode::CONFLICT, "{}", live.body);

    let active = s
        .post_empty(&key, &format!("/v1/agents/{id}/activate"))
        .await;
    assert_eq!(active.status, StatusCode::OK, "{}", active.body);
    assert_eq!(active.body["status"], "active");
    let listed = s.get(&key, "/v1/agents?status=active").await;
    assert_eq!(listed.body["agents"].as_array().unwrap().len(), 1);
    let paused = s.post_empty(&key, &format!("/v1/agents/{id}/pause")).await;
    assert_eq!(paused.body["status"], "paused");
    assert!(s.get(&key, "/v1/agents?status=active").await.body["agents"]
        .as_array()
        .unwrap()
        .is_empty());

    // An empty body starts a live run: refused for a paused agent.
    let empty = s.post_empty(&key, &format!("/v1/agents/{id}/runs")).await;
    assert_eq!(empty.status, StatusCode::CONFLICT, "{}", empty.body);
}

#[tokio::test]
async fn lists_page_by_cursor() {
    let s = TestServer::start().await;
    let key = s.a.key.clone();
    let mut made = Vec::new();
    for i in 0..5 {
        let body = SEED_CREATE.replace("invoice-sync-v1", &format!("agent-{i}"));
        let a = s.post(&key, "/v1/agents", &body).await;
        made.push(a.body["agent_id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/agents?limit=2&cursor={c}"),
            None => "/v1/agents?limit=2".to_string(),
        };
        let page = s.get(&key, &path).await;
        assert_eq!(page.status, StatusCode::OK);
        let agents = page.body["agents"].as_array().unwrap();
        assert!(agents.len() <= 2);
        seen.extend(
            agents
                .iter()
                .map(|a| a["agent_id"].as_str().unwrap().to_string()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => {
                assert!(c.starts_with("cur_"));
                cursor = Some(c.to_string());
            }
            None => break,
        }
    }
    assert_eq!(seen, made);
}
