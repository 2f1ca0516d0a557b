//! The JSON the API speaks: request bodies and query strings (strict:
//! unknown fields are refused) and responses, shaped as the seed shows them.
//! Timestamps are RFC 3339 in UTC with whole seconds (`2026-06-27T14:31:00Z`).

use chrono::{DateTime, SecondsFormat, Utc};
use nexwatt_engine::id::{AgentId, Cursor, EscalationId, RunId};
use nexwatt_engine::model::{
    Agent, Escalation, ResolutionAction, Rule, Run, RunMode, StepError, StepRecord,
};
use nexwatt_engine::storage::Page;
use serde::{Deserialize, Serialize};

/// A timestamp as the API shows it: `2026-06-27T14:31:00Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt_timestamp(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(timestamp)
}

/// `POST /v1/agents`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentRequest {
    /// Identifier for the agent (kebab-case recommended).
    pub name: String,
    /// Plain-language process description (at most 2000 characters).
    pub description: String,
    /// Connector ids the agent may use; absent or empty: any.
    #[serde(default)]
    pub connectors: Vec<String>,
    /// Steps below this confidence are flagged (default 0.65).
    #[serde(default)]
    pub confidence_threshold: Option<f64>,
}

/// `POST /v1/agents/{id}/runs`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StartRunRequest {
    /// `live` (the default) or `test`.
    #[serde(default = "default_mode")]
    pub mode: RunMode,
    /// The trigger input.
    #[serde(default = "empty_object")]
    pub input: serde_json::Value,
}

fn default_mode() -> RunMode {
    RunMode::Live
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// `POST /v1/escalations/{id}/resolve`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// `retry`, `skip`, `approve`, `abort` or `ignore`.
    pub action: ResolutionAction,
    /// A note for the audit trail.
    #[serde(default)]
    pub resolution_note: Option<String>,
    /// Edited step input for `retry`.
    #[serde(default)]
    pub input: Option<serde_json::Value>,
    /// Supplied step output for `skip`.
    #[serde(default)]
    pub output: Option<serde_json::Value>,
}

/// `GET /v1/agents` query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentListQuery {
    /// `draft`, `active` or `paused`.
    pub status: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// `GET /v1/runs` query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunListQuery {
    /// Only this agent's runs.
    pub agent_id: Option<String>,
    /// A run status.
    pub status: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// `GET /v1/escalations` query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationListQuery {
    /// `open`, `resolved` or `ignored`.
    pub status: Option<String>,
    /// Only this run's escalations.
    pub run_id: Option<String>,
    /// Only this agent's escalations.
    pub agent_id: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// An agent as `agents.create` and `agents.list` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    /// `agt_…`.
    pub agent_id: AgentId,
    /// Its name.
    pub name: String,
    /// `draft`, `active` or `paused`.
    pub status: String,
    /// Steps in its plan, trigger included.
    pub steps_extracted: usize,
    /// Steps flagged for review.
    pub steps_flagged: usize,
    /// When it was created.
    pub created_at: String,
}

impl From<&Agent> for AgentSummary {
    fn from(a: &Agent) -> Self {
        Self {
            agent_id: a.id,
            name: a.name.clone(),
            status: a.status.as_str().to_string(),
            steps_extracted: a.steps_extracted(),
            steps_flagged: a.steps_flagged(),
            created_at: timestamp(a.created_at),
        }
    }
}

/// `GET /v1/agents/{id}`: the summary plus the description, the plan's
/// steps (the plan JSON) and the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDetail {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: AgentSummary,
    /// The description it was planned from.
    pub description: String,
    /// Connectors it may use (empty: any).
    pub connectors: Vec<String>,
    /// Its flagging threshold.
    pub confidence_threshold: f64,
    /// The plan's steps, as in the plan JSON.
    pub steps: Vec<serde_json::Value>,
    /// Rules its runs keep.
    pub rules: Vec<Rule>,
    /// When it last changed.
    pub updated_at: String,
}

impl AgentDetail {
    /// The detail view of `a`.
    pub fn of(a: &Agent) -> Result<Self, serde_json::Error> {
        let plan = serde_json::to_value(&a.graph)?;
        let steps = match plan.get("steps") {
            Some(serde_json::Value::Array(steps)) => steps.clone(),
            _ => Vec::new(),
        };
        Ok(Self {
            summary: a.into(),
            description: a.description.clone(),
            connectors: a.connectors.clone(),
            confidence_threshold: a.confidence_threshold,
            steps,
            rules: a.rules.clone(),
            updated_at: timestamp(a.updated_at),
        })
    }
}

/// `GET /v1/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentList {
    /// One page.
    pub agents: Vec<AgentSummary>,
    /// The next page's cursor; null on the last page.
    pub next_cursor: Option<Cursor>,
}

impl From<Page<Agent>> for AgentList {
    fn from(p: Page<Agent>) -> Self {
        Self {
            agents: p.items.iter().map(AgentSummary::from).collect(),
            next_cursor: p.next_cursor,
        }
    }
}

/// A run as `runs.list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// `run_…`.
    pub run_id: RunId,
    /// Its agent.
    pub agent_id: AgentId,
    /// `live` or `test`.
    pub mode: String,
    /// Where it is.
    pub status: String,
    /// Steps finished, trigger included.
    pub steps_completed: u32,
    /// When its first step started.
    pub started_at: Option<String>,
    /// When it ended.
    pub completed_at: Option<String>,
    /// When it was created.
    pub created_at: String,
}

