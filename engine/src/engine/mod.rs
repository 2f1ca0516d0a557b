//! The [`Engine`]: the embeddable facade over storage, connectors, the
//! planner and the runner. Its methods are the seed API's operations
//! (agents, runs, escalations) as a Rust API.
//!
//! ```no_run
//! # async fn demo(storage: std::sync::Arc<dyn nexwatt_engine::storage::Storage>,
//! #               registry: nexwatt_engine::connector::ConnectorRegistry,
//! #               planner: std::sync::Arc<dyn nexwatt_engine::planner::Planner>,
//! #               catalog: std::sync::Arc<nexwatt_engine::connector::Catalog>)
//! #               -> Result<(), nexwatt_engine::EngineError> {
//! use nexwatt_engine::{EngineBuilder, CreateAgent, StartRun};
//! use nexwatt_engine::id::WorkspaceId;
//! use nexwatt_engine::model::RunMode;
//!
//! let engine = EngineBuilder::new(storage, registry, planner, catalog).build().await?;
//! let ws = WorkspaceId::generate();
//! let agent = engine.create_agent(ws, CreateAgent {
//!     name: "invoice-sync".into(),
//!     description: "When an invoice is paid in QuickBooks, post to #finance in Slack.".into(),
//!     connectors: vec![],
//!     confidence_threshold: None,
//!     actor: "me".into(),
//! }).await?;
//! let run = engine.start_run(ws, agent.id, StartRun {
//!     mode: RunMode::Test, input: serde_json::json!({}), actor: "me".into(),
//! }).await?;
//! let done = engine.wait_for_run(ws, run.id).await?;
//! println!("{}", done.status.as_str());
//! # Ok(()) }
//! ```

mod error;

pub use error::{EngineError, ErrorKind};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};

use crate::clock::{Clock, SystemClock};
use crate::connector::{Catalog, ConnectorRegistry};
use crate::id::{AgentId, EscalationId, EventId, RunId, WorkspaceId};
use crate::model::{
    Agent, AgentStatus, Escalation, Event, EventKind, ResolutionAction, Run, RunMode, RunStatus,
    StepRecord, DEFAULT_CONFIDENCE_THRESHOLD,
};
use crate::planner::{PlanRequest, Planner};
use crate::runner::{self, HostRule};
use crate::storage::{
    AgentFilter, EscalationFilter, EventFilter, Page, PageRequest, RunFilter, Storage,
    StorageErrorKind, Write, WriteBatch,
};

/// Limits of the runner. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineLimits {
    /// How long one attempt of a step may take (default 30 s); past it the
    /// step escalates with `timeout`.
    pub step_timeout: Duration,
    /// Attempts of a step that fails with a retryable error, first call
    /// included (default 3).
    pub max_attempts: u32,
    /// The first retry waits about this long (default 200 ms); each further
    /// retry doubles it, with jitter.
    pub backoff_base: Duration,
    /// No retry waits longer than this, unless the service asked for more
    /// with retry-after (default 30 s).
    pub backoff_max: Duration,
    /// Steps of one run running at once (default 8).
    pub max_concurrent_steps_per_run: usize,
    /// Steps running at once in the whole engine (default 256).
    pub max_concurrent_steps: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            step_timeout: Duration::from_secs(30),
            max_attempts: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            max_concurrent_steps_per_run: 8,
            max_concurrent_steps: 256,
        }
    }
}

/// What [`Engine::create_agent`] needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateAgent {
    /// 1 to 100 characters.
    pub name: String,
    /// The plain-language description (1 to 2000 characters).
    pub description: String,
    /// Connector ids the agent may use (catalog ids); empty means any.
    #[serde(default)]
    pub connectors: Vec<String>,
    /// Steps below this confidence are flagged (default 0.65), in `[0, 1]`.
    #[serde(default)]
    pub confidence_threshold: Option<f64>,
    /// Who asks (for the audit trail).
    pub actor: String,
}

/// What [`Engine::start_run`] needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartRun {
    /// Live or test.
    pub mode: RunMode,
    /// The trigger input: a JSON object (or null for none). In test mode it
    /// is merged over the trigger's example payload.
    #[serde(default)]
    pub input: serde_json::Value,
    /// Who asks (for the audit trail).
    pub actor: String,
}

