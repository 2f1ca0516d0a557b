//! Showing plans: a text view for a person and the plan JSON of
//! `planner-eval/README.md`, one line per description.

use std::fmt::Write as _;
use std::io::{self, BufRead, Write};

use serde_json::{json, Value};

use super::{DeterministicPlanner, Plan, PlanError, PlanRequest};
use crate::model::{RuleCheck, MAX_DESCRIPTION_CHARS};

/// A plan (or the reason there is none) as text for a person: each step
/// with its `connector.operation`, confidence, flag, predecessors,
/// parameters, the text it came from and why; then the rules.
pub fn render_text(description: &str, result: &Result<Plan, PlanError>) -> String {
    let mut out = String::new();
    let plan = match result {
        Ok(plan) => plan,
        Err(e) => {
            let _ = writeln!(out, "cannot plan this description ({}):", e.kind.code());
            let _ = writeln!(out, "  {}", e.message);
            return out;
        }
    };
    let flagged = plan.graph.flagged_count();
    let _ = writeln!(
        out,
        "{} steps, {} flagged for review",
        plan.graph.len(),
        flagged
    );
    for s in plan.graph.steps() {
        let flag = if s.flagged { "  FLAGGED" } else { "" };
        let after = if s.after.is_empty() {
            String::from("trigger")
        } else {
            format!(
                "after {}",
                s.after
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let _ = writeln!(
            out,
            "{:>2}. {:<34} {:<8} confidence {:.2}  {}{}",
            s.step,
            s.op(),
            s.effect.as_str(),
            s.confidence,
            after,
            flag
        );
        if !s.params.is_empty() {
            let params: Vec<String> = s
                .params
                .iter()
                .map(|(k, v)| match v {
                    Value::String(t) => format!("{k}={t:?}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            let _ = writeln!(out, "    params: {}", params.join(", "));
        }
        if !s.bindings.is_empty() {
            let b: Vec<String> = s
                .bindings
                .iter()
                .map(|(k, b)| format!("{k} ← step {}.{}", b.step, b.path))
                .collect();
            let _ = writeln!(out, "    inputs: {}", b.join(", "));
        }
        if let Some(text) = s.span.and_then(|sp| sp.text(description)) {
            let text = text.trim();
            if !text.is_empty() {
                let _ = writeln!(out, "    from:   \"{text}\"");
            }
        }
        if !s.rationale.is_empty() {
            let _ = writeln!(out, "    why:    {}", s.rationale);
        }
    }
    if !plan.rules.is_empty() {
        let _ = writeln!(out, "rules:");
        for r in &plan.rules {
            let target = format!(
                "{}.{}",
                r.applies_to.connector.as_deref().unwrap_or("*"),
                r.applies_to.operation.as_deref().unwrap_or("*")
            );
            let check = match &r.check {
                RuleCheck::MaxValue { field, max } => format!("{field} must not exceed {max}"),
                RuleCheck::ForbiddenWeekdays { days } => format!("never on {}", days.join(", ")),
                RuleCheck::Forbidden => "never".to_string(),
            };
            let _ = writeln!(out, "  - {target}: {check}  (\"{}\")", r.text);
        }
    }
    out
}

/// The plan JSON of one description: `{"id", "steps": […]}` (with
/// `"rules"` when there are any), or `{"id", "error": {"code",
/// "message"}}`.
pub fn plan_json(id: &Value, result: &Result<Plan, PlanError>) -> Value {
    match result {
        Ok(plan) => {
            let mut v = json!({"id": id, "steps": serde_json::to_value(&plan.graph).ok().and_then(|g| g.get("steps").cloned()).unwrap_or(Value::Array(vec![]))});
            if !plan.rules.is_empty() {
                if let (Some(obj), Ok(rules)) =
                    (v.as_object_mut(), serde_json::to_value(&plan.rules))
                {
                    obj.insert("rules".into(), rules);
                }
            }
            v
        }
        Err(e) => json!({"id": id, "error": {"code": e.kind.code(), "message": e.message}}),
    }
}

fn error_line(id: Value, message: String) -> Value {
    json!({"id": id, "error": {"code": "invalid_request", "message": message}})
}

/// Reads `{"id", "description"}` lines from `input` and writes one plan
/// JSON line per description to `output` (see [`plan_json`]). Blank lines
/// are skipped; a malformed line, an empty description or one over
/// 2000 characters gets an `invalid_request` error line, never a crash.
pub fn plan_jsonl(
    planner: &DeterministicPlanner,
    input: impl BufRead,
    mut output: impl Write,
) -> io::Result<()> {
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value = match serde_json::from_str::<Value>(&line) {
            Err(e) => error_line(Value::Null, format!("line {}: not JSON: {e}", n + 1)),
            Ok(row) => {
                let id = row.get("id").cloned().unwrap_or(Value::Null);
                match row.get("description") {
                    Some(Value::String(d)) => {
                        if d.chars().count() > MAX_DESCRIPTION_CHARS {
                            error_line(
                                id,
                                format!(
                                    "description is {} characters; the limit is {MAX_DESCRIPTION_CHARS}",
                                    d.chars().count()
                                ),
                            )
                        } else {
                            let request = PlanRequest::new(d.clone());
                            let result = planner.plan_sync(&request);
                            plan_json(&id, &result)
                        }
                    }
                    Some(_) => error_line(
                        id,
                        format!("line {}: \"description\" must be a string", n + 1),
                    ),
                    None => error_line(id, format!("line {}: no \"description\"", n + 1)),
                }
            }
        };
        serde_json::to_writer(&mut output, &value)?;
        output.write_all(b"\n")?;
    }
    output.flush()
}
