//! Shared helpers for the end-to-end tests: hand-built step graphs, a
//! planner that returns a fixed plan, a scriptable test connector that logs
//! every call, and engine builders over memory or sled storage.
//!
//! Test-support code: it panics (unwrap/expect) on broken test setups.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nexwatt_engine::connector::{
    Catalog, Connector, ConnectorError, ConnectorManifest, ConnectorRegistry, ExecutionContext,
    OperationManifest,
};
use nexwatt_engine::id::WorkspaceId;
use nexwatt_engine::model::{Binding, Effect, OperationKind, Rule, RunMode, Step, StepGraph};
use nexwatt_engine::planner::{Plan, PlanError, PlanRequest, Planner};
use nexwatt_engine::storage::Storage;
use nexwatt_engine::{CreateAgent, Engine, EngineBuilder, EngineLimits, StartRun};
use serde_json::{json, Value};
use tokio::sync::Notify;

/// A step of a hand-built graph: `connector.operation` after `after`.
pub fn step(n: u32, op: &str, after: &[u32]) -> Step {
    let (connector, operation) = op.split_once('.').unwrap_or(("core", op));
    Step {
        step: n,
        connector: connector.to_string(),
        operation: operation.to_string(),
        kind: if n == 1 {
            OperationKind::Trigger
        } else {
            OperationKind::Action
        },
        effect: if connector == "core" {
            Effect::Control
        } else {
            Effect::Read
        },
        params: BTreeMap::new(),
        after: after.to_vec(),
        bindings: BTreeMap::new(),
        confidence: 0.95,
        flagged: false,
        rationale: format!("test step {n}"),
        span: None,
    }
}

/// Builder-style tweaks of a [`Step`].
pub trait StepExt {
    /// Sets a param.
    fn param(self, key: &str, value: Value) -> Self;
    /// Binds input `field` to `path` of step `from`'s output.
    fn bind(self, field: &str, from: u32, path: &str) -> Self;
    /// Marks the step flagged with a low confidence.
    fn flagged(self) -> Self;
    /// Sets the effect.
    fn effect(self, effect: Effect) -> Self;
}

impl StepExt for Step {
    fn param(mut self, key: &str, value: Value) -> Self {
        self.params.insert(key.to_string(), value);
        self
    }
    fn bind(mut self, field: &str, from: u32, path: &str) -> Self {
        self.bindings.insert(
            field.to_string(),
            Binding {
                step: from,
                path: path.to_string(),
            },
        );
        self
    }
    fn flagged(mut self) -> Self {
        self.flagged = true;
        self.confidence = 0.4;
        self
    }
    fn effect(mut self, effect: Effect) -> Self {
        self.effect = effect;
        self
    }
}

/// A planner that returns the same plan for every description.
#[derive(Debug, Clone)]
pub struct FixedPlanner {
    plan: Plan,
}

impl FixedPlanner {
    /// A planner answering `steps` (and `rules`).
    pub fn new(steps: Vec<Step>, rules: Vec<Rule>) -> Arc<Self> {
        let graph = StepGraph::new(steps).expect("a valid hand-built graph");
        Arc::new(Self {
            plan: Plan { graph, rules },
        })
    }
}

#[async_trait]
impl Planner for FixedPlanner {
    async fn plan(&self, request: &PlanRequest) -> Result<Plan, PlanError> {
        request.validate()?;
        if request.description.contains("UNRECOGNIZED") {
            return Err(PlanError::unrecognized("nothing of the catalog recognised"));
        }
        Ok(self.plan.clone())
    }
}

/// What a scripted call does.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Return this output.
    Ok(Value),
    /// Fail with this error.
    Err(ConnectorError),
    /// Never answer (until the step's timeout).
    Hang,
    /// Wait for the notify, then return the output.
    WaitThen(Arc<Notify>, Value),
}

