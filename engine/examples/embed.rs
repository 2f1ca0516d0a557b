//! Embedding Nexwatt: an engine on sled with the catalog's sandboxes and
//! the deterministic planner, running the seed's invoice example in test
//! mode and approving its flagged step.
//!
//! Run with `cargo run -p nexwatt-engine --example embed`.

use std::sync::Arc;

use nexwatt_connectors::sandbox::Sandboxes;
use nexwatt_engine::id::WorkspaceId;
use nexwatt_engine::model::{EscalationStatus, ResolutionAction, RunMode};
use nexwatt_engine::planner::DeterministicPlanner;
use nexwatt_engine::storage::{EscalationFilter, PageRequest};
use nexwatt_engine::{CreateAgent, EngineBuilder, Resolve, StartRun};
use nexwatt_storage_sled::SledStorage;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Storage, connectors (sandboxes; add live clients in the Vec), planner.
    let dir = std::env::temp_dir().join(format!("nexwatt-embed-{}", std::process::id()));
    let storage = Arc::new(SledStorage::open(&dir).await?);
    let catalog = Arc::new(nexwatt_connectors::catalog()?.clone());
    let sandboxes = Sandboxes::new(42);
    let planner = Arc::new(DeterministicPlanner::new(&catalog));
    let engine = EngineBuilder::new(storage, sandboxes.registry(vec![]), planner, catalog)
        .build()
        .await?;

    // agents.create, then a test run.
    let ws = WorkspaceId::generate();
    let agent = engine
        .create_agent(
            ws,
            CreateAgent {
                name: "invoice-sync-v1".into(),
                description:
                    "When a new invoice is marked paid in QuickBooks, update the matching deal \
                          in HubSpot to Closed Won and notify the account owner in Slack."
                        .into(),
                connectors: vec!["quickbooks".into(), "hubspot".into(), "slack".into()],
                confidence_threshold: Some(0.70),
                actor: "example".into(),
            },
        )
        .await?;
    println!(
        "agent {}: {} steps, {} flagged",
        agent.id,
        agent.steps_extracted(),
        agent.steps_flagged()
    );
    let run = engine
        .start_run(
            ws,
            agent.id,
            StartRun {
                mode: RunMode::Test,
                input: serde_json::json!({"invoice_id": "INV-4419"}),
                actor: "example".into(),
            },
        )
        .await?;
    let run = engine.wait_for_run(ws, run.id).await?;
    println!("run {}: {}", run.id, run.status.as_str());

    // A person approves each open escalation; the run resumes.
    let open = EscalationFilter {
        status: Some(EscalationStatus::Open),
        run: Some(run.id),
        ..Default::default()
    };
    for esc in engine
        .list_escalations(ws, open, PageRequest::first())
        .await?
        .items
    {
        println!(
            "escalation {} at step {}: {}",
            esc.id, esc.step, esc.message
        );
        engine
            .resolve_escalation(
                ws,
                esc.id,
                Resolve {
                    action: ResolutionAction::Approve,
                    note: Some("checked the match".into()),
                    actor: "dana".into(),
                    input: None,
                    output: None,
                },
            )
            .await?;
    }
    let run = engine.wait_for_run(ws, run.id).await?;
    println!(
        "run {}: {} ({} steps)",
        run.id,
        run.status.as_str(),
        run.steps_completed
    );
    for effect in sandboxes.effects() {
        println!(
            "sandbox effect: {}.{} {}",
            effect.connector, effect.operation, effect.input
        );
    }
    engine.shutdown().await?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
