//! Building blocks for storage backends: secondary-index keys, cursor
//! handling, and the batch planner that checks a [`WriteBatch`]'s
//! preconditions the same way in every backend.
//!
//! Callers of [`Storage`](super::Storage) never need this module; it exists
//! so that `nexwatt-storage-memory`, `nexwatt-storage-sled` and any other
//! backend agree exactly on which batches succeed, which error a failing one
//! reports, and in what order lists page.
//!
//! ## Index layout
//!
//! Every listable record (agent, run, escalation, audit event) is entered
//! into its type's index once per combination of the list filters it can
//! match, as an [`IndexKey`]: `workspace ‖ mask ‖ run ‖ agent ‖ status ‖ id`.
//! `mask` says which filter fields the entry carries (the others are zero),
//! so a list with any combination of filters is one contiguous range of
//! keys, sorted by id: a page costs O(limit), whatever the table's size.
//!
//! ## Cursors
//!
//! A cursor is `cur_` followed by the ULID of the last record of the page
//! before. It is valid for a list if that record exists, is of the listed
//! type and belongs to the listed workspace; the next page continues
//! strictly after it in id order. (A cursor stays valid when the record
//! changes status between pages, so paging a filtered list never fails
//! because of a concurrent update.)

use std::collections::HashSet;

use ulid::Ulid;

use crate::id::{AgentId, ApiKeyId, Cursor, EscalationId, EventId, RunId, WorkspaceId};
use crate::model::{
    Agent, AgentStatus, ApiKeyRecord, Escalation, EscalationStatus, Event, KeyHash, Run, RunStatus,
    StepRecord, Workspace,
};

use super::{
    AgentFilter, EscalationFilter, EventFilter, Page, PageRequest, RunFilter, StorageError,
    StorageErrorKind, Write, WriteBatch,
};

/// Mask bit: the entry carries a status.
pub const MASK_STATUS: u8 = 1;
/// Mask bit: the entry carries a run id.
pub const MASK_RUN: u8 = 2;
/// Mask bit: the entry carries an agent id.
pub const MASK_AGENT: u8 = 4;

/// One entry of a secondary index. Orders (derived `Ord`, field order) and
/// encodes ([`IndexKey::encode`], big-endian) the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexKey {
    /// The record's workspace.
    pub workspace: u128,
    /// Which of `run`, `agent`, `status` this entry carries
    /// ([`MASK_STATUS`] | [`MASK_RUN`] | [`MASK_AGENT`]).
    pub mask: u8,
    /// The run id, or 0.
    pub run: u128,
    /// The agent id, or 0.
    pub agent: u128,
    /// The status byte ([`agent_status_byte`] and friends), or 0.
    pub status: u8,
    /// The record's id.
    pub id: u128,
}

impl IndexKey {
    /// Length of [`encode`](Self::encode)'s output.
    pub const ENCODED_LEN: usize = 16 + 1 + 16 + 16 + 1 + 16;

    /// Big-endian bytes that sort like the key.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[0..16].copy_from_slice(&self.workspace.to_be_bytes());
        out[16] = self.mask;
        out[17..33].copy_from_slice(&self.run.to_be_bytes());
        out[33..49].copy_from_slice(&self.agent.to_be_bytes());
        out[49] = self.status;
        out[50..66].copy_from_slice(&self.id.to_be_bytes());
        out
    }

    /// The key `bytes` encodes, if it is one.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let u128_at = |at: usize| -> Option<u128> {
            let arr: [u8; 16] = bytes.get(at..at + 16)?.try_into().ok()?;
            Some(u128::from_be_bytes(arr))
        };
        Some(Self {
            workspace: u128_at(0)?,
            mask: bytes[16],
            run: u128_at(17)?,
            agent: u128_at(33)?,
            status: bytes[49],
            id: u128_at(50)?,
        })
    }

    /// The same entry with another id.
    pub fn with_id(self, id: u128) -> Self {
        Self { id, ..self }
    }

    /// The inclusive key range of the entries sharing this key's prefix
    /// (everything but `id`) whose id is strictly after `after`; `None` when
    /// nothing can follow.
    pub fn range_after(self, after: Option<u128>) -> Option<(IndexKey, IndexKey)> {
        let low = match after {
            None => 0,
            Some(a) => a.checked_add(1)?,
        };
        Some((self.with_id(low), self.with_id(u128::MAX)))
    }
}

