//! A step's input: its params, values bound from earlier steps' outputs,
//! and the fields its operation declares, found in earlier outputs or the
//! trigger payload. Also the simulated trigger input of test runs.

use serde_json::{Map, Value};

use crate::connector::{Catalog, FieldSpec, OperationManifest, ValueType};
use crate::model::{Agent, Effect, RunMode, Step, StepGraph, StepRecord};

use super::super::engine::EngineError;

/// Reads a dot-separated path (`owner.email`, `items.0.id`) in `value`;
/// the empty path is the whole value.
pub(crate) fn get_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    if path.is_empty() {
        return Some(value);
    }
    let mut current = value;
    for part in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// The output a later step sees of step `n`: the run input for the
/// trigger, else the record's output.
pub(crate) fn output_of<'a>(
    n: u32,
    records: &'a [StepRecord],
    run_input: &'a Value,
) -> Option<&'a Value> {
    if n == 1 {
        return Some(run_input);
    }
    records
        .get(usize::try_from(n).ok()?.checked_sub(1)?)
        .and_then(|r| r.output.as_ref())
}

/// Ancestors of `step`, nearest first (breadth first over `after`, higher
/// step numbers first at each level), the trigger last.
pub(crate) fn ancestors_nearest_first(graph: &StepGraph, step: u32) -> Vec<u32> {
    let mut seen = vec![false; graph.len() + 1];
    let mut order = Vec::new();
    let mut frontier = graph.predecessors(step);
    while !frontier.is_empty() {
        frontier.sort_unstable_by(|a, b| b.cmp(a));
        let mut next = Vec::new();
        for n in frontier {
            let idx = n as usize;
            if idx < seen.len() && !seen[idx] {
                seen[idx] = true;
                if n != 1 {
                    order.push(n);
                }
                next.extend(graph.predecessors(n));
            }
        }
        frontier = next;
    }
    order.push(1);
    order
}

/// Looks `field` (a path) up in the outputs of `step`'s ancestors, nearest
/// first, then in the trigger payload.
pub(crate) fn lookup_field<'a>(
    graph: &StepGraph,
    step: u32,
    field: &str,
    records: &'a [StepRecord],
    run_input: &'a Value,
) -> Option<&'a Value> {
    sources(graph, step, records, run_input).find_map(|out| get_path(out, field))
}

/// The outputs a step may read, nearest ancestor first, the trigger
/// payload last (`core.if` results excluded).
fn sources<'a>(
    graph: &StepGraph,
    step: u32,
    records: &'a [StepRecord],
    run_input: &'a Value,
) -> impl Iterator<Item = &'a Value> + 'a {
    let steps: Vec<u32> = ancestors_nearest_first(graph, step)
        .into_iter()
        .filter(|&n| {
            n == 1
                || graph
                    .step(n)
                    .is_some_and(|s| !(s.is_core() && s.operation == "if"))
        })
        .collect();
    steps
        .into_iter()
        .filter_map(move |n| output_of(n, records, run_input))
}

