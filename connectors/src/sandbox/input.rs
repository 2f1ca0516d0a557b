//! Reading and validating an operation's input against its manifest.
//!
//! A step's input is a JSON object: the planner's params, values bound from
//! earlier steps, and (for a trigger) what the caller passed. Each field
//! the manifest declares is resolved, in order, from:
//! 1. the field itself (`deal_id`);
//! 2. the attribute of a record named by the field's prefix (`deal_id` ←
//!    `deal.id`, `requester_email` ← `requester.email`), searched breadth
//!    first, so `{"invoice": {"customer": {"id": "58"}}}` gives
//!    `customer_id`;
//! 3. for identifying fields (ids, emails, phones, numbers, company, a
//!    person's first and last name), the same name anywhere in nested
//!    records, shallowest first;
//! 4. for an email or phone field under another name (`to`), the `email`
//!    or `phone` of the records at hand ("email the customer").
//!
//! Present values are checked and normalised by type (`"1500"` is a
//! number, an email is lower-cased); a missing required field or a value
//! of the wrong type is a permanent `invalid_input` error.

use std::collections::{BTreeMap, VecDeque};

use nexwatt_engine::connector::{ConnectorError, FieldSpec, OperationManifest, ValueType};
use serde_json::{Map, Value};

/// The validated input of one call.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    raw: Value,
    fields: BTreeMap<String, Value>,
}

/// Fields that may be found anywhere in nested records.
fn deep_searchable(name: &str) -> bool {
    name.ends_with("_id")
        || name.ends_with("_email")
        || name.ends_with("_number")
        || name.ends_with("_key")
        || matches!(
            name,
            "email" | "phone" | "company" | "account" | "number" | "first_name" | "last_name"
        )
}

/// Breadth-first search for `key` in the nested objects of `value` (not its
/// top level), shallowest first, skipping nulls.
fn deep_find<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let mut queue: VecDeque<&Value> = VecDeque::new();
    if let Value::Object(map) = value {
        queue.extend(map.values());
    }
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

/// Breadth-first search, from the top level down, for an object under key
/// `record` holding `attr`.
fn record_attr<'a>(value: &'a Value, record: &str, attr: &str) -> Option<&'a Value> {
    let mut queue: VecDeque<&Value> = VecDeque::from([value]);
    while let Some(v) = queue.pop_front() {
        match v {
            Value::Object(map) => {
                if let Some(found) = map
                    .get(record)
                    .and_then(|r| r.get(attr))
                    .filter(|f| !f.is_null())
                {
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

/// Resolves field `name` from `raw` (see the module docs).
pub(crate) fn resolve<'a>(raw: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = raw.get(name).filter(|v| !v.is_null()) {
        return Some(v);
    }
    if let Some((record, attr)) = name.split_once('_') {
        if let Some(v) = record_attr(raw, record, attr) {
            return Some(v);
        }
    }
    if deep_searchable(name) {
        return deep_find(raw, name);
    }
    None
}

fn invalid(op: &str, field: &str, why: &str) -> ConnectorError {
    ConnectorError::invalid_input(format!("{op}: input `{field}` {why}"))
}

fn number_from_text(s: &str) -> Option<f64> {
    let cleaned: String = s
        .trim()
        .trim_start_matches(['$', '€', '£'])
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    cleaned.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c == ',')
}

fn normalise_phone(s: &str) -> Option<String> {
    let trimmed = s.trim();
    let plus = trimmed.starts_with('+');
    let mut digits = String::new();
    for c in trimmed.chars().skip(usize::from(plus)) {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return None,
        }
    }
    if !(7..=15).contains(&digits.len()) {
        return None;
    }
    Some(if !plus && digits.len() == 10 {
        format!("+1{digits}")
    } else {
        format!("+{digits}")
    })
}

fn is_duration(s: &str) -> bool {
    let s = s.trim();
    s.len() >= 2
        && s.get(..s.len() - 1)
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        && matches!(s.as_bytes().last(), Some(b'm' | b'h' | b'd'))
}

fn is_time(s: &str) -> bool {
    let Some((h, m)) = s.trim().split_once(':') else {
        return false;
    };
    let two = |p: &str| (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit());
    two(h)
        && m.len() == 2
        && two(m)
        && h.parse::<u32>().is_ok_and(|h| h < 24)
        && m.parse::<u32>().is_ok_and(|m| m < 60)
}

fn is_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn coerce_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().trim_start_matches('#').parse::<i64>().ok(),
        _ => None,
    }
}

