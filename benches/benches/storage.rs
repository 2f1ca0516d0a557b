//! Storage benchmarks (issue targets in brackets):
//!
//! - `put_get_run/memory`: create a run and read it back, in a store of up
//!   to 100 000 runs [≤ 2 µs];
//! - `put_get_run/sled`: the same on sled, no flush per write [≤ 30 µs];
//! - `list_page_20/{backend}/{filter}/{n}`: one page of 20 runs from the
//!   middle of a workspace of `n` = 1 000 and 100 000 runs, and the first
//!   page filtered by agent and status [100 000 within 2× of 1 000];
//! - `open_sled/runs/{n}`: opening a sled database of `n` runs, which
//!   builds the in-memory run index from the run records.
//!
//! `cargo bench -p nexwatt-benches --bench storage -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nexwatt_engine::id::{AgentId, Cursor, RunId, WorkspaceId};
use nexwatt_engine::model::{Run, RunMode, RunStatus, Workspace};
use nexwatt_engine::storage::{PageRequest, RunFilter, Storage, StorageExt, Write, WriteBatch};
use nexwatt_storage_memory::MemoryStorage;
use nexwatt_storage_sled::{SledConfig, SledStorage};
use serde_json::json;
use tokio::runtime::Runtime;

/// A run like the engine writes: a small JSON input, a few timestamps.
fn run(workspace: WorkspaceId, agent: AgentId, status: RunStatus) -> Run {
    let now = serde_json::from_value(json!("2026-01-02T03:04:05Z")).unwrap();
    Run {
        id: RunId::generate(),
        workspace,
        agent_id: agent,
        mode: RunMode::Live,
        input: json!({"invoice": {"id": "inv_1001", "amount": 125.5, "customer": "Acme"}}),
        status,
        steps_completed: 0,
        created_at: now,
        started_at: None,
        completed_at: None,
        updated_at: now,
        revision: 1,
    }
}

fn workspace() -> Workspace {
    Workspace {
        id: WorkspaceId::generate(),
        name: "bench".into(),
        created_at: serde_json::from_value(json!("2026-01-02T03:04:05Z")).unwrap(),
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn sled_at(dir: &std::path::Path) -> SledStorage {
    let mut config = SledConfig::new(dir.join("db"));
    config.flush_every_ms = None;
    SledStorage::open_blocking(&config).unwrap()
}

fn put_get(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("put_get_run");
    let ws = WorkspaceId::generate();
    let agent = AgentId::generate();
    let template = run(ws, agent, RunStatus::Queued);

    // A store of at most `MEMORY_RUNS` runs, replaced (untimed) when full.
    // Left to grow, criterion's few million iterations would hold gigabytes,
    // and the figure would be the VM's first touch of fresh pages (~8 µs
    // per op past a million runs here), not the backend's work.
    const MEMORY_RUNS: u64 = 100_000;
    let memory = tokio::sync::Mutex::new((MemoryStorage::new(), 0u64));
    group.bench_function("memory", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let memory = &memory;
            let template = &template;
            async move {
                let mut timed = std::time::Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let (storage, held) = &mut *memory.lock().await;
                    if *held >= MEMORY_RUNS {
                        *storage = MemoryStorage::new();
                        *held = 0;
                    }
                    let chunk = left.min(MEMORY_RUNS - *held);
                    let start = std::time::Instant::now();
                    for _ in 0..chunk {
                        let mut r = template.clone();
                        r.id = RunId::generate();
                        storage.create_run(&r).await.unwrap();
                        std::hint::black_box(storage.get_run(ws, r.id).await.unwrap());
                    }
                    timed += start.elapsed();
                    *held += chunk;
                    left -= chunk;
                }
                timed
            }
        })
    });

    let dir = tempfile::tempdir().unwrap();
    let sled = sled_at(dir.path());
    group.bench_function("sled", |b| {
        b.to_async(&rt).iter(|| async {
            let mut r = template.clone();
            r.id = RunId::generate();
            sled.create_run(&r).await.unwrap();
            sled.get_run(ws, r.id).await.unwrap()
        })
    });
    group.finish();
}