/// What [`Engine::resolve_escalation`] needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolve {
    /// The decision. `approve` runs the step as planned; on an `api_error`
    /// or `timeout` escalation it means the same as `retry`.
    pub action: ResolutionAction,
    /// A note for the audit trail.
    #[serde(default)]
    pub note: Option<String>,
    /// Who decides.
    pub actor: String,
    /// Edited input for `retry` (replaces the step's input).
    #[serde(default)]
    pub input: Option<serde_json::Value>,
    /// Output for `skip` (what later steps see as this step's output).
    #[serde(default)]
    pub output: Option<serde_json::Value>,
}

/// A run with the records of its steps (every step of the agent's plan, in
/// step order; steps not reached yet are `pending`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// The run.
    pub run: Run,
    /// One record per step.
    pub steps: Vec<StepRecord>,
}

/// The count of live driver tasks and the signal of one ending.
#[derive(Debug, Default)]
pub(crate) struct DriverTasks {
    live: std::sync::atomic::AtomicUsize,
    ended: Notify,
}

impl DriverTasks {
    /// A driver task starts.
    pub(crate) fn started(&self) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    /// A driver task ended and holds nothing of the engine any more.
    pub(crate) fn ended(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.ended.notify_waiters();
    }

    fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

/// Shared state of an engine and its run drivers.
pub(crate) struct Inner {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) registry: ConnectorRegistry,
    pub(crate) planner: Arc<dyn Planner>,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: EngineLimits,
    pub(crate) host_rules: Vec<Arc<dyn HostRule>>,
    /// Engine-wide bound on steps running at once.
    pub(crate) step_permits: Arc<Semaphore>,
    /// The command channel of every run that has a live driver task.
    pub(crate) drivers: Mutex<HashMap<RunId, runner::DriverHandle>>,
    /// Live driver tasks, counted until each has dropped its hold on the
    /// engine (so its storage is released when shutdown returns).
    pub(crate) tasks: Arc<DriverTasks>,
    /// Plans of the agents runs started from, by agent id: a run start
    /// checks the stored revision instead of copying the agent and deriving
    /// its plan again.
    pub(crate) plans: Mutex<HashMap<AgentId, Arc<runner::Plan>>>,
    /// Set by [`Engine::shutdown`]: no new step starts.
    pub(crate) stopping: AtomicBool,
    /// Woken when shutdown starts.
    pub(crate) stop_signal: Notify,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("storage", &self.storage)
            .field("limits", &self.limits)
            .field("host_rules", &self.host_rules.len())
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The most plans kept in [`Inner::plans`]; past it the cache starts
    /// over.
    const CACHED_PLANS: usize = 4096;

    /// The plan of agent `id` of `ws` as stored now: from the cache when
    /// the agent's stored revision has not moved.
    pub(crate) async fn plan(
        &self,
        ws: WorkspaceId,
        id: AgentId,
    ) -> Result<Arc<runner::Plan>, EngineError> {
        let cached = self
            .plans
            .lock()
            .ok()
            .and_then(|plans| plans.get(&id).cloned())
            .filter(|plan| plan.workspace == ws);
        let agent = match cached {
            Some(plan) => match self
                .storage
                .get_agent_if_changed(ws, id, plan.revision)
                .await?
            {
                None => return Ok(plan),
                Some(changed) => changed,
            },
            None => self.storage.get_agent(ws, id).await?,
        };
        let fresh = Arc::new(runner::Plan::new(agent, &self.catalog));
        if let Ok(mut plans) = self.plans.lock() {
            if plans.len() >= Self::CACHED_PLANS {
                plans.clear();
            }
            plans.insert(id, Arc::clone(&fresh));
        }
        Ok(fresh)
    }

