//! Reading a step's input (a JSON object of params, bindings and trigger
//! data) with clear `invalid_input` errors.

use nexwatt_engine::connector::ConnectorError;
use serde_json::{Map, Value};

/// A step's input, for one operation.
pub(crate) struct Input<'a> {
    what: String,
    value: &'a Value,
}

impl<'a> Input<'a> {
    /// The input of `connector.operation`.
    pub fn new(connector: &str, operation: &str, value: &'a Value) -> Result<Self, ConnectorError> {
        if !(value.is_object() || value.is_null()) {
            return Err(ConnectorError::invalid_input(format!(
                "{connector}.{operation} takes a JSON object as input"
            )));
        }
        Ok(Self {
            what: format!("{connector}.{operation}"),
            value,
        })
    }

    /// The whole input object (empty for `null`).
    pub fn object(&self) -> Option<&'a Map<String, Value>> {
        self.value.as_object()
    }

    /// The first of `keys` that is present and not null.
    pub fn get(&self, keys: &[&str]) -> Option<&'a Value> {
        let obj = self.value.as_object()?;
        keys.iter()
            .filter_map(|k| obj.get(*k))
            .find(|v| !v.is_null())
    }

    /// The first of `keys` as text (a string, or a number or boolean written
    /// out), trimmed; empty strings count as absent.
    pub fn text(&self, keys: &[&str]) -> Option<String> {
        let obj = self.value.as_object()?;
        keys.iter()
            .filter_map(|k| obj.get(*k))
            .find_map(scalar_text)
    }

    /// Like [`text`](Self::text), but required.
    pub fn require_text(&self, keys: &[&str]) -> Result<String, ConnectorError> {
        self.text(keys).ok_or_else(|| self.missing(keys))
    }

    /// An id: the first of `keys`, else the `id` of the first of `records`
    /// that is an object (`{"deal": {"id": "7"}}`).
    pub fn id(&self, keys: &[&str], records: &[&str]) -> Option<String> {
        if let Some(id) = self.text(keys) {
            return Some(id);
        }
        let obj = self.value.as_object()?;
        records
            .iter()
            .filter_map(|r| obj.get(*r))
            .filter_map(Value::as_object)
            .find_map(|o| o.get("id").or_else(|| o.get("Id")).and_then(scalar_text))
    }

    /// Like [`id`](Self::id), but required.
    pub fn require_id(&self, keys: &[&str], records: &[&str]) -> Result<String, ConnectorError> {
        self.id(keys, records).ok_or_else(|| self.missing(keys))
    }

    /// The first of `keys` as a number: a JSON number or a string such as
    /// `"1500"`, `"$1,500.00"`. A value that is not a number is an error.
    pub fn number(&self, keys: &[&str]) -> Result<Option<f64>, ConnectorError> {
        let Some((key, value)) = self.entry(keys) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => parse_amount(s),
            _ => None,
        };
        match parsed {
            Some(n) if n.is_finite() => Ok(Some(n)),
            _ => Err(ConnectorError::invalid_input(format!(
                "{}: `{key}` is not a number",
                self.what
            ))),
        }
    }

    /// The first of `keys` as a whole number.
    pub fn integer(&self, keys: &[&str]) -> Result<Option<i64>, ConnectorError> {
        match self.number(keys)? {
            None => Ok(None),
            Some(n) if n.fract() == 0.0 && n.abs() < 1e15 => Ok(Some(n as i64)),
            Some(_) => Err(ConnectorError::invalid_input(format!(
                "{}: `{}` is not a whole number",
                self.what,
                keys.first().copied().unwrap_or_default()
            ))),
        }
    }

    /// The first of `keys` that is a JSON object; present but not an object
    /// is an error.
    pub fn map(&self, keys: &[&str]) -> Result<Option<&'a Map<String, Value>>, ConnectorError> {
        match self.entry(keys) {
            None => Ok(None),
            Some((_, Value::Object(m))) => Ok(Some(m)),
            Some((key, _)) => Err(ConnectorError::invalid_input(format!(
                "{}: `{key}` must be a JSON object",
                self.what
            ))),
        }
    }

    /// The error for missing `keys`.
    pub fn missing(&self, keys: &[&str]) -> ConnectorError {
        let names = keys
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        ConnectorError::invalid_input(format!("{} needs {names} in its input", self.what))
    }

    /// An `invalid_input` error about this operation.
    pub fn invalid(&self, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::invalid_input(format!("{}: {message}", self.what))
    }

    fn entry(&self, keys: &[&str]) -> Option<(String, &'a Value)> {
        let obj = self.value.as_object()?;
        keys.iter().find_map(|k| {
            obj.get(*k)
                .filter(|v| !v.is_null())
                .map(|v| ((*k).to_string(), v))
        })
    }
}

/// A scalar written as text, trimmed; empty → `None`.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses `1500`, `1,500.00`, `$1500`, `USD 1500`.
pub(crate) fn parse_amount(s: &str) -> Option<f64> {
    let cleaned: String = s
        .trim()
        .trim_start_matches("USD")
        .trim_start_matches("EUR")
        .trim_start_matches("GBP")
        .chars()
        .filter(|c| !matches!(c, '$' | '€' | '£' | ',' | ' ' | '_'))
        .collect();
    if cleaned.is_empty() {
        return None;
    }
    cleaned.parse::<f64>().ok()
}

/// Rounds a money amount to cents.
pub(crate) fn money(n: f64) -> Value {
    let cents = (n * 100.0).round() / 100.0;
    serde_json::Number::from_f64(cents)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// One line describing the records the input carries, for a message whose
/// text was not given: `Nexwatt: invoice 4419 (Acme Logistics, 1250 USD,
/// paid)`. It is the same line the sandboxes compose, so a test run and a
/// live run of one step send the same words.
pub(crate) fn compose_summary(input: &Input<'_>) -> String {
    let Some(map) = input.object() else {
        return "Nexwatt notification".to_string();
    };
    let scalar = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut parts = Vec::new();
    for (entity, record) in map {
        let Some(rec) = record.as_object() else {
            continue;
        };
        let ident = ["key", "number", "name", "id", "sid", "ts"]
            .iter()
            .find_map(|k| rec.get(*k).and_then(scalar));
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_describe_the_records() {
        let v = json!({"invoice": {"id": "INV-1", "number": "4419", "amount": 1250.0, "currency": "usd",
                                   "status": "paid", "customer": {"name": "Acme Logistics"}}});
        let input = Input::new("slack", "message.send", &v).unwrap();
        assert_eq!(
            compose_summary(&input),
            "Nexwatt: invoice 4419 (Acme Logistics, 1250.0 USD, paid)"
        );
        let v = json!({"channel": "#x"});
        let input = Input::new("slack", "message.send", &v).unwrap();
        assert_eq!(compose_summary(&input), "Nexwatt notification");
    }

    #[test]
    fn amounts_parse() {
        assert_eq!(parse_amount("$1,500.50"), Some(1500.5));
        assert_eq!(parse_amount("USD 20"), Some(20.0));
        assert_eq!(parse_amount("abc"), None);
        assert_eq!(parse_amount(""), None);
    }
}
