//! Test mode never reaches a live client for a write: every write operation
//! of the catalog runs in a test run with a live client registered for
//! every connector that fails the test if it is ever called.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use nexwatt_connectors::sandbox::{CallOutcome, Sandboxes};
use nexwatt_engine::connector::{
    Catalog, Connector, ConnectorError, ConnectorManifest, ExecutionContext,
};
use nexwatt_engine::id::WorkspaceId;
use nexwatt_engine::model::{
    Effect, EscalationReason, OperationKind, RunMode, RunStatus, Step, StepGraph,
};
use nexwatt_engine::planner::{Plan, PlanError, PlanRequest, Planner};
use nexwatt_engine::storage::{EscalationFilter, PageRequest, Storage};
use nexwatt_engine::{CreateAgent, EngineBuilder, StartRun};
use nexwatt_storage_memory::MemoryStorage;
use serde_json::{json, Value};

/// A live client that must never be called by a test run.
#[derive(Debug)]
struct Tripwire {
    manifest: ConnectorManifest,
    hits: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Connector for Tripwire {
    fn manifest(&self) -> &ConnectorManifest {
        &self.manifest
    }
    async fn execute(
        &self,
        operation: &str,
        _input: Value,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        self.hits.lock().unwrap().push(format!(
            "{}.{operation} ({})",
            self.manifest.id,
            ctx.mode.as_str()
        ));
        Err(ConnectorError::permanent(
            "tripwire",
            "a live client was called",
        ))
    }
}

/// Plans `CONNECTOR.OPERATION` as: the connector's first trigger (so the
/// simulated payload carries plausible records), then that operation.
#[derive(Debug)]
struct OnePlanner(Arc<Catalog>);

#[async_trait]
impl Planner for OnePlanner {
    async fn plan(&self, request: &PlanRequest) -> Result<Plan, PlanError> {
        let (connector, operation) = request.description.split_once('.').unwrap();
        let manifest = self.0.connector(connector).unwrap();
        let trigger = manifest
            .operations
            .iter()
            .find(|o| o.kind == OperationKind::Trigger)
            .map_or(("core", "manual".to_string()), |t| {
                (connector, t.id.clone())
            });
        let mk = |n: u32, c: &str, o: &str, kind, effect, after: Vec<u32>| Step {
            step: n,
            connector: c.into(),
            operation: o.into(),
            kind,
            effect,
            params: Default::default(),
            after,
            bindings: Default::default(),
            confidence: 0.9,
            flagged: false,
            rationale: String::new(),
            span: None,
        };
        let graph = StepGraph::new(vec![
            mk(
                1,
                trigger.0,
                &trigger.1,
                OperationKind::Trigger,
                Effect::Read,
                vec![],
            ),
            mk(
                2,
                connector,
                operation,
                OperationKind::Action,
                Effect::Write,
                vec![1],
            ),
        ])
        .unwrap();
        Ok(Plan {
            graph,
            rules: vec![],
        })
    }
}

#[tokio::test(start_paused = true)]
async fn no_write_of_the_catalog_reaches_a_live_client_in_test_mode() {
    let catalog = Arc::new(nexwatt_connectors::catalog().unwrap().clone());
    let sandboxes = Sandboxes::new(11);
    let hits = Arc::new(Mutex::new(Vec::new()));
    let live: Vec<Arc<dyn Connector>> = catalog
        .connectors()
        .iter()
        .filter(|c| c.id != "core")
        .map(|c| {
            Arc::new(Tripwire {
                manifest: c.clone(),
                hits: Arc::clone(&hits),
            }) as Arc<dyn Connector>
        })
        .collect();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let engine = EngineBuilder::new(
        storage,
        sandboxes.registry(live),
        Arc::new(OnePlanner(Arc::clone(&catalog))),
        Arc::clone(&catalog),
    )
    .build()
    .await
    .unwrap();
    let ws = WorkspaceId::generate();
    let mut writes = 0;
    let mut succeeded = 0;
    for connector in catalog.connectors().iter().filter(|c| c.id != "core") {
        for op in connector
            .operations
            .iter()
            .filter(|o| o.effect == Effect::Write)
        {
            writes += 1;
            let agent = engine
                .create_agent(
                    ws,
                    CreateAgent {
                        name: format!("{}-{}", connector.id, op.id),
                        description: format!("{}.{}", connector.id, op.id),
                        connectors: vec![],
                        confidence_threshold: None,
                        actor: "t".into(),
                    },
                )
                .await
                .unwrap();
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
            // The sandbox got the call, whatever it made of the input.
            let sandbox = sandboxes.get(&connector.id).unwrap();
            let calls: Vec<_> = sandbox
                .calls()
                .into_iter()
                .filter(|c| c.operation == op.id && c.idempotency_key == format!("{}-2", run.id))
                .collect();
            assert!(
                !calls.is_empty(),
                "{}.{} never reached its sandbox",
                connector.id,
                op.id
            );
            match run.status {
                RunStatus::Completed => {
                    succeeded += 1;
                    assert!(calls.iter().any(|c| c.outcome == CallOutcome::Ok));
                    assert!(sandbox
                        .effects_of(&op.id)
                        .iter()
                        .any(|e| e.run_id == run.id.to_string()));
                }
                RunStatus::AwaitingReview => {
                    // The sandbox refused the input (e.g. no record to act
                    // on): an api_error from the sandbox, not the tripwire.
                    let esc = engine
                        .list_escalations(
                            ws,
                            EscalationFilter {
                                run: Some(run.id),
                                ..Default::default()
                            },
                            PageRequest::first(),
                        )
                        .await
                        .unwrap()
                        .items;
                    assert_eq!(esc[0].reason, EscalationReason::ApiError);
                    assert!(!esc[0].message.contains("tripwire"));
                    eprintln!("{}.{}: {}", connector.id, op.id, esc[0].message);
                }
                other => panic!("{}.{} ended {other:?}", connector.id, op.id),
            }
        }
    }
    assert!(
        hits.lock().unwrap().is_empty(),
        "live clients called: {:?}",
        hits.lock().unwrap()
    );
    assert!(writes >= 36, "the catalog has {writes} write operations");
    eprintln!(
        "{writes} write operations ran in test mode, {succeeded} completed against their sandbox"
    );
    // Without a planner's params some writes lack what their sandbox needs
    // (a label, a URL); many still complete end to end.
    assert!(
        succeeded * 3 >= writes,
        "writes completing against their sandbox: {succeeded}/{writes}"
    );
}
