//! `nexwatt connectors --json` (the data of `listing::catalog_json`)
//! matches the shared catalog (`../shared/catalog.md`) exactly, both ways:
//! the same connectors in the same order, the same operations with the same
//! kinds, effects and params.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use nexwatt_connectors::listing::{catalog_json, catalog_table};

/// One operation row of the catalog: (kind, effect, params).
type Row = (String, String, Vec<String>);

/// Parses the connector tables of catalog.md: `## id (category)` headings
/// followed by `| op | kind | effect | params | phrasings |` rows.
fn parse_catalog(text: &str) -> Vec<(String, BTreeMap<String, Row>, Vec<String>)> {
    let mut out: Vec<(String, BTreeMap<String, Row>, Vec<String>)> = Vec::new();
    let mut current: Option<usize> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            let id = heading.split_whitespace().next().unwrap_or_default();
            // Only connector sections: an id followed by "(category)".
            if heading.contains('(') && id.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                out.push((id.to_string(), BTreeMap::new(), Vec::new()));
                current = Some(out.len() - 1);
            } else {
                current = None;
            }
            continue;
        }
        let Some(i) = current else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| a | b | c | d | e |" splits into 7 cells, first and last empty.
        if cells.len() < 7 || cells[1] == "op" || cells[1].starts_with("---") {
            continue;
        }
        let params: Vec<String> = cells[4]
            .split(',')
            .map(|p| p.trim().trim_end_matches('?').to_string())
            .filter(|p| !p.is_empty())
            .collect();
        let (_, ops, order) = &mut out[i];
        ops.insert(
            cells[1].to_string(),
            (cells[2].to_string(), cells[3].to_string(), params),
        );
        order.push(cells[1].to_string());
    }
    out
}

fn catalog_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/catalog.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

#[test]
fn connectors_json_matches_the_shared_catalog_both_ways() {
    let expected = parse_catalog(&catalog_md());
    assert_eq!(expected.len(), 14, "catalog.md has 14 connector tables");
    let json = catalog_json(nexwatt_connectors::catalog().expect("catalog"));
    let listed = json.as_array().expect("array");

    let expected_ids: Vec<&str> = expected.iter().map(|(id, _, _)| id.as_str()).collect();
    let listed_ids: Vec<&str> = listed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(listed_ids, expected_ids, "same connectors, same order");

    let mut compared = 0;
    for ((id, ops, order), connector) in expected.iter().zip(listed) {
        let operations = connector["operations"].as_array().expect("operations");
        let listed_order: Vec<&str> = operations
            .iter()
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            listed_order,
            order.iter().map(String::as_str).collect::<Vec<_>>(),
            "{id}: same operations, same order"
        );
        for op in operations {
            let op_id = op["id"].as_str().unwrap();
            let (kind, effect, params) = ops
                .get(op_id)
                .unwrap_or_else(|| panic!("{id}.{op_id} is listed but not in catalog.md"));
            assert_eq!(op["kind"], kind.as_str(), "{id}.{op_id} kind");
            assert_eq!(op["effect"], effect.as_str(), "{id}.{op_id} effect");
            let listed_params: Vec<&str> = op["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                listed_params,
                params.iter().map(String::as_str).collect::<Vec<_>>(),
                "{id}.{op_id} params"
            );
            compared += 1;
        }
        // And the other way: every catalog row is listed.
        for op_id in ops.keys() {
            assert!(
                listed_order.contains(&op_id.as_str()),
                "{id}.{op_id} of catalog.md is not listed"
            );
        }
    }
    assert_eq!(
        compared,
        expected.iter().map(|(_, ops, _)| ops.len()).sum::<usize>()
    );
}

#[test]
fn listing_json_carries_what_the_runner_and_people_need() {
    let json = catalog_json(nexwatt_connectors::catalog().unwrap());
    for connector in json.as_array().unwrap() {
        assert!(!connector["name"].as_str().unwrap().is_empty());
        assert!(
            !connector["description"].as_str().unwrap().is_empty(),
            "{}",
            connector["id"]
        );
        for op in connector["operations"].as_array().unwrap() {
            assert!(op["idempotent"].is_boolean());
            assert!(op["inputs"].is_array());
            assert!(
                op["example_output"].is_object(),
                "{}.{}",
                connector["id"],
                op["id"]
            );
            if op["effect"] == "read" {
                assert_eq!(op["idempotent"], true, "reads are idempotent");
            }
            for field in op["inputs"].as_array().unwrap() {
                assert!(field["required"].is_boolean());
                assert!(field["type"].is_string());
            }
        }
    }
    let table = catalog_table(nexwatt_connectors::catalog().unwrap());
    assert!(table.contains("quickbooks - QuickBooks Online (accounting)"));
    assert!(table.contains("hubspot.deal.update"));
}

#[test]
fn the_parser_reads_a_table() {
    let md = "## slack (chat)\n| op | kind | effect | params | typical phrasings |\n|---|---|---|---|---|\n| message.send | action | write | channel? | \"post\" |\n\n## Binding rules\n| x | y | z | w | v |\n";
    let parsed = parse_catalog(md);
    assert_eq!(parsed.len(), 1);
    assert_eq!(
        parsed[0].1["message.send"],
        ("action".into(), "write".into(), vec!["channel".into()])
    );
}
