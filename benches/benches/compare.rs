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
//! (`nexwatt_memory_background`). `scripts/bench-engine.sh` prints
//! Nexwatt's time as a ratio to each.

// Benchmarks are test code: a failed setup or run must stop the benchmark.
#![allow(clippy::expect_used)]
// `criterion_main!` generates an undocumented `main`.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use nexwatt_benches::nexwatt::NexwattBench;
use nexwatt_benches::noop;
use nexwatt_benches::others::{acts::ActsBench, dagrs, duroxide::DuroxideBench};
use nexwatt_engine::EngineLimits;
use nexwatt_storage_memory::MemoryStorage;

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

    let nexwatt = rt
        .block_on(NexwattBench::new(
            Arc::new(MemoryStorage::new()),
            noop::workflow().expect("workflow graph"),
            EngineLimits::default(),
        ))
        .expect("nexwatt setup");
    rt.block_on(nexwatt.run_to_completion())
        .expect("nexwatt run");
    // The run driven on the benchmark's task (`Engine::run_inline`), and
    // started in the background then waited for (`start_run` +
    // `wait_for_run`): the same commits, without and with the hand-off.
    group.bench_function("nexwatt_memory", |b| {
        b.to_async(&rt)
            .iter(|| async { nexwatt.run_inline().await.expect("nexwatt run") });
    });
    group.bench_function("nexwatt_memory_background", |b| {
        b.to_async(&rt)
            .iter(|| async { nexwatt.run_to_completion().await.expect("nexwatt run") });
    });

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
