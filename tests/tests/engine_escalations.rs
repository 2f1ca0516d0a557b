//! Escalations: every reason, every resolution action, conflicts, and the
//! audit trail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use nexwatt_engine::clock::ManualClock;
use nexwatt_engine::connector::ConnectorError;
use nexwatt_engine::id::RunId;
use nexwatt_engine::model::{
    Escalation, EscalationReason, EscalationStatus, EventKind, OperationSelector, ResolutionAction,
    Rule, RuleCheck, RunMode, RunStatus, StepStatus,
};
use nexwatt_engine::storage::{EscalationFilter, EventFilter, PageRequest};
use nexwatt_engine::{ErrorKind, HostRule, Resolve, RuleContext};
use nexwatt_tests::{step, Harness, Reply, StepExt};
use serde_json::{json, Value};

async fn escalations(h: &Harness, run: RunId) -> Vec<Escalation> {
    h.engine
        .list_escalations(
            h.ws,
            EscalationFilter {
                run: Some(run),
                ..Default::default()
            },
            PageRequest::first(),
        )
        .await
        .unwrap()
        .items
}

async fn one_open(h: &Harness, run: RunId) -> Escalation {
    let open: Vec<_> = escalations(h, run)
        .await
        .into_iter()
        .filter(|e| e.status == EscalationStatus::Open)
        .collect();
    assert_eq!(open.len(), 1, "{open:?}");
    open.into_iter().next().unwrap()
}

fn resolve(action: ResolutionAction, note: &str) -> Resolve {
    Resolve {
        action,
        note: Some(note.into()),
        actor: "dana".into(),
        input: None,
        output: None,
    }
}

fn flagged_find() -> Vec<nexwatt_engine::model::Step> {
    vec![
        step(1, "core.manual", &[]),
        step(2, "acme.record.find", &[1]).flagged(),
        step(3, "acme.message.send", &[2]).bind("record", 2, "id"),
    ]
}

#[tokio::test(start_paused = true)]
async fn low_confidence_waits_before_the_step_runs_and_approve_runs_it() {
    let h = Harness::new(flagged_find(), vec![]).await;
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(run.status, RunStatus::AwaitingReview);
    assert!(h.acme.calls().is_empty(), "the flagged step did not run");
    assert_eq!(h.engine.active_runs(), 0, "a waiting run holds no task");
    let esc = one_open(&h, run.id).await;
    assert_eq!(esc.reason, EscalationReason::LowConfidence);
    assert_eq!(esc.step, 2);
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(detail.steps[1].status, StepStatus::AwaitingReview);
    assert_eq!(detail.steps[2].status, StepStatus::Pending);

    let resolved = h
        .engine
        .resolve_escalation(
            h.ws,
            esc.id,
            resolve(ResolutionAction::Approve, "matches by company name"),
        )
        .await
        .unwrap();
    assert_eq!(resolved.status, EscalationStatus::Resolved);
    let resolution = resolved.resolution.clone().unwrap();
    assert_eq!(resolution.actor, "dana");
    assert_eq!(resolution.action, ResolutionAction::Approve);
    let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.steps_completed, 3);
    assert_eq!(h.acme.calls().len(), 2);

    // The audit trail has the decision, its note and actor.
    let events = h
        .engine
        .list_events(
            h.ws,
            EventFilter {
                run: Some(run.id),
                ..Default::default()
            },
            PageRequest::new(100, None).unwrap(),
        )
        .await
        .unwrap()
        .items;
    let decision = events
        .iter()
        .find(|e| e.kind == EventKind::EscalationResolved)
        .unwrap();
    assert_eq!(decision.actor, "dana");
    assert!(decision.message.contains("matches by company name"));
    assert_eq!(decision.escalation_id, Some(esc.id));
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    for k in [
        EventKind::RunStarted,
        EventKind::EscalationOpened,
        EventKind::RunResumed,
        EventKind::StepSucceeded,
        EventKind::RunCompleted,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }

    // Resolving it again: conflict.
    let again = h
        .engine
        .resolve_escalation(h.ws, esc.id, resolve(ResolutionAction::Retry, "again"))
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict);
}