/// One entry per combination of the dimensions the record has.
fn entries(
    workspace: WorkspaceId,
    id: u128,
    status: Option<u8>,
    run: Option<u128>,
    agent: Option<u128>,
) -> Vec<IndexKey> {
    let mut out = Vec::with_capacity(8);
    for mask in 0u8..8 {
        if (mask & MASK_STATUS != 0 && status.is_none())
            || (mask & MASK_RUN != 0 && run.is_none())
            || (mask & MASK_AGENT != 0 && agent.is_none())
        {
            continue;
        }
        out.push(
            scan_key(
                workspace,
                if mask & MASK_STATUS != 0 {
                    status
                } else {
                    None
                },
                if mask & MASK_RUN != 0 { run } else { None },
                if mask & MASK_AGENT != 0 { agent } else { None },
            )
            .with_id(id),
        );
    }
    out
}

fn scan_key(
    workspace: WorkspaceId,
    status: Option<u8>,
    run: Option<u128>,
    agent: Option<u128>,
) -> IndexKey {
    let mut mask = 0;
    if status.is_some() {
        mask |= MASK_STATUS;
    }
    if run.is_some() {
        mask |= MASK_RUN;
    }
    if agent.is_some() {
        mask |= MASK_AGENT;
    }
    IndexKey {
        workspace: workspace.ulid().0,
        mask,
        run: run.unwrap_or(0),
        agent: agent.unwrap_or(0),
        status: status.unwrap_or(0),
        id: 0,
    }
}

/// The index byte of an agent status (1-based position in `ALL`).
pub fn agent_status_byte(status: AgentStatus) -> u8 {
    match status {
        AgentStatus::Draft => 1,
        AgentStatus::Active => 2,
        AgentStatus::Paused => 3,
    }
}

/// The index byte of a run status.
pub fn run_status_byte(status: RunStatus) -> u8 {
    match status {
        RunStatus::Queued => 1,
        RunStatus::Running => 2,
        RunStatus::AwaitingReview => 3,
        RunStatus::Completed => 4,
        RunStatus::Failed => 5,
        RunStatus::Cancelled => 6,
    }
}

/// The index byte of an escalation status.
pub fn escalation_status_byte(status: EscalationStatus) -> u8 {
    match status {
        EscalationStatus::Open => 1,
        EscalationStatus::Resolved => 2,
        EscalationStatus::Ignored => 3,
    }
}

/// Whether [`Storage::list_unfinished_runs`](super::Storage::list_unfinished_runs)
/// returns a run in this status.
pub fn is_unfinished(status: RunStatus) -> bool {
    matches!(status, RunStatus::Queued | RunStatus::Running)
}

/// The index entries of an agent.
pub fn agent_entries(agent: &Agent) -> Vec<IndexKey> {
    entries(
        agent.workspace,
        agent.id.ulid().0,
        Some(agent_status_byte(agent.status)),
        None,
        None,
    )
}

/// The index entries of a run.
pub fn run_entries(run: &Run) -> Vec<IndexKey> {
    run_entries_of(run.workspace, run.id, run.agent_id, run.status)
}

/// The index entries of a run with these indexed fields (for backends
/// that rebuild the index from part of each record).
pub fn run_entries_of(
    workspace: WorkspaceId,
    id: RunId,
    agent: AgentId,
    status: RunStatus,
) -> Vec<IndexKey> {
    entries(
        workspace,
        id.ulid().0,
        Some(run_status_byte(status)),
        None,
        Some(agent.ulid().0),
    )
}

/// The index entries of an escalation.
pub fn escalation_entries(escalation: &Escalation) -> Vec<IndexKey> {
    entries(
        escalation.workspace,
        escalation.id.ulid().0,
        Some(escalation_status_byte(escalation.status)),
        Some(escalation.run_id.ulid().0),
        Some(escalation.agent_id.ulid().0),
    )
}

/// The index entries of an audit event.
pub fn event_entries(event: &Event) -> Vec<IndexKey> {
    entries(
        event.workspace,
        event.id.ulid().0,
        None,
        event.run_id.map(|r| r.ulid().0),
        Some(event.agent_id.ulid().0),
    )
}

