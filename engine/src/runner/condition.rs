//! The `core.if` condition (`FIELD OP VALUE`, the planner's canonical form)
//! and `core.delay` durations (`2d`, `3h`, `30m`).

use std::time::Duration;

use serde_json::Value;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub(crate) field: String,
    pub(crate) op: Op,
    pub(crate) value: String,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
    Contains,
}

/// Parses `FIELD OP VALUE`.
pub(crate) fn parse(text: &str) -> Result<Condition, String> {
    const OPS: [(&str, Op); 7] = [
        (" contains ", Op::Contains),
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("!=", Op::Ne),
        ("==", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];
    for (token, op) in OPS {
        if let Some(at) = text.find(token) {
            let field = text[..at].trim();
            let value = text[at + token.len()..].trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            if field.is_empty() || value.is_empty() {
                break;
            }
            return Ok(Condition {
                field: field.to_string(),
                op,
                value: value.to_string(),
            });
        }
    }
    Err(format!(
        "condition {text:?} is not of the form FIELD OP VALUE (OP one of > >= < <= == != contains)"
    ))
}

/// A JSON value as a number: numbers, and strings like `"$1,500.00"`.
pub(crate) fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_number(s),
        _ => None,
    }
}

fn parse_number(s: &str) -> Option<f64> {
    let cleaned: String = s
        .trim()
        .trim_start_matches(['$', '€', '£'])
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    cleaned.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Condition {
    /// Evaluates the condition against `actual`, the field's value.
    pub(crate) fn evaluate(&self, actual: &Value) -> bool {
        let expected_num = parse_number(&self.value);
        let actual_num = as_number(actual);
        if let (Some(a), Some(b), false) = (actual_num, expected_num, self.op == Op::Contains) {
            return match self.op {
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Contains => false,
            };
        }
        let expected = self.value.to_lowercase();
        match self.op {
            Op::Contains => match actual {
                Value::Array(items) => items.iter().any(|i| as_text(i).to_lowercase() == expected),
                other => as_text(other).to_lowercase().contains(&expected),
            },
            Op::Eq => as_text(actual).to_lowercase() == expected,
            Op::Ne => as_text(actual).to_lowercase() != expected,
            Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                let a = as_text(actual).to_lowercase();
                match self.op {
                    Op::Gt => a > expected,
                    Op::Ge => a >= expected,
                    Op::Lt => a < expected,
                    _ => a <= expected,
                }
            }
        }
    }
}

/// Parses a `core.delay` duration: a number and a unit letter (`s`, `m`,
/// `h`, `d`, `w`), e.g. `2d`, `30m`, `1.5h`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let err = || format!("duration {text:?} is not a number and a unit (m, h, d), e.g. 2d or 30m");
    let unit_at = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(err)?;
    let number: f64 = t[..unit_at].trim().parse().map_err(|_| err())?;
    let secs = match t[unit_at..].trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        _ => return Err(err()),
    };
    let total = number * secs;
    if !total.is_finite() || !(0.0..=315_360_000.0).contains(&total) {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn canonical_conditions_evaluate() {
        let c = parse("amount > 1000").unwrap();
        assert!(c.evaluate(&json!(1500)));
        assert!(!c.evaluate(&json!("900")));
        assert!(c.evaluate(&json!("$1,200.50")));
        let c = parse("country == EU").unwrap();
        assert!(c.evaluate(&json!("eu")));
        assert!(!c.evaluate(&json!("US")));
        let c = parse("subject contains refund").unwrap();
        assert!(c.evaluate(&json!("Please REFUND me")));
        assert!(c.evaluate(&json!(["refund", "x"])));
        assert!(!parse("priority != high").unwrap().evaluate(&json!("High")));
        assert!(parse("total <= 5").unwrap().evaluate(&json!(5)));
        assert!(parse("garbage").is_err());
        assert!(parse("> 5").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("3 h").unwrap(), Duration::from_secs(10_800));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1d").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,60}") {
            let _ = parse(&s).map(|c| c.evaluate(&json!(s.clone())));
            let _ = parse_duration(&s);
        }
    }
}
