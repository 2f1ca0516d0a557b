//! Google Sheets (named sheets of rows, first row as headers) and generic
//! HTTP (webhooks in, GET and POST out).

use nexwatt_engine::connector::{ConnectorError, ConnectorManifest};
use rand::Rng;
use serde_json::{json, Map, Value};

use super::{pick_event, Call, Entity};
use crate::sandbox::input::resolve;
use crate::sandbox::store::{norm, System};
use crate::sandbox::world::World;

const SPREADSHEET_ID: &str = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";
const SHEETS: &[(&str, &[&str])] = &[
    ("Leads", &["Name", "Email", "Company", "Source", "Added"]),
    ("Orders", &["Order", "Customer", "Email", "Total", "Status"]),
    ("Sheet1", &["Date", "Name", "Email", "Amount", "Notes"]),
];
const SOURCES: &[&str] = &[
    "Webinar",
    "Website",
    "Referral",
    "Trade show",
    "Cold outreach",
];

pub(super) fn sheets_seed(manifest: &ConnectorManifest, sys: &mut System, world: &World) {
    for (name, headers) in SHEETS {
        sys.insert("sheets", json!({"name": name, "headers": headers}));
    }
    // The manifest's example row first, so test runs find it.
    if let Some(row) = manifest
        .operation("row.added")
        .map(|op| op.example_output["row"].clone())
        .filter(Value::is_object)
    {
        sys.insert("rows", row);
    }
    for (n, p) in world.people.iter().enumerate().take(8) {
        let source = SOURCES[sys.rng().gen_range(0..SOURCES.len())];
        let added = sys.date_in(-(30 - n as i64));
        sys.insert(
            "rows",
            json!({"sheet": "Leads", "row_number": 3 + n,
                   "values": {"Name": p.name(), "Email": p.email, "Company": world.company_of(p), "Source": source, "Added": added}}),
        );
    }
    for (n, p) in world.people.iter().skip(8).enumerate().take(12) {
        let total = f64::from(sys.rng().gen_range(20..600));
        let status = ["paid", "fulfilled", "refunded"][sys.rng().gen_range(0..3)];
        sys.insert(
            "rows",
            json!({"sheet": "Orders", "row_number": 2 + n,
                   "values": {"Order": format!("#{}", 1022 + n), "Customer": p.name(), "Email": p.email, "Total": total, "Status": status}}),
        );
    }
}

/// The sheet named `given` (default `Sheet1`). The simulated spreadsheet
/// has every sheet a plan names: one not seen before is added, empty,
/// its columns set by the first row appended.
fn sheet_name(sys: &mut System, what: &str, given: Option<&str>) -> Result<String, ConnectorError> {
    let given = given.unwrap_or("Sheet1").trim();
    if let Some(name) = sys
        .all("sheets")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .find(|n| n.eq_ignore_ascii_case(given))
    {
        return Ok(name.to_string());
    }
    if given.is_empty()
        || given.chars().count() > 100
        || given.contains(['[', ']', '*', '?', '/', '\\', ':'])
    {
        return Err(ConnectorError::invalid_input(format!(
            "{what}: {given:?} is not a valid sheet name"
        )));
    }
    sys.insert("sheets", json!({"name": given, "headers": []}));
    Ok(given.to_string())
}

