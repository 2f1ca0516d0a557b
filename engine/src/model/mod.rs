//! The data model: agents, their step graphs, runs, escalations, the audit
//! trail, workspaces and API keys.
//!
//! Records that change carry a `revision`; storage updates are
//! compare-and-set on it (see [`crate::storage`]). Which status changes are
//! legal is decided here, by pure functions on the status enums, never by a
//! storage backend.

mod agent;
mod api_key;
mod escalation;
mod event;
mod graph;
mod rule;
mod run;
mod step;
mod workspace;

pub use agent::{Agent, AgentStatus, DEFAULT_CONFIDENCE_THRESHOLD, MAX_DESCRIPTION_CHARS};
pub use api_key::{ApiKeyRecord, KeyHash};
pub use escalation::{
    Escalation, EscalationReason, EscalationStatus, Resolution, ResolutionAction,
};
pub use event::{Event, EventKind};
pub use graph::{GraphError, StepGraph};
pub use rule::{OperationSelector, Rule, RuleCheck};
pub use run::{Run, RunMode, RunStatus, StepError, StepRecord, StepStatus};
pub use step::{Binding, Effect, OperationKind, SourceSpan, Step};
pub use workspace::Workspace;

/// A record's revision: 1 when created, one more on every update.
pub type Revision = u64;

/// A status change the model does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot change {entity} status from {from} to {to}")]
pub struct TransitionError {
    /// `agent`, `run`, `escalation` or `step`.
    pub entity: &'static str,
    /// The current status.
    pub from: &'static str,
    /// The requested status.
    pub to: &'static str,
}
