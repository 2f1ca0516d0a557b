//! # nexwatt-storage-memory
//!
//! [`MemoryStorage`]: a [`Storage`] backend that keeps everything in
//! process memory. For tests, for trying Nexwatt out, and for hosts that
//! persist elsewhere. Nothing survives the process; `flush` is a no-op.
//!
//! Records live in hash maps by id. Lists page through secondary indexes:
//! for every filter combination a record can match (an [`IndexKey`]
//! prefix), a sorted set of ids ([`IdIndex`]: sorted chunks, so the usual
//! insert — a new id, larger than every stored one — is a push), so one
//! page costs O(limit + log n)
//! whatever the table's size.
//! Every batch is applied under one write lock: all preconditions are
//! checked first (by [`plan_batch`]), then every write lands.
//!
//! ```
//! use nexwatt_storage_memory::MemoryStorage;
//! use nexwatt_engine::storage::Storage;
//! # tokio_test_block_on(async {
//! let storage = MemoryStorage::new();
//! assert!(storage.list_workspaces().await.unwrap().is_empty());
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use nexwatt_engine::id::{AgentId, ApiKeyId, EscalationId, EventId, RunId, WorkspaceId};
use nexwatt_engine::model::{
    Agent, ApiKeyRecord, Escalation, Event, KeyHash, Run, RunStatus, StepRecord, Workspace,
};
use nexwatt_engine::storage::backend::{self, plan_batch, BatchState, Change, IndexKey};
use nexwatt_engine::storage::id_index::{IdIndex, IdMap};
use nexwatt_engine::storage::{
    AgentFilter, EscalationFilter, EventFilter, Page, PageRequest, RunFilter, Storage,
    StorageError, StorageErrorKind, WriteBatch,
};

/// A record type with an id, a workspace and index entries.
trait Record: Clone {
    fn id(&self) -> u128;
    fn workspace(&self) -> WorkspaceId;
    fn entries(&self) -> Vec<IndexKey>;
    /// Whether `other` has the same index entries (same indexed fields):
    /// then an update touches no index.
    fn same_entries(&self, other: &Self) -> bool;
    /// The record's agent, for records that also carry a run (whose agent
    /// it always is); 0 otherwise.
    fn agent_of_run(&self) -> u128 {
        0
    }
}

/// The entries this backend keeps: all but those carrying both a run and
/// an agent. A list filtered by both reads the run's entries and keeps the
/// agent's ([`Table::page`]): the engine gives a run's escalations and
/// events the run's agent, so that is all of them or none, at the cost of
/// one run's records; the per-run prefixes are most of a waiting run's
/// index memory.
fn kept(entries: Vec<IndexKey>) -> Vec<IndexKey> {
    let both = backend::MASK_RUN | backend::MASK_AGENT;
    let mut entries = entries;
    entries.retain(|key| key.mask & both != both);
    entries
}

impl Record for Agent {
    fn id(&self) -> u128 {
        self.id.ulid().0
    }
    fn workspace(&self) -> WorkspaceId {
        self.workspace
    }
    fn entries(&self) -> Vec<IndexKey> {
        backend::agent_entries(self)
    }
    fn same_entries(&self, other: &Self) -> bool {
        self.workspace == other.workspace && self.status == other.status
    }
}

impl Record for Run {
    fn id(&self) -> u128 {
        self.id.ulid().0
    }
    fn workspace(&self) -> WorkspaceId {
        self.workspace
    }
    fn entries(&self) -> Vec<IndexKey> {
        backend::run_entries(self)
    }
    fn same_entries(&self, other: &Self) -> bool {
        self.workspace == other.workspace
            && self.status == other.status
            && self.agent_id == other.agent_id
    }
}

impl Record for Escalation {
    fn id(&self) -> u128 {
        self.id.ulid().0
    }
    fn workspace(&self) -> WorkspaceId {
        self.workspace
    }
    fn entries(&self) -> Vec<IndexKey> {
        kept(backend::escalation_entries(self))
    }
    fn agent_of_run(&self) -> u128 {
        self.agent_id.ulid().0
    }
    fn same_entries(&self, other: &Self) -> bool {
        self.workspace == other.workspace
            && self.status == other.status
            && self.agent_id == other.agent_id
            && self.run_id == other.run_id
    }
}