fn headers(sys: &System, sheet: &str) -> Vec<String> {
    sys.all("sheets")
        .iter()
        .find(|s| s["name"] == json!(sheet))
        .and_then(|s| s["headers"].as_array())
        .map(|h| {
            h.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn row_index(sys: &System, sheet: &str, number: i64) -> Option<usize> {
    sys.all("rows")
        .iter()
        .position(|r| r["sheet"] == json!(sheet) && r["row_number"].as_i64() == Some(number))
}

pub(super) fn sheets(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let what = call.what();
    let input = call.input;
    match call.op.id.as_str() {
        "row.added" => {
            let entity = Entity {
                key: "row",
                collection: "rows",
                id: "row_number",
            };
            let i = match input.str("sheet") {
                Some(s) => {
                    let sheet = sheet_name(sys, &what, Some(s))?;
                    match sys
                        .all("rows")
                        .iter()
                        .rposition(|r| r["sheet"] == json!(sheet))
                    {
                        Some(i) => i,
                        None => {
                            // A new, empty sheet: the event is its first row.
                            let values = call.op.example_output["row"]["values"].clone();
                            let row = json!({"sheet": sheet, "row_number": 2, "values": values});
                            return Ok(json!({ "row": row, "spreadsheet_id": SPREADSHEET_ID }));
                        }
                    }
                }
                None => pick_event(sys, call, &entity, &[], &|r| r["sheet"] == "Leads")?,
            };
            Ok(json!({ "row": sys.record("rows", i), "spreadsheet_id": SPREADSHEET_ID }))
        }
        "row.append" => {
            let sheet = sheet_name(sys, &what, input.str("sheet"))?;
            let values = match input.obj("values") {
                Some(v) if !v.is_empty() => v.clone(),
                Some(_) => {
                    return Err(ConnectorError::invalid_input(format!(
                        "{what}: `values` is empty"
                    )))
                }
                None => {
                    // Fill the sheet's columns from the record in the input.
                    let mut values = Map::new();
                    for h in headers(sys, &sheet) {
                        let key = super::snake(&h);
                        if let Some(v) =
                            resolve(input.raw(), &key).or_else(|| deep(input.raw(), &key))
                        {
                            values.insert(h, v.clone());
                        }
                    }
                    if values.is_empty() && headers(sys, &sheet).is_empty() {
                        // A new sheet: its columns are the record's fields.
                        values = record_values(input.raw());
                    }
                    if values.is_empty() {
                        return Err(ConnectorError::invalid_input(format!(
                            "{what}: give `values` (column -> value); nothing in the input fits the columns of {sheet}"
                        )));
                    }
                    values
                }
            };
            let number = sys
                .all("rows")
                .iter()
                .filter(|r| r["sheet"] == json!(sheet))
                .filter_map(|r| r["row_number"].as_i64())
                .max()
                .unwrap_or(1)
                + 1;
            if headers(sys, &sheet).is_empty() {
                if let Some(i) = sys.index_of("sheets", "name", &sheet) {
                    sys.set(
                        "sheets",
                        i,
                        "headers",
                        json!(values.keys().collect::<Vec<_>>()),
                    );
                }
            }
            let row = json!({ "sheet": sheet, "row_number": number, "values": values });
            sys.insert("rows", row.clone());
            Ok(json!({ "row": row }))
        }
        "row.find" => {
            let sheet = match input.str("sheet") {
                Some(s) => Some(sheet_name(sys, &what, Some(s))?),
                None => None,
            };
            let number = input.int("row_number");
            let value = input.get("value").and_then(norm);
            if number.is_none() && value.is_none() {
                return Err(ConnectorError::invalid_input(format!(
                    "{what}: give `value` or `row_number`"
                )));
            }
            let column = input.str("column").map(str::to_lowercase);
            let hits: Vec<usize> = sys
                .all("rows")
                .iter()
                .enumerate()
                .filter(|(_, r)| sheet.as_ref().is_none_or(|s| r["sheet"] == json!(s)))
                .filter(|(_, r)| number.is_none_or(|n| r["row_number"].as_i64() == Some(n)))
                .filter(|(_, r)| {
                    value.as_ref().is_none_or(|v| {
                        r["values"].as_object().is_some_and(|cells| {
                            cells.iter().any(|(k, cell)| {
                                column.as_ref().is_none_or(|c| k.to_lowercase() == *c)
                                    && norm(cell).as_ref() == Some(v)
                            })
                        })
                    })
                })
                .map(|(i, _)| i)
                .collect();
            match hits.first() {
                Some(&i) => Ok(super::super::store::found(
                    "row",
                    sys.record("rows", i),
                    hits.len(),
                )),
                None => Err(ConnectorError::permanent(
                    "not_found",
                    format!("{what}: no row matches"),
                )),
            }
        }
        "row.update" => {
            let given_sheet = input.str("sheet").map(str::to_string).or_else(|| {
                deep(input.raw(), "sheet")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            let sheet = sheet_name(sys, &what, given_sheet.as_deref())?;
            let number = input.int("row_number").unwrap_or(0);
            let i = row_index(sys, &sheet, number).ok_or_else(|| {
                ConnectorError::permanent(
                    "not_found",
                    format!("{what}: sheet {sheet} has no row {number}"),
                )
            })?;
            let values = input.obj("values").cloned().unwrap_or_default();
            if values.is_empty() {
                return Err(ConnectorError::invalid_input(format!(
                    "{what}: `values` is empty"
                )));
            }
            let mut row = sys.record("rows", i);
            let mut changed = Vec::new();
            if let Some(cells) = row["values"].as_object_mut() {
                for (k, v) in values {
                    let key = cells
                        .keys()
                        .find(|c| c.eq_ignore_ascii_case(&k))
                        .cloned()
                        .unwrap_or(k);
                    changed.push(key.clone());
                    cells.insert(key, v);
                }
            }
            sys.set("rows", i, "values", row["values"].take());
            Ok(json!({ "row": sys.record("rows", i), "changed": changed }))
        }
        _ => Err(call.unsupported()),
    }
}

/// The scalar fields of the first record in `raw` (or of `raw` itself),
/// as a row's values.
fn record_values(raw: &Value) -> Map<String, Value> {
    let Some(map) = raw.as_object() else {
        return Map::new();
    };
    let source = map.values().find_map(Value::as_object).unwrap_or(map);
    source
        .iter()
        .filter(|(k, v)| {
            !matches!(k.as_str(), "sheet" | "values" | "row_number")
                && (v.is_string() || v.is_number() || v.is_boolean())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `key` anywhere in `value`, shallowest first.
fn deep<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let mut queue = std::collections::VecDeque::from([value]);
    while let Some(v) = queue.pop_front() {
        if let Value::Object(map) = v {
            if let Some(found) = map.get(key).filter(|f| !f.is_null() && !f.is_object()) {
                return Some(found);
            }
            queue.extend(map.values());
        }
    }
    None
}

pub(super) fn http_seed(sys: &mut System) {
    sys.insert(
        "endpoints",
        json!({"url": "https://status.brightline.io/api/v2/status.json", "body": {"status": "operational", "components": 12}}),
    );
    sys.insert(
        "endpoints",
        json!({"url": "https://api.brightline.io/v1/health", "body": {"ok": true, "version": "2.4.0"}}),
    );
}

fn full_url(url: &str, query: Option<&Map<String, Value>>) -> String {
    match query {
        Some(q) if !q.is_empty() => {
            let pairs: Vec<String> = q
                .iter()
                .map(|(k, v)| format!("{k}={}", norm(v).unwrap_or_default()))
                .collect();
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}{}", pairs.join("&"))
        }
        _ => url.to_string(),
    }
}

pub(super) fn http(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let input = call.input;
    match call.op.id.as_str() {
        "webhook.received" => {
            let entity = Entity {
                key: "request",
                collection: "webhooks",
                id: "path",
            };
            let path = input
                .str("path")
                .map(|p| format!("/{}", p.trim_start_matches('/')));
            let i = pick_event(sys, call, &entity, &[], &|r| {
                path.as_ref().is_none_or(|p| r["path"] == json!(p))
            })?;
            let mut request = sys.record("webhooks", i);
            if let Some(p) = path {
                request["path"] = json!(p);
            }
            Ok(json!({ "request": request }))
        }
        "request.get" => {
            let url = full_url(input.str("url").unwrap_or_default(), input.obj("query"));
            let stored = sys
                .all("endpoints")
                .iter()
                .rev()
                .find(|e| e["url"] == json!(url))
                .map(|e| e["body"].clone());
            let body =
                stored.unwrap_or_else(|| json!({ "simulated": true, "method": "GET", "url": url }));
            Ok(
                json!({ "status": 200, "headers": {"content-type": "application/json"}, "body": body }),
            )
        }
        "request.post" => {
            let url = input.str("url").unwrap_or_default().to_string();
            let body = match input.obj("body") {
                Some(b) => Value::Object(b.clone()),
                None => {
                    let mut rest = input.raw().as_object().cloned().unwrap_or_default();
                    rest.remove("url");
                    rest.remove("headers");
                    Value::Object(rest)
                }
            };
            let n = sys.all("posts").len() + 1;
            let id = format!("req_{n}");
            let headers = input.obj("headers").cloned().unwrap_or_default();
            sys.insert(
                "posts",
                json!({ "id": id, "url": url, "headers": headers, "body": body }),
            );
            let response = json!({ "id": id, "received": body });
            sys.insert("endpoints", json!({ "url": url, "body": response }));
            Ok(
                json!({ "status": 201, "headers": {"content-type": "application/json"}, "body": response }),
            )
        }
        _ => Err(call.unsupported()),
    }
}