#[tokio::test(start_paused = true)]
async fn retry_runs_the_step_with_edited_input() {
    let h = Harness::new(flagged_find(), vec![]).await;
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    let esc = one_open(&h, run.id).await;
    let mut req = resolve(
        ResolutionAction::Retry,
        "match on the invoice's customer email",
    );
    req.input = Some(json!({"email": "ap@acme.test"}));
    h.engine
        .resolve_escalation(h.ws, esc.id, req)
        .await
        .unwrap();
    let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        h.acme.calls_of("record.find")[0].input,
        json!({"email": "ap@acme.test"})
    );
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(detail.steps[1].input, json!({"email": "ap@acme.test"}));
}

#[tokio::test(start_paused = true)]
async fn skip_goes_on_with_the_supplied_output() {
    let h = Harness::new(flagged_find(), vec![]).await;
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    let esc = one_open(&h, run.id).await;
    let mut req = resolve(ResolutionAction::Skip, "I know the record: 42");
    req.output = Some(json!({"id": 42}));
    h.engine
        .resolve_escalation(h.ws, esc.id, req)
        .await
        .unwrap();
    let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert!(h.acme.calls_of("record.find").is_empty());
    assert_eq!(
        h.acme.calls_of("message.send")[0].input["record"],
        json!(42)
    );
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(detail.steps[1].status, StepStatus::Skipped);
    assert_eq!(detail.steps[1].output, Some(json!({"id": 42})));
}

#[tokio::test(start_paused = true)]
async fn abort_fails_the_run_and_closes_its_other_escalations() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.find", &[1]).flagged(),
            step(3, "acme.record.get", &[1]).flagged(),
            step(4, "acme.message.send", &[2, 3]),
        ],
        vec![],
    )
    .await;
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(run.status, RunStatus::AwaitingReview);
    let all = escalations(&h, run.id).await;
    assert_eq!(all.len(), 2);
    h.engine
        .resolve_escalation(
            h.ws,
            all[0].id,
            resolve(ResolutionAction::Abort, "wrong customer"),
        )
        .await
        .unwrap();
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(detail.run.status, RunStatus::Failed);
    assert!(detail.run.completed_at.is_some());
    assert_eq!(detail.steps[3].status, StepStatus::Pending);
    assert!(h.acme.calls().is_empty());
    let all = escalations(&h, run.id).await;
    assert!(all.iter().all(|e| e.status == EscalationStatus::Resolved));
    assert_eq!(
        all[1].resolution.as_ref().unwrap().action,
        ResolutionAction::Abort
    );
    let late = h
        .engine
        .resolve_escalation(h.ws, all[1].id, resolve(ResolutionAction::Approve, "late"))
        .await
        .unwrap_err();
    assert_eq!(late.kind(), ErrorKind::Conflict);
}

#[tokio::test(start_paused = true)]
async fn ignore_marks_the_escalation_and_leaves_the_run_waiting() {
    let h = Harness::new(flagged_find(), vec![]).await;
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    let esc = one_open(&h, run.id).await;
    let ignored = h
        .engine
        .resolve_escalation(h.ws, esc.id, resolve(ResolutionAction::Ignore, "not now"))
        .await
        .unwrap();
    assert_eq!(ignored.status, EscalationStatus::Ignored);
    let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::AwaitingReview);
    assert!(h.acme.calls().is_empty());
    let err = h
        .engine
        .resolve_escalation(
            h.ws,
            esc.id,
            resolve(ResolutionAction::Retry, "changed my mind"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[tokio::test(start_paused = true)]
async fn concurrent_resolutions_exactly_one_wins() {
    let h = Arc::new(Harness::new(flagged_find(), vec![]).await);
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    let esc = one_open(&h, run.id).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let h = Arc::clone(&h);
            let action = [
                ResolutionAction::Approve,
                ResolutionAction::Skip,
                ResolutionAction::Retry,
            ][i % 3];
            tokio::spawn(async move {
                h.engine
                    .resolve_escalation(h.ws, esc.id, resolve(action, &format!("resolver {i}")))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
        }
    }
    assert_eq!(wins, 1);
    let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert!(h.acme.calls_of("record.find").len() <= 1);
    let resolved = h
        .engine
        .list_events(
            h.ws,
            EventFilter {
                run: Some(run.id),
                ..Default::default()
            },
            PageRequest::new(100, None).unwrap(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.kind == EventKind::EscalationResolved)
        .count();
    assert_eq!(resolved, 1);
}

#[tokio::test(start_paused = true)]
async fn independent_branches_finish_while_a_step_waits() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.find", &[1]).flagged(),
            step(3, "acme.record.get", &[1]),
            step(4, "acme.message.send", &[3]),
        ],
        vec![],
    )
    .await;
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(run.status, RunStatus::AwaitingReview);
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    let statuses: Vec<_> = detail.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            StepStatus::Succeeded,
            StepStatus::AwaitingReview,
            StepStatus::Succeeded,
            StepStatus::Succeeded
        ]
    );
    assert_eq!(run.steps_completed, 3);
}