/// The index prefix (id 0) of an agent list.
pub fn agent_scan(workspace: WorkspaceId, filter: &AgentFilter) -> IndexKey {
    scan_key(workspace, filter.status.map(agent_status_byte), None, None)
}

/// The index prefix of a run list.
pub fn run_scan(workspace: WorkspaceId, filter: &RunFilter) -> IndexKey {
    scan_key(
        workspace,
        filter.status.map(run_status_byte),
        None,
        filter.agent.map(|a| a.ulid().0),
    )
}

/// The index prefix of an escalation list.
pub fn escalation_scan(workspace: WorkspaceId, filter: &EscalationFilter) -> IndexKey {
    scan_key(
        workspace,
        filter.status.map(escalation_status_byte),
        filter.run.map(|r| r.ulid().0),
        filter.agent.map(|a| a.ulid().0),
    )
}

/// The index prefix of an event list.
pub fn event_scan(workspace: WorkspaceId, filter: &EventFilter) -> IndexKey {
    scan_key(
        workspace,
        None,
        filter.run.map(|r| r.ulid().0),
        filter.agent.map(|a| a.ulid().0),
    )
}

/// The cursor that resumes a list after the record with id `last`.
pub fn cursor_after(last: u128) -> Cursor {
    Cursor::from_ulid(Ulid(last))
}

/// The record id inside a cursor.
pub fn cursor_id(cursor: Cursor) -> u128 {
    cursor.ulid().0
}

/// The error for a cursor that names no record of this list.
pub fn foreign_cursor(cursor: Cursor, list: &str) -> StorageError {
    StorageError::invalid_cursor(format!(
        "cursor {cursor} does not belong to this {list} list (no such {list} in this workspace)"
    ))
}

/// Turns up to `limit + 1` records, fetched in order after the cursor, into
/// a page: the first `limit` records, and a cursor when there were more.
pub fn into_page<T>(mut items: Vec<T>, page: PageRequest, id_of: impl Fn(&T) -> u128) -> Page<T> {
    if items.len() > page.limit() {
        items.truncate(page.limit());
        let next_cursor = items.last().map(|last| cursor_after(id_of(last)));
        Page { items, next_cursor }
    } else {
        Page {
            items,
            next_cursor: None,
        }
    }
}

/// What a backend reads while it plans a batch. `Error` lets a backend that
/// plans inside a transaction carry its own retry signal; every
/// [`StorageError`] converts into it.
pub trait BatchState {
    /// The backend's error type inside the planner.
    type Error: From<StorageError>;
    /// Whether a workspace exists.
    fn workspace_exists(&mut self, id: WorkspaceId) -> Result<bool, Self::Error>;
    /// A stored API key.
    fn api_key(&mut self, id: ApiKeyId) -> Result<Option<ApiKeyRecord>, Self::Error>;
    /// The key whose hash is `hash`.
    fn api_key_by_hash(&mut self, hash: &KeyHash) -> Result<Option<ApiKeyId>, Self::Error>;
    /// A stored agent, of any workspace.
    fn agent(&mut self, id: AgentId) -> Result<Option<Agent>, Self::Error>;
    /// A stored run, of any workspace.
    fn run(&mut self, id: RunId) -> Result<Option<Run>, Self::Error>;
    /// A stored escalation, of any workspace.
    fn escalation(&mut self, id: EscalationId) -> Result<Option<Escalation>, Self::Error>;
    /// Whether an event exists.
    fn event_exists(&mut self, id: EventId) -> Result<bool, Self::Error>;
}

/// One checked change a backend writes. `old` is the stored record an
/// update replaces (to drop its index entries); the new records already
/// carry their stored revision.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Change {
    /// A new workspace.
    Workspace(Workspace),
    /// A new or updated API key.
    ApiKey {
        old: Option<ApiKeyRecord>,
        new: ApiKeyRecord,
    },
    /// A new or updated agent.
    Agent { old: Option<Agent>, new: Agent },
    /// A new or updated run.
    Run { old: Option<Run>, new: Run },
    /// A step record, inserted or replaced.
    Step(StepRecord),
    /// A new or updated escalation.
    Escalation {
        old: Option<Escalation>,
        new: Escalation,
    },
    /// A new audit event.
    Event(Event),
}