    /// An audit event stamped now.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn event(
        &self,
        workspace: WorkspaceId,
        agent_id: AgentId,
        run_id: Option<RunId>,
        escalation_id: Option<EscalationId>,
        step: Option<u32>,
        kind: EventKind,
        actor: &str,
        message: impl Into<String>,
    ) -> Event {
        Event {
            id: EventId::generate(),
            workspace,
            agent_id,
            run_id,
            escalation_id,
            step,
            kind,
            actor: actor.to_string(),
            at: self.clock.now(),
            message: message.into(),
            data: serde_json::Value::Null,
        }
    }
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    storage: Arc<dyn Storage>,
    registry: ConnectorRegistry,
    planner: Arc<dyn Planner>,
    catalog: Arc<Catalog>,
    clock: Arc<dyn Clock>,
    limits: EngineLimits,
    host_rules: Vec<Arc<dyn HostRule>>,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("storage", &self.storage)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// An engine over `storage`, calling `connectors`, planning with
    /// `planner`, whose manifests are `catalog`.
    pub fn new(
        storage: Arc<dyn Storage>,
        connectors: ConnectorRegistry,
        planner: Arc<dyn Planner>,
        catalog: Arc<Catalog>,
    ) -> Self {
        Self {
            storage,
            registry: connectors,
            planner,
            catalog,
            clock: Arc::new(SystemClock),
            limits: EngineLimits::default(),
            host_rules: Vec::new(),
        }
    }

    /// Where timestamps come from (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The runner's limits.
    pub fn limits(mut self, limits: EngineLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds a host-supplied rule, checked before every step of every run.
    pub fn host_rule(mut self, rule: Arc<dyn HostRule>) -> Self {
        self.host_rules.push(rule);
        self
    }

    /// Builds the engine and resumes every run that was in flight when the
    /// storage was last used (queued or running, and waiting runs whose
    /// independent branches were interrupted).
    pub async fn build(self) -> Result<Engine, EngineError> {
        let mut limits = self.limits;
        limits.max_attempts = limits.max_attempts.max(1);
        limits.max_concurrent_steps = limits.max_concurrent_steps.max(1);
        limits.max_concurrent_steps_per_run = limits.max_concurrent_steps_per_run.max(1);
        let inner = Arc::new(Inner {
            storage: self.storage,
            registry: self.registry,
            planner: self.planner,
            catalog: self.catalog,
            clock: self.clock,
            step_permits: Arc::new(Semaphore::new(limits.max_concurrent_steps)),
            limits,
            host_rules: self.host_rules,
            drivers: Mutex::new(HashMap::new()),
            plans: Mutex::new(HashMap::new()),
            tasks: Arc::new(DriverTasks::default()),
            stopping: AtomicBool::new(false),
            stop_signal: Notify::new(),
        });
        runner::resume_all(&inner).await?;
        Ok(Engine { inner })
    }
}

/// The embeddable engine. Cheap to clone (an `Arc` inside), `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

const MAX_NAME_CHARS: usize = 100;
const CONFLICT_RETRIES: usize = 5;

impl Engine {
    /// Plans `req.description` and stores a new agent in `draft` status.
    ///
    /// Errors: `InvalidRequest` for a name outside 1..=100 characters, an
    /// empty or over-long description, an unknown connector id or a
    /// threshold outside `[0, 1]`; `DescriptionUnrecognized` when the
    /// planner recognises nothing.
    pub async fn create_agent(
        &self,
        ws: WorkspaceId,
        req: CreateAgent,
    ) -> Result<Agent, EngineError> {
        let name_chars = req.name.chars().count();
        if req.name.trim().is_empty() || name_chars > MAX_NAME_CHARS {
            return Err(EngineError::invalid(format!(
                "name must be 1 to {MAX_NAME_CHARS} characters (not only spaces), got {name_chars}"
            )));
        }
        let threshold = req
            .confidence_threshold
            .unwrap_or(DEFAULT_CONFIDENCE_THRESHOLD);
        let plan_request = PlanRequest {
            description: req.description.clone(),
            allowed_connectors: req.connectors.clone(),
            confidence_threshold: threshold,
        };
        plan_request.validate()?;
        let unknown: Vec<&str> = req
            .connectors
            .iter()
            .filter(|c| self.inner.catalog.connector(c).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(EngineError::invalid(format!(
                "unknown connector id(s): {}; see the connector catalog",
                unknown.join(", ")
            )));
        }
        let plan = self.inner.planner.plan(&plan_request).await?;
        let now = self.inner.clock.now();
        let agent = Agent {
            id: AgentId::generate(),
            workspace: ws,
            name: req.name,
            description: req.description,
            connectors: req.connectors,
            confidence_threshold: threshold,
            status: AgentStatus::Draft,
            graph: plan.graph,
            rules: plan.rules,
            created_at: now,
            updated_at: now,
            revision: 1,
        };
        let event = self.inner.event(
            ws,
            agent.id,
            None,
            None,
            None,
            EventKind::AgentCreated,
            &req.actor,
            format!(
                "agent {} created: {} steps, {} flagged",
                agent.name,
                agent.steps_extracted(),
                agent.steps_flagged()
            ),
        );
        let mut batch = WriteBatch::one(Write::CreateAgent(agent.clone()));
        batch.push(Write::AppendEvent(event));
        self.inner.storage.apply(batch).await?;
        tracing::info!(agent = %agent.id, steps = agent.steps_extracted(), "agent created");
        Ok(agent)
    }