#[tokio::test(start_paused = true)]
async fn api_errors_are_retried_on_request_with_the_same_key() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.message.send", &[1]),
        ],
        vec![],
    )
    .await;
    h.acme.script(
        "message.send",
        [Reply::Err(ConnectorError::permanent(
            "unauthorized",
            "token expired",
        ))],
    );
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    let esc = one_open(&h, run.id).await;
    assert_eq!(esc.reason, EscalationReason::ApiError);
    h.engine
        .resolve_escalation(
            h.ws,
            esc.id,
            resolve(ResolutionAction::Retry, "token rotated"),
        )
        .await
        .unwrap();
    let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let calls = h.acme.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].key, calls[1].key);
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(detail.steps[1].attempts, 2);
    assert!(detail.steps[1].error.is_none());
}

async fn violation_of(
    h: &Harness,
    agent: &nexwatt_engine::model::Agent,
    input: Value,
) -> Escalation {
    let run = h.run(agent, RunMode::Test, input).await;
    assert_eq!(run.status, RunStatus::AwaitingReview);
    let esc = one_open(h, run.id).await;
    assert_eq!(
        esc.reason,
        EscalationReason::RuleViolation,
        "{}",
        esc.message
    );
    esc
}

#[tokio::test(start_paused = true)]
async fn connectors_outside_the_allowed_list_are_rule_violations() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.message.send", &[1]),
        ],
        vec![],
    )
    .await;
    let agent = h.agent_with(vec!["slack".into()]).await;
    let esc = violation_of(&h, &agent, json!({})).await;
    assert!(esc.message.contains("acme"), "{}", esc.message);
    assert!(h.acme.calls().is_empty());
    // A person may approve it anyway.
    h.engine
        .resolve_escalation(h.ws, esc.id, resolve(ResolutionAction::Approve, "one-off"))
        .await
        .unwrap();
    let run = h.engine.wait_for_run(h.ws, esc.run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(h.acme.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn description_rules_are_checked_on_the_step_input() {
    let refund_rule = Rule {
        applies_to: OperationSelector {
            connector: Some("acme".into()),
            operation: Some("message.send".into()),
            effect: None,
        },
        check: RuleCheck::MaxValue {
            field: "amount".into(),
            max: 500.0,
        },
        text: "never refund more than $500".into(),
        span: None,
    };
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.message.send", &[1]).bind("amount", 1, "amount"),
        ],
        vec![refund_rule],
    )
    .await;
    let agent = h.agent().await;
    let esc = violation_of(&h, &agent, json!({"amount": 750})).await;
    assert!(
        esc.message.contains("never refund more than $500"),
        "{}",
        esc.message
    );
    let ok = h.run(&agent, RunMode::Test, json!({"amount": 120})).await;
    assert_eq!(ok.status, RunStatus::Completed);
    assert_eq!(h.acme.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn weekday_and_forbidden_rules() {
    let weekend = Rule {
        applies_to: OperationSelector {
            effect: Some(nexwatt_engine::model::Effect::Read),
            ..Default::default()
        },
        check: RuleCheck::ForbiddenWeekdays {
            days: vec!["saturday".into(), "sunday".into()],
        },
        text: "don't message customers on weekends".into(),
        span: None,
    };
    let clock = Arc::new(ManualClock::new("2026-06-27T10:00:00Z".parse().unwrap())); // a Saturday
    let clock2 = Arc::clone(&clock);
    let h = Harness::with(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.get", &[1]),
        ],
        vec![weekend],
        move |b| b.clock(clock2),
    )
    .await;
    let agent = h.agent().await;
    let esc = violation_of(&h, &agent, json!({})).await;
    assert!(esc.message.contains("saturday"), "{}", esc.message);
    clock.advance(chrono::Duration::days(2)); // Monday
    let ok = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(ok.status, RunStatus::Completed);

    let never = Rule {
        applies_to: OperationSelector {
            connector: Some("acme".into()),
            ..Default::default()
        },
        check: RuleCheck::Forbidden,
        text: "never touch Acme".into(),
        span: None,
    };
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.get", &[1]),
        ],
        vec![never],
    )
    .await;
    let agent = h.agent().await;
    let esc = violation_of(&h, &agent, json!({})).await;
    assert!(esc.message.contains("never touch Acme"));
}

