//! The runner: dependency order, parallel branches, bindings, built-ins,
//! retries with backoff, timeouts — all under tokio's paused clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use nexwatt_engine::connector::ConnectorError;
use nexwatt_engine::model::{EscalationReason, RunMode, RunStatus, StepStatus};
use nexwatt_engine::storage::{EscalationFilter, PageRequest};
use nexwatt_engine::EngineLimits;
use nexwatt_tests::{step, Harness, Reply, StepExt};
use serde_json::json;
use tokio::sync::Notify;
use tokio::time::Instant;

async fn only_escalation(
    h: &Harness,
    run: nexwatt_engine::id::RunId,
) -> nexwatt_engine::model::Escalation {
    let page = h
        .engine
        .list_escalations(
            h.ws,
            EscalationFilter {
                run: Some(run),
                ..Default::default()
            },
            PageRequest::first(),
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1, "{:?}", page.items);
    page.items.into_iter().next().unwrap()
}

#[tokio::test(start_paused = true)]
async fn steps_run_in_order_with_bound_inputs_and_the_simulated_trigger() {
    let h = Harness::new(
        vec![
            step(1, "acme.event.received", &[]),
            step(2, "acme.record.find", &[1]).bind("invoice", 1, "invoice_id"),
            step(3, "acme.message.send", &[2])
                .param("channel", json!("#finance"))
                .bind("text", 2, "record.name")
                .bind("amount", 1, "amount"),
        ],
        vec![],
    )
    .await;
    h.acme.script(
        "record.find",
        [Reply::Ok(json!({"record": {"name": "Deal 7", "id": 7}}))],
    );
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({"amount": 5})).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.steps_completed, 3);
    // Test mode: the manifest's example payload under the caller's input.
    assert_eq!(
        run.input,
        json!({"invoice_id": "INV-1", "amount": 5, "customer": "Acme Ltd"})
    );
    let calls = h.acme.calls();
    assert_eq!(
        calls
            .iter()
            .map(|c| c.operation.as_str())
            .collect::<Vec<_>>(),
        ["record.find", "message.send"]
    );
    assert_eq!(calls[0].input["invoice"], json!("INV-1"));
    assert_eq!(
        calls[1].input,
        json!({"channel": "#finance", "text": "Deal 7", "amount": 5,
               "invoice_id": "INV-1", "customer": "Acme Ltd", "record": {"name": "Deal 7", "id": 7}})
    );
    assert!(calls.iter().all(|c| c.mode == RunMode::Test));
    assert_eq!(calls[1].key, format!("{}-3", run.id));
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(
        detail.steps[1].output,
        Some(json!({"record": {"name": "Deal 7", "id": 7}}))
    );
    assert!(h.live.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn independent_branches_run_concurrently_and_joins_wait_for_both() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.find", &[1]),
            step(3, "acme.record.get", &[1]),
            step(4, "acme.message.send", &[2, 3]),
        ],
        vec![],
    )
    .await;
    let release = Arc::new(Notify::new());
    h.acme.script(
        "record.find",
        [Reply::WaitThen(Arc::clone(&release), json!({"found": 1}))],
    );
    let agent = h.agent().await;
    let run = h
        .engine
        .start_run(
            h.ws,
            agent.id,
            nexwatt_engine::StartRun {
                mode: RunMode::Test,
                input: json!({}),
                actor: "t".into(),
            },
        )
        .await
        .unwrap();
    // Step 3 is called while step 2 is still in flight: they run at once.
    h.acme.wait_calls(2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.acme.calls().len(), 2, "the join must wait for step 2");
    release.notify_one();
    let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let ops: Vec<_> = h.acme.calls().into_iter().map(|c| c.step).collect();
    assert_eq!(ops[2], 4);
    assert_eq!(h.engine.active_runs(), 0, "a finished run holds no task");
}

