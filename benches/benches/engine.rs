//! The engine's own cost: runs of no-op steps end to end.
//!
//! - `engine_overhead/{memory,sled}/steps/{1,101}`: one run of a chain of 1
//!   or 101 steps (the trigger, then no-op actions). The cost of one step is
//!   `(t(101) - t(1)) / 100`; `scripts/bench-engine.sh` prints it. Sled
//!   storage lives in a temporary directory and is not flushed per step.
//! - `engine_overhead/memory/five_step_run`: the comparison's workflow
//!   (five steps) end to end on the memory backend, started in the
//!   background and waited for; `…/five_step_run_inline`: the same driven
//!   on the benchmark's task (`Engine::run_inline`). The store is replaced,
//!   untimed, every 20 000 runs (`FreshMemoryBench`).
//!
//! Every iteration starts a live run through `Engine::start_run` and waits
//! for it with `Engine::wait_for_run` (or runs it with `Engine::run_inline`);
//! the connector returns at once, so what is measured is scheduling, storage
//! commits and audit events.

// Benchmarks are test code: a failed setup or run must stop the benchmark.
#![allow(clippy::expect_used)]
// `criterion_main!` generates an undocumented `main`.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nexwatt_benches::nexwatt::{FreshMemoryBench, NexwattBench, RunPath};
use nexwatt_benches::noop;
use nexwatt_engine::storage::Storage;
use nexwatt_engine::EngineLimits;
use nexwatt_storage_sled::SledConfig;

/// The long chain's length; the short one has the trigger only.
const LONG: u32 = 101;

/// Runs a memory store holds before the five-step benches swap in a fresh
/// one, untimed (see `FreshMemoryBench`).
const RUNS_PER_STORE: u64 = 20_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn bench_backend(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    storage: &dyn Fn() -> Arc<dyn Storage>,
) {
    let mut group = c.benchmark_group("engine_overhead");
    for steps in [1, LONG] {
        let bench = rt
            .block_on(NexwattBench::new(
                storage(),
                noop::chain(steps, None).expect("chain graph"),
                EngineLimits::default(),
            ))
            .expect("engine setup");
        rt.block_on(bench.run_to_completion()).expect("warm-up run");
        group.throughput(Throughput::Elements(u64::from(steps)));
        group.bench_function(format!("{name}/steps/{steps}"), |b| {
            b.to_async(rt)
                .iter(|| async { bench.run_to_completion().await.expect("run") });
        });
        rt.block_on(bench.engine.shutdown()).expect("shutdown");
    }
    group.finish();
}

fn engine_overhead(c: &mut Criterion) {
    let rt = runtime();
    bench_backend(c, &rt, "memory", &|| {
        Arc::new(nexwatt_storage_memory::MemoryStorage::new())
    });

    let dir = tempfile::tempdir().expect("temporary directory");
    let next = std::sync::atomic::AtomicU32::new(0);
    bench_backend(c, &rt, "sled", &|| {
        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Arc::new(
            nexwatt_storage_sled::SledStorage::open_blocking(&SledConfig::new(
                dir.path().join(format!("db{n}")),
            ))
            .expect("sled storage"),
        )
    });

    let mut group = c.benchmark_group("engine_overhead");
    let fresh = tokio::sync::Mutex::new(
        rt.block_on(FreshMemoryBench::new(
            noop::workflow().expect("workflow graph"),
            EngineLimits::default(),
            RUNS_PER_STORE,
        ))
        .expect("engine setup"),
    );
    group.throughput(Throughput::Elements(u64::from(noop::WORKFLOW_STEPS)));
    for (name, path) in [
        ("memory/five_step_run", RunPath::Background),
        ("memory/five_step_run_inline", RunPath::Inline),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let fresh = &fresh;
                async move { fresh.lock().await.timed(iters, path).await.expect("runs") }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, engine_overhead);
criterion_main!(benches);
