//! The append-only audit trail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{AgentId, EscalationId, EventId, RunId, WorkspaceId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An agent was created from a description.
    AgentCreated,
    /// An agent was activated.
    AgentActivated,
    /// An agent was paused.
    AgentPaused,
    /// A run was created.
    RunStarted,
    /// A run resumed (after a resolution or a restart).
    RunResumed,
    /// A step started an attempt.
    StepStarted,
    /// A step succeeded.
    StepSucceeded,
    /// A step failed an attempt.
    StepFailed,
    /// A step was skipped.
    StepSkipped,
    /// An escalation was opened.
    EscalationOpened,
    /// An escalation was resolved or ignored.
    EscalationResolved,
    /// A run completed.
    RunCompleted,
    /// A run failed or was aborted.
    RunFailed,
    /// A run was cancelled.
    RunCancelled,
}

/// One entry of the audit trail: who did what, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Its id, `evt_…`; events sort by it.
    pub id: EventId,
    /// The workspace it happened in.
    pub workspace: WorkspaceId,
    /// The agent concerned.
    pub agent_id: AgentId,
    /// The run concerned, if any.
    pub run_id: Option<RunId>,
    /// The escalation concerned, if any.
    pub escalation_id: Option<EscalationId>,
    /// The step concerned, if any.
    pub step: Option<u32>,
    /// What happened.
    pub kind: EventKind,
    /// Who did it (`engine`, an API key id, a user).
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, in words (a resolution note, an error message).
    pub message: String,
    /// Anything else worth keeping.
    #[serde(default)]
    pub data: serde_json::Value,
}