/// One call a [`ScriptedConnector`] received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The operation.
    pub operation: String,
    /// The input.
    pub input: Value,
    /// The run mode.
    pub mode: RunMode,
    /// The idempotency key.
    pub key: String,
    /// The step number.
    pub step: u32,
    /// When (tokio time).
    pub at: tokio::time::Instant,
}

/// A test connector whose answers are scripted per operation (a queue;
/// when empty, it echoes `{"ok": true, "operation": …, "input": …}`), and
/// which logs every call.
#[derive(Debug)]
pub struct ScriptedConnector {
    manifest: ConnectorManifest,
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    calls: Mutex<Vec<Call>>,
    called: Notify,
}

impl ScriptedConnector {
    /// A connector with `manifest`.
    pub fn new(manifest: ConnectorManifest) -> Arc<Self> {
        Arc::new(Self {
            manifest,
            script: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
            called: Notify::new(),
        })
    }

    /// Queues replies for `operation`.
    pub fn script(&self, operation: &str, replies: impl IntoIterator<Item = Reply>) {
        self.script
            .lock()
            .unwrap()
            .entry(operation.to_string())
            .or_default()
            .extend(replies);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Calls of `operation`.
    pub fn calls_of(&self, operation: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation == operation)
            .collect()
    }

    /// Waits until at least `n` calls were made.
    pub async fn wait_calls(&self, n: usize) {
        loop {
            let notified = self.called.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.calls.lock().unwrap().len() >= n {
                return;
            }
            notified.await;
        }
    }
}

#[async_trait]
impl Connector for ScriptedConnector {
    fn manifest(&self) -> &ConnectorManifest {
        &self.manifest
    }

    async fn execute(
        &self,
        operation: &str,
        input: Value,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        self.calls.lock().unwrap().push(Call {
            operation: operation.to_string(),
            input: input.clone(),
            mode: ctx.mode,
            key: ctx.idempotency_key.clone(),
            step: ctx.step,
            at: tokio::time::Instant::now(),
        });
        self.called.notify_waiters();
        let reply = self
            .script
            .lock()
            .unwrap()
            .get_mut(operation)
            .and_then(VecDeque::pop_front);
        match reply {
            Some(Reply::Ok(v)) => Ok(v),
            Some(Reply::Err(e)) => Err(e),
            Some(Reply::Hang) => {
                std::future::pending::<()>().await;
                Ok(Value::Null)
            }
            Some(Reply::WaitThen(notify, v)) => {
                notify.notified().await;
                Ok(v)
            }
            None => Ok(json!({"ok": true, "operation": operation, "input": input})),
        }
    }
}

/// An operation manifest.
pub fn op(id: &str, kind: OperationKind, effect: Effect, idempotent: bool) -> OperationManifest {
    OperationManifest {
        id: id.to_string(),
        kind,
        effect,
        summary: format!("test operation {id}"),
        params: Vec::new(),
        inputs: Vec::new(),
        example_output: json!({}),
        idempotent,
        vocabulary: Default::default(),
    }
}

/// The `acme` test connector: a trigger `event.received` (example payload
/// `{"invoice_id": "INV-1", "amount": 1200}`), reads `record.find` and
/// `record.get`, writes `record.update` (idempotent) and `message.send`
/// (not idempotent).
pub fn acme_manifest() -> ConnectorManifest {
    let mut trigger = op("event.received", OperationKind::Trigger, Effect::Read, true);
    trigger.example_output = json!({"invoice_id": "INV-1", "amount": 1200, "customer": "Acme Ltd"});
    ConnectorManifest {
        id: "acme".into(),
        name: "Acme".into(),
        category: "test".into(),
        description: "a scriptable test system".into(),
        operations: vec![
            trigger,
            op("record.find", OperationKind::Action, Effect::Read, true),
            op("record.get", OperationKind::Action, Effect::Read, true),
            op("record.update", OperationKind::Action, Effect::Write, true),
            op("message.send", OperationKind::Action, Effect::Write, false),
        ],
        vocabulary: Default::default(),
    }
}

