//! Builders of valid records for tests: every field filled with something
//! plausible, ids fresh. Adjust the returned struct for what a test needs.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use crate::id::{AgentId, ApiKeyId, EscalationId, EventId, RunId, WorkspaceId};
use crate::model::{
    Agent, AgentStatus, ApiKeyRecord, Effect, Escalation, EscalationReason, EscalationStatus,
    Event, EventKind, KeyHash, OperationKind, Run, RunMode, RunStatus, Step, StepGraph, StepRecord,
    StepStatus, Workspace, DEFAULT_CONFIDENCE_THRESHOLD,
};

/// A fixed instant, so records compare equal across backends and runs.
pub fn time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// A fresh workspace named after its id.
pub fn workspace() -> Workspace {
    let id = WorkspaceId::generate();
    Workspace {
        id,
        name: format!("workspace-{id}"),
        created_at: time(),
    }
}

/// A two-step graph: a manual trigger, then a Slack message.
pub fn graph() -> StepGraph {
    let trigger = Step {
        step: 1,
        connector: "core".into(),
        operation: "manual".into(),
        kind: OperationKind::Trigger,
        effect: Effect::Control,
        params: Default::default(),
        after: vec![],
        bindings: Default::default(),
        confidence: 1.0,
        flagged: false,
        rationale: "no trigger stated".into(),
        span: None,
    };
    let send = Step {
        step: 2,
        connector: "slack".into(),
        operation: "message.send".into(),
        kind: OperationKind::Action,
        effect: Effect::Write,
        params: [("channel".to_string(), json!("#ops"))]
            .into_iter()
            .collect(),
        after: vec![1],
        bindings: Default::default(),
        confidence: 0.9,
        flagged: false,
        rationale: "matched 'post in #ops' → slack.message.send".into(),
        span: None,
    };
    StepGraph::new(vec![trigger, send]).expect("the fixture graph is valid")
}

/// A fresh draft agent of `workspace`, revision 1.
pub fn agent(workspace: WorkspaceId) -> Agent {
    let id = AgentId::generate();
    Agent {
        id,
        workspace,
        name: format!("agent-{id}"),
        description: "Post a message in #ops.".into(),
        connectors: vec![],
        confidence_threshold: DEFAULT_CONFIDENCE_THRESHOLD,
        status: AgentStatus::Draft,
        graph: graph(),
        rules: vec![],
        created_at: time(),
        updated_at: time(),
        revision: 1,
    }
}

/// A fresh queued live run of `agent` in `workspace`, revision 1.
pub fn run(workspace: WorkspaceId, agent: AgentId) -> Run {
    Run {
        id: RunId::generate(),
        workspace,
        agent_id: agent,
        mode: RunMode::Live,
        input: json!({"invoice": {"id": "inv_1001", "amount": 125.5}}),
        status: RunStatus::Queued,
        steps_completed: 0,
        created_at: time(),
        started_at: None,
        completed_at: None,
        updated_at: time(),
        revision: 1,
    }
}

/// A succeeded record of step `step` of `run`.
pub fn step_record(run: &Run, step: u32) -> StepRecord {
    let mut record = StepRecord::pending(run.workspace, run.id, step);
    record.status = StepStatus::Succeeded;
    record.attempts = 1;
    record.input = json!({"channel": "#ops"});
    record.output = Some(json!({"ok": true, "ts": "1700000000.000100"}));
    record.started_at = Some(time());
    record.finished_at = Some(time());
    record
}

/// A fresh open escalation of `run` at step 2, revision 1.
pub fn escalation(run: &Run) -> Escalation {
    Escalation {
        id: EscalationId::generate(),
        workspace: run.workspace,
        run_id: run.id,
        agent_id: run.agent_id,
        step: 2,
        reason: EscalationReason::LowConfidence,
        status: EscalationStatus::Open,
        message: "step 2 is flagged: confidence 0.5 is below 0.65".into(),
        created_at: time(),
        resolution: None,
        revision: 1,
    }
}

/// A fresh audit event of `agent` (and `run`, if any) in `workspace`.
pub fn event(workspace: WorkspaceId, agent: AgentId, run: Option<RunId>) -> Event {
    Event {
        id: EventId::generate(),
        workspace,
        agent_id: agent,
        run_id: run,
        escalation_id: None,
        step: run.map(|_| 2),
        kind: if run.is_some() {
            EventKind::StepSucceeded
        } else {
            EventKind::AgentCreated
        },
        actor: "engine".into(),
        at: time(),
        message: "step 2 succeeded".into(),
        data: json!({"attempts": 1}),
    }
}

/// A fresh API key record of `workspace` for `secret`, revision 1.
pub fn api_key(workspace: WorkspaceId, secret: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: ApiKeyId::generate(),
        workspace,
        hash: KeyHash::of_secret(secret),
        display_prefix: secret.chars().take(14).collect(),
        created_at: time(),
        revoked_at: None,
        revision: 1,
    }
}
