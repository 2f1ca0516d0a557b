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

/// Looks `field` (a path or a key) up in the outputs of `step`'s
/// ancestors, nearest first, then in the trigger payload, the way declared
/// inputs are found ([`find_field_where`]: at its path, else nested): `total`
/// finds a payload's `order.total`. Objects are passed over (a condition
/// compares values, not records).
pub(crate) fn lookup_field<'a>(
    graph: &StepGraph,
    step: u32,
    field: &str,
    records: &'a [StepRecord],
    run_input: &'a Value,
) -> Option<&'a Value> {
    let field = field.trim();
    sources(graph, step, records, run_input)
        .find_map(|(_, out)| find_field_where(out, field, &|v| !v.is_object()))
}

/// What a person fixing an unevaluable condition needs: the fields the
/// nearest outputs do have (scalar paths, at most `limit`).
pub(crate) fn available_fields(
    graph: &StepGraph,
    step: u32,
    records: &[StepRecord],
    run_input: &Value,
    limit: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    for (n, value) in sources(graph, step, records, run_input) {
        let mut stack = vec![(String::new(), value)];
        while let Some((prefix, v)) = stack.pop() {
            if out.len() >= limit {
                return out;
            }
            match v {
                Value::Object(map) => {
                    for (k, child) in map.iter().rev() {
                        let path = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        stack.push((path, child));
                    }
                }
                _ if !prefix.is_empty() => out.push(format!("{prefix} (step {n})")),
                _ => {}
            }
        }
    }
    out
}

/// The outputs a step may read, nearest ancestor first, the trigger
/// payload last (`core.if` results excluded), each with the step that
/// produced it.
fn sources<'a>(
    graph: &StepGraph,
    step: u32,
    records: &'a [StepRecord],
    run_input: &'a Value,
) -> impl Iterator<Item = (u32, &'a Value)> + 'a {
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
        .filter_map(move |n| output_of(n, records, run_input).map(|out| (n, out)))
}

/// Finds a field in one output: at its path, else as a key of a nested
/// object (shallowest first; case and spacing aside), else — for
/// `ENTITY_ATTR` — the `ATTR` of a nested `ENTITY` object (`deal_id` ←
/// `deal.id`, `issue_key` ← `issue.key`). Only values `accept` agrees with
/// count (the search goes on past a value of the wrong shape).
fn find_field_where<'a>(
    output: &'a Value,
    name: &str,
    accept: &dyn Fn(&Value) -> bool,
) -> Option<&'a Value> {
    if let Some(v) = get_path(output, name).filter(|v| accept(v)) {
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
            if let Some(v) = map.get(name).filter(|v| accept(v)) {
                return Some(v);
            }
            // A sheet's `Email` column, a form's `First Name` field.
            if let Some(v) = map
                .iter()
                .find(|(k, v)| same_key(k, name) && accept(v))
                .map(|(_, v)| v)
            {
                return Some(v);
            }
            for (entity, attr) in &splits {
                if let Some(v) = map
                    .get(*entity)
                    .and_then(|e| e.get(*attr))
                    .filter(|v| accept(v))
                {
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

/// Whether `key` names `field` but for case and spacing (`First Name`,
/// `first-name` and `first_name`).
fn same_key(key: &str, field: &str) -> bool {
    key.len() == field.len()
        && key
            .chars()
            .zip(field.chars())
            .all(|(k, f)| k.eq_ignore_ascii_case(&f) || (matches!(k, ' ' | '-' | '_') && f == '_'))
}

/// The object under `entity` in `output` (shallowest first): the record a
/// step about `entity` (`customer.find`) should read its bare fields from.
fn entity_object<'a>(output: &'a Value, entity: &str) -> Option<&'a Value> {
    let mut level: Vec<&Value> = vec![output];
    for _depth in 0..5 {
        let mut next = Vec::new();
        for value in &level {
            let Value::Object(map) = value else { continue };
            if let Some(found) = map.get(entity).filter(|v| v.is_object()) {
                return Some(found);
            }
            next.extend(map.values().filter(|v| v.is_object()));
        }
        if next.is_empty() {
            return None;
        }
        level = next;
    }
    None
}

/// Finds `field` for a step about `entity` in one output: in the output's
/// `entity` object first; elsewhere in the output unless the field is a
/// bare `id` or `name`, which there would belong to another record (the
/// order's name is not its customer's).
fn find_for_entity<'a>(output: &'a Value, entity: &str, field: &FieldSpec) -> Option<&'a Value> {
    let accept = |v: &Value| fits(field, v);
    match entity_object(output, entity) {
        Some(record) => find_field_where(record, &field.name, &accept).or_else(|| {
            if matches!(field.name.as_str(), "id" | "name") {
                None
            } else {
                find_field_where(output, &field.name, &accept)
            }
        }),
        None => find_field_where(output, &field.name, &accept),
    }
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

