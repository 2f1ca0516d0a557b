//! # nexwatt-storage-memory
//!
//! [`MemoryStorage`]: a [`Storage`] backend that keeps everything in
//! process memory. For tests, for trying Nexwatt out, and for hosts that
//! persist elsewhere. Nothing survives the process; `flush` is a no-op.
//!
//! Records live in hash maps by id. Lists page through secondary indexes:
//! for every filter combination a record can match (an [`IndexKey`]
//! prefix), a sorted set of ids ([`IdSet`]: sorted chunks, so the usual
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
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use nexwatt_engine::id::{AgentId, ApiKeyId, EscalationId, EventId, RunId, WorkspaceId};
use nexwatt_engine::model::{
    Agent, ApiKeyRecord, Escalation, Event, KeyHash, Run, RunStatus, StepRecord, Workspace,
};
use nexwatt_engine::storage::backend::{self, plan_batch, BatchState, Change, IndexKey};
use nexwatt_engine::storage::{
    AgentFilter, EscalationFilter, EventFilter, Page, PageRequest, RunFilter, Storage,
    StorageError, StorageErrorKind, WriteBatch,
};

/// A fast hasher for keys made of ULIDs (random in their low 80 bits):
/// a folded 128-bit multiply per word instead of SipHash. Ids come from
/// the engine's generator, not from clients, so there is no collision
/// attack to defend against here.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl IdHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let product = u128::from(self.0 ^ word).wrapping_mul(u128::from(K));
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

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

/// A sorted set of ids, kept as sorted chunks of at most
/// [`IdSet::CHUNK`] ids (every id of a chunk below every id of the next).
/// Ids come from a ULID generator that is monotonic in-process, so nearly
/// every insert is larger than every stored id: a push onto the last chunk,
/// where a `BTreeSet` walks and compares down every level. Other inserts
/// and removals binary-search the chunks, then move at most one chunk's
/// ids.
#[derive(Debug, Default)]
struct IdSet {
    chunks: Vec<Vec<u128>>,
}

impl IdSet {
    /// The most ids in one chunk; a fuller chunk splits in two.
    const CHUNK: usize = 256;

    /// The index of the chunk where `id` is or would go: the first whose
    /// last id is at least `id` (or the last chunk).
    fn chunk_for(&self, id: u128) -> usize {
        let i = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|last| *last < id));
        i.min(self.chunks.len().saturating_sub(1))
    }

    /// Adds `id`; false if it was there.
    fn insert(&mut self, id: u128) -> bool {
        let Some(last) = self.chunks.last_mut() else {
            // Exactly one slot each (`vec!` allocates what it holds): most
            // sets (a run's escalations, its events) hold a few ids.
            self.chunks.reserve_exact(1);
            self.chunks.push(vec![id]);
            return true;
        };
        if last.last().is_some_and(|l| *l < id) && last.len() < Self::CHUNK {
            last.push(id);
            return true;
        }
        let i = self.chunk_for(id);
        let is_last = i + 1 == self.chunks.len();
        let Some(chunk) = self.chunks.get_mut(i) else {
            return false;
        };
        match chunk.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                chunk.insert(at, id);
                if chunk.len() > Self::CHUNK {
                    // A chunk that fills by pushes (the last one) splits
                    // off only its newest id; others split in half.
                    let keep = if is_last && at + 1 == chunk.len() {
                        Self::CHUNK
                    } else {
                        chunk.len() / 2
                    };
                    let tail = chunk.split_off(keep);
                    self.chunks.insert(i + 1, tail);
                }
                true
            }
        }
    }

    /// Removes `id`; false if it was not there.
    fn remove(&mut self, id: u128) -> bool {
        let i = self.chunk_for(id);
        let Some(chunk) = self.chunks.get_mut(i) else {
            return false;
        };
        match chunk.binary_search(&id) {
            Ok(at) => {
                chunk.remove(at);
                if chunk.is_empty() {
                    self.chunks.remove(i);
                }
                true
            }
            Err(_) => false,
        }
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The ids from `low` (inclusive) on, in order.
    fn iter_from(&self, low: u128) -> impl Iterator<Item = u128> + '_ {
        let i = self.chunk_for(low);
        let rest = self.chunks.get(i..).unwrap_or_default();
        rest.iter().enumerate().flat_map(move |(n, chunk)| {
            let start = if n == 0 {
                chunk.partition_point(|id| *id < low)
            } else {
                0
            };
            chunk.get(start..).unwrap_or_default().iter().copied()
        })
    }
}

/// Records of one type by id, and their secondary index: for each index
/// prefix (an [`IndexKey`] with id 0), the ids under it in order.
#[derive(Debug)]
struct Table<T> {
    /// Boxed: a map of large inline values wastes its spare capacity
    /// (up to half the slots) at the records' full size.
    records: IdMap<u128, Box<T>>,
    index: IdMap<IndexKey, IdSet>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            records: IdMap::default(),
            index: IdMap::default(),
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
        for key in &old_entries {
            if !new_entries.contains(key) {
                let prefix = key.with_id(0);
                if let Some(ids) = self.index.get_mut(&prefix) {
                    ids.remove(key.id);
                    if ids.is_empty() {
                        self.index.remove(&prefix);
                    }
                }
            }
        }
        for key in new_entries {
            if !old_entries.contains(&key) {
                self.index.entry(key.with_id(0)).or_default().insert(key.id);
            }
        }
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
        let Some(ids) = self.index.get(&scan.with_id(0)) else {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        };
        for id in ids.iter_from(low.id).take_while(|id| *id <= high.id) {
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
            .iter()
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::IdSet;

    proptest! {
        /// Any sequence of inserts and removals leaves `IdSet` with the
        /// same members, in the same order, as a `BTreeSet`, and reports
        /// the same changes; `iter_from` agrees from any start.
        #[test]
        fn id_set_behaves_like_a_btree_set(
            ops in proptest::collection::vec((any::<bool>(), 0u128..2_000, any::<bool>()), 0..3_000),
            start in 0u128..2_100,
        ) {
            let mut set = IdSet::default();
            let mut model = BTreeSet::new();
            let mut next = 2_000u128;
            for (insert, id, fresh) in ops {
                if insert {
                    // Mostly ever-larger ids, as the ULID generator makes.
                    let id = if fresh { next += 1; next } else { id };
                    prop_assert_eq!(set.insert(id), model.insert(id));
                } else {
                    prop_assert_eq!(set.remove(id), model.remove(&id));
                }
                prop_assert_eq!(set.is_empty(), model.is_empty());
            }
            prop_assert!(set.chunks.iter().all(|c| !c.is_empty() && c.len() <= IdSet::CHUNK));
            let all: Vec<u128> = set.iter_from(0).collect();
            prop_assert_eq!(all, model.iter().copied().collect::<Vec<_>>());
            let from: Vec<u128> = set.iter_from(start).collect();
            prop_assert_eq!(from, model.range(start..).copied().collect::<Vec<_>>());
        }
    }
}
