//! Runs every description of the shared dev set (and the project's own
//! tests/planner/extra.jsonl and tests/planner/blind.jsonl) through
//! `plan_jsonl` and checks the
//! scorer's metrics against the planner issue's thresholds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use nexwatt_engine::planner::{plan_jsonl, DeterministicPlanner};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn metrics(gold: &Path) -> serde_json::Value {
    let planner = DeterministicPlanner::new(nexwatt_connectors::catalog().expect("catalog loads"));
    let input = std::fs::read(gold).unwrap_or_else(|e| panic!("{}: {e}", gold.display()));
    let mut out = Vec::new();
    plan_jsonl(&planner, input.as_slice(), &mut out).expect("plans every line");
    let lines = out.iter().filter(|b| **b == b'\n').count();
    let expected = input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(lines, expected, "one output line per description");
    let dir = tempfile::tempdir().expect("tempdir");
    let pred = dir.path().join("pred.jsonl");
    std::fs::write(&pred, &out).expect("write predictions");
    let score = repo_root().join("../shared/planner-eval/score.py");
    assert!(
        score.exists(),
        "the shared scorer is missing at {}",
        score.display()
    );
    let run = Command::new("python3")
        .arg(&score)
        .arg(gold)
        .arg(&pred)
        .arg("--json")
        .output()
        .expect("python3 runs");
    assert!(
        run.status.success(),
        "score.py failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8_lossy(&run.stdout);
    let last = text.lines().last().expect("a summary line");
    serde_json::from_str(last).expect("summary JSON")
}

fn check(m: &serde_json::Value) {
    let get = |k: &str| m[k].as_f64().unwrap_or(-1.0);
    assert!(get("trigger_acc") >= 0.95, "{m}");
    assert!(get("step_f1") >= 0.92, "{m}");
    assert!(get("order_f1") >= 0.90, "{m}");
    assert!(get("flag_f1") >= 0.85, "{m}");
    assert!(get("param_acc") >= 0.85, "{m}");
    assert!((get("reject_acc") - 1.0).abs() < 1e-9, "{m}");
    assert_eq!(m["wrong_rejects"].as_u64(), Some(0), "{m}");
}

#[test]
fn dev_set_meets_the_quality_thresholds() {
    let m = metrics(&repo_root().join("../shared/planner-eval/dev.jsonl"));
    println!("dev: {m}");
    check(&m);
}

#[test]
fn extra_set_meets_the_quality_thresholds() {
    let m = metrics(&repo_root().join("tests/planner/extra.jsonl"));
    println!("extra: {m}");
    check(&m);
}

/// tests/planner/blind.jsonl was written from the catalog's binding rules
/// before reading the planner, so it is not tuned to it: these floors are
/// what the planner honestly reaches there (below 1.0), kept so that a
/// change that generalises worse shows up.
#[test]
fn blind_set_keeps_its_measured_floors() {
    let m = metrics(&repo_root().join("tests/planner/blind.jsonl"));
    println!("blind: {m}");
    let get = |k: &str| m[k].as_f64().unwrap();
    assert!(get("trigger_acc") >= 0.88, "{m}");
    assert!(get("step_f1") >= 0.92, "{m}");
    assert!(get("order_f1") >= 0.94, "{m}");
    assert!(get("flag_f1") >= 0.90, "{m}");
    assert!(get("param_acc") >= 0.88, "{m}");
    assert!((get("reject_acc") - 1.0).abs() < 1e-9, "{m}");
    assert_eq!(m["wrong_rejects"].as_u64(), Some(0), "{m}");
}
