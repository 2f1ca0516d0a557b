//! Escalations: a step waiting for a person, and how it was resolved.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Revision, TransitionError};
use crate::id::{AgentId, EscalationId, RunId, WorkspaceId};

/// Why a run stopped for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    /// The step is flagged: its confidence is below the agent's threshold.
    LowConfidence,
    /// The connector failed permanently, retries ran out, or the outcome of
    /// a non-idempotent call is unknown after a crash.
    ApiError,
    /// The step did not finish within its timeout.
    Timeout,
    /// The step would break a rule (allowed connectors, description rules,
    /// host rules).
    RuleViolation,
    /// A `core.approval` step waits for the sign-off the description asks
    /// for. (An extension of the seed's four reasons.)
    Approval,
}

impl EscalationReason {
    /// Every reason, in a fixed order.
    pub const ALL: [EscalationReason; 5] = [
        Self::LowConfidence,
        Self::ApiError,
        Self::Timeout,
        Self::RuleViolation,
        Self::Approval,
    ];

    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LowConfidence => "low_confidence",
            Self::ApiError => "api_error",
            Self::Timeout => "timeout",
            Self::RuleViolation => "rule_violation",
            Self::Approval => "approval",
        }
    }
}

/// Whether an escalation still waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationStatus {
    /// Waiting.
    Open,
    /// Resolved with retry, skip, approve or abort.
    Resolved,
    /// Marked ignored.
    Ignored,
}

impl EscalationStatus {
    /// Every status, in a fixed order.
    pub const ALL: [EscalationStatus; 3] = [Self::Open, Self::Resolved, Self::Ignored];

    /// The snake_case name used in JSON and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Ignored => "ignored",
        }
    }

    /// Whether an escalation in this status may move to `to`: only an open
    /// one changes, once.
    pub fn can_transition_to(self, to: EscalationStatus) -> bool {
        matches!(
            (self, to),
            (Self::Open, Self::Resolved) | (Self::Open, Self::Ignored)
        )
    }

    /// [`can_transition_to`](Self::can_transition_to) as a `Result`.
    pub fn check_transition(self, to: EscalationStatus) -> Result<(), TransitionError> {
        if self.can_transition_to(to) {
            Ok(())
        } else {
            Err(TransitionError {
                entity: "escalation",
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }
}

impl std::str::FromStr for EscalationStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!("unknown escalation status {s:?}; expected open, resolved or ignored")
            })
    }
}

/// What a person decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionAction {
    /// Run the step again, optionally with edited input.
    Retry,
    /// Go on without the step, optionally with a supplied output.
    Skip,
    /// Run a flagged step as planned.
    Approve,
    /// Fail the run.
    Abort,
    /// Mark the escalation ignored; the run stays where it is.
    Ignore,
}

impl ResolutionAction {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Skip => "skip",
            Self::Approve => "approve",
            Self::Abort => "abort",
            Self::Ignore => "ignore",
        }
    }

    /// The escalation status this action leads to.
    pub fn resulting_status(self) -> EscalationStatus {
        match self {
            Self::Ignore => EscalationStatus::Ignored,
            _ => EscalationStatus::Resolved,
        }
    }
}

/// How and by whom an escalation was resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    /// The decision.
    pub action: ResolutionAction,
    /// The note for the audit trail.
    pub note: Option<String>,
    /// Who decided (an API key id, a user name).
    pub actor: String,
    /// When.
    pub resolved_at: DateTime<Utc>,
    /// Edited input for `retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    /// Supplied output for `skip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
}

/// A run stopped at a step, waiting for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// Its id, `esc_…`.
    pub id: EscalationId,
    /// The workspace of the run.
    pub workspace: WorkspaceId,
    /// The run that stopped.
    pub run_id: RunId,
    /// The run's agent.
    pub agent_id: AgentId,
    /// The step it stopped at.
    pub step: u32,
    /// Why.
    pub reason: EscalationReason,
    /// Open, resolved or ignored.
    pub status: EscalationStatus,
    /// What a person needs to know to decide.
    pub message: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// The decision, once made.
    pub resolution: Option<Resolution>,
    /// Compare-and-set revision: two resolvers cannot both win.
    pub revision: Revision,
}
