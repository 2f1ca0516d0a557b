//! The `Planner` trait: a plain-language description in, a step graph out.
//!
//! The default planner is deterministic and offline; a host may plug in
//! another (an LLM-backed one, say) through the trait.

use async_trait::async_trait;

mod deterministic;
mod grammar;
mod lexicon;
mod render;
mod text;

pub use deterministic::DeterministicPlanner;
pub use render::{plan_json, plan_jsonl, render_text};

use crate::model::{Rule, StepGraph, DEFAULT_CONFIDENCE_THRESHOLD, MAX_DESCRIPTION_CHARS};

/// What to plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    /// The description, at most [`MAX_DESCRIPTION_CHARS`] characters.
    pub description: String,
    /// Connector ids the agent may use; empty means any. A step that needs
    /// another connector is still planned, but flagged with the reason.
    pub allowed_connectors: Vec<String>,
    /// Steps below this confidence are flagged.
    pub confidence_threshold: f64,
}

impl PlanRequest {
    /// A request for `description` with no connector limit and the default
    /// threshold.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            allowed_connectors: Vec::new(),
            confidence_threshold: DEFAULT_CONFIDENCE_THRESHOLD,
        }
    }

    /// Checks what every planner requires of a request: a description of
    /// 1..=2000 characters that is not only whitespace, and a threshold in
    /// `[0, 1]`.
    pub fn validate(&self) -> Result<(), PlanError> {
        let chars = self.description.chars().count();
        if self.description.trim().is_empty() {
            return Err(PlanError::invalid_request("description must not be empty"));
        }
        if chars > MAX_DESCRIPTION_CHARS {
            return Err(PlanError::invalid_request(format!(
                "description is {chars} characters; the limit is {MAX_DESCRIPTION_CHARS}"
            )));
        }
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err(PlanError::invalid_request(format!(
                "confidence_threshold must be between 0 and 1, got {}",
                self.confidence_threshold
            )));
        }
        Ok(())
    }
}

/// A plan: the step graph and the rules stated in the description.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The steps.
    pub graph: StepGraph,
    /// Rules the description states ("never refund more than $500").
    pub rules: Vec<Rule>,
}

/// Why planning failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlanErrorKind {
    /// The request is malformed (empty, too long, bad threshold).
    InvalidRequest,
    /// Nothing in the description matches the catalog.
    DescriptionUnrecognized,
    /// The planner itself failed (a remote planner's outage, say).
    Internal,
}

impl PlanErrorKind {
    /// The stable snake_case code (`invalid_request`, `description_unrecognized`, `planner_error`).
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::DescriptionUnrecognized => "description_unrecognized",
            Self::Internal => "planner_error",
        }
    }
}

/// A planning failure with a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.code())]
pub struct PlanError {
    /// What kind of failure.
    pub kind: PlanErrorKind,
    /// What was and wasn't understood, or what is wrong with the request.
    pub message: String,
}

impl PlanError {
    /// An `invalid_request` error.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self {
            kind: PlanErrorKind::InvalidRequest,
            message: message.into(),
        }
    }

    /// A `description_unrecognized` error.
    pub fn unrecognized(message: impl Into<String>) -> Self {
        Self {
            kind: PlanErrorKind::DescriptionUnrecognized,
            message: message.into(),
        }
    }
}

/// Turns descriptions into plans. Object-safe.
#[async_trait]
pub trait Planner: Send + Sync + std::fmt::Debug {
    /// Plans `request`. Never panics on any input: returns a plan or a typed
    /// error.
    async fn plan(&self, request: &PlanRequest) -> Result<Plan, PlanError>;
}