/// Finds a declared input field in one output: at its path, else as a key
/// of a nested object (shallowest first), else — for `ENTITY_ATTR` — the
/// `ATTR` of a nested `ENTITY` object (`deal_id` ← `deal.id`, `issue_key`
/// ← `issue.key`).
pub(crate) fn find_field<'a>(output: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = get_path(output, name) {
        return Some(v);
    }
    let splits: Vec<(&str, &str)> = name
        .match_indices('_')
        .map(|(i, _)| (&name[..i], &name[i + 1..]))
        .filter(|(entity, attr)| !entity.is_empty() && !attr.is_empty())
        .collect();
    let mut level: Vec<&Value> = vec![output];
    for _depth in 0..5 {
        let mut next = Vec::new();
        for value in &level {
            let Value::Object(map) = value else { continue };
            if let Some(v) = map.get(name) {
                return Some(v);
            }
            for (entity, attr) in &splits {
                if let Some(v) = map.get(*entity).and_then(|e| e.get(*attr)) {
                    return Some(v);
                }
            }
            next.extend(map.values().filter(|v| v.is_object()));
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    None
}

/// Whether a value found for a declared field has the field's JSON shape
/// (text for text-like types, a number for numbers…).
fn fits(field: &FieldSpec, value: &Value) -> bool {
    match field.value_type {
        ValueType::Number => value.is_number(),
        ValueType::Integer => value.is_i64() || value.is_u64(),
        ValueType::Boolean => value.is_boolean(),
        ValueType::Object => value.is_object(),
        ValueType::Array => value.is_array(),
        // Ids are often numbers in one system and text in another.
        ValueType::String => value.is_string() || value.is_number(),
        _ => value.is_string(),
    }
}

/// Whether the runner may fill a declared input from earlier outputs on
/// its own: always for reads; for writes only required fields and the
/// fields that say *which* record or person (ids, emails, phones,
/// channels) — never an optional value to write.
fn inferable(manifest: &OperationManifest, field: &FieldSpec) -> bool {
    manifest.effect != Effect::Write
        || field.required
        || field.name == "id"
        || field.name.ends_with("_id")
        || matches!(
            field.value_type,
            ValueType::Email | ValueType::Phone | ValueType::Channel
        )
}

/// The input of `step`: declared input fields found in the nearest earlier
/// output that has any of them (required ones also farther back) or the
/// trigger payload (when the manifest declares none: the trigger
/// payload's and the direct predecessors' fields), then the step's params,
/// then its bindings, later sources winning.
pub(crate) fn step_input(
    graph: &StepGraph,
    step: &Step,
    manifest: Option<&OperationManifest>,
    records: &[StepRecord],
    run_input: &Value,
) -> Value {
    let mut input = Map::new();
    match manifest {
        Some(m) if !m.inputs.is_empty() => {
            // The nearest output that says anything about the declared
            // fields supplies them all (mixing sources would mix records:
            // the deal's owner id with the invoice customer's email);
            // required fields still missing come from farther outputs.
            let fields: Vec<&FieldSpec> = m.inputs.iter().filter(|f| inferable(m, f)).collect();
            let mut nearest_used = false;
            for out in sources(graph, step.step, records, run_input) {
                let mut found_any = false;
                for field in &fields {
                    if input.contains_key(&field.name) || (nearest_used && !field.required) {
                        continue;
                    }
                    if let Some(v) = find_field(out, &field.name).filter(|v| fits(field, v)) {
                        input.insert(field.name.clone(), v.clone());
                        found_any = true;
                    }
                }
                nearest_used |= found_any;
            }
        }
        _ => {
            if let Value::Object(payload) = run_input {
                input.extend(payload.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            for n in graph.predecessors(step.step) {
                if n == 1 {
                    continue;
                }
                if let Some(Value::Object(out)) = output_of(n, records, run_input) {
                    input.extend(out.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
    }
    for (k, v) in &step.params {
        input.insert(k.clone(), v.clone());
    }
    for (field, binding) in &step.bindings {
        if let Some(v) =
            output_of(binding.step, records, run_input).and_then(|o| get_path(o, &binding.path))
        {
            input.insert(field.clone(), v.clone());
        }
    }
    Value::Object(input)
}

/// The trigger input of a new run: the caller's object, over the trigger
/// operation's example payload in test mode.
pub(crate) fn trigger_input(
    catalog: &Catalog,
    agent: &Agent,
    mode: RunMode,
    input: Value,
) -> Result<Value, EngineError> {
    let caller = match input {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        _ => {
            return Err(EngineError::invalid(
                "input must be a JSON object (or omitted)",
            ))
        }
    };
    if mode == RunMode::Live {
        return Ok(Value::Object(caller));
    }
    let mut merged = agent
        .graph
        .trigger()
        .and_then(|t| catalog.operation(&t.connector, &t.operation))
        .and_then(|op| op.example_output.as_object().cloned())
        .unwrap_or_default();
    merged.extend(caller);
    Ok(Value::Object(merged))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_objects_and_arrays() {
        let v = json!({"owner": {"email": "a@b.c"}, "items": [{"id": 7}]});
        assert_eq!(get_path(&v, "owner.email"), Some(&json!("a@b.c")));
        assert_eq!(get_path(&v, "items.0.id"), Some(&json!(7)));
        assert_eq!(get_path(&v, ""), Some(&v));
        assert_eq!(get_path(&v, "owner.name"), None);
        assert_eq!(get_path(&v, "items.x"), None);
    }

    #[test]
    fn declared_fields_are_found_nested_and_by_entity() {
        let deal = json!({"match_count": 1, "deal": {"id": "7001", "owner_id": "9001"}});
        assert_eq!(find_field(&deal, "deal_id"), Some(&json!("7001")));
        assert_eq!(find_field(&deal, "owner_id"), Some(&json!("9001")));
        assert_eq!(find_field(&deal, "match_count"), Some(&json!(1)));
        let invoice = json!({"invoice": {"customer": {"name": "Acme", "email": "m@a.co"}}});
        assert_eq!(find_field(&invoice, "email"), Some(&json!("m@a.co")));
        assert_eq!(find_field(&invoice, "phone"), None);
        let issue = json!({"issue": {"key": "OPS-7"}});
        assert_eq!(find_field(&issue, "issue_key"), Some(&json!("OPS-7")));
    }
}
