//! The HTTP client behind `nexwatt agents|runs|escalations`: talks to a
//! running server and renders its answers as tables or JSON.

use std::fmt::Write as _;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::dto::{
    AgentDetail, AgentList, AgentSummary, EscalationList, EscalationView, RunDetailView, RunList,
    RunSummary,
};

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No API key configured.
    #[error("no API key: set NEXWATT_API_KEY or pass --api-key (`nexwatt keys create` makes one)")]
    NoKey,
    /// The server could not be reached.
    #[error("cannot reach the Nexwatt server at {url}: {reason} (is `nexwatt serve` running? see --url / NEXWATT_URL)")]
    Unreachable {
        /// The base URL tried.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an error.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error code from the body.
        code: String,
        /// The message from the body.
        message: String,
    },
    /// The server's answer could not be read.
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    /// A command-line argument is unusable.
    #[error("{0}")]
    Usage(String),
}

impl ClientError {
    /// A stable snake_case code.
    pub fn code(&self) -> &str {
        match self {
            Self::NoKey => "no_api_key",
            Self::Unreachable { .. } => "unreachable",
            Self::Api { code, .. } => code,
            Self::Decode(_) => "bad_response",
            Self::Usage(_) => "usage",
        }
    }
}

/// A client of one server with one key.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    /// A client of the server at `url` (e.g. `http://127.0.0.1:8080`) using
    /// `key`.
    pub fn new(url: &str, key: Option<&str>) -> Result<Self, ClientError> {
        let key = key.filter(|k| !k.is_empty()).ok_or(ClientError::NoKey)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(Self {
            http,
            base: url.trim_end_matches('/').to_string(),
            key: key.to_string(),
        })
    }

    /// Sends a request to `/v1{path}` and returns the JSON answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}/v1{path}", self.base);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(&self.key)
            .query(query);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Decode(format!("{status}: {e}")))?;
        if !status.is_success() {
            let code = value["error"]["code"]
                .as_str()
                .unwrap_or("unknown")
                .to_string();
            let message = value["error"]["message"].as_str().unwrap_or("").to_string();
            return Err(ClientError::Api {
                status: status.as_u16(),
                code,
                message,
            });
        }
        Ok(value)
    }
}

/// Decodes a response into one of the API's shapes.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, ClientError> {
    serde_json::from_value(value.clone()).map_err(|e| ClientError::Decode(e.to_string()))
}

/// Renders rows under headers, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = String>| {
        let mut parts = Vec::new();
        for (i, cell) in cells.enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(cell.chars().count());
            parts.push(format!("{cell}{}", " ".repeat(pad)));
        }
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &mut headers.iter().map(|h| h.to_uppercase()));
    for row in rows {
        line(&mut out, &mut row.iter().cloned());
    }
    out
}

fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn next_page(cursor: &Option<nexwatt_engine::id::Cursor>) -> String {
    match cursor {
        Some(c) => format!("more: --cursor {c}\n"),
        None => String::new(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `agents list` as a table.
pub fn render_agent_list(list: &AgentList) -> String {
    let rows: Vec<Vec<String>> = list
        .agents
        .iter()
        .map(|a| {
            vec![
                a.agent_id.to_string(),
                a.name.clone(),
                a.status.clone(),
                a.steps_extracted.to_string(),
                a.steps_flagged.to_string(),
                a.created_at.clone(),
            ]
        })
        .collect();
    table(
        &[
            "agent_id",
            "name",
            "status",
            "steps",
            "flagged",
            "created_at",
        ],
        &rows,
    ) + &next_page(&list.next_cursor)
}

/// One agent summary (after create, activate, pause).
pub fn render_agent_summary(a: &AgentSummary) -> String {
    format!(
        "agent {}  {}\nstatus: {}   steps: {}   flagged: {}   created: {}\n",
        a.agent_id, a.name, a.status, a.steps_extracted, a.steps_flagged, a.created_at
    )
}

/// `agents show`: the summary and the plan's steps.
pub fn render_agent_detail(a: &AgentDetail) -> String {
    let mut out = render_agent_summary(&a.summary);
    let _ = writeln!(out, "description: {}", a.description);
    if !a.connectors.is_empty() {
        let _ = writeln!(out, "connectors: {}", a.connectors.join(", "));
    }
    let _ = writeln!(out, "confidence threshold: {}", a.confidence_threshold);
    let rows: Vec<Vec<String>> = a
        .steps
        .iter()
        .map(|s| {
            let after = s["after"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                s["step"].to_string(),
                format!(
                    "{}.{}",
                    s["connector"].as_str().unwrap_or("?"),
                    s["operation"].as_str().unwrap_or("?")
                ),
                if after.is_empty() { "-".into() } else { after },
                s["confidence"]
                    .as_f64()
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_default(),
                if s["flagged"].as_bool() == Some(true) {
                    "FLAGGED".into()
                } else {
                    String::new()
                },
                truncate(s["rationale"].as_str().unwrap_or(""), 70),
            ]
        })
        .collect();
    out.push('\n');
    out + &table(
        &["step", "operation", "after", "conf", "flag", "rationale"],
        &rows,
    )
}

/// `runs list` as a table.
pub fn render_run_list(list: &RunList) -> String {
    let rows: Vec<Vec<String>> = list
        .runs
        .iter()
        .map(|r| {
            vec![
                r.run_id.to_string(),
                r.agent_id.to_string(),
                r.mode.clone(),
                r.status.clone(),
                r.steps_completed.to_string(),
                or_dash(&r.started_at),
                or_dash(&r.completed_at),
            ]
        })
        .collect();
    table(
        &[
            "run_id",
            "agent_id",
            "mode",
            "status",
            "done",
            "started_at",
            "completed_at",
        ],
        &rows,
    ) + &next_page(&list.next_cursor)
}

/// One run summary (after start).
pub fn render_run_summary(r: &RunSummary) -> String {
    format!(
        "run {}  agent {}\nmode: {}   status: {}   steps completed: {}\n",
        r.run_id, r.agent_id, r.mode, r.status, r.steps_completed
    )
}

/// `runs show`: the summary and every step record.
pub fn render_run_detail(r: &RunDetailView) -> String {
    let mut out = render_run_summary(&r.summary);
    let _ = writeln!(
        out,
        "started: {}   completed: {}",
        or_dash(&r.summary.started_at),
        or_dash(&r.summary.completed_at)
    );
    let rows: Vec<Vec<String>> = r
        .steps
        .iter()
        .map(|s| {
            vec![
                s.step.to_string(),
                s.status.clone(),
                s.attempts.to_string(),
                or_dash(&s.finished_at),
                s.error
                    .as_ref()
                    .map(|e| truncate(&format!("{}: {}", e.code, e.message), 60))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    out.push('\n');
    out + &table(
        &["step", "status", "attempts", "finished_at", "error"],
        &rows,
    )
}

/// `escalations list` as a table.
pub fn render_escalation_list(list: &EscalationList) -> String {
    let rows: Vec<Vec<String>> = list
        .escalations
        .iter()
        .map(|e| {
            vec![
                e.escalation_id.to_string(),
                e.run_id.to_string(),
                e.step.to_string(),
                e.reason.clone(),
                e.status.clone(),
                truncate(&e.message, 60),
            ]
        })
        .collect();
    table(
        &[
            "escalation_id",
            "run_id",
            "step",
            "reason",
            "status",
            "message",
        ],
        &rows,
    ) + &next_page(&list.next_cursor)
}

/// One escalation.
pub fn render_escalation(e: &EscalationView) -> String {
    let mut out = format!(
        "escalation {}  run {}  step {}\nreason: {}   status: {}   opened: {}\n{}\n",
        e.escalation_id, e.run_id, e.step, e.reason, e.status, e.created_at, e.message
    );
    if let Some(r) = &e.resolution {
        let _ = writeln!(
            out,
            "resolved: {} by {} at {}{}",
            r.action,
            r.actor,
            r.resolved_at,
            r.resolution_note
                .as_ref()
                .map(|n| format!(" — {n}"))
                .unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["id", "name"],
            &[
                vec!["a".into(), "x".into()],
                vec!["bbbb".into(), "yy".into()],
            ],
        );
        assert_eq!(t, "ID    NAME\na     x\nbbbb  yy\n");
    }

    #[test]
    fn client_needs_a_key() {
        assert!(matches!(
            Client::new("http://127.0.0.1:1", None),
            Err(ClientError::NoKey)
        ));
        assert!(matches!(
            Client::new("http://127.0.0.1:1", Some("")),
            Err(ClientError::NoKey)
        ));
    }
}