    /// An agent of the workspace.
    pub async fn get_agent(&self, ws: WorkspaceId, id: AgentId) -> Result<Agent, EngineError> {
        Ok(self.inner.storage.get_agent(ws, id).await?)
    }

    /// A page of the workspace's agents, in creation order.
    pub async fn list_agents(
        &self,
        ws: WorkspaceId,
        filter: AgentFilter,
        page: PageRequest,
    ) -> Result<Page<Agent>, EngineError> {
        Ok(self.inner.storage.list_agents(ws, &filter, page).await?)
    }

    /// Makes an agent `active` (it may run live). Activating an active
    /// agent changes nothing.
    pub async fn activate_agent(
        &self,
        ws: WorkspaceId,
        id: AgentId,
        actor: &str,
    ) -> Result<Agent, EngineError> {
        self.set_agent_status(
            ws,
            id,
            AgentStatus::Active,
            EventKind::AgentActivated,
            actor,
        )
        .await
    }

    /// Makes an agent `paused` (no new live runs). Pausing a paused agent
    /// changes nothing.
    pub async fn pause_agent(
        &self,
        ws: WorkspaceId,
        id: AgentId,
        actor: &str,
    ) -> Result<Agent, EngineError> {
        self.set_agent_status(ws, id, AgentStatus::Paused, EventKind::AgentPaused, actor)
            .await
    }

