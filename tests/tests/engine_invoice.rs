//! The seed's example end to end in test mode, against the connector
//! sandboxes: "When a new invoice is marked paid in QuickBooks, update the
//! matching deal in HubSpot to Closed Won and notify the account owner in
//! Slack."
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use nexwatt_connectors::sandbox::Sandboxes;
use nexwatt_engine::id::WorkspaceId;
use nexwatt_engine::model::{
    Effect, EscalationReason, EscalationStatus, ResolutionAction, RunMode, RunStatus, StepStatus,
};
use nexwatt_engine::storage::{EscalationFilter, PageRequest, Storage};
use nexwatt_engine::{CreateAgent, EngineBuilder, Resolve, StartRun};
use nexwatt_storage_memory::MemoryStorage;
use nexwatt_tests::{step, FixedPlanner, StepExt};
use serde_json::json;

const SEED_DESCRIPTION: &str = "When a new invoice is marked paid in QuickBooks, update the matching deal in HubSpot to Closed Won and notify the account owner in Slack.";

/// The plan the catalog's binding rules give for the seed's description.
fn seed_plan() -> Vec<nexwatt_engine::model::Step> {
    vec![
        step(1, "quickbooks.invoice.paid", &[]),
        step(2, "hubspot.deal.find", &[1]).flagged(),
        step(3, "hubspot.deal.update", &[2])
            .param("stage", json!("Closed Won"))
            .effect(Effect::Write),
        step(4, "hubspot.owner.get", &[2]),
        step(5, "slack.dm.send", &[4]).effect(Effect::Write),
    ]
}