impl From<&Run> for RunSummary {
    fn from(r: &Run) -> Self {
        Self {
            run_id: r.id,
            agent_id: r.agent_id,
            mode: r.mode.as_str().to_string(),
            status: r.status.as_str().to_string(),
            steps_completed: r.steps_completed,
            started_at: opt_timestamp(r.started_at),
            completed_at: opt_timestamp(r.completed_at),
            created_at: timestamp(r.created_at),
        }
    }
}

/// One step record of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecordView {
    /// The step number.
    pub step: u32,
    /// `pending`, `running`, `succeeded`, `skipped`, `failed` or
    /// `awaiting_review`.
    pub status: String,
    /// Calls made.
    pub attempts: u32,
    /// The input it ran with.
    pub input: serde_json::Value,
    /// Its output.
    pub output: Option<serde_json::Value>,
    /// The last error.
    pub error: Option<StepError>,
    /// When it started.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// The idempotency key its calls carry.
    pub idempotency_key: String,
}

impl From<&StepRecord> for StepRecordView {
    fn from(s: &StepRecord) -> Self {
        Self {
            step: s.step,
            status: s.status.as_str().to_string(),
            attempts: s.attempts,
            input: s.input.clone(),
            output: s.output.clone(),
            error: s.error.clone(),
            started_at: opt_timestamp(s.started_at),
            finished_at: opt_timestamp(s.finished_at),
            idempotency_key: s.idempotency_key.clone(),
        }
    }
}

/// `GET /v1/runs/{id}`: the summary, the input and every step record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetailView {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The trigger input.
    pub input: serde_json::Value,
    /// The step records, by step number.
    pub steps: Vec<StepRecordView>,
    /// When it last changed.
    pub updated_at: String,
}

impl RunDetailView {
    /// The detail view of a run and its records.
    pub fn of(run: &Run, steps: &[StepRecord]) -> Self {
        Self {
            summary: run.into(),
            input: run.input.clone(),
            steps: steps.iter().map(StepRecordView::from).collect(),
            updated_at: timestamp(run.updated_at),
        }
    }
}

/// `GET /v1/runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunList {
    /// One page.
    pub runs: Vec<RunSummary>,
    /// The next page's cursor; null on the last page.
    pub next_cursor: Option<Cursor>,
}

impl From<Page<Run>> for RunList {
    fn from(p: Page<Run>) -> Self {
        Self {
            runs: p.items.iter().map(RunSummary::from).collect(),
            next_cursor: p.next_cursor,
        }
    }
}

/// How an escalation was resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolutionView {
    /// The decision.
    pub action: String,
    /// The note.
    pub resolution_note: Option<String>,
    /// Who decided (an API key id).
    pub actor: String,
    /// When.
    pub resolved_at: String,
}

/// An escalation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationView {
    /// `esc_…`.
    pub escalation_id: EscalationId,
    /// The run that stopped.
    pub run_id: RunId,
    /// The run's agent.
    pub agent_id: AgentId,
    /// The step it stopped at.
    pub step: u32,
    /// `low_confidence`, `api_error`, `timeout`, `rule_violation` or
    /// `approval`.
    pub reason: String,
    /// `open`, `resolved` or `ignored`.
    pub status: String,
    /// What a person needs to know to decide.
    pub message: String,
    /// When it was opened.
    pub created_at: String,
    /// The decision, once made.
    pub resolution: Option<ResolutionView>,
}

impl From<&Escalation> for EscalationView {
    fn from(e: &Escalation) -> Self {
        Self {
            escalation_id: e.id,
            run_id: e.run_id,
            agent_id: e.agent_id,
            step: e.step,
            reason: e.reason.as_str().to_string(),
            status: e.status.as_str().to_string(),
            message: e.message.clone(),
            created_at: timestamp(e.created_at),
            resolution: e.resolution.as_ref().map(|r| ResolutionView {
                action: r.action.as_str().to_string(),
                resolution_note: r.note.clone(),
                actor: r.actor.clone(),
                resolved_at: timestamp(r.resolved_at),
            }),
        }
    }
}

/// `GET /v1/escalations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationList {
    /// One page.
    pub escalations: Vec<EscalationView>,
    /// The next page's cursor; null on the last page.
    pub next_cursor: Option<Cursor>,
}

impl From<Page<Escalation>> for EscalationList {
    fn from(p: Page<Escalation>) -> Self {
        Self {
            escalations: p.items.iter().map(EscalationView::from).collect(),
            next_cursor: p.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_whole_seconds_and_z() {
        let t: DateTime<Utc> = "2026-06-27T14:31:00.123456Z".parse().unwrap();
        assert_eq!(timestamp(t), "2026-06-27T14:31:00Z");
    }

    #[test]
    fn seed_request_bodies_parse_and_unknown_fields_do_not() {
        let create: CreateAgentRequest = serde_json::from_str(
            r#"{"name":"invoice-sync-v1","description":"x","connectors":["quickbooks","hubspot","slack"],"confidence_threshold":0.70}"#,
        )
        .unwrap();
        assert_eq!(create.connectors.len(), 3);
        let run: StartRunRequest =
            serde_json::from_str(r#"{"mode":"live","input":{"invoice_id":"INV-4419"}}"#).unwrap();
        assert_eq!(run.mode, RunMode::Live);
        let resolve: ResolveRequest = serde_json::from_str(
            r#"{"action":"retry","resolution_note":"API rate limit cleared — retrying step 3"}"#,
        )
        .unwrap();
        assert_eq!(resolve.action, ResolutionAction::Retry);
        assert!(serde_json::from_str::<CreateAgentRequest>(
            r#"{"name":"a","description":"b","colour":"red"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<StartRunRequest>(r#"{"mode":"dry"}"#).is_err());
    }
}