    async fn set_agent_status(
        &self,
        ws: WorkspaceId,
        id: AgentId,
        to: AgentStatus,
        kind: EventKind,
        actor: &str,
    ) -> Result<Agent, EngineError> {
        let mut last = None;
        for _ in 0..CONFLICT_RETRIES {
            let mut agent = self.inner.storage.get_agent(ws, id).await?;
            if agent.status == to {
                return Ok(agent);
            }
            agent.status.check_transition(to)?;
            agent.status = to;
            agent.updated_at = self.inner.clock.now();
            let event = self.inner.event(
                ws,
                id,
                None,
                None,
                None,
                kind,
                actor,
                format!("agent {} is now {}", agent.name, to.as_str()),
            );
            let mut batch = WriteBatch::one(Write::UpdateAgent(agent.clone()));
            batch.push(Write::AppendEvent(event));
            match self.inner.storage.apply(batch).await {
                Ok(()) => {
                    agent.revision += 1;
                    return Ok(agent);
                }
                Err(e) if e.kind() == StorageErrorKind::Conflict => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.map_or_else(
            || EngineError::conflict("agent changed concurrently"),
            EngineError::from,
        ))
    }

    /// Creates a run of `agent` and returns it right away (status
    /// `queued`); its steps execute in background tasks.
    ///
    /// Test runs are allowed for draft, active and paused agents; live runs
    /// need an active agent (else `Conflict`, message `agent_not_active…`).
    /// In test mode the input is the trigger's example payload with
    /// `req.input`'s fields over it. The input must be a JSON object or
    /// null (`InvalidRequest` otherwise).
    pub async fn start_run(
        &self,
        ws: WorkspaceId,
        agent: AgentId,
        req: StartRun,
    ) -> Result<Run, EngineError> {
        let (run, agent) = self.create_run(ws, agent, req).await?;
        runner::start_driver(&self.inner, run.clone(), Some(agent));
        Ok(run)
    }

    /// Starts a run of `agent` like [`Engine::start_run`] and drives it on
    /// the calling task until it settles: returns the run completed,
    /// failed, or awaiting review (with its open escalation).
    ///
    /// Same contract as `start_run` followed by
    /// [`wait_for_run`](Engine::wait_for_run), minus the hand-off to a
    /// background task: for hosts that want the outcome now (a test run
    /// from an editor, a command line). Steps still run concurrently where
    /// the graph allows, every outcome is committed the same way, and the
    /// run is registered while it runs, so escalations resolve and waiters
    /// wake as usual. If the returned future is dropped before the run
    /// settles, the run carries on in a background task from its last
    /// committed step (a call that was in flight is treated like one
    /// interrupted by a crash).
    ///
    /// ```no_run
    /// # async fn demo(engine: nexwatt_engine::Engine, ws: nexwatt_engine::id::WorkspaceId,
    /// #               agent: nexwatt_engine::id::AgentId) -> Result<(), nexwatt_engine::EngineError> {
    /// use nexwatt_engine::StartRun;
    /// use nexwatt_engine::model::RunMode;
    /// let run = engine
    ///     .run_inline(ws, agent, StartRun {
    ///         mode: RunMode::Test, input: serde_json::json!({}), actor: "me".into(),
    ///     })
    ///     .await?;
    /// println!("{} after {} steps", run.status.as_str(), run.steps_completed);
    /// # Ok(()) }
    /// ```
    pub async fn run_inline(
        &self,
        ws: WorkspaceId,
        agent: AgentId,
        req: StartRun,
    ) -> Result<Run, EngineError> {
        let (run, agent) = self.create_run(ws, agent, req).await?;
        runner::drive_inline(&self.inner, run, agent).await
    }

    /// Checks and stores a new run (with its `run_started` event).
    async fn create_run(
        &self,
        ws: WorkspaceId,
        agent: AgentId,
        req: StartRun,
    ) -> Result<(Run, Arc<runner::Plan>), EngineError> {
        if self.inner.is_stopping() {
            return Err(EngineError::unavailable("the engine is shutting down"));
        }
        let agent = self.inner.plan(ws, agent).await?;
        if req.mode == RunMode::Live && agent.status != AgentStatus::Active {
            return Err(EngineError::conflict(format!(
                "agent_not_active: agent {} is {}; activate it to run live (test runs are allowed)",
                agent.id,
                agent.status.as_str()
            )));
        }
        let input = runner::trigger_input(&self.inner.catalog, &agent, req.mode, req.input)?;
        let now = self.inner.clock.now();
        let run = Run {
            id: RunId::generate(),
            workspace: ws,
            agent_id: agent.id,
            mode: req.mode,
            input,
            status: RunStatus::Queued,
            steps_completed: 0,
            created_at: now,
            started_at: None,
            completed_at: None,
            updated_at: now,
            revision: 1,
        };
        let event = self.inner.event(
            ws,
            agent.id,
            Some(run.id),
            None,
            None,
            EventKind::RunStarted,
            &req.actor,
            format!("{} run started", req.mode.as_str()),
        );
        let mut batch = WriteBatch::one(Write::CreateRun(run.clone()));
        batch.push(Write::AppendEvent(event));
        self.inner.storage.apply(batch).await?;
        tracing::debug!(run = %run.id, agent = %agent.id, mode = req.mode.as_str(), "run created");
        Ok((run, agent))
    }

    /// A run with the records of all its steps.
    pub async fn get_run(&self, ws: WorkspaceId, id: RunId) -> Result<RunDetail, EngineError> {
        let run = self.inner.storage.get_run(ws, id).await?;
        let stored = self.inner.storage.get_step_records(ws, id).await?;
        let steps_total = match self.inner.storage.get_agent(ws, run.agent_id).await {
            Ok(agent) => agent.graph.len(),
            Err(e) if e.kind() == StorageErrorKind::NotFound => stored.len(),
            Err(e) => return Err(e.into()),
        };
        let mut steps = Vec::with_capacity(steps_total);
        let mut stored = stored.into_iter().peekable();
        for n in 1..=u32::try_from(steps_total).unwrap_or(u32::MAX) {
            match stored.peek() {
                Some(r) if r.step == n => {
                    if let Some(r) = stored.next() {
                        steps.push(r);
                    }
                }
                _ => steps.push(StepRecord::pending(ws, id, n)),
            }
        }
        steps.extend(stored);
        Ok(RunDetail { run, steps })
    }

    /// A page of the workspace's runs (all, or of one agent / status), in
    /// creation order.
    pub async fn list_runs(
        &self,
        ws: WorkspaceId,
        filter: RunFilter,
        page: PageRequest,
    ) -> Result<Page<Run>, EngineError> {
        Ok(self.inner.storage.list_runs(ws, &filter, page).await?)
    }

    /// An escalation of the workspace.
    pub async fn get_escalation(
        &self,
        ws: WorkspaceId,
        id: EscalationId,
    ) -> Result<Escalation, EngineError> {
        Ok(self.inner.storage.get_escalation(ws, id).await?)
    }

    /// A page of the workspace's escalations (status, run, agent filters),
    /// in creation order.
    pub async fn list_escalations(
        &self,
        ws: WorkspaceId,
        filter: EscalationFilter,
        page: PageRequest,
    ) -> Result<Page<Escalation>, EngineError> {
        Ok(self
            .inner
            .storage
            .list_escalations(ws, &filter, page)
            .await?)
    }

    /// Resolves an open escalation: `retry` (optionally with edited input)
    /// and `approve` run the step, `skip` goes on without it (optionally
    /// with a supplied output), `abort` fails the run, `ignore` marks the
    /// escalation ignored and leaves the run where it is. The note and
    /// actor go to the audit trail; the run resumes from that step or ends.
    ///
    /// Resolving an escalation that is not open is `Conflict`; of two
    /// concurrent resolutions exactly one wins, the other gets `Conflict`.
    pub async fn resolve_escalation(
        &self,
        ws: WorkspaceId,
        id: EscalationId,
        req: Resolve,
    ) -> Result<Escalation, EngineError> {
        let escalation = self.inner.storage.get_escalation(ws, id).await?;
        escalation
            .status
            .check_transition(req.action.resulting_status())
            .map_err(|_| {
                EngineError::conflict(format!(
                    "escalation {id} is {}, not open; it was already resolved",
                    escalation.status.as_str()
                ))
            })?;
        if let Some(input) = &req.input {
            if !input.is_object() {
                return Err(EngineError::invalid("input must be a JSON object"));
            }
        }
        runner::resolve(&self.inner, escalation, req).await
    }

    /// A page of the workspace's audit events (of one agent or run), in
    /// order.
    pub async fn list_events(
        &self,
        ws: WorkspaceId,
        filter: EventFilter,
        page: PageRequest,
    ) -> Result<Page<Event>, EngineError> {
        Ok(self.inner.storage.list_events(ws, &filter, page).await?)
    }

    /// Waits until the run is neither queued nor running (completed,
    /// failed, cancelled or awaiting review) and returns it. Wakes on
    /// status changes; never polls.
    pub async fn wait_for_run(&self, ws: WorkspaceId, id: RunId) -> Result<Run, EngineError> {
        loop {
            // A driver on the run tells when it settles; without one, the
            // stored run is the truth (a driver settles the run's status
            // before it leaves the registry).
            let settled = self
                .inner
                .drivers
                .lock()
                .map_err(|_| EngineError::internal("driver registry poisoned"))?
                .get(&id)
                .map(runner::DriverHandle::settled);
            if let Some(mut settled) = settled {
                let run = settled
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|run| run.clone());
                // Otherwise the driver ended without settling the run
                // (shutdown, or an error), or the run is another
                // workspace's: storage answers.
                if let Some(run) = run.filter(|run| run.workspace == ws) {
                    return Ok(run);
                }
            }
            let run = self.inner.storage.get_run(ws, id).await?;
            if !matches!(run.status, RunStatus::Queued | RunStatus::Running) {
                return Ok(run);
            }
            let driven = self
                .inner
                .drivers
                .lock()
                .map(|d| d.contains_key(&id))
                .unwrap_or(false);
            if driven {
                // A new driver took the run up in the meantime.
                continue;
            }
            return Err(if self.inner.is_stopping() {
                EngineError::unavailable(format!(
                    "the engine stopped before run {id} finished; it resumes when an engine is built on this storage"
                ))
            } else {
                EngineError::internal(format!(
                    "run {id} is stalled: its driver stopped on an error (see the log); it resumes when an engine is built on this storage"
                ))
            });
        }
    }