impl Record for Event {
    fn id(&self) -> u128 {
        self.id.ulid().0
    }
    fn workspace(&self) -> WorkspaceId {
        self.workspace
    }
    fn entries(&self) -> Vec<IndexKey> {
        kept(backend::event_entries(self))
    }
    fn agent_of_run(&self) -> u128 {
        if self.run_id.is_some() {
            self.agent_id.ulid().0
        } else {
            0
        }
    }
    fn same_entries(&self, other: &Self) -> bool {
        self.workspace == other.workspace
            && self.agent_id == other.agent_id
            && self.run_id == other.run_id
    }
}

/// Records of one type by id, and their secondary index: for each index
/// prefix (an [`IndexKey`] with id 0), the ids under it in order.
#[derive(Debug)]
struct Table<T> {
    /// Boxed: a map of large inline values wastes its spare capacity
    /// (up to half the slots) at the records' full size.
    records: IdMap<u128, Box<T>>,
    index: IdIndex,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            records: IdMap::default(),
            index: IdIndex::default(),
        }
    }
}

impl<T: Record> Table<T> {
    fn get(&self, workspace: WorkspaceId, id: u128) -> Option<&T> {
        self.records
            .get(&id)
            .map(|r| &**r)
            .filter(|r| r.workspace() == workspace)
    }

    /// Stores `new` (replacing `old`), touching only the index entries
    /// that differ between the two: an update that keeps the indexed
    /// fields (status, agent, run) changes no index.
    fn put(&mut self, old: Option<&T>, new: T) {
        if old.is_some_and(|old| old.same_entries(&new)) {
            match self.records.get_mut(&new.id()) {
                Some(slot) => **slot = new,
                None => {
                    self.records.insert(new.id(), Box::new(new));
                }
            }
            return;
        }
        let new_entries = new.entries();
        let old_entries = old.map(Record::entries).unwrap_or_default();
        self.index.update(&old_entries, &new_entries);
        match self.records.get_mut(&new.id()) {
            Some(slot) => **slot = new,
            None => {
                self.records.insert(new.id(), Box::new(new));
            }
        }
    }

    fn page(
        &self,
        workspace: WorkspaceId,
        scan: IndexKey,
        page: PageRequest,
        list: &str,
    ) -> Result<Page<T>, StorageError> {
        let after = match page.cursor() {
            None => None,
            Some(cursor) => {
                let id = backend::cursor_id(cursor);
                if self.get(workspace, id).is_none() {
                    return Err(backend::foreign_cursor(cursor, list));
                }
                Some(id)
            }
        };
        let Some((low, high)) = scan.range_after(after) else {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        };
        // Run and agent together: the run's entries, if the agent is the
        // run's (see [`kept`]).
        let both = backend::MASK_RUN | backend::MASK_AGENT;
        let (scan, agent) = if scan.mask & both == both {
            let by_run = IndexKey {
                mask: scan.mask & !backend::MASK_AGENT,
                agent: 0,
                ..scan
            };
            (by_run, Some(scan.agent))
        } else {
            (scan, None)
        };
        let mut items = Vec::with_capacity(page.limit() + 1);
        let low = IndexKey { id: low.id, ..scan };
        let high = IndexKey {
            id: high.id,
            ..scan
        };
        for id in self.index.range(low, high) {
            if items.len() > page.limit() {
                break;
            }
            match self.records.get(&id) {
                // Records under one run normally all have its agent, so
                // this skips all of them or none.
                Some(record) if agent.is_some_and(|a| record.agent_of_run() != a) => {}
                Some(record) => items.push(T::clone(record)),
                None => {
                    return Err(StorageError::new(
                        StorageErrorKind::Read,
                        format!("{list} index names a missing record"),
                    ))
                }
            }
        }
        Ok(backend::into_page(items, page, Record::id))
    }
}

#[derive(Debug, Default)]
struct Inner {
    workspaces: BTreeMap<WorkspaceId, Workspace>,
    api_keys: BTreeMap<ApiKeyId, ApiKeyRecord>,
    api_keys_by_hash: HashMap<KeyHash, ApiKeyId>,
    agents: Table<Agent>,
    runs: Table<Run>,
    /// Each run's step records, sorted by step (nearly always written in
    /// order, so a push): a B-tree node would reserve room for eleven.
    steps: IdMap<RunId, Vec<StepRecord>>,
    escalations: Table<Escalation>,
    events: Table<Event>,
}