#[derive(Hash, PartialEq, Eq)]
enum Target {
    Workspace(WorkspaceId),
    ApiKey(ApiKeyId),
    Agent(AgentId),
    Run(RunId),
    Step(RunId, u32),
    Escalation(EscalationId),
    Event(EventId),
}

fn target(write: &Write) -> Target {
    match write {
        Write::CreateWorkspace(w) => Target::Workspace(w.id),
        Write::CreateApiKey(k) | Write::UpdateApiKey(k) => Target::ApiKey(k.id),
        Write::CreateAgent(a) | Write::UpdateAgent(a) => Target::Agent(a.id),
        Write::CreateRun(r) | Write::UpdateRun(r) => Target::Run(r.id),
        Write::PutStepRecord(s) => Target::Step(s.run_id, s.step),
        Write::CreateEscalation(e) | Write::UpdateEscalation(e) => Target::Escalation(e.id),
        Write::AppendEvent(e) => Target::Event(e.id),
    }
}

fn check_update(
    what: impl std::fmt::Display,
    stored: Option<(WorkspaceId, u64)>,
    workspace: WorkspaceId,
    revision: u64,
) -> Result<(), StorageError> {
    match stored {
        Some((ws, stored_rev)) if ws == workspace => {
            if stored_rev == revision {
                Ok(())
            } else {
                Err(StorageError::conflict(what, revision, stored_rev))
            }
        }
        _ => Err(StorageError::not_found(what)),
    }
}

/// Checks every precondition of `batch` against `state` and returns the
/// changes to write, in batch order. The first failing write, in batch
/// order, decides the error:
///
/// - `InvalidRequest` if the batch is empty or writes one record (or one
///   step of one run) twice;
/// - `AlreadyExists` for a create whose id is taken (or an API key whose
///   hash another key has);
/// - `NotFound` for an update of a record that is not in the record's
///   workspace, or a step record of a run that is not;
/// - `Conflict` for an update whose `revision` is not the stored one.
///
/// A step record may name a run created or updated earlier in the batch.
pub fn plan_batch<S: BatchState>(
    batch: WriteBatch,
    state: &mut S,
) -> Result<Vec<Change>, S::Error> {
    if batch.is_empty() {
        return Err(
            StorageError::new(StorageErrorKind::InvalidRequest, "empty write batch").into(),
        );
    }
    if has_duplicates(batch.writes()) {
        return Err(StorageError::new(
            StorageErrorKind::InvalidRequest,
            "a write batch may write each record only once",
        )
        .into());
    }
    let mut changes: Vec<Change> = Vec::with_capacity(batch.writes().len());
    let mut new_hashes: Vec<(KeyHash, ApiKeyId)> = Vec::new();
    for write in batch.into_writes() {
        let change = match write {
            Write::CreateWorkspace(w) => {
                if state.workspace_exists(w.id)? {
                    return Err(StorageError::already_exists(format!("workspace {}", w.id)).into());
                }
                Change::Workspace(w)
            }
            Write::CreateApiKey(k) => {
                if state.api_key(k.id)?.is_some() {
                    return Err(StorageError::already_exists(format!("api key {}", k.id)).into());
                }
                check_hash(state, &new_hashes, &k)?;
                new_hashes.push((k.hash.clone(), k.id));
                Change::ApiKey { old: None, new: k }
            }
            Write::UpdateApiKey(k) => {
                let old = state.api_key(k.id)?;
                check_update(
                    format_args!("api key {}", k.id),
                    old.as_ref().map(|o| (o.workspace, o.revision)),
                    k.workspace,
                    k.revision,
                )?;
                check_hash(state, &new_hashes, &k)?;
                new_hashes.push((k.hash.clone(), k.id));
                let mut new = k;
                new.revision += 1;
                Change::ApiKey { old, new }
            }
            Write::CreateAgent(a) => {
                if state.agent(a.id)?.is_some() {
                    return Err(StorageError::already_exists(format!("agent {}", a.id)).into());
                }
                Change::Agent { old: None, new: a }
            }
            Write::UpdateAgent(a) => {
                let old = state.agent(a.id)?;
                check_update(
                    format_args!("agent {}", a.id),
                    old.as_ref().map(|o| (o.workspace, o.revision)),
                    a.workspace,
                    a.revision,
                )?;
                let mut new = a;
                new.revision += 1;
                Change::Agent { old, new }
            }
            Write::CreateRun(r) => {
                if state.run(r.id)?.is_some() {
                    return Err(StorageError::already_exists(format!("run {}", r.id)).into());
                }
                Change::Run { old: None, new: r }
            }
            Write::UpdateRun(r) => {
                let old = state.run(r.id)?;
                check_update(
                    format_args!("run {}", r.id),
                    old.as_ref().map(|o| (o.workspace, o.revision)),
                    r.workspace,
                    r.revision,
                )?;
                let mut new = r;
                new.revision += 1;
                Change::Run { old, new }
            }
            Write::PutStepRecord(s) => {
                let in_batch = changes.iter().find_map(|c| match c {
                    Change::Run { new, .. } if new.id == s.run_id => Some(new.workspace),
                    _ => None,
                });
                let run_ws = match in_batch {
                    Some(ws) => Some(ws),
                    None => state.run(s.run_id)?.map(|r| r.workspace),
                };
                if run_ws != Some(s.workspace) {
                    return Err(StorageError::not_found(format!(
                        "run {} (for the record of step {})",
                        s.run_id, s.step
                    ))
                    .into());
                }
                Change::Step(s)
            }
            Write::CreateEscalation(e) => {
                if state.escalation(e.id)?.is_some() {
                    return Err(StorageError::already_exists(format!("escalation {}", e.id)).into());
                }
                Change::Escalation { old: None, new: e }
            }
            Write::UpdateEscalation(e) => {
                let old = state.escalation(e.id)?;
                check_update(
                    format_args!("escalation {}", e.id),
                    old.as_ref().map(|o| (o.workspace, o.revision)),
                    e.workspace,
                    e.revision,
                )?;
                let mut new = e;
                new.revision += 1;
                Change::Escalation { old, new }
            }
            Write::AppendEvent(e) => {
                if state.event_exists(e.id)? {
                    return Err(StorageError::already_exists(format!("event {}", e.id)).into());
                }
                Change::Event(e)
            }
        };
        changes.push(change);
    }
    Ok(changes)
}

