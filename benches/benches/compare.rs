//! The same workflow on Nexwatt and on other Rust workflow engines, side by
//! side in one criterion group (feature `compare`):
//!
//! ```text
//! cargo bench -p nexwatt-benches --features compare --bench compare
//! ```
//!
//! The workflow is five no-op steps, each after the one before (see
//! `nexwatt_benches::noop::workflow` and `nexwatt_benches::others` for how
//! each engine expresses it). Each iteration is one run end to end: start
//! it, wait until it has completed. Every engine runs on the same Tokio
//! runtime (multi-threaded, two workers). Nexwatt is measured twice: the
//! run driven on the caller's task (`nexwatt_memory`, `Engine::run_inline`)
//! and started in the background then waited for
//! (`nexwatt_memory_background`), on a memory store replaced (untimed)
//! every 20 000 runs. `scripts/bench-engine.sh` prints
//! Nexwatt's time as a ratio to each.

// Benchmarks are test code: a failed setup or run must stop the benchmark.
#![allow(clippy::expect_used)]
// `criterion_main!` generates an undocumented `main`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use nexwatt_benches::nexwatt::{FreshMemoryBench, RunPath};
use nexwatt_benches::noop;
use nexwatt_benches::others::{acts::ActsBench, dagrs, duroxide::DuroxideBench};
use nexwatt_engine::EngineLimits;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn compare(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("five_step_chain");

    // The store is replaced, untimed, every 20 000 runs (see
    // `FreshMemoryBench`): criterion's millions of runs would otherwise
    // measure the first touch of gigabytes of fresh pages.
    let nexwatt = tokio::sync::Mutex::new(
        rt.block_on(FreshMemoryBench::new(
            noop::workflow().expect("workflow graph"),
            EngineLimits::default(),
            20_000,
        ))
        .expect("nexwatt setup"),
    );
    // The run driven on the benchmark's task (`Engine::run_inline`), and
    // started in the background then waited for (`start_run` +
    // `wait_for_run`): the same commits, without and with the hand-off.
    for (name, path) in [
        ("nexwatt_memory", RunPath::Inline),
        ("nexwatt_memory_background", RunPath::Background),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let nexwatt = &nexwatt;
                async move {
                    nexwatt
                        .lock()
                        .await
                        .timed(iters, path)
                        .await
                        .expect("nexwatt runs")
                }
            });
        });
    }

    group.bench_function("dagrs", |b| {
        b.to_async(&rt).iter_batched(
            || dagrs::build().expect("dagrs graph"),
            |mut graph| async move { dagrs::run(&mut graph).await.expect("dagrs run") },
            BatchSize::SmallInput,
        );
    });

    let acts = rt.block_on(ActsBench::start()).expect("acts setup");
    rt.block_on(acts.run()).expect("acts run");
    group.bench_function("acts", |b| {
        b.to_async(&rt)
            .iter(|| async { acts.run().await.expect("acts run") });
    });
    rt.block_on(acts.close());

    let duroxide = rt.block_on(DuroxideBench::start()).expect("duroxide setup");
    rt.block_on(duroxide.run()).expect("duroxide run");
    group.bench_function("duroxide", |b| {
        b.to_async(&rt)
            .iter(|| async { duroxide.run().await.expect("duroxide run") });
    });
    rt.block_on(duroxide.close());

    group.finish();
}

criterion_group!(benches, compare);
criterion_main!(benches);