    /// Graceful stop: no new step starts; steps in flight finish and commit
    /// (delays are checkpointed and resume later); then storage is flushed.
    /// Unfinished runs resume when an engine is next built on the storage.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.stop_signal.notify_waiters();
        loop {
            let notified = self.inner.tasks.ended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let empty = self
                .inner
                .drivers
                .lock()
                .map(|d| d.is_empty())
                .unwrap_or(true);
            if empty && self.inner.tasks.live() == 0 {
                break;
            }
            notified.await;
        }
        self.inner.storage.flush().await?;
        tracing::info!("engine stopped");
        Ok(())
    }

    /// The storage the engine writes to.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// The connector catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.inner.catalog
    }

    /// Runs that have a driver task right now (running steps, or about to).
    /// Runs waiting for review hold none.
    pub fn active_runs(&self) -> usize {
        self.inner.drivers.lock().map(|d| d.len()).unwrap_or(0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_match_the_docs() {
        let l = EngineLimits::default();
        assert_eq!(l.step_timeout, Duration::from_secs(30));
        assert_eq!(l.max_attempts, 3);
    }

    #[test]
    fn engine_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Engine>();
    }

    #[test]
    fn run_filter_default_is_all() {
        let f = RunFilter::default();
        assert!(f.agent.is_none() && f.status.is_none());
        let _ = EscalationFilter::default();
    }
}