fn has_duplicates(writes: &[Write]) -> bool {
    if writes.len() <= 16 {
        writes
            .iter()
            .enumerate()
            .any(|(i, w)| writes[..i].iter().any(|o| target(o) == target(w)))
    } else {
        let mut seen = HashSet::with_capacity(writes.len());
        writes.iter().any(|w| !seen.insert(target(w)))
    }
}

fn check_hash<S: BatchState>(
    state: &mut S,
    new_hashes: &[(KeyHash, ApiKeyId)],
    key: &ApiKeyRecord,
) -> Result<(), S::Error> {
    let owner = match new_hashes.iter().find(|(h, _)| *h == key.hash) {
        Some((_, id)) => Some(*id),
        None => state.api_key_by_hash(&key.hash)?,
    };
    match owner {
        Some(id) if id != key.id => {
            Err(StorageError::already_exists(format!("an api key with this hash ({id})")).into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_encode_in_order() {
        let a = IndexKey {
            workspace: 5,
            mask: 1,
            run: 0,
            agent: 0,
            status: 2,
            id: 7,
        };
        let b = a.with_id(8);
        let c = IndexKey { status: 3, ..a };
        assert!(a < b && b < c);
        assert!(a.encode() < b.encode() && b.encode() < c.encode());
        assert_eq!(IndexKey::decode(&c.encode()), Some(c));
        assert_eq!(IndexKey::decode(&[1, 2]), None);
    }

    #[test]
    fn range_after_the_largest_id_is_empty() {
        let k = IndexKey {
            workspace: 1,
            mask: 0,
            run: 0,
            agent: 0,
            status: 0,
            id: 0,
        };
        assert!(k.range_after(Some(u128::MAX)).is_none());
        let (lo, hi) = k.range_after(Some(3)).unwrap_or((k, k));
        assert_eq!((lo.id, hi.id), (4, u128::MAX));
    }
}
