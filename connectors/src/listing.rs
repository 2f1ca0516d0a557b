//! What `nexwatt connectors` prints: the catalog as JSON
//! ([`catalog_json`]) or as a table for people ([`catalog_table`]).

use nexwatt_engine::connector::{Catalog, FieldSpec, OperationManifest, ParamSpec};
use nexwatt_engine::model::{Effect, OperationKind};
use serde_json::{json, Value};

fn kind_str(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Trigger => "trigger",
        OperationKind::Action => "action",
    }
}

fn effect_str(effect: Effect) -> &'static str {
    match effect {
        Effect::Read => "read",
        Effect::Write => "write",
        Effect::Control => "control",
    }
}

fn type_str<T: serde::Serialize>(t: &T) -> String {
    match serde_json::to_value(t) {
        Ok(Value::String(s)) => s,
        _ => "string".to_string(),
    }
}

fn param_json(p: &ParamSpec) -> Value {
    json!({ "name": p.name, "type": type_str(&p.value_type), "description": p.description })
}

fn field_json(f: &FieldSpec) -> Value {
    json!({
        "name": f.name,
        "type": type_str(&f.value_type),
        "required": f.required,
        "description": f.description,
    })
}

fn operation_json(op: &OperationManifest) -> Value {
    json!({
        "id": op.id,
        "kind": kind_str(op.kind),
        "effect": effect_str(op.effect),
        "summary": op.summary,
        "params": op.params.iter().map(param_json).collect::<Vec<_>>(),
        "inputs": op.inputs.iter().map(field_json).collect::<Vec<_>>(),
        "idempotent": op.idempotent,
        "example_output": op.example_output,
    })
}

/// The catalog as JSON, the data of `nexwatt connectors --json`:
/// `[{"id","name","category","description","aliases","operations":[{"id",
/// "kind","effect","summary","params","inputs","idempotent",
/// "example_output"}]}]`, in catalog order.
///
/// ```
/// let catalog = nexwatt_connectors::catalog().unwrap();
/// let json = nexwatt_connectors::listing::catalog_json(catalog);
/// assert_eq!(json[0]["id"], "quickbooks");
/// assert_eq!(json[0]["operations"][0]["kind"], "trigger");
/// ```
pub fn catalog_json(catalog: &Catalog) -> Value {
    Value::Array(
        catalog
            .connectors()
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "name": c.name,
                    "category": c.category,
                    "description": c.description,
                    "aliases": c.vocabulary.aliases,
                    "operations": c.operations.iter().map(operation_json).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

fn params_cell(op: &OperationManifest) -> String {
    if op.params.is_empty() {
        "-".to_string()
    } else {
        op.params
            .iter()
            .map(|p| format!("{}?", p.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn inputs_cell(op: &OperationManifest) -> String {
    if op.inputs.is_empty() {
        "-".to_string()
    } else {
        op.inputs
            .iter()
            .map(|f| {
                if f.required {
                    f.name.clone()
                } else {
                    format!("{}?", f.name)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The catalog as a table for people: one block per connector (id, name,
/// category, description) with a row per operation (kind, effect,
/// params, inputs — `?` marks optional ones — and whether a repeated call
/// with the same idempotency key is safe).
///
/// ```
/// let catalog = nexwatt_connectors::catalog().unwrap();
/// let table = nexwatt_connectors::listing::catalog_table(catalog);
/// assert!(table.contains("hubspot.deal.update"));
/// ```
pub fn catalog_table(catalog: &Catalog) -> String {
    let headers = [
        "OPERATION",
        "KIND",
        "EFFECT",
        "PARAMS",
        "IDEMPOTENT",
        "INPUTS",
    ];
    let mut out = String::new();
    let total_ops: usize = catalog
        .connectors()
        .iter()
        .map(|c| c.operations.len())
        .sum();
    out.push_str(&format!(
        "{} connectors, {} operations\n",
        catalog.connectors().len(),
        total_ops
    ));
    for connector in catalog.connectors() {
        out.push('\n');
        out.push_str(&format!(
            "{} - {} ({})\n",
            connector.id, connector.name, connector.category
        ));
        if !connector.description.is_empty() {
            out.push_str(&format!("  {}\n", connector.description));
        }
        let rows: Vec<[String; 6]> = connector
            .operations
            .iter()
            .map(|op| {
                [
                    format!("{}.{}", connector.id, op.id),
                    kind_str(op.kind).to_string(),
                    effect_str(op.effect).to_string(),
                    params_cell(op),
                    if op.idempotent { "yes" } else { "no" }.to_string(),
                    inputs_cell(op),
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let mut s = String::from(" ");
            for (i, cell) in cells.iter().enumerate() {
                s.push(' ');
                if i + 1 == cells.len() {
                    s.push_str(cell);
                } else {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    s.push_str(cell);
                    s.push_str(&" ".repeat(pad + 1));
                }
            }
            s.trim_end().to_string() + "\n"
        };
        out.push_str(&line(&headers.map(str::to_string)));
        for row in &rows {
            out.push_str(&line(row));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_operation_once() {
        let Ok(catalog) = crate::catalog() else {
            panic!("catalog loads")
        };
        let table = catalog_table(catalog);
        for c in catalog.connectors() {
            for op in &c.operations {
                let name = format!("{}.{} ", c.id, op.id);
                assert_eq!(table.matches(&name).count(), 1, "{name}");
            }
        }
        assert!(table.starts_with("14 connectors,"));
    }
}
