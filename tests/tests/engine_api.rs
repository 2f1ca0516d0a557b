//! The Engine facade: agents, runs and escalations as the seed's API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nexwatt_engine::id::{AgentId, WorkspaceId};
use nexwatt_engine::model::{AgentStatus, RunMode, RunStatus, StepStatus};
use nexwatt_engine::storage::{AgentFilter, PageRequest, RunFilter};
use nexwatt_engine::{CreateAgent, ErrorKind, StartRun};
use nexwatt_tests::{step, Harness};
use serde_json::json;

fn req(name: &str, description: &str) -> CreateAgent {
    CreateAgent {
        name: name.into(),
        description: description.into(),
        connectors: vec![],
        confidence_threshold: None,
        actor: "tester".into(),
    }
}

fn two_steps() -> Vec<nexwatt_engine::model::Step> {
    vec![
        step(1, "core.manual", &[]),
        step(2, "acme.record.find", &[1]),
    ]
}

#[tokio::test]
async fn create_agent_validates_its_request() {
    let h = Harness::new(two_steps(), vec![]).await;
    let e = &h.engine;
    let cases = [
        req("", "find the record"),
        req(&"x".repeat(101), "find the record"),
        req("ok", ""),
        req("ok", "   "),
        req("ok", &"a".repeat(2001)),
        CreateAgent {
            connectors: vec!["nosuchthing".into()],
            ..req("ok", "find the record")
        },
        CreateAgent {
            confidence_threshold: Some(1.5),
            ..req("ok", "find the record")
        },
    ];
    for case in cases {
        let err = e.create_agent(h.ws, case.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{case:?}: {err}");
        assert_eq!(err.code(), "invalid_request");
    }
    let err = e
        .create_agent(h.ws, req("ok", "UNRECOGNIZED gibberish"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DescriptionUnrecognized);
    // Exactly 100 characters and 2000 characters are fine.
    e.create_agent(h.ws, req(&"n".repeat(100), &"d".repeat(2000)))
        .await
        .unwrap();
}

#[tokio::test]
async fn agents_are_created_as_drafts_listed_activated_and_paused() {
    let h = Harness::new(two_steps(), vec![]).await;
    let e = &h.engine;
    let a = e.create_agent(h.ws, req("a", "find it")).await.unwrap();
    assert_eq!(a.status, AgentStatus::Draft);
    assert_eq!(a.steps_extracted(), 2);
    assert_eq!(e.get_agent(h.ws, a.id).await.unwrap(), a);
    let b = e.create_agent(h.ws, req("b", "find it")).await.unwrap();

    let active = e.activate_agent(h.ws, a.id, "tester").await.unwrap();
    assert_eq!(active.status, AgentStatus::Active);
    // Activating again changes nothing.
    assert_eq!(
        e.activate_agent(h.ws, a.id, "tester").await.unwrap(),
        active
    );
    let paused = e.pause_agent(h.ws, a.id, "tester").await.unwrap();
    assert_eq!(paused.status, AgentStatus::Paused);
    assert_eq!(
        e.get_agent(h.ws, a.id).await.unwrap().status,
        AgentStatus::Paused
    );

    let drafts = e
        .list_agents(
            h.ws,
            AgentFilter {
                status: Some(AgentStatus::Draft),
            },
            PageRequest::first(),
        )
        .await
        .unwrap();
    assert_eq!(
        drafts.items.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![b.id]
    );
    let page1 = e
        .list_agents(
            h.ws,
            AgentFilter::default(),
            PageRequest::new(1, None).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(page1.items[0].id, a.id);
    let page2 = e
        .list_agents(
            h.ws,
            AgentFilter::default(),
            PageRequest::new(1, page1.next_cursor).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(page2.items[0].id, b.id);
}

#[tokio::test]
async fn other_workspaces_see_nothing() {
    let h = Harness::new(two_steps(), vec![]).await;
    let e = &h.engine;
    let a = h.agent().await;
    let run = h.run(&a, RunMode::Test, json!({})).await;
    let other = WorkspaceId::generate();
    assert_eq!(
        e.get_agent(other, a.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        e.get_run(other, run.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        e.activate_agent(other, a.id, "x").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let start = StartRun {
        mode: RunMode::Test,
        input: json!({}),
        actor: "x".into(),
    };
    assert_eq!(
        e.start_run(other, a.id, start.clone())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        e.start_run(h.ws, AgentId::generate(), start)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert!(e
        .list_runs(other, RunFilter::default(), PageRequest::first())
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn live_runs_need_an_active_agent_test_runs_do_not() {
    let h = Harness::new(two_steps(), vec![]).await;
    let e = &h.engine;
    let a = h.agent().await;
    let live = StartRun {
        mode: RunMode::Live,
        input: json!({"invoice_id": "INV-4419"}),
        actor: "tester".into(),
    };
    let err = e.start_run(h.ws, a.id, live.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.message().contains("agent_not_active"), "{err}");
    // Test mode works on a draft.
    let run = h.run(&a, RunMode::Test, json!({})).await;
    assert_eq!(run.status, RunStatus::Completed);
    // Bad input shape.
    let bad = StartRun {
        mode: RunMode::Test,
        input: json!([1, 2]),
        actor: "tester".into(),
    };
    assert_eq!(
        e.start_run(h.ws, a.id, bad).await.unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
    e.activate_agent(h.ws, a.id, "tester").await.unwrap();
    let run = e.start_run(h.ws, a.id, live.clone()).await.unwrap();
    assert!(matches!(run.status, RunStatus::Queued | RunStatus::Running));
    let run = e.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.input, json!({"invoice_id": "INV-4419"}));
    assert_eq!(
        h.live.calls().len(),
        1,
        "the live run called the live client"
    );
    assert_eq!(
        h.acme.calls().len(),
        1,
        "the test run called the sandbox only"
    );
    e.pause_agent(h.ws, a.id, "tester").await.unwrap();
    assert_eq!(
        e.start_run(h.ws, a.id, live).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
}

#[tokio::test]
async fn runs_are_listed_by_agent_and_detailed_with_every_step() {
    let h = Harness::new(two_steps(), vec![]).await;
    let e = &h.engine;
    let a = h.agent().await;
    let b = h.agent().await;
    let r1 = h.run(&a, RunMode::Test, json!({})).await;
    let _r2 = h.run(&b, RunMode::Test, json!({})).await;
    let r3 = h.run(&a, RunMode::Test, json!({})).await;
    let of_a = e
        .list_runs(
            h.ws,
            RunFilter {
                agent: Some(a.id),
                status: None,
            },
            PageRequest::first(),
        )
        .await
        .unwrap();
    assert_eq!(
        of_a.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![r1.id, r3.id]
    );
    let all = e
        .list_runs(h.ws, RunFilter::default(), PageRequest::first())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    let detail = e.get_run(h.ws, r1.id).await.unwrap();
    assert_eq!(detail.run.steps_completed, 2);
    assert!(detail.run.started_at.is_some() && detail.run.completed_at.is_some());
    assert_eq!(detail.steps.len(), 2);
    assert!(detail
        .steps
        .iter()
        .all(|s| s.status == StepStatus::Succeeded));
    assert_eq!(detail.steps[1].idempotency_key, format!("{}-2", r1.id));
}