/// Fills `storage` with `n` runs of 10 agents in a fresh workspace, in
/// batches; returns the workspace, an agent, and the run in the middle.
async fn populate(storage: &dyn Storage, n: usize) -> (WorkspaceId, AgentId, RunId) {
    let ws = workspace();
    storage.create_workspace(&ws).await.unwrap();
    let agents: Vec<AgentId> = (0..10).map(|_| AgentId::generate()).collect();
    let mut middle = None;
    let mut batch = WriteBatch::default();
    for i in 0..n {
        let r = run(
            ws.id,
            agents[i % agents.len()],
            RunStatus::ALL[(i / agents.len()) % 3],
        );
        if i == n / 2 {
            middle = Some(r.id);
        }
        batch.push(Write::CreateRun(r));
        if batch.writes().len() == 500 {
            storage.apply(std::mem::take(&mut batch)).await.unwrap();
        }
    }
    if !batch.is_empty() {
        storage.apply(batch).await.unwrap();
    }
    storage.flush().await.unwrap();
    (ws.id, agents[3], middle.unwrap())
}

fn list_pages(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("list_page_20");
    let dir = tempfile::tempdir().unwrap();
    let memory = MemoryStorage::new();
    let sled = sled_at(dir.path());
    let backends: [(&str, &dyn Storage); 2] = [("memory", &memory), ("sled", &sled)];
    for (name, storage) in backends {
        for n in [1_000usize, 100_000] {
            // Filled on first use, so a `--bench` filter that skips these
            // lines (e.g. `put_get_run`) does not pay for 202 000 writes.
            let data = std::cell::OnceCell::new();
            let fill = || *data.get_or_init(|| rt.block_on(populate(storage, n)));
            let all = RunFilter::default();
            group.bench_with_input(BenchmarkId::new(format!("{name}/all"), n), &n, |b, _| {
                let (ws, _, middle) = fill();
                let cursor = Some(Cursor::from_ulid(middle.ulid()));
                let page = PageRequest::new(20, cursor).unwrap();
                b.to_async(&rt).iter(|| async {
                    let p = storage.list_runs(ws, &all, page).await.unwrap();
                    assert_eq!(p.items.len(), 20);
                    p
                })
            });
            // The first page of one agent's running runs (1 in 30 runs).
            let first = PageRequest::new(20, None).unwrap();
            group.bench_with_input(
                BenchmarkId::new(format!("{name}/agent+status"), n),
                &n,
                |b, _| {
                    let (ws, agent, _) = fill();
                    let filtered = RunFilter {
                        agent: Some(agent),
                        status: Some(RunStatus::Running),
                    };
                    b.to_async(&rt).iter(|| async {
                        let p = storage.list_runs(ws, &filtered, first).await.unwrap();
                        assert_eq!(p.items.len(), 20);
                        p
                    })
                },
            );
        }
    }
    group.finish();
}

/// Opening a sled database of `n` runs: sled's recovery, then the scan of
/// the run records that builds the in-memory run index. Closing (sled's
/// flush and thread joins) is left out of the time.
fn reopen(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("open_sled");
    group.sample_size(10);
    for n in [1_000usize, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SledConfig::new(dir.path().join("db"));
        config.flush_every_ms = None;
        let data = std::cell::OnceCell::new();
        group.bench_with_input(BenchmarkId::new("runs", n), &n, |b, _| {
            data.get_or_init(|| {
                let storage = SledStorage::open_blocking(&config).unwrap();
                rt.block_on(populate(&storage, n));
            });
            b.iter_custom(|iters| {
                let mut timed = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let start = std::time::Instant::now();
                    let storage = SledStorage::open_blocking(&config).unwrap();
                    timed += start.elapsed();
                    drop(storage);
                }
                timed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, put_get, list_pages, reopen);
criterion_main!(benches);
