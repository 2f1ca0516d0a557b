//! The runner: drives each run through its step graph.
//!
//! One *driver* task per active run owns the run's state in memory and is
//! the only writer of its run record in this process. It starts every step
//! whose predecessors are done (independent branches concurrently, bounded
//! per run and per engine), checks rules and flags before a step runs,
//! writes a `running` checkpoint before each connector call and commits the
//! outcome (with any escalation and audit events) in one atomic write
//! before a dependent step starts.
//!
//! A run keeps status `running` while anything of it can progress; once
//! nothing can (every other branch finished), it goes to `awaiting_review`
//! if a step waits for a person, or `completed`. The driver then exits: a
//! waiting run holds no task, only its records in storage. Resolving an
//! escalation (one atomic write: the escalation, compare-and-set, plus the
//! step and run) starts a driver again.
//!
//! After a crash, the engine resumes every `queued` or `running` run. A
//! step found `running` has an unknown outcome: it runs again (same
//! idempotency key) only if its operation honours idempotency keys, and
//! otherwise becomes an `api_error` escalation saying so.

mod condition;
mod input;
mod rules;

pub use rules::{HostRule, RuleContext};

pub(crate) use input::trigger_input;

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

use crate::connector::{
    Connector, ConnectorError, ConnectorErrorKind, ExecutionContext, OperationManifest, Route,
};
use crate::engine::{EngineError, EngineLimits, Inner, Resolve};
use crate::id::{EscalationId, RunId, WorkspaceId};
use crate::model::{
    Agent, Effect, Escalation, EscalationReason, EscalationStatus, Event, EventKind, Resolution,
    ResolutionAction, Run, RunMode, RunStatus, Step, StepError, StepRecord, StepStatus,
};
use crate::storage::{EscalationFilter, PageRequest, StorageErrorKind, Write, WriteBatch};

const ENGINE_ACTOR: &str = "engine";

/// The handle of a live driver: where commands for its run go.
#[derive(Debug)]
pub(crate) struct DriverHandle {
    tx: mpsc::UnboundedSender<Command>,
    /// The run as last settled by the driver (neither queued nor running),
    /// or `None` while it progresses. Closed when the driver ends.
    settled: watch::Receiver<Option<Run>>,
}

impl DriverHandle {
    /// A receiver of the run's settled state; see [`DriverHandle::settled`].
    pub(crate) fn settled(&self) -> watch::Receiver<Option<Run>> {
        self.settled.clone()
    }
}

/// What a driver is asked to do besides driving. Boxed: the command
/// channel allocates room for a block of commands per run.
enum Command {
    Resolve(Box<ResolveCommand>),
}

/// A person's decision on one of the run's escalations, and where the
/// driver answers.
struct ResolveCommand {
    escalation: EscalationId,
    req: Resolve,
    reply: oneshot::Sender<Result<Escalation, EngineError>>,
}

/// How a driver starts: what it already knows of its run.
struct Seed {
    workspace: WorkspaceId,
    run_id: RunId,
    run: Option<Run>,
    agent: Option<Arc<Plan>>,
}

/// Starts a driver for `run` unless one is active.
pub(crate) fn start_driver(inner: &Arc<Inner>, run: Run, agent: Option<Arc<Plan>>) {
    let seed = Seed {
        workspace: run.workspace,
        run_id: run.id,
        run: Some(run),
        agent,
    };
    if let Ok(mut drivers) = inner.drivers.lock() {
        if drivers.contains_key(&seed.run_id) {
            return;
        }
        spawn_locked(inner, &mut drivers, seed);
    }
}

/// Drives a new `run` on the calling task until it settles, and returns
/// it as settled (see [`Engine::run_inline`](crate::Engine::run_inline)).
pub(crate) async fn drive_inline(
    inner: &Arc<Inner>,
    run: Run,
    agent: Arc<Plan>,
) -> Result<Run, EngineError> {
    let (workspace, run_id) = (run.workspace, run.id);
    let (tx, rx) = mpsc::unbounded_channel();
    let (settled_tx, settled) = watch::channel(None);
    {
        let mut drivers = inner
            .drivers
            .lock()
            .map_err(|_| EngineError::internal("driver registry poisoned"))?;
        drivers.insert(
            run_id,
            DriverHandle {
                tx,
                settled: settled.clone(),
            },
        );
    }
    inner.tasks.started();
    let mut guard = InlineGuard {
        inner: Arc::clone(inner),
        workspace,
        run_id,
        armed: true,
    };
    let seed = Seed {
        workspace,
        run_id,
        run: Some(run),
        agent: Some(agent),
    };
    driver_task(Arc::clone(inner), seed, rx, settled_tx).await;
    guard.armed = false;
    let settled = settled.borrow().clone();
    match settled {
        Some(run) => Ok(run),
        // The driver stopped without settling (shutdown, a storage error):
        // storage has the truth.
        None => Ok(inner.storage.get_run(workspace, run_id).await?),
    }
}

/// Hands a run whose inline driver was dropped mid-way to a background
/// driver, which reloads it from storage like after a crash.
struct InlineGuard {
    inner: Arc<Inner>,
    workspace: WorkspaceId,
    run_id: RunId,
    armed: bool,
}

impl Drop for InlineGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(mut drivers) = self.inner.drivers.lock() else {
            self.inner.tasks.ended();
            return;
        };
        drivers.remove(&self.run_id);
        self.inner.tasks.ended();
        if self.inner.is_stopping() {
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!(run = %self.run_id, "inline run dropped outside a runtime; it resumes when an engine is next built on this storage");
            return;
        }
        tracing::debug!(run = %self.run_id, "inline run dropped before it settled; continuing in the background");
        let seed = Seed {
            workspace: self.workspace,
            run_id: self.run_id,
            run: None,
            agent: None,
        };
        spawn_locked(&self.inner, &mut drivers, seed);
    }
}

fn spawn_locked(
    inner: &Arc<Inner>,
    drivers: &mut std::collections::HashMap<RunId, DriverHandle>,
    seed: Seed,
) -> mpsc::UnboundedSender<Command> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (settled_tx, settled) = watch::channel(None);
    drivers.insert(
        seed.run_id,
        DriverHandle {
            tx: tx.clone(),
            settled,
        },
    );
    let inner = Arc::clone(inner);
    inner.tasks.started();
    tokio::spawn(driver_task(inner, seed, rx, settled_tx));
    tx
}

/// Resumes every run that was queued or running when storage was last
/// used.
pub(crate) async fn resume_all(inner: &Arc<Inner>) -> Result<(), EngineError> {
    let runs = inner.storage.list_unfinished_runs().await?;
    if !runs.is_empty() {
        tracing::info!(runs = runs.len(), "resuming unfinished runs");
    }
    for run in runs {
        start_driver(inner, run, None);
    }
    Ok(())
}