#[derive(Debug)]
struct NoBigAmounts;

impl HostRule for NoBigAmounts {
    fn name(&self) -> &str {
        "no-big-amounts"
    }
    fn check(&self, ctx: &RuleContext<'_>) -> Option<String> {
        let amount = ctx.input.get("amount")?.as_f64()?;
        (amount > 10_000.0).then(|| format!("amount {amount} needs the CFO"))
    }
}

#[tokio::test(start_paused = true)]
async fn host_rules_and_connector_rule_errors_are_rule_violations() {
    let h = Harness::with(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.update", &[1]).bind("amount", 1, "amount"),
        ],
        vec![],
        |b| b.host_rule(Arc::new(NoBigAmounts)),
    )
    .await;
    let agent = h.agent().await;
    let esc = violation_of(&h, &agent, json!({"amount": 20_000})).await;
    assert!(esc.message.contains("no-big-amounts") && esc.message.contains("CFO"));
    assert!(h.acme.calls().is_empty());

    h.acme.script(
        "record.update",
        [Reply::Err(ConnectorError::rule_violation(
            "closed_period",
            "the accounting period is closed",
        ))],
    );
    let esc = violation_of(&h, &agent, json!({"amount": 10})).await;
    assert!(esc.message.contains("closed"), "{}", esc.message);
    assert_eq!(h.acme.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn approval_steps_wait_for_sign_off() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "core.approval", &[1]).param("approver", json!("finance manager")),
            step(3, "acme.message.send", &[2]),
        ],
        vec![],
    )
    .await;
    let agent = h.agent().await;
    let run = h.run(&agent, RunMode::Test, json!({})).await;
    assert_eq!(run.status, RunStatus::AwaitingReview);
    let esc = one_open(&h, run.id).await;
    assert_eq!(esc.reason, EscalationReason::Approval);
    assert!(esc.message.contains("finance manager"));
    h.engine
        .resolve_escalation(
            h.ws,
            esc.id,
            resolve(ResolutionAction::Approve, "ok to send"),
        )
        .await
        .unwrap();
    let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let detail = h.engine.get_run(h.ws, run.id).await.unwrap();
    assert_eq!(
        detail.steps[1].output.as_ref().unwrap()["approved_by"],
        json!("dana")
    );
    assert_eq!(h.acme.calls().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_resolutions_on_many_threads_exactly_one_wins() {
    for _ in 0..5 {
        let h = Arc::new(Harness::new(flagged_find(), vec![]).await);
        let agent = h.agent().await;
        let run = h.run(&agent, RunMode::Test, json!({})).await;
        let esc = one_open(&h, run.id).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let h = Arc::clone(&h);
                let barrier = Arc::clone(&barrier);
                tokio::spawn(async move {
                    barrier.wait().await;
                    h.engine
                        .resolve_escalation(
                            h.ws,
                            esc.id,
                            resolve(ResolutionAction::Approve, &format!("r{i}")),
                        )
                        .await
                })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => wins += 1,
                Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
            }
        }
        assert_eq!(wins, 1);
        let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(h.acme.calls_of("record.find").len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_resolution_while_other_branches_run_reaches_the_live_driver() {
    let h = Harness::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.find", &[1]).flagged(),
            step(3, "acme.record.get", &[1]),
            step(4, "acme.message.send", &[2, 3]),
        ],
        vec![],
    )
    .await;
    let release = Arc::new(tokio::sync::Notify::new());
    h.acme.script(
        "record.get",
        [Reply::WaitThen(Arc::clone(&release), json!({"got": 1}))],
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
    h.acme.wait_calls(1).await; // step 3 in flight, step 2 escalated
    let esc = one_open(&h, run.id).await;
    assert_eq!(esc.step, 2);
    // While a branch runs, the run is still `running`.
    assert_eq!(
        h.engine.get_run(h.ws, run.id).await.unwrap().run.status,
        RunStatus::Running
    );
    assert_eq!(h.engine.active_runs(), 1);
    h.engine
        .resolve_escalation(h.ws, esc.id, resolve(ResolutionAction::Approve, "go"))
        .await
        .unwrap();
    release.notify_one();
    let run = h.engine.wait_for_run(h.ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let steps: Vec<u32> = h.acme.calls().into_iter().map(|c| c.step).collect();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[2], 4, "the join ran last: {steps:?}");
}
