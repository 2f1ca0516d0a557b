//! Runs of an agent and the record of each step in them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Revision, TransitionError};
use crate::id::{AgentId, RunId, WorkspaceId};

/// Whether a run touches live systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Calls the real systems.
    Live,
    /// Simulated trigger input; every write goes to the sandbox.
    Test,
}

impl RunMode {
    /// `live` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, no step started yet.
    Queued,
    /// Steps are running.
    Running,
    /// Stopped at a step until a person resolves its escalation.
    AwaitingReview,
    /// Every step finished (or was skipped).
    Completed,
    /// Aborted by a person, or failed beyond repair.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl RunStatus {
    /// Every status, in a fixed order.
    pub const ALL: [RunStatus; 6] = [
        Self::Queued,
        Self::Running,
        Self::AwaitingReview,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The snake_case name used in JSON and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::AwaitingReview => "awaiting_review",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the run can change no more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// Whether a run in this status may move to `to`.
    ///
    /// ```
    /// use nexwatt_engine::model::RunStatus::*;
    /// assert!(Queued.can_transition_to(Running));
    /// assert!(Running.can_transition_to(AwaitingReview));
    /// assert!(AwaitingReview.can_transition_to(Running));
    /// assert!(!Completed.can_transition_to(Running));
    /// ```
    pub fn can_transition_to(self, to: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, to),
            (Queued, Running)
                | (Queued, Cancelled)
                | (Queued, Failed)
                | (Running, AwaitingReview)
                | (Running, Completed)
                | (Running, Failed)
                | (Running, Cancelled)
                | (AwaitingReview, Running)
                | (AwaitingReview, Completed)
                | (AwaitingReview, Failed)
                | (AwaitingReview, Cancelled)
        )
    }

    /// [`can_transition_to`](Self::can_transition_to) as a `Result`.
    pub fn check_transition(self, to: RunStatus) -> Result<(), TransitionError> {
        if self.can_transition_to(to) {
            Ok(())
        } else {
            Err(TransitionError {
                entity: "run",
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            format!(
                "unknown run status {s:?}; expected queued, running, awaiting_review, completed, failed or cancelled"
            )
        })
    }
}

/// One execution of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Its id, `run_…`.
    pub id: RunId,
    /// The workspace it belongs to.
    pub workspace: WorkspaceId,
    /// The agent it runs.
    pub agent_id: AgentId,
    /// Live or test.
    pub mode: RunMode,
    /// The trigger input (merged with the manifest's example in test mode).
    pub input: serde_json::Value,
    /// Where it is.
    pub status: RunStatus,
    /// Steps that finished (succeeded or skipped), trigger included.
    pub steps_completed: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its first step started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    pub completed_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Compare-and-set revision.
    pub revision: Revision,
}

/// Where one step of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Started; its outcome is not committed yet. Found after a crash, this
    /// means the outcome is unknown.
    Running,
    /// Finished with an output.
    Succeeded,
    /// Skipped by a person (possibly with a supplied output), or not run
    /// because its condition was false.
    Skipped,
    /// Failed; an escalation is open or the run was aborted.
    Failed,
    /// Waiting for a person before it runs (or runs again).
    AwaitingReview,
}

impl StepStatus {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::AwaitingReview => "awaiting_review",
        }
    }

    /// Whether steps after this one may use it (it succeeded or was skipped).
    pub fn is_done(self) -> bool {
        matches!(self, Self::Succeeded | Self::Skipped)
    }

    /// Whether a step in this status may move to `to`.
    pub fn can_transition_to(self, to: StepStatus) -> bool {
        use StepStatus::*;
        matches!(
            (self, to),
            (Pending, Running)
                | (Pending, Skipped)
                | (Pending, AwaitingReview)
                | (Pending, Failed)
                | (Running, Running)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, AwaitingReview)
                | (Running, Skipped)
                | (Failed, Running)
                | (Failed, Skipped)
                | (Failed, AwaitingReview)
                | (AwaitingReview, Running)
                | (AwaitingReview, Skipped)
                | (AwaitingReview, Failed)
        )
    }

    /// [`can_transition_to`](Self::can_transition_to) as a `Result`.
    pub fn check_transition(self, to: StepStatus) -> Result<(), TransitionError> {
        if self.can_transition_to(to) {
            Ok(())
        } else {
            Err(TransitionError {
                entity: "step",
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }
}

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepError {
    /// A stable machine-readable code, e.g. `rate_limited`.
    pub code: String,
    /// A message a person can read (never a secret).
    pub message: String,
    /// Whether trying again might help.
    pub retryable: bool,
}

/// The record of one step in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The workspace of the run.
    pub workspace: WorkspaceId,
    /// The run.
    pub run_id: RunId,
    /// The step number in the agent's graph.
    pub step: u32,
    /// Where it is.
    pub status: StepStatus,
    /// Calls made so far (across retries and resolutions).
    pub attempts: u32,
    /// The input it ran (or will run) with.
    #[serde(default)]
    pub input: serde_json::Value,
    /// Its output, once it succeeded or was skipped with one.
    #[serde(default)]
    pub output: Option<serde_json::Value>,
    /// The last error, if any.
    #[serde(default)]
    pub error: Option<StepError>,
    /// When its first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Derived from run and step; the same on every attempt.
    pub idempotency_key: String,
}

impl StepRecord {
    /// The idempotency key of step `step` of run `run`: the same on every
    /// attempt, in every process.
    ///
    /// ```
    /// use nexwatt_engine::{id::RunId, model::StepRecord};
    /// let run: RunId = "run_01J8K3N0P1Q2R3S4T5V6V7W8XY".parse().unwrap();
    /// assert_eq!(StepRecord::idempotency_key_for(run, 3), "run_01J8K3N0P1Q2R3S4T5V6V7W8XY-3");
    /// ```
    pub fn idempotency_key_for(run: RunId, step: u32) -> String {
        // Built by hand: one allocation, no formatting machinery (a run
        // makes one per step).
        let mut ulid = [0u8; ulid::ULID_LEN];
        let mut key = String::with_capacity(RunId::PREFIX.len() + ulid::ULID_LEN + 11);
        key.push_str(RunId::PREFIX);
        key.push_str(run.ulid().array_to_str(&mut ulid));
        key.push('-');
        // The step number's decimal digits, most significant first.
        let mut digits = [0u8; 10];
        let mut at = digits.len();
        let mut rest = step;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for &d in &digits[at..] {
            key.push(char::from(d));
        }
        key
    }

    /// A pending record for step `step` of `run`.
    pub fn pending(workspace: WorkspaceId, run_id: RunId, step: u32) -> Self {
        Self {
            workspace,
            run_id,
            step,
            status: StepStatus::Pending,
            attempts: 0,
            input: serde_json::Value::Null,
            output: None,
            error: None,
            started_at: None,
            finished_at: None,
            idempotency_key: Self::idempotency_key_for(run_id, step),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_spell_the_run_and_step_in_decimal() {
        let run = RunId::generate();
        for step in [0, 1, 9, 10, 101, 4_294_967_295] {
            assert_eq!(
                StepRecord::idempotency_key_for(run, step),
                format!("{run}-{step}")
            );
        }
    }
}