/// Hands a resolution to the run's driver (starting one if the run has
/// none) and waits for its answer.
pub(crate) async fn resolve(
    inner: &Arc<Inner>,
    escalation: Escalation,
    req: Resolve,
) -> Result<Escalation, EngineError> {
    let (reply, answer) = oneshot::channel();
    let command = Command::Resolve(Box::new(ResolveCommand {
        escalation: escalation.id,
        req,
        reply,
    }));
    {
        let mut drivers = inner
            .drivers
            .lock()
            .map_err(|_| EngineError::internal("driver registry poisoned"))?;
        let tx = match drivers.get(&escalation.run_id) {
            Some(handle) => handle.tx.clone(),
            None => spawn_locked(
                inner,
                &mut drivers,
                Seed {
                    workspace: escalation.workspace,
                    run_id: escalation.run_id,
                    run: None,
                    agent: None,
                },
            ),
        };
        tx.send(command)
            .map_err(|_| EngineError::internal("the run's driver stopped"))?;
    }
    answer
        .await
        .map_err(|_| EngineError::internal("the run's driver stopped before answering"))?
}

async fn driver_task(
    inner: Arc<Inner>,
    seed: Seed,
    rx: mpsc::UnboundedReceiver<Command>,
    settled: watch::Sender<Option<Run>>,
) {
    // The driver's state machine is over 4 KiB. Boxed, it is allocated
    // when the task first runs: a spawned task still waiting for a worker
    // (10 000 runs started at once, say) holds its arguments only.
    Box::pin(drive_run(inner, seed, rx, settled)).await;
}

async fn drive_run(
    inner: Arc<Inner>,
    seed: Seed,
    mut rx: mpsc::UnboundedReceiver<Command>,
    settled: watch::Sender<Option<Run>>,
) {
    let run_id = seed.run_id;
    match Driver::load(Arc::clone(&inner), seed, settled).await {
        Ok(mut driver) => {
            if let Err(e) = driver.drive(&mut rx).await {
                tracing::error!(run = %run_id, error = %e, "run driver stopped on an error; the run resumes when the engine restarts");
            }
        }
        Err(e) => {
            tracing::error!(run = %run_id, error = %e, "could not load run");
            let message = e.to_string();
            if let Ok(mut drivers) = inner.drivers.lock() {
                drivers.remove(&run_id);
            }
            while let Ok(Command::Resolve(command)) = rx.try_recv() {
                let _ = command
                    .reply
                    .send(Err(EngineError::internal(message.clone())));
            }
        }
    }
    // Counted as ended only once nothing of the engine is held any more.
    let tasks = Arc::clone(&inner.tasks);
    drop(inner);
    tasks.ended();
}

/// Why an attempt failed, once retries are over.
enum Failure {
    Connector(ConnectorError, u32),
    Timeout(Duration),
}

/// What an in-flight step reports back to its driver.
enum Outcome {
    Done {
        step: u32,
        /// Connector calls made.
        calls: u32,
        result: Result<Value, Failure>,
    },
    /// Shutdown interrupted the step (a delay); its `running` checkpoint
    /// stays and it resumes later.
    Interrupted { step: u32 },
}

impl Outcome {
    fn step(&self) -> u32 {
        match self {
            Self::Done { step, .. } | Self::Interrupted { step } => *step,
        }
    }
}

/// What the runner needs to know of a step's operation, from the plan and
/// the catalog.
#[derive(Debug, Clone, Copy)]
struct StepFacts {
    /// `write` if either the plan or the manifest says so.
    effect: Effect,
    /// A built-in, or an operation that honours idempotency keys.
    rerunnable: bool,
    /// The catalog has the operation.
    known: bool,
}

impl StepFacts {
    fn of(catalog: &crate::connector::Catalog, step: &Step) -> Self {
        let manifest = catalog.operation(&step.connector, &step.operation);
        let listed = manifest.map(|m| m.effect);
        let effect = if step.effect == Effect::Write || listed == Some(Effect::Write) {
            Effect::Write
        } else {
            listed.unwrap_or(step.effect)
        };
        Self {
            effect,
            rerunnable: step.is_core() || manifest.is_some_and(|m| m.idempotent),
            known: manifest.is_some(),
        }
    }
}

/// An agent as the runner uses it: with what it derives from the graph and
/// the catalog, computed once per agent revision (the engine caches plans
/// of the agents it starts runs of) instead of once per run.
#[derive(Debug)]
pub(crate) struct Plan {
    agent: Agent,
    /// The direct predecessors of each step (index `n - 1`).
    preds: Vec<Vec<u32>>,
    /// What the catalog says of each step's operation (index `n - 1`).
    facts: Vec<StepFacts>,
}

impl Plan {
    /// Derives the plan of `agent`.
    pub(crate) fn new(agent: Agent, catalog: &crate::connector::Catalog) -> Self {
        let n = agent.graph.len() as u32;
        let preds = (1..=n).map(|i| agent.graph.predecessors(i)).collect();
        let facts = agent
            .graph
            .steps()
            .map(|step| StepFacts::of(catalog, step))
            .collect();
        Self {
            agent,
            preds,
            facts,
        }
    }
}

impl std::ops::Deref for Plan {
    type Target = Agent;

    fn deref(&self) -> &Agent {
        &self.agent
    }
}

struct Driver {
    inner: Arc<Inner>,
    run: Run,
    agent: Arc<Plan>,
    /// One record per step (index `n - 1`).
    records: Vec<StepRecord>,
    /// The latest escalation of each step (index `n - 1`).
    /// Boxed: most steps never escalate.
    latest: Vec<Option<Box<Escalation>>>,
    /// How many records are done (succeeded or skipped).
    done: usize,
    /// Steps whose call is in flight (index `n - 1`).
    busy: Vec<bool>,
    /// Events of a started step whose `running` checkpoint was skipped,
    /// written with its outcome (index `n - 1`).
    deferred: Vec<Vec<Event>>,
    in_flight: FuturesUnordered<BoxFuture<'static, Outcome>>,
    /// Where waiters learn that the run settled (see [`DriverHandle`]).
    settled: watch::Sender<Option<Run>>,
    /// Whether the run record is known to be on disk (loaded from storage,
    /// or flushed since it was created). Before the first outside write of
    /// a run that is not, storage is flushed: no effect of a run the engine
    /// could forget.
    durable: bool,
}