/// Checks and normalises `value` for `spec` of `op`.
fn coerce(op: &str, spec: &FieldSpec, value: &Value) -> Result<Value, ConnectorError> {
    let name = spec.name.as_str();
    match spec.value_type {
        ValueType::Number => match value {
            Value::Number(n) => n
                .as_f64()
                .map(Value::from)
                .ok_or_else(|| invalid(op, name, "is not a finite number")),
            Value::String(s) => number_from_text(s)
                .map(Value::from)
                .ok_or_else(|| invalid(op, name, "must be a number")),
            _ => Err(invalid(op, name, "must be a number")),
        },
        ValueType::Integer => coerce_integer(value)
            .map(Value::from)
            .ok_or_else(|| invalid(op, name, "must be a whole number")),
        ValueType::Boolean => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) if s.eq_ignore_ascii_case("true") || s == "yes" => {
                Ok(Value::Bool(true))
            }
            Value::String(s) if s.eq_ignore_ascii_case("false") || s == "no" => {
                Ok(Value::Bool(false))
            }
            _ => Err(invalid(op, name, "must be true or false")),
        },
        ValueType::Object => match value {
            Value::Object(_) => Ok(value.clone()),
            _ => Err(invalid(op, name, "must be a JSON object")),
        },
        ValueType::Array => match value {
            Value::Array(_) => Ok(value.clone()),
            Value::String(s) => Ok(Value::Array(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            )),
            _ => Err(invalid(op, name, "must be a list")),
        },
        _ => {
            let text = match value {
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(invalid(op, name, "must be text")),
            };
            if text.is_empty() {
                return Err(invalid(op, name, "must not be empty"));
            }
            match spec.value_type {
                ValueType::Email if !is_email(&text) => {
                    Err(invalid(op, name, "must be an email address"))
                }
                ValueType::Email => Ok(Value::String(text.to_lowercase())),
                ValueType::Phone => normalise_phone(&text).map(Value::String).ok_or_else(|| {
                    invalid(
                        op,
                        name,
                        "must be a phone number (E.164, e.g. +14155550142)",
                    )
                }),
                ValueType::Url if !is_url(&text) => {
                    Err(invalid(op, name, "must be an absolute http(s) URL"))
                }
                ValueType::Duration if !is_duration(&text) => Err(invalid(
                    op,
                    name,
                    "must be a duration such as 2d, 3h or 30m",
                )),
                ValueType::Time if !is_time(&text) => {
                    Err(invalid(op, name, "must be a time of day, HH:MM"))
                }
                _ => Ok(Value::String(text)),
            }
        }
    }
}

impl Input {
    /// Validates `raw` against `op`'s declared inputs.
    pub(crate) fn validate(
        connector: &str,
        op: &OperationManifest,
        raw: Value,
    ) -> Result<Self, ConnectorError> {
        let what = format!("{connector}.{}", op.id);
        let raw = match raw {
            Value::Null => Value::Object(Map::new()),
            Value::Object(_) => raw,
            _ => {
                return Err(ConnectorError::invalid_input(format!(
                    "{what}: input must be a JSON object"
                )))
            }
        };
        let mut fields = BTreeMap::new();
        for spec in &op.inputs {
            let found = resolve(&raw, &spec.name).or_else(|| match spec.value_type {
                // "Email the customer": the address of the record at hand.
                ValueType::Email => deep_find(&raw, "email"),
                ValueType::Phone => deep_find(&raw, "phone"),
                _ => None,
            });
            match found {
                Some(v) => {
                    fields.insert(spec.name.clone(), coerce(&what, spec, v)?);
                }
                None if spec.required => {
                    return Err(invalid(&what, &spec.name, "is required"));
                }
                None => {}
            }
        }
        Ok(Self { raw, fields })
    }

    /// The whole input as given.
    pub(crate) fn raw(&self) -> &Value {
        &self.raw
    }

    /// A declared field, validated.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// A declared field as text.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// A declared field as a number.
    pub(crate) fn num(&self, name: &str) -> Option<f64> {
        self.fields.get(name).and_then(Value::as_f64)
    }

