//! Durability: resume after a restart on sled, steps whose outcome a crash
//! made unknown, and graceful shutdown with checkpointed delays.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use nexwatt_engine::clock::TokioClock;
use nexwatt_engine::connector::Connector;
use nexwatt_engine::id::WorkspaceId;
use nexwatt_engine::model::{EscalationReason, ResolutionAction, RunMode, RunStatus, StepStatus};
use nexwatt_engine::storage::{EscalationFilter, PageRequest, Storage};
use nexwatt_engine::{CreateAgent, Engine, Resolve, StartRun};
use nexwatt_storage_memory::MemoryStorage;
use nexwatt_storage_sled::SledStorage;
use nexwatt_tests::{
    acme_manifest, builder, step, FixedPlanner, Reply, ScriptedConnector, StepExt,
};
use serde_json::json;
use tokio::sync::Notify;

fn agent_req() -> CreateAgent {
    CreateAgent {
        name: "durable".into(),
        description: "a durable agent".into(),
        connectors: vec![],
        confidence_threshold: None,
        actor: "t".into(),
    }
}

fn test_run() -> StartRun {
    StartRun {
        mode: RunMode::Test,
        input: json!({}),
        actor: "t".into(),
    }
}

fn four_steps() -> Arc<FixedPlanner> {
    FixedPlanner::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.get", &[1]),
            step(3, "acme.message.send", &[2]),
            step(4, "acme.record.update", &[3]),
        ],
        vec![],
    )
}

async fn sled_engine(path: &std::path::Path, acme: Arc<ScriptedConnector>) -> Engine {
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(path).await.unwrap());
    builder(storage, acme, None, four_steps())
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_engine_resumes_its_runs_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    let ws = WorkspaceId::generate();
    let acme = ScriptedConnector::new(acme_manifest());
    let release = Arc::new(Notify::new());
    acme.script(
        "message.send",
        [Reply::WaitThen(Arc::clone(&release), json!({"sent": 1}))],
    );
    let engine = sled_engine(dir.path(), Arc::clone(&acme)).await;
    let agent = engine.create_agent(ws, agent_req()).await.unwrap();
    let run = engine.start_run(ws, agent.id, test_run()).await.unwrap();
    acme.wait_calls(2).await; // step 3 is in flight
    let stopping = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.shutdown().await })
    };
    // The in-flight step finishes and commits; nothing new starts.
    tokio::task::yield_now().await;
    release.notify_one();
    stopping.await.unwrap().unwrap();
    assert_eq!(acme.calls().len(), 2);
    let detail = engine.get_run(ws, run.id).await.unwrap();
    assert_eq!(detail.run.status, RunStatus::Running);
    assert_eq!(detail.steps[2].status, StepStatus::Succeeded);
    assert_eq!(detail.steps[3].status, StepStatus::Pending);
    let err = engine
        .start_run(ws, agent.id, test_run())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), nexwatt_engine::ErrorKind::Unavailable);
    drop(engine);

    // A new engine on the same database picks the run up where it stopped.
    let acme2 = ScriptedConnector::new(acme_manifest());
    let engine = sled_engine(dir.path(), Arc::clone(&acme2)).await;
    let done = engine.wait_for_run(ws, run.id).await.unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.steps_completed, 4);
    let ops: Vec<_> = acme2.calls().into_iter().map(|c| c.operation).collect();
    assert_eq!(ops, ["record.update"], "only the step that had not run");
    let detail = engine.get_run(ws, run.id).await.unwrap();
    assert_eq!(detail.steps[2].output, Some(json!({"sent": 1})));
    engine.shutdown().await.unwrap();
}

