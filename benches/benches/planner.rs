//! Planner speed: plans every description of the shared dev set
//! (`../shared/planner-eval/dev.jsonl`, or the project's
//! `tests/planner/extra.jsonl` when the shared set is absent). Target: a
//! median of at most 50 µs per description on one core (≥ 20 000
//! plans/s); criterion's throughput line gives descriptions per second.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nexwatt_engine::planner::{DeterministicPlanner, PlanRequest};

fn descriptions() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = root.join("../shared/planner-eval/dev.jsonl");
    let path = if shared.exists() {
        shared
    } else {
        root.join("tests/planner/extra.jsonl")
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            v.get("description")
                .and_then(|d| d.as_str())
                .map(str::to_string)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let Ok(catalog) = nexwatt_connectors::catalog() else {
        eprintln!("the connector catalog does not load");
        return;
    };
    let planner = DeterministicPlanner::new(catalog);
    let requests: Vec<PlanRequest> = descriptions().into_iter().map(PlanRequest::new).collect();
    if requests.is_empty() {
        eprintln!("no descriptions found to plan");
        return;
    }
    // The median over descriptions (each planned many times, best of 5
    // rounds to shed noise from other processes), printed for the report.
    let mut per: Vec<f64> = requests
        .iter()
        .map(|r| {
            (0..5)
                .map(|_| {
                    let start = Instant::now();
                    for _ in 0..20 {
                        let _ = black_box(planner.plan_sync(black_box(r)));
                    }
                    start.elapsed().as_secs_f64() / 20.0
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    per.sort_by(|a, b| a.total_cmp(b));
    let median = per[per.len() / 2];
    println!(
        "planner: median {:.1} µs per description over {} descriptions (max {:.1} µs); {:.0} plans/s at the median",
        median * 1e6,
        per.len(),
        per[per.len() - 1] * 1e6,
        1.0 / median
    );
    let mut group = c.benchmark_group("planner");
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function(
        format!("plan_dev_set_{}_descriptions", requests.len()),
        |b| {
            b.iter(|| {
                for r in &requests {
                    let _ = black_box(planner.plan_sync(black_box(r)));
                }
            })
        },
    );
    group.finish();
    let seed = PlanRequest::new(
        "When a new invoice is marked paid in QuickBooks, update the matching deal in HubSpot to Closed Won and notify the account owner in Slack.",
    );
    c.bench_function("planner/plan_seed_example", |b| {
        b.iter(|| black_box(planner.plan_sync(black_box(&seed))))
    });
    c.bench_function("planner/build_lexicon", |b| {
        b.iter(|| black_box(DeterministicPlanner::new(black_box(catalog))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