#[tokio::test(start_paused = true)]
async fn the_seed_invoice_example_runs_in_test_mode() {
    let sandboxes = Sandboxes::new(7);
    let catalog = Arc::new(nexwatt_connectors::catalog().unwrap().clone());
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let engine = EngineBuilder::new(
        storage,
        sandboxes.registry(vec![]),
        FixedPlanner::new(seed_plan(), vec![]),
        catalog,
    )
    .build()
    .await
    .unwrap();
    let ws = WorkspaceId::generate();
    let agent = engine
        .create_agent(
            ws,
            CreateAgent {
                name: "invoice-sync-v1".into(),
                description: SEED_DESCRIPTION.into(),
                connectors: vec!["quickbooks".into(), "hubspot".into(), "slack".into()],
                confidence_threshold: Some(0.70),
                actor: "seed".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(agent.steps_extracted(), 5);
    assert_eq!(agent.steps_flagged(), 1);

    let run = engine
        .start_run(
            ws,
            agent.id,
            StartRun {
                mode: RunMode::Test,
                input: json!({"invoice_id": "INV-4419"}),
                actor: "seed".into(),
            },
        )
        .await
        .unwrap();
    let run = engine.wait_for_run(ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::AwaitingReview);
    let escalations = engine
        .list_escalations(
            ws,
            EscalationFilter {
                status: Some(EscalationStatus::Open),
                ..Default::default()
            },
            PageRequest::first(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(escalations.len(), 1);
    let esc = &escalations[0];
    assert_eq!(esc.reason, EscalationReason::LowConfidence);
    assert_eq!(esc.step, 2);
    assert!(
        sandboxes.effects().is_empty(),
        "nothing written before review"
    );

    engine
        .resolve_escalation(
            ws,
            esc.id,
            Resolve {
                action: ResolutionAction::Approve,
                note: Some("match on the customer's email is right".into()),
                actor: "dana".into(),
                input: None,
                output: None,
            },
        )
        .await
        .unwrap();
    let run = engine.wait_for_run(ws, run.id).await.unwrap();
    let detail = engine.get_run(ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{:#?}", detail.steps);
    assert_eq!(run.steps_completed, 5);
    assert!(detail
        .steps
        .iter()
        .all(|s| s.status == StepStatus::Succeeded));

    // The sandboxes' effect log: the deal moved to Closed Won, the owner got a DM.
    let effects = sandboxes.effects();
    let ops: Vec<_> = effects
        .iter()
        .map(|e| format!("{}.{}", e.connector, e.operation))
        .collect();
    assert_eq!(
        ops,
        ["hubspot.deal.update", "slack.dm.send"],
        "{effects:#?}"
    );
    let update = &effects[0];
    assert_eq!(update.input["stage"], json!("Closed Won"));
    assert_eq!(update.output["deal"]["stage"], json!("Closed Won"));
    assert_eq!(update.idempotency_key, format!("{}-3", run.id));
    assert_eq!(update.input["deal_id"], json!("7001"));
    let dm = &effects[1];
    assert_eq!(dm.idempotency_key, format!("{}-5", run.id));
    // To the deal's owner, found through hubspot.owner.get.
    assert_eq!(dm.input["email"], json!("dana.brooks@brightline.io"));
    assert_eq!(dm.output["ok"], json!(true));
}

/// The same with the deterministic planner planning the seed's description.
#[tokio::test(start_paused = true)]
async fn the_planned_seed_example_completes_after_approval() {
    let sandboxes = Sandboxes::new(3);
    let catalog = Arc::new(nexwatt_connectors::catalog().unwrap().clone());
    let planner = Arc::new(nexwatt_engine::planner::DeterministicPlanner::new(&catalog));
    let engine = EngineBuilder::new(
        Arc::new(MemoryStorage::new()),
        sandboxes.registry(vec![]),
        planner,
        catalog,
    )
    .build()
    .await
    .unwrap();
    let ws = WorkspaceId::generate();
    let agent = engine
        .create_agent(
            ws,
            CreateAgent {
                name: "invoice-sync-v1".into(),
                description: SEED_DESCRIPTION.into(),
                connectors: vec!["quickbooks".into(), "hubspot".into(), "slack".into()],
                confidence_threshold: Some(0.70),
                actor: "seed".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(agent.steps_extracted(), 5);
    assert_eq!(agent.steps_flagged(), 1);
    let flagged = agent.graph.steps().find(|s| s.flagged).unwrap();
    assert_eq!(flagged.op(), "hubspot.deal.find");
    let run = engine
        .start_run(
            ws,
            agent.id,
            StartRun {
                mode: RunMode::Test,
                input: json!({}),
                actor: "seed".into(),
            },
        )
        .await
        .unwrap();
    let run = engine.wait_for_run(ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::AwaitingReview);
    let esc = engine
        .list_escalations(ws, EscalationFilter::default(), PageRequest::first())
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(esc.reason, EscalationReason::LowConfidence);
    assert_eq!(esc.step, flagged.step);
    engine
        .resolve_escalation(
            ws,
            esc.id,
            Resolve {
                action: ResolutionAction::Approve,
                note: Some("ok".into()),
                actor: "dana".into(),
                input: None,
                output: None,
            },
        )
        .await
        .unwrap();
    let run = engine.wait_for_run(ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let effects: Vec<_> = sandboxes
        .effects()
        .into_iter()
        .map(|e| (format!("{}.{}", e.connector, e.operation), e.input))
        .collect();
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert_eq!(effects[0].0, "hubspot.deal.update");
    assert_eq!(effects[0].1["stage"], json!("Closed Won"));
    assert_eq!(effects[1].0, "slack.dm.send");
    assert_eq!(effects[1].1["email"], json!("dana.brooks@brightline.io"));
}

/// The sandbox rate-limits the deal update twice (retry-after 3 s) and the
/// Slack DM fails for good: the runner waits out the rate limit, updates
/// the deal once, and escalates the DM; a retry after the fix sends it.
#[tokio::test(start_paused = true)]
async fn sandbox_faults_are_retried_or_escalated() {
    use nexwatt_engine::connector::ConnectorError;
    use std::time::Duration;

    let sandboxes = Sandboxes::new(9);
    let catalog = Arc::new(nexwatt_connectors::catalog().unwrap().clone());
    let engine = EngineBuilder::new(
        Arc::new(MemoryStorage::new()),
        sandboxes.registry(vec![]),
        FixedPlanner::new(
            seed_plan()
                .into_iter()
                .map(|mut s| {
                    s.flagged = false;
                    s.confidence = 0.9;
                    s
                })
                .collect(),
            vec![],
        ),
        catalog,
    )
    .build()
    .await
    .unwrap();
    let hubspot = sandboxes.get("hubspot").unwrap();
    let slack = sandboxes.get("slack").unwrap();
    hubspot.faults().fail_next_on(
        "deal.update",
        2,
        ConnectorError::rate_limited(Some(Duration::from_secs(3))),
    );
    slack.faults().fail_next_on(
        "dm.send",
        1,
        ConnectorError::permanent("not_in_channel", "the bot cannot DM this user"),
    );
    let ws = WorkspaceId::generate();
    let agent = engine
        .create_agent(
            ws,
            CreateAgent {
                name: "invoice-sync".into(),
                description: SEED_DESCRIPTION.into(),
                connectors: vec![],
                confidence_threshold: None,
                actor: "t".into(),
            },
        )
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let run = engine
        .start_run(
            ws,
            agent.id,
            StartRun {
                mode: RunMode::Test,
                input: json!({}),
                actor: "t".into(),
            },
        )
        .await
        .unwrap();
    let run = engine.wait_for_run(ws, run.id).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(run.status, RunStatus::AwaitingReview);
    assert_eq!(hubspot.effects_of("deal.update").len(), 1);
    let detail = engine.get_run(ws, run.id).await.unwrap();
    assert_eq!(detail.steps[2].attempts, 3);
    assert_eq!(detail.steps[2].status, StepStatus::Succeeded);
    let esc = engine
        .list_escalations(ws, EscalationFilter::default(), PageRequest::first())
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(esc.reason, EscalationReason::ApiError);
    assert_eq!(esc.step, 5);
    assert!(slack.effects().is_empty());
    engine
        .resolve_escalation(
            ws,
            esc.id,
            Resolve {
                action: ResolutionAction::Retry,
                note: Some("bot added to the workspace".into()),
                actor: "dana".into(),
                input: None,
                output: None,
            },
        )
        .await
        .unwrap();
    let run = engine.wait_for_run(ws, run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(slack.effects_of("dm.send").len(), 1);
}
