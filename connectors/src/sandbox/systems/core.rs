//! The engine built-ins (`core.*`), simulated: the runner handles these
//! itself in real runs; the sandbox gives the same outputs so a test can
//! call every catalog operation.

use nexwatt_engine::connector::ConnectorError;
use serde_json::{json, Value};

use super::Call;
use crate::sandbox::input::resolve;
use crate::sandbox::store::{norm, System};

/// A parsed `FIELD OP VALUE` condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub field: String,
    pub op: String,
    pub value: String,
}

const OPS: &[&str] = &[">=", "<=", "!=", "==", ">", "<", " contains "];

/// Parses `FIELD OP VALUE` (OP one of `>` `>=` `<` `<=` `==` `!=`
/// `contains`).
pub(crate) fn parse_condition(text: &str) -> Option<Condition> {
    OPS.iter().find_map(|op| {
        let (field, value) = text.split_once(op)?;
        let field = field.trim();
        let value = value.trim().trim_matches('"').trim_matches('\'');
        (!field.is_empty() && !value.is_empty() && !field.contains(' ')).then(|| Condition {
            field: field.to_string(),
            op: op.trim().to_string(),
            value: value.to_string(),
        })
    })
}

/// Evaluates `cond` against `actual`.
pub(crate) fn evaluate(cond: &Condition, actual: &Value) -> bool {
    let num = |s: &str| {
        s.trim()
            .trim_start_matches('$')
            .replace(',', "")
            .parse::<f64>()
            .ok()
    };
    let have_num = actual.as_f64().or_else(|| actual.as_str().and_then(num));
    let want_num = num(&cond.value);
    let have_text = norm(actual).unwrap_or_default();
    let want_text = cond.value.trim().to_lowercase();
    match (cond.op.as_str(), have_num, want_num) {
        (">", Some(a), Some(b)) => a > b,
        (">=", Some(a), Some(b)) => a >= b,
        ("<", Some(a), Some(b)) => a < b,
        ("<=", Some(a), Some(b)) => a <= b,
        ("==", Some(a), Some(b)) => (a - b).abs() < 1e-9,
        ("!=", Some(a), Some(b)) => (a - b).abs() >= 1e-9,
        ("==", _, _) => have_text == want_text,
        ("!=", _, _) => have_text != want_text,
        ("contains", _, _) => match actual {
            Value::Array(items) => items
                .iter()
                .any(|i| norm(i).is_some_and(|t| t == want_text)),
            _ => have_text.contains(&want_text),
        },
        _ => false,
    }
}

fn duration_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: i64 = text.get(..text.len().saturating_sub(1))?.parse().ok()?;
    let per = match unit {
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(per)
}

pub(super) fn execute(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let what = call.what();
    let input = call.input;
    match call.op.id.as_str() {
        "manual" => Ok(input.raw().clone()),
        "schedule" => {
            let fired = sys.now();
            Ok(
                json!({ "fired_at": fired, "every": input.str("every").unwrap_or("day"), "at": input.str("at").unwrap_or("09:00") }),
            )
        }
        "if" => {
            let text = input.str("condition").unwrap_or_default();
            let cond = parse_condition(text).ok_or_else(|| {
                ConnectorError::invalid_input(format!(
                    "{what}: condition {text:?} is not FIELD OP VALUE"
                ))
            })?;
            let actual = resolve(input.raw(), &cond.field)
                .or_else(|| deep_any(input.raw(), &cond.field))
                .cloned()
                .ok_or_else(|| {
                    ConnectorError::invalid_input(format!(
                        "{what}: the input has no `{}` to test the condition against",
                        cond.field
                    ))
                })?;
            let result = evaluate(&cond, &actual);
            Ok(
                json!({ "condition": text, "field": cond.field, "actual": actual, "result": result }),
            )
        }
        "delay" => {
            let text = input.str("duration").unwrap_or_default();
            let seconds = duration_seconds(text).ok_or_else(|| {
                ConnectorError::invalid_input(format!("{what}: bad duration {text:?}"))
            })?;
            let resume = (chrono::DateTime::parse_from_rfc3339(crate::sandbox::store::EPOCH)
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default()
                + chrono::Duration::seconds(seconds.min(3_153_600_000)))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
            Ok(json!({ "duration": text, "seconds": seconds, "resume_at": resume }))
        }
        "approval" => {
            let decided = sys.now();
            Ok(
                json!({ "approved": true, "approver": input.str("approver").unwrap_or("approver"), "decided_at": decided }),
            )
        }
        _ => Err(call.unsupported()),
    }
}

/// `key` anywhere in `value` (any field name, shallowest first).
fn deep_any<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let mut queue = std::collections::VecDeque::from([value]);
    while let Some(v) = queue.pop_front() {
        match v {
            Value::Object(map) => {
                if let Some(found) = map.get(key).filter(|f| !f.is_null()) {
                    return Some(found);
                }
                queue.extend(map.values());
            }
            Value::Array(items) => queue.extend(items.iter()),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_and_evaluate() {
        let c = parse_condition("amount > 1000").unwrap();
        assert_eq!(c.field, "amount");
        assert!(evaluate(&c, &json!(1250.0)));
        assert!(!evaluate(&c, &json!("999")));
        let c = parse_condition("subject contains refund").unwrap();
        assert!(evaluate(&c, &json!("Refund request")));
        let c = parse_condition("country == EU").unwrap();
        assert!(evaluate(&c, &json!("eu")));
        assert!(parse_condition("nonsense").is_none());
        assert_eq!(duration_seconds("2d"), Some(172_800));
    }
}