impl Driver {
    async fn load(
        inner: Arc<Inner>,
        seed: Seed,
        settled: watch::Sender<Option<Run>>,
    ) -> Result<Self, EngineError> {
        let storage = &inner.storage;
        let run = match seed.run {
            Some(run) => run,
            None => storage.get_run(seed.workspace, seed.run_id).await?,
        };
        let agent = match seed.agent {
            Some(agent) => agent,
            None => inner.plan(run.workspace, run.agent_id).await?,
        };
        let n = agent.graph.len();
        let mut records: Vec<StepRecord> = (1..=n)
            .map(|i| StepRecord::pending(run.workspace, run.id, i as u32))
            .collect();
        let mut latest = vec![None; n];
        let fresh = run.status == RunStatus::Queued && run.started_at.is_none();
        if !fresh {
            for record in storage.get_step_records(run.workspace, run.id).await? {
                if let Some(slot) = (record.step as usize)
                    .checked_sub(1)
                    .and_then(|i| records.get_mut(i))
                {
                    *slot = record;
                }
            }
            let filter = EscalationFilter {
                run: Some(run.id),
                ..EscalationFilter::default()
            };
            let mut cursor = None;
            loop {
                let page = PageRequest::new(PageRequest::MAX_LIMIT, cursor)?;
                let page = storage
                    .list_escalations(run.workspace, &filter, page)
                    .await?;
                for esc in page.items {
                    if let Some(slot) = (esc.step as usize)
                        .checked_sub(1)
                        .and_then(|i| latest.get_mut(i))
                    {
                        *slot = Some(Box::new(esc));
                    }
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        let done = records.iter().filter(|r| r.status.is_done()).count();
        Ok(Self {
            inner,
            run,
            agent,
            done,
            records,
            latest,
            busy: vec![false; n],
            deferred: vec![Vec::new(); n],
            in_flight: FuturesUnordered::new(),
            settled,
            durable: !fresh,
        })
    }

    fn record(&self, n: u32) -> Option<&StepRecord> {
        self.records.get((n as usize).wrapping_sub(1))
    }

    /// Takes step `n`'s record out to work on it (no copy); every path
    /// puts it back with [`set_record`](Self::set_record) or
    /// [`commit`](Self::commit), or the driver stops on an error (and the
    /// run resumes from storage). Its slot keeps the status meanwhile, so
    /// the done count stays right.
    fn take_record(&mut self, n: u32) -> Option<StepRecord> {
        let slot = self.records.get_mut((n as usize).wrapping_sub(1))?;
        let standin = StepRecord {
            workspace: slot.workspace,
            run_id: slot.run_id,
            step: slot.step,
            status: slot.status,
            attempts: slot.attempts,
            input: Value::Null,
            output: None,
            error: None,
            started_at: slot.started_at,
            finished_at: slot.finished_at,
            idempotency_key: String::new(),
        };
        Some(std::mem::replace(slot, standin))
    }

    /// Replaces step `record.step`'s record in memory, keeping the count
    /// of done records.
    fn set_record(&mut self, record: StepRecord) {
        let Some(slot) = (record.step as usize)
            .checked_sub(1)
            .and_then(|i| self.records.get_mut(i))
        else {
            return;
        };
        let was = slot.status.is_done();
        let is = record.status.is_done();
        *slot = record;
        match (was, is) {
            (false, true) => self.done += 1,
            (true, false) => self.done = self.done.saturating_sub(1),
            _ => {}
        }
    }

    /// The direct predecessors of step `n`.
    fn predecessors(&self, n: u32) -> &[u32] {
        self.agent
            .preds
            .get((n as usize).wrapping_sub(1))
            .map_or(&[], Vec::as_slice)
    }

    fn step(&self, n: u32) -> Option<&Step> {
        self.agent.graph.step(n)
    }

    fn manifest(&self, step: &Step) -> Option<&OperationManifest> {
        self.inner
            .catalog
            .operation(&step.connector, &step.operation)
    }

    /// What the catalog says of step `step`, looked up once per run.
    fn facts(&self, step: &Step) -> StepFacts {
        self.agent
            .facts
            .get((step.step as usize).wrapping_sub(1))
            .copied()
            .unwrap_or_else(|| StepFacts::of(&self.inner.catalog, step))
    }

    /// The effect the runner assumes: `write` if either the plan or the
    /// manifest says so.
    fn effect(&self, step: &Step) -> Effect {
        self.facts(step).effect
    }

    /// Whether a call whose outcome is unknown may be made again: built-ins
    /// and operations whose manifest says they honour idempotency keys.
    fn rerunnable(&self, step: &Step) -> bool {
        self.facts(step).rerunnable
    }

    /// Whether this step's checkpoint and outcome must reach disk before the
    /// call / before anything else (a non-idempotent write).
    fn needs_flush(&self, step: &Step) -> bool {
        !self.rerunnable(step) && self.effect(step) == Effect::Write
    }

    async fn drive(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Result<(), EngineError> {
        let result = self.drive_inner(rx).await;
        if result.is_err() {
            if let Ok(mut drivers) = self.inner.drivers.lock() {
                drivers.remove(&self.run.id);
            }
            while let Ok(Command::Resolve(command)) = rx.try_recv() {
                let _ = command.reply.send(Err(EngineError::internal(
                    "the run's driver stopped on a storage error",
                )));
            }
        }
        result
    }

    async fn drive_inner(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Result<(), EngineError> {
        self.recover_unknown_outcomes().await?;
        loop {
            self.schedule().await?;
            if self.in_flight.is_empty() {
                self.settle().await?;
                // Exit unless a command arrived; checked under the registry
                // lock so no command is lost between the check and removal.
                let command = {
                    let mut drivers = self
                        .inner
                        .drivers
                        .lock()
                        .map_err(|_| EngineError::internal("driver registry poisoned"))?;
                    match rx.try_recv() {
                        Ok(command) => Some(command),
                        Err(_) => {
                            drivers.remove(&self.run.id);
                            None
                        }
                    }
                };
                match command {
                    Some(command) => self.handle(command).await?,
                    None => return Ok(()),
                }
                continue;
            }
            tokio::select! {
                Some(outcome) = self.in_flight.next() => self.finish(outcome).await?,
                Some(command) = rx.recv() => self.handle(command).await?,
            }
        }
    }

    /// Steps left `running` by an earlier process: re-run the idempotent
    /// ones, escalate the others.
    async fn recover_unknown_outcomes(&mut self) -> Result<(), EngineError> {
        let unknown: Vec<u32> = self
            .records
            .iter()
            .filter(|r| r.status == StepStatus::Running)
            .map(|r| r.step)
            .collect();
        for n in unknown {
            let Some(step) = self.step(n).cloned() else {
                continue;
            };
            if self.rerunnable(&step) {
                tracing::info!(run = %self.run.id, step = n, "re-running a step whose outcome is unknown (idempotent)");
                continue;
            }
            let Some(mut record) = self.record(n).cloned() else {
                continue;
            };
            let message = format!(
                "the outcome of step {n} ({}) is unknown: the engine stopped after calling it and before recording the result, and the operation does not honour idempotency keys. Check {} and retry or skip the step.",
                step.op(),
                step.connector
            );
            record.status = StepStatus::Failed;
            record.error = Some(StepError {
                code: "outcome_unknown".into(),
                message: message.clone(),
                retryable: false,
            });
            record.finished_at = Some(self.inner.clock.now());
            self.escalate(record, EscalationReason::ApiError, message, Vec::new())
                .await?;
        }
        Ok(())
    }

    /// Whether step `n`'s latest escalation was resolved so that the step
    /// should run (approve / retry), with the edited input if any.
    fn cleared(&self, n: u32) -> Option<Option<Value>> {
        let esc = self.latest.get((n as usize).wrapping_sub(1))?.as_ref()?;
        if esc.status != EscalationStatus::Resolved {
            return None;
        }
        let resolution = esc.resolution.as_ref()?;
        matches!(
            resolution.action,
            ResolutionAction::Retry | ResolutionAction::Approve
        )
        .then(|| resolution.input.clone())
    }

    /// Whether step `n` is not run because a condition guarding it is
    /// false: a direct predecessor is a `core.if` whose result is false, or
    /// was itself not run for that reason.
    fn condition_skipped(&self, n: u32) -> Option<u32> {
        for &p in self.predecessors(n) {
            let (Some(step), Some(record)) = (self.step(p), self.record(p)) else {
                continue;
            };
            if step.is_core()
                && step.operation == "if"
                && record.status.is_done()
                && record
                    .output
                    .as_ref()
                    .and_then(|o| o.get("result"))
                    .and_then(Value::as_bool)
                    == Some(false)
            {
                return Some(p);
            }
            if record.status == StepStatus::Skipped
                && record
                    .error
                    .as_ref()
                    .is_some_and(|e| e.code == "condition_false")
            {
                return Some(p);
            }
        }
        None
    }

    /// Starts every step that can start.
    async fn schedule(&mut self) -> Result<(), EngineError> {
        loop {
            let mut progressed = false;
            for n in 1..=self.records.len() as u32 {
                if self.run.status.is_terminal() || self.inner.is_stopping() {
                    return Ok(());
                }
                if self.in_flight.len() >= self.inner.limits.max_concurrent_steps_per_run {
                    return Ok(());
                }
                let i = n as usize - 1;
                if self.busy[i] {
                    continue;
                }
                let status = self.records[i].status;
                match status {
                    StepStatus::Succeeded | StepStatus::Skipped => {}
                    StepStatus::Running => {
                        // Left running by an earlier process and re-runnable.
                        self.start_step(n, true, None).await?;
                        progressed = true;
                    }
                    StepStatus::Failed | StepStatus::AwaitingReview => {
                        if let Some(input) = self.cleared(n) {
                            self.start_step(n, true, input).await?;
                            progressed = true;
                        }
                    }
                    StepStatus::Pending => {
                        let ready = self
                            .predecessors(n)
                            .iter()
                            .all(|&p| self.record(p).is_some_and(|r| r.status.is_done()));
                        if !ready {
                            continue;
                        }
                        if let Some(guard) = self.condition_skipped(n) {
                            self.skip_for_condition(n, guard).await?;
                        } else {
                            self.start_step(n, false, None).await?;
                        }
                        progressed = true;
                    }
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    async fn skip_for_condition(&mut self, n: u32, guard: u32) -> Result<(), EngineError> {
        let Some(mut record) = self.record(n).cloned() else {
            return Ok(());
        };
        record.status.check_transition(StepStatus::Skipped)?;
        record.status = StepStatus::Skipped;
        record.error = Some(StepError {
            code: "condition_false".into(),
            message: format!("not run: the condition of step {guard} is false"),
            retryable: false,
        });
        record.finished_at = Some(self.inner.clock.now());
        let event = self.event(
            Some(n),
            None,
            EventKind::StepSkipped,
            ENGINE_ACTOR,
            format!("step {n} skipped: the condition of step {guard} is false"),
        );
        self.commit(record, None, vec![event], false).await
    }

    /// Runs step `n` or stops it for a person. `cleared`: a person already
    /// approved it (skip the pre-run checks); `edited`: the input they
    /// supplied.
    async fn start_step(
        &mut self,
        n: u32,
        cleared: bool,
        edited: Option<Value>,
    ) -> Result<(), EngineError> {
        let agent = Arc::clone(&self.agent);
        let Some(step) = agent.graph.step(n) else {
            return Ok(());
        };
        let Some(mut record) = self.take_record(n) else {
            return Ok(());
        };
        let now = self.inner.clock.now();
        let input = match edited {
            Some(input) => input,
            None if record.status == StepStatus::Running && record.input.is_object() => {
                record.input.clone()
            }
            None => input::step_input(
                &self.agent.graph,
                step,
                self.manifest(step),
                &self.records,
                &self.run.input,
            ),
        };
        record.input = input;

        // The trigger: its output is the run input (not copied again as its
        // input).
        if n == 1 {
            record.input = Value::Null;
            record.status = StepStatus::Succeeded;
            record.attempts += 1;
            record.started_at.get_or_insert(now);
            record.finished_at = Some(now);
            record.output = Some(self.run.input.clone());
            // The run's `run_started` event already records the trigger.
            return self.commit(record, None, Vec::new(), false).await;
        }

        if !cleared {
            let ctx = rules::RuleContext {
                agent: &self.agent,
                run: &self.run,
                step,
                input: &record.input,
                now,
            };
            if let Some(why) = rules::first_violation(&ctx, &self.inner.host_rules) {
                record.status = StepStatus::AwaitingReview;
                return self
                    .escalate(record, EscalationReason::RuleViolation, why, Vec::new())
                    .await;
            }
            if step.flagged || step.confidence < self.agent.confidence_threshold {
                let why = format!(
                    "step {n} ({}) has confidence {:.2}, below the agent's threshold {:.2}: {}. Approve to run it as planned, retry with edited input, or skip it.",
                    step.op(),
                    step.confidence,
                    self.agent.confidence_threshold,
                    if step.rationale.is_empty() { "no rationale given" } else { &step.rationale }
                );
                record.status = StepStatus::AwaitingReview;
                return self
                    .escalate(record, EscalationReason::LowConfidence, why, Vec::new())
                    .await;
            }
            if step.is_core() && step.operation == "approval" {
                let approver = step
                    .params
                    .get("approver")
                    .and_then(Value::as_str)
                    .unwrap_or("a person");
                let why = format!("step {n} waits for approval from {approver}");
                record.status = StepStatus::AwaitingReview;
                return self
                    .escalate(record, EscalationReason::Approval, why, Vec::new())
                    .await;
            }
        }

        if step.is_core() {
            return self.run_core(n, step, record, now).await;
        }
        self.call_connector(n, step, record, now).await
    }

    /// Built-in operations other than triggers.
    async fn run_core(
        &mut self,
        n: u32,
        step: &Step,
        mut record: StepRecord,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), EngineError> {
        let done = |record: &mut StepRecord, output: Value| {
            record.status = StepStatus::Succeeded;
            record.attempts += 1;
            record.started_at.get_or_insert(now);
            record.finished_at = Some(now);
            record.output = Some(output);
            record.error = None;
        };
        match step.operation.as_str() {
            "if" => {
                let text = step
                    .params
                    .get("condition")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                // A value a person supplied (retry with input) comes first,
                // then the nearest earlier output that has the field.
                let evaluated = condition::parse(text).and_then(|c| {
                    let given = record
                        .input
                        .as_object()
                        .and_then(|m| m.get(c.field.trim()))
                        .filter(|v| !v.is_object());
                    let actual = given
                        .or_else(|| {
                            input::lookup_field(
                                &self.agent.graph,
                                n,
                                &c.field,
                                &self.records,
                                &self.run.input,
                            )
                        })
                        .ok_or_else(|| {
                        let known = input::available_fields(
                            &self.agent.graph,
                            n,
                            &self.records,
                            &self.run.input,
                            12,
                        );
                        format!(
                            "condition {text:?} cannot be evaluated: no field {:?} (at the top or nested) in the trigger payload or an earlier step's output{}. Retry with the value as input {{\"{}\": …}}, or skip the step to go on without it.",
                            c.field,
                            if known.is_empty() {
                                String::new()
                            } else {
                                format!("; fields there: {}", known.join(", "))
                            },
                            c.field
                        )
                    })?;
                    Ok((c.evaluate(actual), actual.clone()))
                });
                match evaluated {
                    Ok((result, actual)) => {
                        done(
                            &mut record,
                            json!({"condition": text, "result": result, "value": actual}),
                        );
                        let event = self.event(
                            Some(n),
                            None,
                            EventKind::StepSucceeded,
                            ENGINE_ACTOR,
                            format!("condition {text:?} is {result}"),
                        );
                        self.commit(record, None, vec![event], false).await
                    }
                    Err(why) => self.fail_now(record, "condition_unevaluable", why).await,
                }
            }
            "approval" => {
                let by = self
                    .latest
                    .get(n as usize - 1)
                    .and_then(|e| e.as_ref())
                    .and_then(|e| e.resolution.as_ref())
                    .map(|r| r.actor.clone())
                    .unwrap_or_default();
                done(&mut record, json!({"approved": true, "approved_by": by}));
                let event = self.event(
                    Some(n),
                    None,
                    EventKind::StepSucceeded,
                    ENGINE_ACTOR,
                    format!("approved by {by}"),
                );
                self.commit(record, None, vec![event], false).await
            }
            "delay" => {
                let text = step
                    .params
                    .get("duration")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let duration = match condition::parse_duration(&text) {
                    Ok(d) => d,
                    Err(why) => return self.fail_now(record, "invalid_duration", why).await,
                };
                if self.run.mode == RunMode::Test {
                    done(
                        &mut record,
                        json!({"duration": text, "waited": false, "simulated": true}),
                    );
                    let event = self.event(
                        Some(n),
                        None,
                        EventKind::StepSucceeded,
                        ENGINE_ACTOR,
                        format!("delay of {text} recorded (test run: not waited)"),
                    );
                    return self.commit(record, None, vec![event], false).await;
                }
                // Live: checkpoint, then wait what is left of the delay.
                let started = *record.started_at.get_or_insert(now);
                let elapsed = (now - started).to_std().unwrap_or_default();
                let remaining = duration.saturating_sub(elapsed);
                record.status = StepStatus::Running;
                record.attempts += 1;
                let event = self.event(
                    Some(n),
                    None,
                    EventKind::StepStarted,
                    ENGINE_ACTOR,
                    format!("waiting {text}"),
                );
                self.checkpoint(record, vec![event], false).await?;
                let inner = Arc::clone(&self.inner);
                self.busy[n as usize - 1] = true;
                self.in_flight.push(Box::pin(async move {
                    let stop = inner.stop_signal.notified();
                    tokio::pin!(stop);
                    stop.as_mut().enable();
                    if inner.is_stopping() {
                        return Outcome::Interrupted { step: n };
                    }
                    tokio::select! {
                        () = tokio::time::sleep(remaining) => Outcome::Done {
                            step: n,
                            calls: 0,
                            result: Ok(json!({"duration": text, "waited": true})),
                        },
                        () = stop => Outcome::Interrupted { step: n },
                    }
                }));
                Ok(())
            }
            other => {
                let why = format!("the engine has no built-in operation core.{other}");
                self.fail_now(record, "unknown_operation", why).await
            }
        }
    }

    /// Fails a step without calling anything and escalates with `api_error`.
    async fn fail_now(
        &mut self,
        mut record: StepRecord,
        code: &str,
        message: String,
    ) -> Result<(), EngineError> {
        record.status = if record.status == StepStatus::Pending {
            StepStatus::Failed
        } else {
            record.status
        };
        if record.status != StepStatus::Failed {
            record.status.check_transition(StepStatus::Failed)?;
            record.status = StepStatus::Failed;
        }
        record.error = Some(StepError {
            code: code.to_string(),
            message: message.clone(),
            retryable: false,
        });
        record.finished_at = Some(self.inner.clock.now());
        self.escalate(record, EscalationReason::ApiError, message, Vec::new())
            .await
    }

    /// Checkpoints the step as running, then calls its connector in the
    /// background (with timeout and retries).
    async fn call_connector(
        &mut self,
        n: u32,
        step: &Step,
        mut record: StepRecord,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), EngineError> {
        let effect = self.effect(step);
        let mode = self.run.mode;
        let connector = match self.inner.registry.resolve(&step.connector, effect, mode) {
            Ok((route, connector)) => {
                if mode == RunMode::Test && effect == Effect::Write && route == Route::Live {
                    // The registry never does this; the runner refuses anyway.
                    tracing::error!(run = %self.run.id, step = n, "refused to send a test-mode write to a live client");
                    return self
                        .fail_now(
                            record,
                            "test_mode_live_write",
                            format!(
                                "step {n} ({}) is a write and the run is a test: it may only go to the sandbox",
                                step.op()
                            ),
                        )
                        .await;
                }
                connector
            }
            Err(e) => {
                return self
                    .fail_now(record, e.code(), e.message().to_string())
                    .await
            }
        };
        if !self.facts(step).known {
            let why = format!(
                "connector {} has no operation {:?} in the catalog",
                step.connector, step.operation
            );
            return self.fail_now(record, "unknown_operation", why).await;
        }
        if record.status != StepStatus::Running {
            record.status.check_transition(StepStatus::Running)?;
        }
        record.status = StepStatus::Running;
        record.started_at.get_or_insert(now);
        record.error = None;
        // Calls that change an outside system get audit lines (when they
        // start and when they end). A read changes nothing: its outcome is
        // in its step record (status, attempts, times, output), and a
        // failed read is audited through its escalation.
        let events = if effect == Effect::Write {
            vec![self.event(
                Some(n),
                None,
                EventKind::StepStarted,
                ENGINE_ACTOR,
                format!("calling {} ({})", step.op(), mode.as_str()),
            )]
        } else {
            Vec::new()
        };
        let flush = self.needs_flush(step) || (effect == Effect::Write && !self.durable);
        // The `running` checkpoint matters only where a re-run is unsafe
        // (a write that does not honour idempotency keys): recovery then
        // escalates instead of calling again. A read, a built-in or an
        // idempotent write found `pending` after a crash simply runs again
        // with the same idempotency key, so its checkpoint is skipped and
        // its start events go out with its outcome.
        let checkpointed = effect == Effect::Write && !self.rerunnable(step);
        let input = record.input.clone();
        let ctx_base = (self.run.id, n, record.idempotency_key.clone(), mode);
        if checkpointed || self.run.status == RunStatus::Queued {
            self.checkpoint(record, events, flush).await?;
        } else {
            if flush {
                self.inner.storage.flush().await?;
                self.durable = true;
            }
            if let Some(slot) = self.deferred.get_mut(n as usize - 1) {
                *slot = events;
            }
            self.set_record(record);
        }

        let inner = Arc::clone(&self.inner);
        let operation = step.operation.clone();
        self.busy[n as usize - 1] = true;
        let mut call: BoxFuture<'static, Outcome> = Box::pin(async move {
            let (calls, result) =
                call_with_retries(&inner, connector, &operation, input, ctx_base).await;
            Outcome::Done {
                step: n,
                calls,
                result,
            }
        });
        // Many calls answer without waiting (sandboxes, caches, built-in
        // lookups): poll once here and commit at once, instead of a round
        // through the in-flight set. A call that waits joins the set, which
        // polls it again.
        match std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await {
            Poll::Ready(outcome) => self.finish(outcome).await,
            Poll::Pending => {
                self.in_flight.push(call);
                Ok(())
            }
        }
    }

    /// Commits what an in-flight step reported.
    async fn finish(&mut self, outcome: Outcome) -> Result<(), EngineError> {
        let n = outcome.step();
        if let Some(b) = self.busy.get_mut(n as usize - 1) {
            *b = false;
        }
        let Outcome::Done { calls, result, .. } = outcome else {
            return Ok(());
        };
        let agent = Arc::clone(&self.agent);
        let Some(step) = agent.graph.step(n) else {
            return Ok(());
        };
        let Some(mut record) = self.take_record(n) else {
            return Ok(());
        };
        let now = self.inner.clock.now();
        record.attempts += calls;
        record.finished_at = Some(now);
        let flush = self.needs_flush(step);
        let mut events = self
            .deferred
            .get_mut(n as usize - 1)
            .map(std::mem::take)
            .unwrap_or_default();
        match result {
            Ok(output) => {
                record.status = StepStatus::Succeeded;
                record.output = Some(output);
                record.error = None;
                if self.effect(step) == Effect::Write {
                    let event = self.event(
                        Some(n),
                        None,
                        EventKind::StepSucceeded,
                        ENGINE_ACTOR,
                        format!("{} succeeded", step.op()),
                    );
                    events.push(event);
                }
                self.commit(record, None, events, flush).await
            }
            Err(failure) => {
                let (reason, error, message) = match failure {
                    Failure::Timeout(limit) => (
                        EscalationReason::Timeout,
                        StepError {
                            code: "timeout".into(),
                            message: format!(
                                "{} did not finish within {} ms",
                                step.op(),
                                limit.as_millis()
                            ),
                            retryable: true,
                        },
                        format!(
                            "step {n} ({}) timed out after {} ms; retry it or skip it",
                            step.op(),
                            limit.as_millis()
                        ),
                    ),
                    Failure::Connector(e, tries) => {
                        let reason = match e.kind() {
                            ConnectorErrorKind::RuleViolation => EscalationReason::RuleViolation,
                            _ => EscalationReason::ApiError,
                        };
                        let message = if e.is_retryable() {
                            format!(
                                "step {n} ({}) failed {tries} times, giving up: {}",
                                step.op(),
                                e
                            )
                        } else {
                            format!("step {n} ({}) failed: {e}", step.op())
                        };
                        (
                            reason,
                            StepError {
                                code: e.code().to_string(),
                                message: e.message().to_string(),
                                retryable: e.is_retryable(),
                            },
                            message,
                        )
                    }
                };
                record.status = StepStatus::Failed;
                record.error = Some(error.clone());
                let failed = self.event(
                    Some(n),
                    None,
                    EventKind::StepFailed,
                    ENGINE_ACTOR,
                    format!("{}: {}", error.code, error.message),
                );
                events.push(failed);
                self.escalate(record, reason, message, events).await
            }
        }
    }

    /// Commits `record` with a new open escalation.
    async fn escalate(
        &mut self,
        record: StepRecord,
        reason: EscalationReason,
        message: String,
        mut events: Vec<Event>,
    ) -> Result<(), EngineError> {
        let escalation = Escalation {
            id: EscalationId::generate(),
            workspace: self.run.workspace,
            run_id: self.run.id,
            agent_id: self.run.agent_id,
            step: record.step,
            reason,
            status: EscalationStatus::Open,
            message: message.clone(),
            created_at: self.inner.clock.now(),
            resolution: None,
            revision: 1,
        };
        events.push(self.event(
            Some(record.step),
            Some(escalation.id),
            EventKind::EscalationOpened,
            ENGINE_ACTOR,
            // The escalation carries the full message; the audit line names
            // it (`escalation_id`) instead of keeping a second copy.
            format!(
                "{} escalation opened at step {}",
                reason.as_str(),
                record.step
            ),
        ));
        tracing::info!(run = %self.run.id, step = record.step, reason = reason.as_str(), "escalation opened");
        let n = record.step;
        self.commit(record, Some(&escalation), events, true).await?;
        if let Some(slot) = self.latest.get_mut(n as usize - 1) {
            *slot = Some(Box::new(escalation));
        }
        Ok(())
    }

    /// Writes a step's `running` checkpoint (and its events) before the
    /// call. The run itself does not change, so it is not rewritten; a run
    /// still `queued` goes through [`commit`](Self::commit) to become
    /// `running` in the same write.
    async fn checkpoint(
        &mut self,
        record: StepRecord,
        events: Vec<Event>,
        flush: bool,
    ) -> Result<(), EngineError> {
        if self.run.status == RunStatus::Queued {
            return self.commit(record, None, events, flush).await;
        }
        let mut batch = WriteBatch::one(Write::PutStepRecord(record.clone()));
        for event in events {
            batch.push(Write::AppendEvent(event));
        }
        self.inner.storage.apply(batch).await?;
        if flush {
            self.inner.storage.flush().await?;
            self.durable = true;
        }
        self.set_record(record);
        Ok(())
    }

    /// Records a step and advances the run in one atomic write.
    async fn commit(
        &mut self,
        record: StepRecord,
        escalation: Option<&Escalation>,
        events: Vec<Event>,
        flush: bool,
    ) -> Result<(), EngineError> {
        // The outcome's own time when it has one: one clock read per step.
        let now = record.finished_at.unwrap_or_else(|| self.inner.clock.now());
        // The run is updated in place (no copy per step): a failed write
        // stops the driver, and the run resumes from storage.
        let was_done = self.record(record.step).is_some_and(|r| r.status.is_done());
        let last = record.status.is_done()
            && !self.inner.is_stopping()
            && self.in_flight.is_empty()
            && self.done - usize::from(was_done) + 1 == self.records.len();
        let run = &mut self.run;
        if run.status == RunStatus::Queued {
            run.status.check_transition(RunStatus::Running)?;
            run.status = RunStatus::Running;
            run.started_at.get_or_insert(now);
        }
        if record.status.is_done() && !was_done {
            run.steps_completed += 1;
        }
        run.updated_at = now;
        // The last step's outcome completes the run in the same write.
        let mut events = events;
        let completes = last && !run.status.is_terminal();
        if completes {
            run.status.check_transition(RunStatus::Completed)?;
            run.status = RunStatus::Completed;
            run.completed_at = Some(now);
            let message = format!("run completed: {} steps", run.steps_completed);
            events.push(self.event(None, None, EventKind::RunCompleted, ENGINE_ACTOR, message));
        }
        // What `StorageExt::commit_step` writes, with the events moved in
        // rather than copied.
        let mut batch =
            WriteBatch::with_capacity(2 + usize::from(escalation.is_some()) + events.len());
        batch.push(Write::UpdateRun(self.run.clone()));
        batch.push(Write::PutStepRecord(record.clone()));
        if let Some(escalation) = escalation {
            batch.push(Write::CreateEscalation(escalation.clone()));
        }
        for event in events {
            batch.push(Write::AppendEvent(event));
        }
        self.inner.storage.apply(batch).await?;
        self.run.revision += 1;
        if flush {
            self.inner.storage.flush().await?;
            self.durable = true;
        }
        if completes {
            self.publish();
        }
        self.set_record(record);
        Ok(())
    }

    /// Nothing can start and nothing is in flight: complete the run, or
    /// mark it awaiting review.
    async fn settle(&mut self) -> Result<(), EngineError> {
        if self.run.status.is_terminal() || self.inner.is_stopping() {
            return Ok(());
        }
        let all_done = self.done == self.records.len();
        let (to, kind, message) = if all_done {
            (
                RunStatus::Completed,
                Some(EventKind::RunCompleted),
                format!("run completed: {} steps", self.run.steps_completed),
            )
        } else {
            let blocked = self
                .records
                .iter()
                .filter(|r| {
                    matches!(r.status, StepStatus::Failed | StepStatus::AwaitingReview)
                        && self
                            .latest
                            .get(r.step as usize - 1)
                            .and_then(|e| e.as_ref())
                            .is_some_and(|e| e.status != EscalationStatus::Resolved)
                })
                .count();
            if blocked == 0 {
                (
                    RunStatus::Failed,
                    Some(EventKind::RunFailed),
                    "run failed: no step can run and none waits for a person".to_string(),
                )
            } else {
                (
                    RunStatus::AwaitingReview,
                    None,
                    format!("run waits for review of {blocked} step(s)"),
                )
            }
        };
        if self.run.status == to {
            return Ok(());
        }
        let now = self.inner.clock.now();
        let mut run = self.run.clone();
        if run.status == RunStatus::Queued {
            run.status.check_transition(RunStatus::Running)?;
            run.status = RunStatus::Running;
            run.started_at.get_or_insert(now);
        }
        run.status.check_transition(to)?;
        run.status = to;
        run.updated_at = now;
        if to.is_terminal() {
            run.completed_at = Some(now);
        }
        let mut batch = WriteBatch::one(Write::UpdateRun(run.clone()));
        if let Some(kind) = kind {
            batch.push(Write::AppendEvent(self.event(
                None,
                None,
                kind,
                ENGINE_ACTOR,
                message.clone(),
            )));
        }
        self.inner.storage.apply(batch).await?;
        run.revision += 1;
        self.run = run;
        tracing::debug!(run = %self.run.id, status = to.as_str(), "{message}");
        self.publish();
        Ok(())
    }

    async fn handle(&mut self, command: Command) -> Result<(), EngineError> {
        match command {
            Command::Resolve(command) => {
                let ResolveCommand {
                    escalation,
                    req,
                    reply,
                } = *command;
                let result = self.resolve(escalation, req).await;
                let fatal =
                    matches!(&result, Err(e) if e.kind() == crate::engine::ErrorKind::Internal);
                let message = result.as_ref().err().map(ToString::to_string);
                let _ = reply.send(result);
                if fatal {
                    return Err(EngineError::internal(message.unwrap_or_default()));
                }
                Ok(())
            }
        }
    }

    /// Applies a person's decision in one atomic write: the escalation
    /// (compare-and-set: exactly one resolver wins), the step, the run and
    /// the audit events.
    async fn resolve(&mut self, id: EscalationId, req: Resolve) -> Result<Escalation, EngineError> {
        let storage = Arc::clone(&self.inner.storage);
        let mut escalation = storage.get_escalation(self.run.workspace, id).await?;
        let to = req.action.resulting_status();
        escalation.status.check_transition(to).map_err(|_| {
            EngineError::conflict(format!(
                "escalation {id} is {}, not open; it was already resolved",
                escalation.status.as_str()
            ))
        })?;
        if escalation.run_id != self.run.id {
            return Err(EngineError::internal("escalation routed to the wrong run"));
        }
        let n = escalation.step;
        let Some(step) = self.step(n).cloned() else {
            return Err(EngineError::internal(format!(
                "escalation {id} names step {n}, which the agent's plan does not have"
            )));
        };
        let Some(mut record) = self.record(n).cloned() else {
            return Err(EngineError::internal("missing step record"));
        };
        if self.busy.get(n as usize - 1).copied().unwrap_or(false) {
            return Err(EngineError::conflict(format!(
                "step {n} is running; resolve the escalation when it has finished"
            )));
        }
        let now = self.inner.clock.now();
        let actor = req.actor.clone();
        let note = req.note.clone();
        escalation.status = to;
        escalation.resolution = Some(Resolution {
            action: req.action,
            note: note.clone(),
            actor: actor.clone(),
            resolved_at: now,
            input: req.input.clone(),
            output: req.output.clone(),
        });
        let mut run = self.run.clone();
        run.updated_at = now;
        let mut events = vec![self.event(
            Some(n),
            Some(id),
            EventKind::EscalationResolved,
            &actor,
            match &note {
                Some(note) => format!("{}: {note}", req.action.as_str()),
                None => req.action.as_str().to_string(),
            },
        )];
        if let Some(last) = events.last_mut() {
            last.data = json!({"action": req.action.as_str(), "note": note, "reason": escalation.reason.as_str()});
        }
        let mut others = Vec::new();
        let mut write_record = true;
        match req.action {
            ResolutionAction::Ignore => {
                write_record = false;
            }
            ResolutionAction::Retry | ResolutionAction::Approve => {
                if let Some(input) = &req.input {
                    record.input = input.clone();
                }
                record.status.check_transition(StepStatus::Running)?;
            }
            ResolutionAction::Skip => {
                record.status.check_transition(StepStatus::Skipped)?;
                record.status = StepStatus::Skipped;
                record.output = req.output.clone();
                record.finished_at = Some(now);
                run.steps_completed += 1;
                events.push(self.event(
                    Some(n),
                    Some(id),
                    EventKind::StepSkipped,
                    &actor,
                    format!("step {n} ({}) skipped by {actor}", step.op()),
                ));
            }
            ResolutionAction::Abort => {
                if record.status != StepStatus::Failed {
                    record.status.check_transition(StepStatus::Failed)?;
                    record.status = StepStatus::Failed;
                }
                record.finished_at = Some(now);
                if run.status == RunStatus::Queued {
                    run.status = RunStatus::Running;
                }
                run.status.check_transition(RunStatus::Failed)?;
                run.status = RunStatus::Failed;
                run.completed_at = Some(now);
                events.push(self.event(
                    None,
                    Some(id),
                    EventKind::RunFailed,
                    &actor,
                    format!("run aborted by {actor} at step {n}"),
                ));
                for other in self.latest.iter().flatten() {
                    if other.id != id && other.status == EscalationStatus::Open {
                        let mut other = other.clone();
                        other.status = EscalationStatus::Resolved;
                        other.resolution = Some(Resolution {
                            action: ResolutionAction::Abort,
                            note: Some(format!("run aborted through escalation {id}")),
                            actor: actor.clone(),
                            resolved_at: now,
                            input: None,
                            output: None,
                        });
                        others.push(other);
                    }
                }
            }
        }
        if matches!(
            req.action,
            ResolutionAction::Retry | ResolutionAction::Approve | ResolutionAction::Skip
        ) && run.status == RunStatus::AwaitingReview
        {
            run.status.check_transition(RunStatus::Running)?;
            run.status = RunStatus::Running;
            events.push(self.event(
                None,
                Some(id),
                EventKind::RunResumed,
                &actor,
                format!("run resumes at step {n} ({})", req.action.as_str()),
            ));
        }
        let mut batch = WriteBatch::one(Write::UpdateEscalation(escalation.clone()));
        for other in &others {
            batch.push(Write::UpdateEscalation(Escalation::clone(other)));
        }
        batch.push(Write::UpdateRun(run.clone()));
        if write_record {
            batch.push(Write::PutStepRecord(record.clone()));
        }
        for event in events {
            batch.push(Write::AppendEvent(event));
        }
        match storage.apply(batch).await {
            Ok(()) => {}
            Err(e) if e.kind() == StorageErrorKind::Conflict => {
                let now_stored = storage.get_escalation(self.run.workspace, id).await?;
                if now_stored.status != EscalationStatus::Open {
                    return Err(EngineError::conflict(format!(
                        "escalation {id} is {}, not open; another resolution won",
                        now_stored.status.as_str()
                    )));
                }
                return Err(EngineError::conflict(format!(
                    "run {} changed concurrently; try again",
                    self.run.id
                )));
            }
            Err(e) => return Err(e.into()),
        }
        storage.flush().await?;
        escalation.revision += 1;
        run.revision += 1;
        for mut other in others {
            other.revision += 1;
            let i = other.step as usize - 1;
            if let Some(slot) = self.latest.get_mut(i) {
                *slot = Some(other);
            }
        }
        self.run = run;
        if write_record {
            self.set_record(record);
        }
        if let Some(slot) = self.latest.get_mut(n as usize - 1) {
            *slot = Some(Box::new(escalation.clone()));
        }
        tracing::info!(escalation = %id, action = req.action.as_str(), actor = %actor, "escalation resolved");
        self.publish();
        Ok(escalation)
    }

    /// Tells waiters the run's state after its status may have changed:
    /// the run if it settled (neither queued nor running), else `None`.
    fn publish(&self) {
        let settled = !matches!(self.run.status, RunStatus::Queued | RunStatus::Running);
        let current = self.settled.borrow().is_some();
        if settled {
            self.settled.send_replace(Some(self.run.clone()));
        } else if current {
            self.settled.send_replace(None);
        }
    }

    fn event(
        &self,
        step: Option<u32>,
        escalation: Option<EscalationId>,
        kind: EventKind,
        actor: &str,
        message: impl Into<String>,
    ) -> Event {
        self.inner.event(
            self.run.workspace,
            self.run.agent_id,
            Some(self.run.id),
            escalation,
            step,
            kind,
            actor,
            message,
        )
    }
}

/// Calls a connector: each attempt under the step timeout and holding an
/// engine-wide permit; retryable errors are retried with exponential
/// backoff and jitter (at least the service's retry-after), up to the
/// attempt limit. Returns the calls made and the result.
async fn call_with_retries(
    inner: &Inner,
    connector: Arc<dyn Connector>,
    operation: &str,
    input: Value,
    (run_id, step, key, mode): (RunId, u32, String, RunMode),
) -> (u32, Result<Value, Failure>) {
    let limits = &inner.limits;
    let mut calls = 0;
    loop {
        let permit = inner.step_permits.acquire().await;
        let now = tokio::time::Instant::now();
        // A huge timeout means "none": cap it instead of overflowing.
        let deadline = now
            .checked_add(limits.step_timeout)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
        let span = tracing::info_span!("step", run = %run_id, step, operation);
        let ctx = ExecutionContext {
            mode,
            run_id,
            step,
            idempotency_key: key.clone(),
            deadline,
            span,
        };
        calls += 1;
        let mut call = connector.execute(operation, input.clone(), &ctx);
        // A call that answers on its first poll needs no timer.
        let result = match std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await {
            Poll::Ready(answer) => Ok(answer),
            Poll::Pending => tokio::time::timeout_at(deadline, call).await,
        };
        drop(permit);
        match result {
            Err(_) => return (calls, Err(Failure::Timeout(limits.step_timeout))),
            Ok(Ok(output)) => return (calls, Ok(output)),
            Ok(Err(e)) if e.is_retryable() && calls < limits.max_attempts => {
                let wait = backoff_delay(limits, calls, e.retry_after());
                tracing::debug!(run = %run_id, step, attempt = calls, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
                tokio::time::sleep(wait).await;
            }
            Ok(Err(e)) => return (calls, Err(Failure::Connector(e, calls))),
        }
    }
}

/// How long to wait after the `failures`-th failed attempt: `base × 2^(failures-1)`
/// capped at `backoff_max`, with "equal jitter" (half fixed, half random),
/// and never less than the service's retry-after.
pub(crate) fn backoff_delay(
    limits: &EngineLimits,
    failures: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = limits
        .backoff_base
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(limits.backoff_max);
    let half = exp / 2;
    let jitter_ns = rand::thread_rng().gen_range(0..=half.as_nanos().min(u64::MAX as u128) as u64);
    let wait = half + Duration::from_nanos(jitter_ns);
    wait.max(retry_after.unwrap_or(Duration::ZERO))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// 10 000 runs started at once are 10 000 spawned tasks, most waiting
    /// for a worker: each must hold little until it runs (the driver's own
    /// state machine is over 4 KiB and is boxed on first poll).
    #[test]
    fn a_spawned_driver_task_is_small_until_it_runs() {
        fn future_size<A, B, C, D, F: std::future::Future>(_: fn(A, B, C, D) -> F) -> usize {
            std::mem::size_of::<F>()
        }
        let spawned = future_size(driver_task);
        let boxed = future_size(drive_run);
        assert!(spawned <= 512, "spawned driver future is {spawned} bytes");
        assert!(
            boxed > spawned,
            "the boxed part ({boxed} bytes) holds the state"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        let limits = EngineLimits {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(350),
            ..EngineLimits::default()
        };
        for _ in 0..100 {
            let d1 = backoff_delay(&limits, 1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d2 = backoff_delay(&limits, 2, None);
            assert!(d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200));
            let d9 = backoff_delay(&limits, 9, None);
            assert!(d9 <= Duration::from_millis(350));
            let r = backoff_delay(&limits, 1, Some(Duration::from_secs(5)));
            assert_eq!(r, Duration::from_secs(5));
        }
    }
}