/// The catalog of the tests: the real catalog (with `core`) plus `acme`.
pub fn test_catalog() -> Arc<Catalog> {
    let mut connectors = nexwatt_connectors::catalog()
        .expect("the catalog loads")
        .connectors()
        .to_vec();
    connectors.push(acme_manifest());
    Arc::new(Catalog::new(connectors))
}

/// A test setup: an engine with the `acme` scripted connector as sandbox.
pub struct Harness {
    /// The engine.
    pub engine: Engine,
    /// The sandbox of `acme`.
    pub acme: Arc<ScriptedConnector>,
    /// The live client of `acme` (live runs call it; test runs never write
    /// to it).
    pub live: Arc<ScriptedConnector>,
    /// The workspace used.
    pub ws: WorkspaceId,
}

/// Limits with a fast backoff, for tests.
pub fn test_limits() -> EngineLimits {
    EngineLimits {
        step_timeout: Duration::from_secs(30),
        max_attempts: 3,
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(5),
        ..EngineLimits::default()
    }
}

/// A builder over `storage` with `acme` registered (sandbox only, or with
/// `live` as its live client), planning `steps`.
pub fn builder(
    storage: Arc<dyn Storage>,
    acme: Arc<ScriptedConnector>,
    live: Option<Arc<dyn Connector>>,
    planner: Arc<dyn Planner>,
) -> EngineBuilder {
    let mut registry = ConnectorRegistry::new();
    registry.register(acme, live);
    EngineBuilder::new(storage, registry, planner, test_catalog()).limits(test_limits())
}

impl Harness {
    /// An engine on memory storage planning `steps` with `rules`.
    pub async fn new(steps: Vec<Step>, rules: Vec<Rule>) -> Self {
        Self::with(steps, rules, |b| b).await
    }

    /// Like [`new`](Self::new), letting the test adjust the builder.
    pub async fn with(
        steps: Vec<Step>,
        rules: Vec<Rule>,
        adjust: impl FnOnce(EngineBuilder) -> EngineBuilder,
    ) -> Self {
        let acme = ScriptedConnector::new(acme_manifest());
        let live = ScriptedConnector::new(acme_manifest());
        let storage: Arc<dyn Storage> = Arc::new(nexwatt_storage_memory::MemoryStorage::new());
        let b = builder(
            storage,
            Arc::clone(&acme),
            Some(Arc::clone(&live) as Arc<dyn Connector>),
            FixedPlanner::new(steps, rules),
        );
        let engine = adjust(b).build().await.expect("engine builds");
        Self {
            engine,
            acme,
            live,
            ws: WorkspaceId::generate(),
        }
    }

    /// Creates an agent (any description) allowed every connector.
    pub async fn agent(&self) -> nexwatt_engine::model::Agent {
        self.agent_with(vec![]).await
    }

    /// Creates an agent allowed `connectors`.
    pub async fn agent_with(&self, connectors: Vec<String>) -> nexwatt_engine::model::Agent {
        self.engine
            .create_agent(
                self.ws,
                CreateAgent {
                    name: "test-agent".into(),
                    description: "a test agent".into(),
                    connectors,
                    confidence_threshold: None,
                    actor: "tester".into(),
                },
            )
            .await
            .expect("agent created")
    }

    /// Starts a test run of `agent` with `input` and waits until it stops
    /// (completed, failed or awaiting review).
    pub async fn run(
        &self,
        agent: &nexwatt_engine::model::Agent,
        mode: RunMode,
        input: Value,
    ) -> nexwatt_engine::model::Run {
        let run = self
            .engine
            .start_run(
                self.ws,
                agent.id,
                StartRun {
                    mode,
                    input,
                    actor: "tester".into(),
                },
            )
            .await
            .expect("run started");
        self.engine
            .wait_for_run(self.ws, run.id)
            .await
            .expect("run settles")
    }
}