impl BatchState for &Inner {
    type Error = StorageError;

    fn workspace_exists(&mut self, id: WorkspaceId) -> Result<bool, StorageError> {
        Ok(self.workspaces.contains_key(&id))
    }
    fn api_key(&mut self, id: ApiKeyId) -> Result<Option<ApiKeyRecord>, StorageError> {
        Ok(self.api_keys.get(&id).cloned())
    }
    fn api_key_by_hash(&mut self, hash: &KeyHash) -> Result<Option<ApiKeyId>, StorageError> {
        Ok(self.api_keys_by_hash.get(hash).copied())
    }
    fn agent(&mut self, id: AgentId) -> Result<Option<Agent>, StorageError> {
        Ok(self.agents.records.get(&id.ulid().0).map(|r| (**r).clone()))
    }
    fn run(&mut self, id: RunId) -> Result<Option<Run>, StorageError> {
        Ok(self.runs.records.get(&id.ulid().0).map(|r| (**r).clone()))
    }
    fn escalation(&mut self, id: EscalationId) -> Result<Option<Escalation>, StorageError> {
        Ok(self
            .escalations
            .records
            .get(&id.ulid().0)
            .map(|r| (**r).clone()))
    }
    fn event_exists(&mut self, id: EventId) -> Result<bool, StorageError> {
        Ok(self.events.records.contains_key(&id.ulid().0))
    }
}

impl Inner {
    fn write(&mut self, change: Change) {
        match change {
            Change::Workspace(w) => {
                self.workspaces.insert(w.id, w);
            }
            Change::ApiKey { old, new } => {
                if let Some(old) = old {
                    if old.hash != new.hash {
                        self.api_keys_by_hash.remove(&old.hash);
                    }
                }
                self.api_keys_by_hash.insert(new.hash.clone(), new.id);
                self.api_keys.insert(new.id, new);
            }
            Change::Agent { old, new } => self.agents.put(old.as_ref(), new),
            Change::Run { old, new } => self.runs.put(old.as_ref(), new),
            Change::Step(s) => {
                let records = self.steps.entry(s.run_id).or_default();
                // Exact growth for the first few records (what a waiting
                // run holds), doubling after.
                if records.len() == records.capacity() && records.len() < 8 {
                    records.reserve_exact(1);
                }
                match records.binary_search_by_key(&s.step, |r| r.step) {
                    Ok(at) => records[at] = s,
                    Err(at) => records.insert(at, s),
                }
            }
            Change::Escalation { old, new } => self.escalations.put(old.as_ref(), new),
            Change::Event(e) => self.events.put(None, e),
        }
    }
}

/// Everything in process memory, behind one lock. Cheap to clone: clones
/// share the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    inner: Arc<RwLock<Inner>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Inner>, StorageError> {
        self.inner.read().map_err(|_| poisoned())
    }

    fn write_lock(&self) -> Result<RwLockWriteGuard<'_, Inner>, StorageError> {
        self.inner.write().map_err(|_| poisoned())
    }

    /// [`Storage::apply`] without the async wrapper.
    pub fn apply_now(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut inner = self.write_lock()?;
        let changes = plan_batch(batch, &mut &*inner)?;
        for change in changes {
            inner.write(change);
        }
        Ok(())
    }
}

