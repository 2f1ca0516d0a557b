//! The generic record store every sandbox is built on: named collections
//! of JSON records with find / create / update semantics, a deterministic
//! random source and a simulated clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use nexwatt_engine::connector::ConnectorError;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::input::Input;

/// The instant every sandbox's clock starts at (so outputs are the same on
/// every machine and every day).
pub(crate) const EPOCH: &str = "2026-12-04T12:00:00Z";

/// How a find key compares an input value with a record's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// Equal, ignoring case, surrounding space and a leading `#`.
    Exact,
    /// The record's field contains the input text, ignoring case.
    Contains,
}

/// A find key: input field `input` matched against any of the record
/// fields `paths` (dot-separated).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub input: &'static str,
    pub paths: &'static [&'static str],
    pub mode: Match,
}

/// A key matched exactly against one or more record paths.
pub(crate) const fn exact(input: &'static str, paths: &'static [&'static str]) -> Key {
    Key {
        input,
        paths,
        mode: Match::Exact,
    }
}

/// A key matched by containment against one or more record paths.
pub(crate) const fn contains(input: &'static str, paths: &'static [&'static str]) -> Key {
    Key {
        input,
        paths,
        mode: Match::Contains,
    }
}

/// The value at dot-separated `path` of `record`.
pub(crate) fn at<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(record, |v, part| v.get(part))
}

/// A value as comparable text: lower case, trimmed, `#` prefix dropped,
/// whole numbers without a fraction.
pub(crate) fn norm(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().trim_start_matches('#').to_lowercase()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn value_matches(field: &Value, wanted: &str, mode: Match) -> bool {
    match field {
        Value::Array(items) => items.iter().any(|i| value_matches(i, wanted, mode)),
        _ => match norm(field) {
            Some(have) => match mode {
                Match::Exact => have == wanted,
                Match::Contains => !wanted.is_empty() && have.contains(wanted),
            },
            None => false,
        },
    }
}

/// The state of one simulated system.
#[derive(Debug)]
pub(crate) struct System {
    collections: BTreeMap<String, Vec<Value>>,
    rng: StdRng,
    ticks: i64,
}

impl System {
    /// An empty system drawing randomness from `rng`.
    pub(crate) fn new(rng: StdRng) -> Self {
        Self {
            collections: BTreeMap::new(),
            rng,
            ticks: 0,
        }
    }

    /// The random source (seeded, so deterministic).
    pub(crate) fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    fn epoch() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(EPOCH)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// The simulated current time; each call moves it on by one minute.
    pub(crate) fn now(&mut self) -> String {
        self.ticks += 1;
        (Self::epoch() + ChronoDuration::minutes(self.ticks))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    /// The simulated date `days` from today, `YYYY-MM-DD`.
    pub(crate) fn date_in(&self, days: i64) -> String {
        (Self::epoch() + ChronoDuration::days(days.clamp(-36_500, 36_500)))
            .format("%Y-%m-%d")
            .to_string()
    }

    /// A random date between `lo` and `hi` days from today (`hi`
    /// excluded), `YYYY-MM-DD`.
    pub(crate) fn random_date(&mut self, lo: i64, hi: i64) -> String {
        let days = if lo < hi {
            self.rng.gen_range(lo..hi)
        } else {
            lo
        };
        self.date_in(days)
    }

    /// The names of the collections, sorted.
    pub(crate) fn collection_names(&self) -> Vec<String> {
        self.collections.keys().cloned().collect()
    }

    /// Every record of `collection`.
    pub(crate) fn all(&self, collection: &str) -> &[Value] {
        self.collections
            .get(collection)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Appends `record` to `collection`, returning its index.
    pub(crate) fn insert(&mut self, collection: &str, record: Value) -> usize {
        let records = self.collections.entry(collection.to_string()).or_default();
        records.push(record);
        records.len() - 1
    }

    /// Appends `record` unless one with the same `id_field` exists.
    pub(crate) fn insert_unique(&mut self, collection: &str, id_field: &str, record: Value) {
        let exists = at(&record, id_field)
            .and_then(norm)
            .is_some_and(|id| self.index_of(collection, id_field, &id).is_some());
        if !exists {
            self.insert(collection, record);
        }
    }

    /// The index of the record of `collection` whose `field` equals `value`.
    pub(crate) fn index_of(&self, collection: &str, field: &str, value: &str) -> Option<usize> {
        let wanted = value.trim().trim_start_matches('#').to_lowercase();
        self.all(collection)
            .iter()
            .position(|r| at(r, field).is_some_and(|f| value_matches(f, &wanted, Match::Exact)))
    }

    /// The record at `index` of `collection` (null if there is none).
    pub(crate) fn record(&self, collection: &str, index: usize) -> Value {
        self.all(collection)
            .get(index)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn record_mut(&mut self, collection: &str, index: usize) -> Option<&mut Map<String, Value>> {
        self.collections
            .get_mut(collection)
            .and_then(|r| r.get_mut(index))
            .and_then(Value::as_object_mut)
    }

    /// Sets `field` of the record at `index` (no-op if it is gone).
    pub(crate) fn set(&mut self, collection: &str, index: usize, field: &str, value: Value) {
        if let Some(rec) = self.record_mut(collection, index) {
            rec.insert(field.to_string(), value);
        }
    }

    /// The records of `collection` passing `filter` that match the keys
    /// given in `input`; `None` when no key is given.
    ///
    /// Every given key must match, except that a key matching no record
    /// at all is set aside while others do match: values inferred from the
    /// records at hand (another system's customer id, an order's name) do
    /// not hide the record the other keys find. Two keys that each match
    /// records, but not the same ones, find nothing.
    pub(crate) fn matching(
        &self,
        collection: &str,
        keys: &[Key],
        input: &Input,
        filter: &dyn Fn(&Value) -> bool,
    ) -> Option<Vec<usize>> {
        let records = self.all(collection);
        let per_key: Vec<(&'static str, Vec<usize>)> = keys
            .iter()
            .filter_map(|k| {
                let wanted = input.get(k.input).and_then(norm)?;
                let hits = records
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| {
                        filter(r)
                            && k.paths.iter().any(|p| {
                                at(r, p).is_some_and(|f| value_matches(f, &wanted, k.mode))
                            })
                    })
                    .map(|(i, _)| i)
                    .collect();
                Some((k.input, hits))
            })
            .collect();
        if per_key.is_empty() {
            return None;
        }
        let used: Vec<&(&'static str, Vec<usize>)> = per_key
            .iter()
            .filter(|(_, hits)| !hits.is_empty())
            .collect();
        let Some(((_, first), rest)) = used.split_first() else {
            return Some(Vec::new());
        };
        let hits: Vec<usize> = first
            .iter()
            .copied()
            .filter(|i| rest.iter().all(|(_, other)| other.contains(i)))
            .collect();
        Some(hits)
    }

    /// The first record of `collection` matching the keys given in `input`
    /// (at least one must be) and the number of matches. No key is a permanent `invalid_input`, no match a permanent
    /// `not_found`.
    pub(crate) fn find_one(
        &self,
        what: &str,
        collection: &str,
        keys: &[Key],
        input: &Input,
        filter: &dyn Fn(&Value) -> bool,
    ) -> Result<(usize, usize), ConnectorError> {
        match self.matching(collection, keys, input, filter) {
            None => Err(ConnectorError::invalid_input(format!(
                "{what}: give at least one of {}",
                keys.iter()
                    .map(|k| format!("`{}`", k.input))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            Some(hits) => match hits.first() {
                Some(&first) => Ok((first, hits.len())),
                None => Err(not_found(what, keys, input)),
            },
        }
    }

    /// The next whole-number id for `collection`: one more than the
    /// largest `field` (parsed after `prefix`), at least `start`.
    pub(crate) fn next_number(
        &self,
        collection: &str,
        field: &str,
        prefix: &str,
        start: i64,
    ) -> i64 {
        self.all(collection)
            .iter()
            .filter_map(|r| at(r, field))
            .filter_map(|v| match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.strip_prefix(prefix).and_then(|n| n.parse::<i64>().ok()),
                _ => None,
            })
            .max()
            .map_or(start, |m| (m + 1).max(start))
    }

    /// `len` random characters from `alphabet`.
    pub(crate) fn token(&mut self, alphabet: &str, len: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        if chars.is_empty() {
            return String::new();
        }
        (0..len)
            .map(|_| chars[self.rng.gen_range(0..chars.len())])
            .collect()
    }
}

/// Letters and digits, for Stripe- and Salesforce-style ids.
pub(crate) const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A permanent `not_found` error naming what was looked for.
pub(crate) fn not_found(what: &str, keys: &[Key], input: &Input) -> ConnectorError {
    let given: Vec<String> = keys
        .iter()
        .filter_map(|k| input.get(k.input).map(|v| format!("{}={}", k.input, v)))
        .collect();
    ConnectorError::permanent(
        "not_found",
        format!("{what}: no record matches {}", given.join(", ")),
    )
}

/// `{"<entity>": record, "match_count": n}`, the output of a find.
pub(crate) fn found(entity: &str, record: Value, count: usize) -> Value {
    json!({ entity: record, "match_count": count })
}