#[tokio::test(start_paused = true)]
async fn concurrency_per_run_is_bounded() {
    let mut steps = vec![step(1, "core.manual", &[])];
    for n in 2..=6 {
        steps.push(step(n, "acme.record.get", &[1]));
    }
    let h = Harness::with(steps, vec![], |b| {
        b.limits(EngineLimits {
            max_concurrent_steps_per_run: 2,
            ..nexwatt_tests::test_limits()
        })
    })
    .await;
    let release = Arc::new(Notify::new());
    h.acme.script(
        "record.get",
        (0..5).map(|_| Reply::WaitThen(Arc::clone(&release), json!({}))),
    );
    let agent = h.agent().await;
    let run = h
        .engine
        .start_run(
            h.ws,
            agent.id,
            nexwatt_engine::StartRun {
                mode: RunMode::Test,
                input: json!({}),
                actor: "t".into(),
            },
        )
        .await
        .unwrap();
    for expected in [2, 4, 5] {
        h.acme.wait_calls(expected).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(h.acme.calls().len(), expected, "at most 2 in flight");
        release.notify_one();
        release.notify_one();
    }
    let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_back_off_exponentially_with_jitter() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.find", &[1]),
        ],
        vec![],
    )
    .await;
    h.acme.script(
        "record.find",
        [
            Reply::Err(ConnectorError::retryable("unavailable", "503")),
            Reply::Err(ConnectorError::retryable("unavailable", "503")),
            Reply::Ok(json!({"found": true})),
        ],
    );
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(run.status, RunStatus::Completed);
    let calls = h.acme.calls();
    assert_eq!(calls.len(), 3);
    let gap1 = calls[1].at - calls[0].at;
    let gap2 = calls[2].at - calls[1].at;
    // base 100 ms: first wait in [50, 100] ms, second in [100, 200] ms.
    assert!(
        gap1 >= Duration::from_millis(50) && gap1 <= Duration::from_millis(100),
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(100) && gap2 <= Duration::from_millis(200),
        "{gap2:?}"
    );
    assert!(
        calls.iter().all(|c| c.key == calls[0].key),
        "same idempotency key"
    );
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(detail.steps[1].attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.find", &[1]),
        ],
        vec![],
    )
    .await;
    h.acme.script(
        "record.find",
        [
            Reply::Err(ConnectorError::rate_limited(Some(Duration::from_secs(7)))),
            Reply::Ok(json!({})),
        ],
    );
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(run.status, RunStatus::Completed);
    let calls = h.acme.calls();
    assert_eq!(calls[1].at - calls[0].at, Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_and_permanent_errors_escalate_api_error() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.find", &[1]),
            step(3, "acme.record.get", &[1]),
        ],
        vec![],
    )
    .await;
    h.acme.script(
        "record.find",
        (0..3).map(|_| Reply::Err(ConnectorError::retryable("unavailable", "503 from acme"))),
    );
    h.acme.script(
        "record.get",
        [Reply::Err(ConnectorError::permanent(
            "unauthorized",
            "401 from acme",
        ))],
    );
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(run.status, RunStatus::AwaitingReview);
    assert_eq!(h.acme.calls_of("record.find").len(), 3);
    assert_eq!(
        h.acme.calls_of("record.get").len(),
        1,
        "permanent: no retry"
    );
    let escalations = h
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
        .unwrap()
        .items;
    assert_eq!(escalations.len(), 2);
    assert!(escalations
        .iter()
        .all(|e| e.reason == EscalationReason::ApiError));
    let find = escalations.iter().find(|e| e.step == 2).unwrap();
    assert!(find.message.contains("3 times"), "{}", find.message);
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(detail.steps[1].status, StepStatus::Failed);
    assert_eq!(detail.steps[2].error.as_ref().unwrap().code, "unauthorized");
}

