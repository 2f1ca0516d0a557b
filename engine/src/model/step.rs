//! One step of an agent's plan.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whether an operation starts a run or is done within one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Starts a run; always step 1.
    Trigger,
    /// Done within a run.
    Action,
}

/// What an operation does to the outside world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Changes nothing outside.
    Read,
    /// Changes an outside system: never called live in test mode.
    Write,
    /// An engine built-in (`core.*`).
    Control,
}

impl Effect {
    /// The lower-case name used in manifests and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Write => "write",
            Effect::Control => "control",
        }
    }
}

/// The byte range of the description a step was read from
/// (`description[start..end]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceSpan {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl SourceSpan {
    /// The text of `description` this span covers, if the span is on
    /// character boundaries inside it.
    pub fn text<'a>(&self, description: &'a str) -> Option<&'a str> {
        description.get(self.start..self.end)
    }
}

/// Where an input field of a step comes from: a path into the output of an
/// earlier step.
///
/// ```
/// use nexwatt_engine::model::Binding;
/// let b = Binding { step: 2, path: "owner.email".into() };
/// assert_eq!(serde_json::to_string(&b).unwrap(), r#"{"step":2,"path":"owner.email"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Binding {
    /// The step whose output is read (1 is the trigger's payload).
    pub step: u32,
    /// A dot-separated path into that output; empty for the whole output.
    #[serde(default)]
    pub path: String,
}

/// One step of a plan, in the shape of the plan JSON of
/// `planner-eval/README.md` plus the fields a person and the runner need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// 1-based position; step 1 is the trigger.
    pub step: u32,
    /// Connector id, e.g. `hubspot`.
    pub connector: String,
    /// Operation id within the connector, e.g. `deal.update`.
    pub operation: String,
    /// Trigger or action.
    #[serde(default = "default_kind")]
    pub kind: OperationKind,
    /// What the operation does to the outside world.
    #[serde(default = "default_effect")]
    pub effect: Effect,
    /// Parameters stated in the description, in canonical form.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Direct predecessors (step numbers). Empty only for step 1.
    #[serde(default)]
    pub after: Vec<u32>,
    /// Input fields taken from earlier steps' outputs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bindings: BTreeMap<String, Binding>,
    /// How sure the planner is of this step, in `[0, 1]`.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Whether a person must check the step before it runs.
    #[serde(default)]
    pub flagged: bool,
    /// A one-line reason a person can read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rationale: String,
    /// The part of the description the step came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<SourceSpan>,
}

fn default_kind() -> OperationKind {
    OperationKind::Action
}
fn default_effect() -> Effect {
    Effect::Read
}
fn default_confidence() -> f64 {
    1.0
}

impl Step {
    /// `connector.operation`, e.g. `slack.dm.send`.
    pub fn op(&self) -> String {
        format!("{}.{}", self.connector, self.operation)
    }

    /// Whether this step belongs to the engine's built-in `core` connector.
    pub fn is_core(&self) -> bool {
        self.connector == "core"
    }
}
