//! `Engine::run_inline`: a run driven on the caller's task, with the same
//! commits, escalations and waiters as one started in the background, and
//! handed to a background driver if the caller stops waiting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use nexwatt_engine::model::{
    EscalationReason, EscalationStatus, ResolutionAction, RunMode, RunStatus, StepStatus,
};
use nexwatt_engine::storage::{EscalationFilter, PageRequest};
use nexwatt_engine::{Resolve, StartRun};
use nexwatt_tests::{step, Harness, Reply, StepExt};
use serde_json::json;
use tokio::sync::Notify;

fn start(mode: RunMode) -> StartRun {
    StartRun {
        mode,
        input: json!({"amount": 5}),
        actor: "tester".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn an_inline_run_completes_with_every_step_committed() {
    let h = Harness::new(
        vec![
            step(1, "acme.event.received", &[]),
            step(2, "acme.record.find", &[1]).bind("invoice", 1, "invoice_id"),
            step(3, "acme.message.send", &[2]).bind("text", 2, "record.name"),
        ],
        vec![],
    )
    .await;
    h.acme.script(
        "record.find",
        [Reply::Ok(json!({"record": {"name": "Deal 7"}}))],
    );
    let agent = h.agent().await;
    let run = h
        .engine
        .run_inline(h.ws, agent.id, start(RunMode::Test))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.steps_completed, 3);
    // What it returns is what storage holds.
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(detail.run, run);
    assert!(detail
        .steps
        .iter()
        .all(|s| s.status == StepStatus::Succeeded));
    assert_eq!(h.acme.calls_of("message.send")[0].input["text"], "Deal 7");
    // Nothing is left registered, and a waiter gets the settled run.
    assert_eq!(h.engine.active_runs(), 0);
    assert_eq!(h.engine.wait_for_run(h.ws, run.id).await.unwrap(), run);
}

#[tokio::test(start_paused = true)]
async fn an_inline_run_returns_at_an_escalation_and_resolving_resumes_it() {
    let h = Harness::new(
        vec![
            step(1, "acme.event.received", &[]),
            step(2, "acme.record.find", &[1]).flagged(),
            step(3, "acme.message.send", &[2]),
        ],
        vec![],
    )
    .await;
    let agent = h.agent().await;
    let run = h
        .engine
        .run_inline(h.ws, agent.id, start(RunMode::Test))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::AwaitingReview);
    assert_eq!(run.steps_completed, 1);
    let page = h
        .engine
        .list_escalations(
            h.ws,
            EscalationFilter {
                run: Some(run.id),
                ..Default::default()
            },
            PageRequest::first(),
        )
        .await
        .unwrap();
    let esc = &page.items[0];
    assert_eq!(esc.reason, EscalationReason::LowConfidence);
    let resolved = h
        .engine
        .resolve_escalation(
            h.ws,
            esc.id,
            Resolve {
                action: ResolutionAction::Approve,
                note: Some("looks right".into()),
                actor: "dana".into(),
                input: None,
                output: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(resolved.status, EscalationStatus::Resolved);
    let done = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.steps_completed, 3);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_inline_run_carries_on_in_the_background() {
    let h = Harness::new(
        vec![
            step(1, "acme.event.received", &[]),
            step(2, "acme.record.find", &[1]),
            step(3, "acme.message.send", &[2]),
        ],
        vec![],
    )
    .await;
    // Step 2 waits until released: the inline future is dropped meanwhile.
    let release = Arc::new(Notify::new());
    h.acme.script(
        "record.find",
        [
            Reply::WaitThen(Arc::clone(&release), json!({"first": true})),
            Reply::Ok(json!({"second": true})),
        ],
    );
    let agent = h.agent().await;
    let engine = h.engine.clone();
    let ws = h.ws;
    let inline = tokio::spawn(async move {
        engine
            .run_inline(ws, agent.id, start(RunMode::Test))
            .await
            .unwrap()
    });
    h.acme.wait_calls(1).await;
    inline.abort();
    assert!(inline.await.unwrap_err().is_cancelled());

    // The run is still known as driven (a background driver took it over),
    // and completes: step 2 runs again (a read), with the same key.
    let page = h
        .engine
        .list_runs(h.ws, Default::default(), PageRequest::first())
        .await
        .unwrap();
    let run = &page.items[0];
    let done = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.steps_completed, 3);
    let finds = h.acme.calls_of("record.find");
    assert_eq!(finds.len(), 2, "{finds:?}");
    assert_eq!(finds[0].key, finds[1].key);
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(detail.steps[1].output, Some(json!({"second": true})));
    assert_eq!(h.engine.active_runs(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_inline_live_run_of_an_inactive_agent_is_refused_before_anything_is_written() {
    let h = Harness::new(vec![step(1, "acme.event.received", &[])], vec![]).await;
    let agent = h.agent().await; // a draft
    let err = h
        .engine
        .run_inline(h.ws, agent.id, start(RunMode::Live))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), nexwatt_engine::ErrorKind::Conflict);
    let page = h
        .engine
        .list_runs(h.ws, Default::default(), PageRequest::first())
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test(start_paused = true)]
async fn writes_are_audited_and_reads_live_in_their_step_records() {
    use nexwatt_engine::model::EventKind;
    use nexwatt_engine::storage::EventFilter;
    let h = Harness::new(
        vec![
            step(1, "acme.event.received", &[]),
            step(2, "acme.record.find", &[1]),
            step(3, "acme.message.send", &[2]),
        ],
        vec![],
    )
    .await;
    let agent = h.agent().await;
    let run = h
        .engine
        .run_inline(h.ws, agent.id, start(RunMode::Test))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let events = h
        .engine
        .list_events(
            h.ws,
            EventFilter {
                run: Some(run.id),
                agent: None,
            },
            PageRequest::first(),
        )
        .await
        .unwrap()
        .items;
    let steps_audited: Vec<(Option<u32>, EventKind)> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StepStarted | EventKind::StepSucceeded))
        .map(|e| (e.step, e.kind))
        .collect();
    // The write (step 3) is audited when it starts and when it ends; the
    // read (step 2) is not: its record says it all.
    assert_eq!(
        steps_audited,
        vec![
            (Some(3), EventKind::StepStarted),
            (Some(3), EventKind::StepSucceeded)
        ]
    );
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(detail.steps[1].status, StepStatus::Succeeded);
    assert_eq!(detail.steps[1].attempts, 1);
    assert!(detail.steps[1].finished_at.is_some());
}