#[tokio::test(start_paused = true)]
async fn a_step_that_hangs_times_out() {
    let h = Harness::with(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.find", &[1]),
        ],
        vec![],
        |b| {
            b.limits(EngineLimits {
                step_timeout: Duration::from_secs(12),
                ..nexwatt_tests::test_limits()
            })
        },
    )
    .await;
    h.acme.script("record.find", [Reply::Hang]);
    let agent = h.agent().await;
    let start = Instant::now();
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(start.elapsed(), Duration::from_secs(12));
    assert_eq!(run.status, RunStatus::AwaitingReview);
    let esc = only_escalation(&h, run.id).await;
    assert_eq!(esc.reason, EscalationReason::Timeout);
    assert_eq!(esc.step, 2);
    assert_eq!(
        h.acme.calls().len(),
        1,
        "a timed-out call is not retried blindly"
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_timeout_is_thirty_seconds() {
    let h = Harness::with(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.find", &[1]),
        ],
        vec![],
        |b| b.limits(EngineLimits::default()),
    )
    .await;
    h.acme.script("record.find", [Reply::Hang]);
    let agent = h.agent().await;
    let start = Instant::now();
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    assert_eq!(
        only_escalation(&h, run.id).await.reason,
        EscalationReason::Timeout
    );
}

#[tokio::test(start_paused = true)]
async fn a_false_condition_skips_the_steps_it_guards() {
    let steps = || {
        vec![
            step(1, "core.manual", &[]),
            step(2, "core.if", &[1]).param("condition", json!("amount > 1000")),
            step(3, "acme.record.update", &[2]),
            step(4, "acme.message.send", &[3]),
            step(5, "acme.record.get", &[1]),
        ]
    };
    let h = Harness::new(steps(), vec![]).await;
    let agent = h.agent().await;
    let small = h.run(&agent, RunMode::Test, json!({"amount": 900})).await;
    assert_eq!(small.status, RunStatus::Completed);
    let detail = h.engine.get_run(h.ws, small.id).await.unwrap();
    let statuses: Vec<_> = detail.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            StepStatus::Succeeded,
            StepStatus::Succeeded,
            StepStatus::Skipped,
            StepStatus::Skipped,
            StepStatus::Succeeded
        ]
    );
    assert_eq!(
        detail.steps[1].output.as_ref().unwrap()["result"],
        json!(false)
    );
    assert_eq!(
        h.acme
            .calls()
            .iter()
            .map(|c| c.operation.as_str())
            .collect::<Vec<_>>(),
        ["record.get"]
    );
    let big = h
        .run(&agent, RunMode::Test, json!({"amount": "$5,000"}))
        .await;
    assert_eq!(big.status, RunStatus::Completed);
    let detail = h.engine.get_run(h.ws, big.id).await.unwrap();
    assert!(detail
        .steps
        .iter()
        .all(|s| s.status == StepStatus::Succeeded));
}

#[tokio::test(start_paused = true)]
async fn a_condition_on_a_missing_field_escalates() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "core.if", &[1]).param("condition", json!("country == EU")),
            step(3, "acme.record.update", &[2]),
        ],
        vec![],
    )
    .await;
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({"amount": 1})).await;
    assert_eq!(run.status, RunStatus::AwaitingReview);
    let esc = only_escalation(&h, run.id).await;
    assert_eq!(esc.reason, EscalationReason::ApiError);
    assert!(esc.message.contains("country"), "{}", esc.message);
}

#[tokio::test(start_paused = true)]
async fn delays_wait_in_live_runs_and_are_recorded_in_test_runs() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "core.delay", &[1]).param("duration", json!("2h")),
            step(3, "acme.record.get", &[2]),
        ],
        vec![],
    )
    .await;
    let agent = h.agent().await;
    let start = Instant::now();
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(start.elapsed(), Duration::ZERO, "test runs do not wait");
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(
        detail.steps[1].output.as_ref().unwrap()["waited"],
        json!(false)
    );

    h.engine.activate_agent(h.ws, agent.id, "t").await.unwrap();
    let start = Instant::now();
    let run = h.run(&agent, RunMode::Live, json!({})).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(start.elapsed(), Duration::from_secs(7200));
    assert_eq!(h.live.calls().len(), 1);
    assert_eq!(h.live.calls()[0].at - start, Duration::from_secs(7200));
}
