//! Atomic write batches.

use crate::model::{Agent, ApiKeyRecord, Escalation, Event, Run, StepRecord, Workspace};

/// One write of a [`WriteBatch`]. `Create*` requires the id to be new;
/// `Update*` requires the stored revision to equal the record's `revision`
/// and stores the record with `revision + 1`; `PutStepRecord` replaces the
/// record of that run and step (the run must exist in the same workspace);
/// `AppendEvent` adds to the audit trail.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Write {
    /// Create a workspace.
    CreateWorkspace(Workspace),
    /// Create an API key record.
    CreateApiKey(ApiKeyRecord),
    /// Compare-and-set an API key record.
    UpdateApiKey(ApiKeyRecord),
    /// Create an agent.
    CreateAgent(Agent),
    /// Compare-and-set an agent.
    UpdateAgent(Agent),
    /// Create a run.
    CreateRun(Run),
    /// Compare-and-set a run.
    UpdateRun(Run),
    /// Insert or replace a step record.
    PutStepRecord(StepRecord),
    /// Create an escalation.
    CreateEscalation(Escalation),
    /// Compare-and-set an escalation.
    UpdateEscalation(Escalation),
    /// Append an audit event (its id must be new).
    AppendEvent(Event),
}

/// Writes applied all together or not at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    writes: Vec<Write>,
}

impl WriteBatch {
    /// A batch of one write.
    pub fn one(write: Write) -> Self {
        Self {
            writes: vec![write],
        }
    }

    /// An empty batch with room for `capacity` writes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            writes: Vec::with_capacity(capacity),
        }
    }

    /// Adds a write.
    pub fn push(&mut self, write: Write) -> &mut Self {
        self.writes.push(write);
        self
    }

    /// The writes, in order.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// Takes the writes.
    pub fn into_writes(self) -> Vec<Write> {
        self.writes
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

impl FromIterator<Write> for WriteBatch {
    fn from_iter<I: IntoIterator<Item = Write>>(iter: I) -> Self {
        Self {
            writes: iter.into_iter().collect(),
        }
    }
}