/// Runs engine A in its own runtime until both parallel writes are in
/// flight, then drops the runtime: the process "crashes" between the calls
/// and their commits.
#[test]
fn unknown_outcomes_rerun_only_idempotent_operations() {
    let dir = tempfile::tempdir().unwrap();
    let ws = WorkspaceId::generate();
    let planner = FixedPlanner::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.message.send", &[1]),
            step(3, "acme.record.update", &[1]),
        ],
        vec![],
    );
    let first = ScriptedConnector::new(acme_manifest());
    first.script("message.send", [Reply::Hang]);
    first.script("record.update", [Reply::Hang]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let run_id = rt.block_on(async {
        let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).await.unwrap());
        let engine = builder(storage, Arc::clone(&first), None, planner.clone())
            .build()
            .await
            .unwrap();
        let agent = engine.create_agent(ws, agent_req()).await.unwrap();
        let run = engine.start_run(ws, agent.id, test_run()).await.unwrap();
        first.wait_calls(2).await;
        run.id
    });
    drop(rt); // the crash: in-flight calls never report back

    let second = ScriptedConnector::new(acme_manifest());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).await.unwrap());
        let engine = builder(storage, Arc::clone(&second), None, planner)
            .build()
            .await
            .unwrap();
        let run = engine.wait_for_run(ws, run_id).await.unwrap();
        assert_eq!(run.status, RunStatus::AwaitingReview);
        // The idempotent write ran again, with the same idempotency key.
        let again = second.calls();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].operation, "record.update");
        let before = first.calls_of("record.update");
        assert_eq!(again[0].key, before[0].key);
        // The other one waits for a person.
        let escalations = engine
            .list_escalations(
                ws,
                EscalationFilter {
                    run: Some(run_id),
                    ..Default::default()
                },
                PageRequest::first(),
            )
            .await
            .unwrap()
            .items;
        assert_eq!(escalations.len(), 1);
        let esc = &escalations[0];
        assert_eq!(esc.reason, EscalationReason::ApiError);
        assert_eq!(esc.step, 2);
        assert!(esc.message.contains("unknown"), "{}", esc.message);
        let detail = engine.get_run(ws, run_id).await.unwrap();
        assert_eq!(
            detail.steps[1].error.as_ref().unwrap().code,
            "outcome_unknown"
        );
        assert_eq!(detail.steps[2].status, StepStatus::Succeeded);
        // The person checked: it was sent. Skip it.
        engine
            .resolve_escalation(
                ws,
                esc.id,
                Resolve {
                    action: ResolutionAction::Skip,
                    note: Some("checked Acme: the message went out".into()),
                    actor: "dana".into(),
                    input: None,
                    output: Some(json!({"sent": true})),
                },
            )
            .await
            .unwrap();
        let run = engine.wait_for_run(ws, run_id).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(
            second.calls().len(),
            1,
            "the unknown write was never re-sent"
        );
        engine.shutdown().await.unwrap();
    });
}

#[tokio::test(start_paused = true)]
async fn shutdown_checkpoints_a_live_delay_and_the_next_engine_waits_only_the_rest() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = Arc::new(TokioClock::starting_at(
        "2026-06-29T09:00:00Z".parse().unwrap(),
    ));
    let planner = FixedPlanner::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "core.delay", &[1]).param("duration", json!("1h")),
            step(3, "acme.record.get", &[2]),
        ],
        vec![],
    );
    let ws = WorkspaceId::generate();
    let acme = ScriptedConnector::new(acme_manifest());
    let live: Arc<dyn Connector> = ScriptedConnector::new(acme_manifest());
    let engine = builder(
        Arc::clone(&storage),
        Arc::clone(&acme),
        Some(Arc::clone(&live)),
        planner.clone(),
    )
    .clock(clock.clone())
    .build()
    .await
    .unwrap();
    let agent = engine.create_agent(ws, agent_req()).await.unwrap();
    engine.activate_agent(ws, agent.id, "t").await.unwrap();
    let start = tokio::time::Instant::now();
    let run = engine
        .start_run(
            ws,
            agent.id,
            StartRun {
                mode: RunMode::Live,
                input: json!({}),
                actor: "t".into(),
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(20 * 60)).await;
    engine.shutdown().await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(20 * 60),
        "shutdown does not wait out a delay"
    );
    let detail = engine.get_run(ws, run.id).await.unwrap();
    assert_eq!(detail.steps[1].status, StepStatus::Running);
    drop(engine);

    let live2 = ScriptedConnector::new(acme_manifest());
    let engine = builder(
        storage,
        acme,
        Some(live2.clone() as Arc<dyn Connector>),
        planner,
    )
    .clock(clock)
    .build()
    .await
    .unwrap();
    let resumed = tokio::time::Instant::now();
    let run = engine.wait_for_run(ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(resumed.elapsed(), Duration::from_secs(40 * 60));
    assert_eq!(live2.calls().len(), 1);
}