/// Whether a field says *which* record, person or thing (an id, key or
/// number, an email, a phone, a name) — a value that means the same in
/// every system — or is a quantity. Other text (a status, a stage, a
/// priority, a label, a channel) is one system's own vocabulary.
fn identifying(field: &FieldSpec) -> bool {
    const KEYS: [&str; 7] = ["id", "key", "number", "name", "email", "phone", "company"];
    let name = field.name.as_str();
    let last = name.rsplit('_').next().unwrap_or(name);
    KEYS.contains(&name)
        || KEYS.contains(&last)
        || matches!(
            field.value_type,
            ValueType::Email | ValueType::Phone | ValueType::Url | ValueType::Number
        )
}

/// Whether `field` of a `connector` step may be taken from the output of
/// step `source`: from the same connector and from the payload of a
/// built-in trigger (what the caller sent) anything; from another system
/// only [`identifying`] fields — a Jira status is no Zendesk ticket status.
fn may_read(graph: &StepGraph, source: u32, connector: &str, field: &FieldSpec) -> bool {
    match graph.step(source) {
        Some(s) if s.connector == connector => true,
        Some(s) if source == 1 && s.is_core() => true,
        _ => identifying(field),
    }
}

/// Names of inputs that take a whole record (a row's values, a request
/// body): filled with the nearest earlier record when nothing else gives
/// them, on operations that write something new.
const RECORD_INPUTS: [&str; 4] = ["values", "record", "fields", "body"];

/// Whether `field` of `manifest` takes a record: an object input named in
/// [`RECORD_INPUTS`] of a write that targets no existing record (no input
/// says which: no id, key or row number), so an update's "other fields"
/// are never filled with another record.
fn takes_record(manifest: &OperationManifest, field: &FieldSpec) -> bool {
    manifest.effect == Effect::Write
        && field.value_type == ValueType::Object
        && RECORD_INPUTS.contains(&field.name.as_str())
        && !manifest.inputs.iter().any(|f| {
            f.name == "id"
                || f.name.ends_with("_id")
                || f.name.ends_with("_key")
                || f.name == "row_number"
        })
}

/// The record an output carries: its `ENTITY` object for an operation
/// `ENTITY.verb` (`order` of `order.created`), else its only object field
/// (or the one with clearly the most fields), else — when `flat_ok`, for a trigger payload — the output itself when
/// it has scalar fields (a step's flat output is an acknowledgement, not a
/// record).
fn record_of<'a>(
    output: &'a Value,
    operation: &str,
    flat_ok: bool,
) -> Option<&'a Map<String, Value>> {
    let map = output.as_object()?;
    let entity = operation.split('.').next().unwrap_or(operation);
    if let Some(Value::Object(record)) = map.get(entity) {
        return Some(record);
    }
    // Else the object with the most fields of its own (a response's body
    // over its headers); a tie is ambiguous.
    let scalars = |m: &Map<String, Value>| {
        m.values()
            .filter(|v| !v.is_object() && !v.is_array())
            .count()
    };
    let mut objects: Vec<&Map<String, Value>> = map.values().filter_map(Value::as_object).collect();
    objects.sort_by_key(|m| std::cmp::Reverse(scalars(m)));
    match objects.as_slice() {
        [only] => return Some(only),
        [first, second, ..] if scalars(first) > scalars(second) => return Some(first),
        [_, _, ..] => return None,
        [] => {}
    }
    (flat_ok && map.values().any(|v| !v.is_object() && !v.is_array())).then_some(map)
}

/// A record as cells: its scalar fields, and those of its nested objects
/// as `parent_field` (`customer_email`); lists are left out.
fn cells(record: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in record {
        match v {
            Value::Object(inner) => {
                for (ik, iv) in inner {
                    if !iv.is_object() && !iv.is_array() {
                        out.entry(format!("{k}_{ik}")).or_insert_with(|| iv.clone());
                    }
                }
            }
            Value::Array(_) => {}
            scalar => {
                out.insert(k.clone(), scalar.clone());
            }
        }
    }
    out
}

/// The nearest earlier record (not from a built-in step's output), for a
/// record input: cells for `values`/`fields`, the record as is otherwise.
fn nearest_record(
    graph: &StepGraph,
    step: u32,
    field: &str,
    records: &[StepRecord],
    run_input: &Value,
) -> Option<Value> {
    sources(graph, step, records, run_input).find_map(|(n, out)| {
        let source = graph.step(n)?;
        if source.is_core() && n != 1 {
            return None;
        }
        let record = record_of(out, &source.operation, n == 1)?;
        Some(match field {
            "values" | "fields" => Value::Object(cells(record)),
            _ => Value::Object(record.clone()),
        })
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    })
}