    /// A declared field as a whole number.
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        self.fields.get(name).and_then(Value::as_i64)
    }

    /// A declared field as a boolean.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.fields.get(name).and_then(Value::as_bool)
    }

    /// A declared field as an object.
    pub(crate) fn obj(&self, name: &str) -> Option<&Map<String, Value>> {
        self.fields.get(name).and_then(Value::as_object)
    }

    /// A declared field as a list of strings.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        match self.fields.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    /// Text field `name`, or a line composed from the records of the input
    /// (what a notification says when the plan gives no text).
    pub(crate) fn text_or_summary(&self, name: &str) -> String {
        self.str(name)
            .map(str::to_string)
            .unwrap_or_else(|| summarize(&self.raw))
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                format!("{}", f as i64)
            }
            Some(f) if n.is_f64() => format!("{f:.2}"),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One line describing the records of `input`, e.g. `Nexwatt: invoice
/// INV-4419 (Acme Logistics, 1250 USD, paid)`.
pub(crate) fn summarize(input: &Value) -> String {
    let Some(map) = input.as_object() else {
        return "Nexwatt notification".to_string();
    };
    let mut parts = Vec::new();
    for (entity, record) in map {
        let Some(rec) = record.as_object() else {
            continue;
        };
        // The identifier people use: a key (OPS-142), a name (#1042, a
        // deal's name), an id with letters (INV-4419), else a number.
        let readable_id = rec
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| id.chars().any(|c| c.is_ascii_alphabetic()) && id.len() <= 12)
            .map(str::to_string);
        let ident = ["key", "name"]
            .iter()
            .find_map(|k| rec.get(*k).and_then(scalar))
            .or(readable_id)
            .or_else(|| {
                ["number", "id", "sid", "ts"]
                    .iter()
                    .find_map(|k| rec.get(*k).and_then(scalar))
            });
        let mut details = Vec::new();
        if let Some(v) = ["title", "summary", "subject", "company"]
            .iter()
            .find_map(|k| rec.get(*k).and_then(scalar))
        {
            details.push(v);
        }
        if let Some(name) = rec
            .get("customer")
            .and_then(|c| c.get("name").or_else(|| c.get("email")))
            .and_then(scalar)
        {
            details.push(name);
        }
        if let Some(amount) = rec
            .get("amount")
            .or_else(|| rec.get("total"))
            .and_then(scalar)
        {
            let currency = rec
                .get("currency")
                .and_then(scalar)
                .map(|c| format!(" {}", c.to_uppercase()))
                .unwrap_or_default();
            details.push(format!("{amount}{currency}"));
        }
        if let Some(status) = rec
            .get("stage")
            .or_else(|| rec.get("status"))
            .and_then(scalar)
        {
            details.push(status);
        }
        let entity = entity.replace('_', " ");
        let head = match ident {
            Some(id) => format!("{entity} {id}"),
            None => entity,
        };
        if details.is_empty() {
            parts.push(head);
        } else {
            parts.push(format!("{head} ({})", details.join(", ")));
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.is_empty() {
        "Nexwatt notification".to_string()
    } else {
        format!("Nexwatt: {}", parts.join("; "))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_prefixed_and_nested_fields() {
        let raw = json!({"invoice": {"id": "INV-1", "customer": {"id": "58", "email": "a@b.co"}}});
        assert_eq!(resolve(&raw, "invoice_id"), Some(&json!("INV-1")));
        assert_eq!(resolve(&raw, "customer_id"), Some(&json!("58")));
        assert_eq!(resolve(&raw, "email"), Some(&json!("a@b.co")));
        assert_eq!(resolve(&raw, "customer_email"), Some(&json!("a@b.co")));
        assert_eq!(resolve(&raw, "status"), None);
        let form = json!({"contact": {"first_name": "Leo", "last_name": "Martin"}});
        assert_eq!(resolve(&form, "last_name"), Some(&json!("Martin")));
        let both = json!({"deal_id": "7", "deal": {"id": "8"}});
        assert_eq!(resolve(&both, "deal_id"), Some(&json!("7")));
    }

    #[test]
    fn checks_types() {
        assert!(is_email("a@b.co") && !is_email("a@b") && !is_email("a b@c.de"));
        assert_eq!(
            normalise_phone("(415) 555-0142").as_deref(),
            Some("+14155550142")
        );
        assert!(normalise_phone("call me").is_none());
        assert!(is_duration("2d") && is_duration("30m") && !is_duration("d") && !is_duration("2w"));
        assert!(is_time("09:00") && !is_time("25:00") && !is_time("9") && !is_time("9:5"));
        assert!(is_url("https://x.io/a?b") && !is_url("ftp://x") && !is_url("https://"));
        assert_eq!(number_from_text("$1,500"), Some(1500.0));
    }

    #[test]
    fn summarizes_records() {
        let s = summarize(
            &json!({"invoice": {"id": "INV-1", "amount": 10, "currency": "usd",
            "status": "paid", "customer": {"name": "Acme"}}}),
        );
        assert_eq!(s, "Nexwatt: invoice INV-1 (Acme, 10 USD, paid)");
        assert_eq!(summarize(&json!({})), "Nexwatt notification");
    }
}
