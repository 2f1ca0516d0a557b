//! The `Storage` trait: how agents, runs, step records, escalations, events,
//! workspaces and API keys persist.
//!
//! A backend implements a handful of reads and one write entry point,
//! [`Storage::apply`], which applies a [`WriteBatch`] atomically: every
//! precondition (creates must be new, updates must match the stored
//! revision) is checked first, and either every write lands or none does.
//! The convenience methods (`create_agent`, `update_run`, `commit_step`, …)
//! are provided on top of it, so every backend keeps the same contracts:
//!
//! - a create of an existing id fails with [`StorageErrorKind::AlreadyExists`];
//! - an update whose record carries a stale `revision` fails with
//!   [`StorageErrorKind::Conflict`] and leaves the stored record untouched;
//!   on success the stored revision is one more than the caller's;
//! - a step record, the run it advances, a new escalation and its events are
//!   one atomic write ([`StorageExt::commit_step`]);
//! - lists page in id order by an opaque [`Cursor`](crate::id::Cursor), each page costing
//!   O(limit); a malformed or foreign cursor is
//!   [`StorageErrorKind::InvalidCursor`];
//! - nothing of one workspace is visible through another: a get of another
//!   workspace's id is [`StorageErrorKind::NotFound`].
//!
//! The conformance suite in `testkit` (feature `testkit`)
//! checks all of this for any backend.

pub mod backend;
mod error;
pub mod id_index;
mod query;
mod write;

pub use error::{StorageError, StorageErrorKind};
pub use query::{AgentFilter, EscalationFilter, EventFilter, Page, PageRequest, RunFilter};
pub use write::{Write, WriteBatch};

use async_trait::async_trait;

use crate::id::{AgentId, EscalationId, RunId, WorkspaceId};
use crate::model::{Agent, ApiKeyRecord, Escalation, Event, KeyHash, Run, StepRecord, Workspace};