fn poisoned() -> StorageError {
    StorageError::new(
        StorageErrorKind::Unavailable,
        "memory storage lock poisoned by a panicking thread",
    )
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn apply(&self, batch: WriteBatch) -> Result<(), StorageError> {
        self.apply_now(batch)
    }

    async fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    async fn get_workspace(&self, id: WorkspaceId) -> Result<Workspace, StorageError> {
        self.read()?
            .workspaces
            .get(&id)
            .cloned()
            .ok_or_else(|| StorageError::not_found(format!("workspace {id}")))
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>, StorageError> {
        Ok(self.read()?.workspaces.values().cloned().collect())
    }

    async fn get_api_key_by_hash(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<ApiKeyRecord>, StorageError> {
        let inner = self.read()?;
        Ok(inner
            .api_keys_by_hash
            .get(hash)
            .and_then(|id| inner.api_keys.get(id))
            .cloned())
    }

    async fn list_api_keys(
        &self,
        workspace: Option<WorkspaceId>,
    ) -> Result<Vec<ApiKeyRecord>, StorageError> {
        Ok(self
            .read()?
            .api_keys
            .values()
            .filter(|k| workspace.is_none_or(|ws| k.workspace == ws))
            .cloned()
            .collect())
    }

    async fn get_agent(&self, workspace: WorkspaceId, id: AgentId) -> Result<Agent, StorageError> {
        self.read()?
            .agents
            .get(workspace, id.ulid().0)
            .cloned()
            .ok_or_else(|| StorageError::not_found(format!("agent {id}")))
    }

    async fn get_agent_if_changed(
        &self,
        workspace: WorkspaceId,
        id: AgentId,
        known: u64,
    ) -> Result<Option<Agent>, StorageError> {
        let inner = self.read()?;
        let agent = inner
            .agents
            .get(workspace, id.ulid().0)
            .ok_or_else(|| StorageError::not_found(format!("agent {id}")))?;
        Ok((agent.revision != known).then(|| agent.clone()))
    }

    async fn list_agents(
        &self,
        workspace: WorkspaceId,
        filter: &AgentFilter,
        page: PageRequest,
    ) -> Result<Page<Agent>, StorageError> {
        self.read()?.agents.page(
            workspace,
            backend::agent_scan(workspace, filter),
            page,
            "agent",
        )
    }

    async fn get_run(&self, workspace: WorkspaceId, id: RunId) -> Result<Run, StorageError> {
        self.read()?
            .runs
            .get(workspace, id.ulid().0)
            .cloned()
            .ok_or_else(|| StorageError::not_found(format!("run {id}")))
    }

    async fn list_runs(
        &self,
        workspace: WorkspaceId,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Page<Run>, StorageError> {
        self.read()?
            .runs
            .page(workspace, backend::run_scan(workspace, filter), page, "run")
    }

    async fn list_unfinished_runs(&self) -> Result<Vec<Run>, StorageError> {
        // Read off the status index (no separate set to keep up on every
        // run write): every workspace's `queued` and `running` entries.
        let inner = self.read()?;
        let unfinished = [RunStatus::Queued, RunStatus::Running].map(backend::run_status_byte);
        let mut ids: Vec<u128> = inner
            .runs
            .index
            .prefixes()
            .filter(|(prefix, _)| {
                prefix.mask == backend::MASK_STATUS && unfinished.contains(&prefix.status)
            })
            .flat_map(|(_, ids)| ids.iter_from(0))
            .collect();
        ids.sort_unstable();
        ids.into_iter()
            .map(|id| {
                inner
                    .runs
                    .records
                    .get(&id)
                    .map(|r| (**r).clone())
                    .ok_or_else(|| {
                        StorageError::new(
                            StorageErrorKind::Read,
                            "run index names a missing record",
                        )
                    })
            })
            .collect()
    }

    async fn get_step_records(
        &self,
        workspace: WorkspaceId,
        run: RunId,
    ) -> Result<Vec<StepRecord>, StorageError> {
        let inner = self.read()?;
        if inner.runs.get(workspace, run.ulid().0).is_none() {
            return Err(StorageError::not_found(format!("run {run}")));
        }
        Ok(inner
            .steps
            .get(&run)
            .map(|steps| steps.to_vec())
            .unwrap_or_default())
    }

    async fn get_escalation(
        &self,
        workspace: WorkspaceId,
        id: EscalationId,
    ) -> Result<Escalation, StorageError> {
        self.read()?
            .escalations
            .get(workspace, id.ulid().0)
            .cloned()
            .ok_or_else(|| StorageError::not_found(format!("escalation {id}")))
    }

    async fn list_escalations(
        &self,
        workspace: WorkspaceId,
        filter: &EscalationFilter,
        page: PageRequest,
    ) -> Result<Page<Escalation>, StorageError> {
        self.read()?.escalations.page(
            workspace,
            backend::escalation_scan(workspace, filter),
            page,
            "escalation",
        )
    }

    async fn list_events(
        &self,
        workspace: WorkspaceId,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<Page<Event>, StorageError> {
        self.read()?.events.page(
            workspace,
            backend::event_scan(workspace, filter),
            page,
            "event",
        )
    }
}
