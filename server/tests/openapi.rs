//! The OpenAPI document matches the router both ways.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::{openapi, TestServer};
use nexwatt_server::api::ROUTES;
use reqwest::{Method, StatusCode};

fn documented() -> BTreeSet<(String, String)> {
    let doc = openapi();
    let mut set = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            set.insert((method.to_uppercase(), path.clone()));
        }
    }
    set
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(routes, documented());
    assert!(nexwatt_server::api::all_routes_have_handlers());
    assert_eq!(
        openapi()["openapi"].as_str().unwrap().chars().next(),
        Some('3')
    );
}

#[test]
fn every_schema_reference_resolves() {
    let doc = openapi();
    fn walk(doc: &serde_json::Value, v: &serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    let mut node = doc;
                    for part in r.trim_start_matches("#/").split('/') {
                        node = &node[part];
                    }
                    assert!(node.is_object(), "dangling $ref {r}");
                }
                m.values().for_each(|x| walk(doc, x));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(doc, x)),
            _ => {}
        }
    }
    walk(&doc, &doc);
}

/// Every documented route is routed by the real server (it never answers
/// `route_not_found` or 405), and the document is served.
#[tokio::test]
async fn the_server_routes_every_documented_operation() {
    let s = TestServer::start().await;
    let served = s.send(s.http.get(s.url("/v1/openapi.json"))).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, openapi());

    for (method, path) in documented() {
        let concrete = path
            .replace("/agents/{id}", "/agents/agt_01J8K2M9P3Q4R5S6T7V8V9W0XY")
            .replace("/runs/{id}", "/runs/run_01J8K3N0P1Q2R3S4T5V6V7W8XY")
            .replace(
                "/escalations/{id}",
                "/escalations/esc_01J8K3N0P1Q2R3S4T5V6V7W8XY",
            );
        let method: Method = method.parse().unwrap();
        let body = (method == Method::POST).then_some(r#"{"action":"approve"}"#);
        let body = if path.ends_with("/runs") || path.ends_with("/resolve") {
            body
        } else {
            None
        };
        let r = s
            .call(Some(&s.a.key), method.clone(), &concrete, body)
            .await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(r.code(), "route_not_found", "{method} {path}");
    }
}

#[test]
fn the_documented_connector_ids_are_the_catalogs() {
    let doc = openapi();
    let mut documented: Vec<String> = doc["components"]["schemas"]["CreateAgentRequest"]
        ["properties"]["connectors"]["items"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut catalog: Vec<String> = nexwatt_connectors::catalog()
        .unwrap()
        .connectors()
        .iter()
        .map(|c| c.id.clone())
        .collect();
    documented.sort();
    catalog.sort();
    assert_eq!(documented, catalog);
}