/// Persistence for everything the engine keeps. Object-safe: the engine
/// holds an `Arc<dyn Storage>`.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug + 'static {
    /// Applies every write of `batch` or none of them. Fails with
    /// `AlreadyExists` / `Conflict` / `NotFound` when a precondition does not
    /// hold, leaving storage untouched.
    async fn apply(&self, batch: WriteBatch) -> Result<(), StorageError>;

    /// Makes every write whose `apply` returned before this call durable.
    async fn flush(&self) -> Result<(), StorageError>;

    /// A workspace by id.
    async fn get_workspace(&self, id: WorkspaceId) -> Result<Workspace, StorageError>;

    /// Every workspace, in id order.
    async fn list_workspaces(&self) -> Result<Vec<Workspace>, StorageError>;

    /// The key whose secret hashes to `hash`, revoked or not.
    async fn get_api_key_by_hash(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<ApiKeyRecord>, StorageError>;

    /// Every key, of one workspace or of all, in id order.
    async fn list_api_keys(
        &self,
        workspace: Option<WorkspaceId>,
    ) -> Result<Vec<ApiKeyRecord>, StorageError>;

    /// An agent of `workspace`.
    async fn get_agent(&self, workspace: WorkspaceId, id: AgentId) -> Result<Agent, StorageError>;

    /// The agent, unless its stored revision is `known`: then `None`. Lets
    /// a caller that keeps agents in memory check for a change without a
    /// copy. `NotFound` as for [`get_agent`](Storage::get_agent).
    async fn get_agent_if_changed(
        &self,
        workspace: WorkspaceId,
        id: AgentId,
        known: u64,
    ) -> Result<Option<Agent>, StorageError> {
        let agent = self.get_agent(workspace, id).await?;
        Ok((agent.revision != known).then_some(agent))
    }

    /// A page of the workspace's agents in id order.
    async fn list_agents(
        &self,
        workspace: WorkspaceId,
        filter: &AgentFilter,
        page: PageRequest,
    ) -> Result<Page<Agent>, StorageError>;

    /// A run of `workspace`.
    async fn get_run(&self, workspace: WorkspaceId, id: RunId) -> Result<Run, StorageError>;

    /// A page of the workspace's runs in id order.
    async fn list_runs(
        &self,
        workspace: WorkspaceId,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Page<Run>, StorageError>;

    /// Every run, of any workspace, that is `queued` or `running`: what the
    /// engine resumes on start. Order: id.
    async fn list_unfinished_runs(&self) -> Result<Vec<Run>, StorageError>;

    /// The step records of a run, by step number. `NotFound` if the run is
    /// not in `workspace`.
    async fn get_step_records(
        &self,
        workspace: WorkspaceId,
        run: RunId,
    ) -> Result<Vec<StepRecord>, StorageError>;

    /// An escalation of `workspace`.
    async fn get_escalation(
        &self,
        workspace: WorkspaceId,
        id: EscalationId,
    ) -> Result<Escalation, StorageError>;

    /// A page of the workspace's escalations in id order.
    async fn list_escalations(
        &self,
        workspace: WorkspaceId,
        filter: &EscalationFilter,
        page: PageRequest,
    ) -> Result<Page<Escalation>, StorageError>;

    /// A page of the workspace's audit events in id order.
    async fn list_events(
        &self,
        workspace: WorkspaceId,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<Page<Event>, StorageError>;
}

/// Convenience writes, each one [`Storage::apply`] of a one- or few-write
/// batch. Implemented for every `Storage`, including `dyn Storage`.
#[async_trait]
pub trait StorageExt: Storage {
    /// Creates a workspace (`AlreadyExists` if its id is taken).
    async fn create_workspace(&self, workspace: &Workspace) -> Result<(), StorageError> {
        self.apply(WriteBatch::one(Write::CreateWorkspace(workspace.clone())))
            .await
    }

    /// Creates an API key record.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StorageError> {
        self.apply(WriteBatch::one(Write::CreateApiKey(key.clone())))
            .await
    }

    /// Compare-and-set update of a key; bumps `key.revision` on success.
    async fn update_api_key(&self, key: &mut ApiKeyRecord) -> Result<(), StorageError> {
        self.apply(WriteBatch::one(Write::UpdateApiKey(key.clone())))
            .await?;
        key.revision += 1;
        Ok(())
    }

    /// Creates an agent (its `revision` should be 1).
    async fn create_agent(&self, agent: &Agent) -> Result<(), StorageError> {
        self.apply(WriteBatch::one(Write::CreateAgent(agent.clone())))
            .await
    }

    /// Compare-and-set update of an agent; bumps `agent.revision` on success.
    async fn update_agent(&self, agent: &mut Agent) -> Result<(), StorageError> {
        self.apply(WriteBatch::one(Write::UpdateAgent(agent.clone())))
            .await?;
        agent.revision += 1;
        Ok(())
    }

    /// Creates a run.
    async fn create_run(&self, run: &Run) -> Result<(), StorageError> {
        self.apply(WriteBatch::one(Write::CreateRun(run.clone())))
            .await
    }

    /// Compare-and-set update of a run; bumps `run.revision` on success.
    async fn update_run(&self, run: &mut Run) -> Result<(), StorageError> {
        self.apply(WriteBatch::one(Write::UpdateRun(run.clone())))
            .await?;
        run.revision += 1;
        Ok(())
    }

    /// Records a step's outcome and advances its run in one atomic write,
    /// together with an escalation it opens and its audit events. The run
    /// update is compare-and-set; `run.revision` is bumped on success.
    async fn commit_step(
        &self,
        run: &mut Run,
        record: &StepRecord,
        escalation: Option<&Escalation>,
        events: &[Event],
    ) -> Result<(), StorageError> {
        let mut batch =
            WriteBatch::with_capacity(2 + usize::from(escalation.is_some()) + events.len());
        batch.push(Write::UpdateRun(run.clone()));
        batch.push(Write::PutStepRecord(record.clone()));
        if let Some(escalation) = escalation {
            batch.push(Write::CreateEscalation(escalation.clone()));
        }
        for event in events {
            batch.push(Write::AppendEvent(event.clone()));
        }
        self.apply(batch).await?;
        run.revision += 1;
        Ok(())
    }

    /// Creates an escalation.
    async fn create_escalation(&self, escalation: &Escalation) -> Result<(), StorageError> {
        self.apply(WriteBatch::one(Write::CreateEscalation(escalation.clone())))
            .await
    }

    /// Compare-and-set update of an escalation; bumps its revision on success.
    async fn update_escalation(&self, escalation: &mut Escalation) -> Result<(), StorageError> {
        self.apply(WriteBatch::one(Write::UpdateEscalation(escalation.clone())))
            .await?;
        escalation.revision += 1;
        Ok(())
    }

    /// Appends an audit event.
    async fn append_event(&self, event: &Event) -> Result<(), StorageError> {
        self.apply(WriteBatch::one(Write::AppendEvent(event.clone())))
            .await
    }
}

impl<T: Storage + ?Sized> StorageExt for T {}
