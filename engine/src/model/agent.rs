//! Agents: a named plan made from a plain-language description.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{graph::StepGraph, rule::Rule, Revision, TransitionError};
use crate::id::{AgentId, WorkspaceId};

/// Steps whose confidence is below this are flagged, unless the agent says
/// otherwise.
pub const DEFAULT_CONFIDENCE_THRESHOLD: f64 = 0.65;

/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// Whether an agent may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Just created; runs in test mode only.
    Draft,
    /// Deployed: runs live and in test mode.
    Active,
    /// Stopped by a person; starts no new live runs.
    Paused,
}

impl AgentStatus {
    /// Every status, in a fixed order.
    pub const ALL: [AgentStatus; 3] = [Self::Draft, Self::Active, Self::Paused];

    /// The lower-case name used in JSON and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
        }
    }

    /// Whether an agent in this status may move to `to`. Staying put is not a
    /// transition and is not allowed here; callers treat it as a no-op.
    ///
    /// ```
    /// use nexwatt_engine::model::AgentStatus::*;
    /// assert!(Draft.can_transition_to(Active));
    /// assert!(Active.can_transition_to(Paused));
    /// assert!(Paused.can_transition_to(Active));
    /// assert!(!Active.can_transition_to(Draft));
    /// ```
    pub fn can_transition_to(self, to: AgentStatus) -> bool {
        use AgentStatus::*;
        matches!(
            (self, to),
            (Draft, Active) | (Draft, Paused) | (Active, Paused) | (Paused, Active)
        )
    }

    /// [`can_transition_to`](Self::can_transition_to) as a `Result`.
    pub fn check_transition(self, to: AgentStatus) -> Result<(), TransitionError> {
        if self.can_transition_to(to) {
            Ok(())
        } else {
            Err(TransitionError {
                entity: "agent",
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }
}

impl std::str::FromStr for AgentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown agent status {s:?}; expected draft, active or paused"))
    }
}

/// An agent: a description, the plan made from it, and the rules its runs
/// keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Its id, `agt_…`.
    pub id: AgentId,
    /// The workspace it belongs to.
    pub workspace: WorkspaceId,
    /// A name (kebab-case recommended).
    pub name: String,
    /// The plain-language description it was planned from.
    pub description: String,
    /// Connector ids it may use; empty means any.
    pub connectors: Vec<String>,
    /// Steps below this confidence are flagged.
    pub confidence_threshold: f64,
    /// Whether it may run.
    pub status: AgentStatus,
    /// The plan.
    pub graph: StepGraph,
    /// Rules its runs keep, from the description and the host.
    pub rules: Vec<Rule>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Compare-and-set revision.
    pub revision: Revision,
}

impl Agent {
    /// Number of steps in its plan, trigger included.
    pub fn steps_extracted(&self) -> usize {
        self.graph.len()
    }

    /// Number of flagged steps.
    pub fn steps_flagged(&self) -> usize {
        self.graph.flagged_count()
    }

    /// Whether the agent may use `connector` (`core` is always allowed).
    pub fn allows_connector(&self, connector: &str) -> bool {
        connector == "core"
            || self.connectors.is_empty()
            || self.connectors.iter().any(|c| c == connector)
    }
}
