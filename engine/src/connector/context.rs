//! What a connector call knows about the step it serves.

use crate::id::RunId;
use crate::model::RunMode;

/// The context of one connector call.
#[derive(Debug, Clone)]
pub struct ExecutionContext {
    /// Live or test.
    pub mode: RunMode,
    /// The run the call belongs to.
    pub run_id: RunId,
    /// The step number.
    pub step: u32,
    /// Derived from run and step; the same on every attempt of the step, so
    /// a service that honours idempotency keys applies the call once.
    pub idempotency_key: String,
    /// When the step's timeout expires (tokio time, so tests can pause it).
    pub deadline: tokio::time::Instant,
    /// The step's tracing span; connectors log inside it.
    pub span: tracing::Span,
}

impl ExecutionContext {
    /// A context for ad-hoc calls (tests, tools): test mode, a fresh run id,
    /// step 1, a 30 s deadline.
    pub fn for_test() -> Self {
        let run_id = RunId::generate();
        Self {
            mode: RunMode::Test,
            run_id,
            step: 1,
            idempotency_key: crate::model::StepRecord::idempotency_key_for(run_id, 1),
            deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(30),
            span: tracing::Span::none(),
        }
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> std::time::Duration {
        self.deadline
            .saturating_duration_since(tokio::time::Instant::now())
    }
}