/// The input of `step`: declared input fields found in the nearest earlier
/// output that has any of them (required ones also farther back; from
/// another connector's output only identifying fields) or the trigger
/// payload (when the manifest declares none: the trigger payload's and the
/// direct predecessors' fields), then the step's params, then its
/// bindings, later sources winning; last, a record input nothing gave
/// gets the nearest earlier record.
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
            let entity = step.operation.split('.').next().unwrap_or_default();
            let mut nearest_used = false;
            for (n, out) in sources(graph, step.step, records, run_input) {
                let mut found_any = false;
                for field in &fields {
                    if input.contains_key(&field.name)
                        || (nearest_used && !field.required)
                        || !may_read(graph, n, &step.connector, field)
                    {
                        continue;
                    }
                    if let Some(v) = find_for_entity(out, entity, field) {
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
    if let Some(m) = manifest {
        for field in m.inputs.iter().filter(|f| takes_record(m, f)) {
            if input.contains_key(&field.name) {
                continue;
            }
            if let Some(record) = nearest_record(graph, step.step, &field.name, records, run_input)
            {
                input.insert(field.name.clone(), record);
            }
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

    fn find_field<'a>(output: &'a Value, name: &str) -> Option<&'a Value> {
        find_field_where(output, name, &|_| true)
    }

    fn spec(name: &str, value_type: ValueType) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            value_type,
            required: false,
            description: String::new(),
        }
    }

    #[test]
    fn nested_lookup_skips_wrong_shapes_and_ignores_case() {
        let payload = json!({"order": {"total": 189.0, "customer": {"name": "Maya"}}});
        let scalar = |v: &Value| !v.is_object();
        assert_eq!(
            find_field_where(&payload, "total", &scalar),
            Some(&json!(189.0))
        );
        assert_eq!(
            find_field_where(&payload, "order.total", &scalar),
            Some(&json!(189.0))
        );
        // `customer` is an object: a condition passes it over.
        assert_eq!(find_field_where(&payload, "customer", &scalar), None);
        let row = json!({"row": {"values": {"Email": "a@b.c", "First Name": "Leo"}}});
        assert_eq!(find_field(&row, "email"), Some(&json!("a@b.c")));
        assert_eq!(find_field(&row, "first_name"), Some(&json!("Leo")));
        assert!(same_key("First-Name", "first_name"));
        assert!(!same_key("firstname", "first_name"));
    }

    #[test]
    fn bare_fields_come_from_the_steps_own_entity() {
        let order = json!({"order": {"id": 1, "name": "#1042",
            "customer": {"id": 7, "email": "m@a.co", "first_name": "Maya"}}});
        let name = spec("name", ValueType::String);
        let email = spec("email", ValueType::Email);
        // A customer lookup reads the order's customer, not the order.
        assert_eq!(find_for_entity(&order, "customer", &name), None);
        assert_eq!(
            find_for_entity(&order, "customer", &email),
            Some(&json!("m@a.co"))
        );
        assert_eq!(
            find_for_entity(&order, "order", &name),
            Some(&json!("#1042"))
        );
        // No such entity: the whole output, as before.
        assert_eq!(
            find_for_entity(&order, "invoice", &email),
            Some(&json!("m@a.co"))
        );
    }

    #[test]
    fn only_identifying_fields_cross_systems() {
        for (name, t) in [
            ("ticket_id", ValueType::Integer),
            ("issue_key", ValueType::String),
            ("email", ValueType::Email),
            ("requester_email", ValueType::Email),
            ("to", ValueType::Phone),
            ("name", ValueType::String),
            ("last_name", ValueType::String),
            ("order_number", ValueType::String),
            ("amount", ValueType::Number),
        ] {
            assert!(identifying(&spec(name, t)), "{name}");
        }
        for (name, t) in [
            ("status", ValueType::String),
            ("stage", ValueType::String),
            ("priority", ValueType::String),
            ("label", ValueType::String),
            ("channel", ValueType::Channel),
        ] {
            assert!(!identifying(&spec(name, t)), "{name}");
        }
    }

    #[test]
    fn records_and_cells() {
        let payload = json!({"order": {"id": 5, "total": 10.5, "customer": {"email": "m@a.co"},
            "line_items": [{"sku": "X"}]}, "shop": "acme"});
        let record = record_of(&payload, "order.created", true).unwrap();
        assert_eq!(record["id"], json!(5));
        let cells = cells(record);
        assert_eq!(
            Value::Object(cells),
            json!({"id": 5, "total": 10.5, "customer_email": "m@a.co"})
        );
        // A step's flat acknowledgement is no record; a trigger's flat
        // payload is.
        let ack = json!({"ok": true, "ts": "1.2"});
        assert!(record_of(&ack, "message.send", false).is_none());
        assert!(record_of(&ack, "manual", true).is_some());
        // Two records alike and none named after the operation: ambiguous.
        let two = json!({"a": {"x": 1}, "b": {"y": 2}});
        assert!(record_of(&two, "thing.created", false).is_none());
        let response = json!({"status": 200, "headers": {"content-type": "json"},
            "body": {"uptime": 99.9, "incidents": 0}});
        let body = record_of(&response, "request.get", false).unwrap();
        assert_eq!(body["uptime"], json!(99.9));
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
