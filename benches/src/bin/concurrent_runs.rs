//! Many concurrent runs in one engine: wall time, peak memory, and the
//! memory each run costs while it waits for review.
//!
//! ```text
//! concurrent_runs [--mode complete|idle|sequential] [--runs N] [--steps N]
//!                 [--backend memory|sled] [--current-thread]
//! ```
//!
//! - `complete` (default): starts `--runs` runs (default 10 000) of a chain
//!   of `--steps` no-op steps (default 5) without waiting between starts,
//!   then waits for every one, checks each completed, and prints the wall
//!   time, runs per second, and the process's peak and current resident
//!   memory (`VmHWM`, `VmRSS` of `/proc/self/status`).
//! - `idle`: the same chain with step 2 flagged, so every run stops at it in
//!   `awaiting_review`; prints the heap bytes held (counted by an
//!   instrumented global allocator) and the resident-memory growth, from
//!   just before the first start to when all runs wait, divided by the
//!   number of runs. The resident figure is higher: the allocator keeps
//!   pages the finished drivers freed.
//!   That figure includes everything a waiting run keeps in this process:
//!   engine state, and with the memory backend also its stored records (the
//!   run, the trigger's step record, the escalation, the audit events).
//! - `sequential`: the runs one after another, each started only when the
//!   one before has completed (as the criterion benchmarks do); prints wall
//!   and on-CPU time per run and per step.
//!
//! Every mode also prints the process's on-CPU time (summed over its
//! threads' `schedstat`) and the time its threads were runnable but waited
//! for a CPU: on a loaded machine wall-clock figures grow with other
//! processes' load, on-CPU time much less.
//!
//! `--current-thread` runs everything on one thread (Tokio's current-thread
//! runtime) instead of the multi-threaded one: what the engine costs without
//! wake-ups across threads.
//!
//! Run it once per mode, each in its own process, so one measurement's
//! allocations do not hide in the other's.

use std::alloc::System;
use std::sync::Arc;
use std::time::Instant;

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

/// Counts every allocation: the heap bytes a waiting run holds, exactly,
/// beside the resident-memory figures (which also keep what the allocator
/// retains after the drivers freed it).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not freed so far (`bytes_allocated` and
/// `bytes_deallocated` already count what reallocations grew and shrank).
fn live_heap_bytes() -> i128 {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as i128 - stats.bytes_deallocated as i128
}

use nexwatt_benches::memory::{self, MemoryUse};
use nexwatt_benches::nexwatt::NexwattBench;
use nexwatt_benches::noop;
use nexwatt_engine::model::RunStatus;
use nexwatt_engine::storage::Storage;
use nexwatt_engine::EngineLimits;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Complete,
    Idle,
    Sequential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Memory,
    Sled,
}

#[derive(Debug)]
struct Args {
    mode: Mode,
    runs: usize,
    steps: u32,
    backend: Backend,
    current_thread: bool,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        mode: Mode::Complete,
        runs: 10_000,
        steps: 5,
        backend: Backend::Memory,
        current_thread: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--mode" => {
                args.mode = match value()?.as_str() {
                    "complete" => Mode::Complete,
                    "idle" => Mode::Idle,
                    "sequential" => Mode::Sequential,
                    other => {
                        return Err(
                            format!("unknown mode {other:?}; complete, idle or sequential").into(),
                        )
                    }
                }
            }
            "--runs" => args.runs = value()?.parse()?,
            "--steps" => args.steps = value()?.parse()?,
            "--backend" => {
                args.backend = match value()?.as_str() {
                    "memory" => Backend::Memory,
                    "sled" => Backend::Sled,
                    other => {
                        return Err(format!("unknown backend {other:?}; memory or sled").into())
                    }
                }
            }
            "--current-thread" => args.current_thread = true,
            "-h" | "--help" => {
                println!(
                    "concurrent_runs [--mode complete|idle|sequential] [--runs N] [--steps N] [--backend memory|sled] [--current-thread]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)").into()),
        }
    }
    if args.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if args.mode == Mode::Idle && args.steps < 2 {
        return Err("--mode idle needs --steps 2 or more (step 2 is the flagged one)".into());
    }
    Ok(args)
}

fn read_memory() -> Result<MemoryUse, BoxError> {
    memory::current().ok_or_else(|| "cannot read VmRSS/VmHWM from /proc/self/status".into())
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let rt = if args.current_thread {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    };
    rt.block_on(run(args))
}

async fn run(args: Args) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let storage: Arc<dyn Storage> = match args.backend {
        Backend::Memory => Arc::new(nexwatt_storage_memory::MemoryStorage::new()),
        Backend::Sled => Arc::new(nexwatt_storage_sled::SledStorage::open(dir.path()).await?),
    };
    let backend = match args.backend {
        Backend::Memory => "memory",
        Backend::Sled => "sled",
    };
    let flagged = (args.mode == Mode::Idle).then_some(2);
    let bench = NexwattBench::new(
        Arc::clone(&storage),
        noop::chain(args.steps, flagged)?,
        EngineLimits::default(),
    )
    .await?;
    let expected = match args.mode {
        Mode::Complete | Mode::Sequential => RunStatus::Completed,
        Mode::Idle => RunStatus::AwaitingReview,
    };
    // Warm up: lazily allocated engine and allocator state is not a run's.
    for _ in 0..16 {
        let run = bench.start().await?;
        bench.wait(run.id, expected).await?;
    }

    let before = read_memory()?;
    let heap_before = live_heap_bytes();
    let cpu_before = memory::cpu_time().unwrap_or_default();
    let started = Instant::now();
    let mut all_started = started.elapsed();
    if args.mode == Mode::Sequential {
        for _ in 0..args.runs {
            bench.run_to_completion().await?;
        }
    } else {
        let mut ids = Vec::with_capacity(args.runs);
        for _ in 0..args.runs {
            ids.push(bench.start().await?.id);
        }
        all_started = started.elapsed();
        // Waiting in turn: each wait returns at once for runs already done.
        for id in &ids {
            bench.wait(*id, expected).await?;
        }
    }
    let wall = started.elapsed();
    let after = read_memory()?;
    let heap_after = live_heap_bytes();

    let cpu_after = memory::cpu_time().unwrap_or_default();
    let cpu_ms = cpu_after.run_ns.saturating_sub(cpu_before.run_ns) as f64 / 1e6;
    let wait_ms = cpu_after.wait_ns.saturating_sub(cpu_before.wait_ns) as f64 / 1e6;
    let runs = args.runs as f64;
    let steps = runs * f64::from(args.steps);
    match args.mode {
        Mode::Complete => {
            println!(
                "concurrent_runs complete backend={backend} runs={} steps={} all_completed=true",
                args.runs, args.steps
            );
            println!(
                "  wall_time_s={:.3} starts_s={:.3} runs_per_s={:.0} steps_per_s={:.0}",
                wall.as_secs_f64(),
                all_started.as_secs_f64(),
                runs / wall.as_secs_f64(),
                steps / wall.as_secs_f64()
            );
            println!(
                "  peak_rss_mib={:.1} rss_mib={:.1} rss_before_mib={:.1}",
                after.peak_kib as f64 / 1024.0,
                after.rss_kib as f64 / 1024.0,
                before.rss_kib as f64 / 1024.0
            );
        }
        Mode::Sequential => {
            println!(
                "concurrent_runs sequential backend={backend} runs={} steps={} all_completed=true",
                args.runs, args.steps
            );
            println!(
                "  wall_us_per_run={:.2} wall_us_per_step={:.2}",
                wall.as_secs_f64() * 1e6 / runs,
                wall.as_secs_f64() * 1e6 / steps
            );
            println!(
                "  cpu_us_per_run={:.2} cpu_us_per_step={:.2}",
                cpu_ms * 1e3 / runs,
                cpu_ms * 1e3 / steps
            );
        }
        Mode::Idle => {
            let active = bench.engine.active_runs();
            let delta = after.rss_kib.saturating_sub(before.rss_kib);
            let stored = if args.backend == Backend::Memory {
                Some(stored_records_kib(&bench).await? / runs)
            } else {
                None
            };
            println!(
                "concurrent_runs idle backend={backend} runs={} steps={} all_awaiting_review=true runs_with_driver={active}",
                args.runs, args.steps
            );
            println!(
                "  wall_time_s={:.3} rss_before_mib={:.1} rss_after_mib={:.1} peak_rss_mib={:.1}",
                wall.as_secs_f64(),
                before.rss_kib as f64 / 1024.0,
                after.rss_kib as f64 / 1024.0,
                after.peak_kib as f64 / 1024.0
            );
            let held = (heap_after - heap_before) as f64 / 1024.0 / runs;
            println!(
                "  live_heap_kib_per_idle_waiting_run={held:.2} (heap bytes held, counted by the allocator)"
            );
            println!(
                "  kib_per_idle_waiting_run={:.2} (resident growth: also what the allocator kept after the drivers freed it)",
                delta as f64 / runs
            );
            if let Some(stored) = stored {
                println!(
                    "  of_which_stored_records_kib_per_run={stored:.2} engine_state_kib_per_run={:.2}",
                    (held - stored).max(0.0)
                );
            }
        }
    }
    println!(
        "  cpu_time_ms={cpu_ms:.1} cpu_us_per_run={:.2} waited_for_cpu_ms={wait_ms:.1}",
        cpu_ms * 1e3 / runs
    );
    bench.engine.shutdown().await?;
    if args.mode == Mode::Idle {
        // What the engine itself held: the heap its drop frees (the
        // storage lives on in `storage`).
        let with_engine = live_heap_bytes();
        drop(bench);
        let engine_held = with_engine - live_heap_bytes();
        println!(
            "  engine_heap_kib_per_run={:.2} (freed by dropping the engine after the runs; storage kept)",
            engine_held as f64 / 1024.0 / runs
        );
        let with_storage = live_heap_bytes();
        drop(storage);
        let storage_held = with_storage - live_heap_bytes();
        println!(
            "  storage_heap_kib_per_run={:.2} (freed by dropping the storage last)",
            storage_held as f64 / 1024.0 / runs
        );
        return Ok(());
    }
    drop(storage);
    Ok(())
}

/// One stored record, as JSON, so copying it allocates afresh.
enum Saved {
    Agent(String),
    Run(String),
    Step(String),
    Escalation(String),
    Event(String),
}

/// The heap the stored records of the workspace take: every record is
/// saved as JSON, then read back into a fresh memory storage one write at a
/// time (as the engine writes them), and the heap bytes that storage holds
/// counted, in KiB.
async fn stored_records_kib(bench: &NexwattBench) -> Result<f64, BoxError> {
    use nexwatt_engine::storage::{
        EscalationFilter, EventFilter, PageRequest, RunFilter, Write, WriteBatch,
    };
    let engine = &bench.engine;
    let ws = bench.workspace;
    let agent = engine.get_agent(ws, bench.agent).await?;
    let mut saved = vec![Saved::Agent(serde_json::to_string(&agent)?)];
    let mut cursor = None;
    loop {
        let page = engine
            .list_runs(ws, RunFilter::default(), PageRequest::new(100, cursor)?)
            .await?;
        for run in page.items {
            saved.push(Saved::Run(serde_json::to_string(&run)?));
            for record in engine.storage().get_step_records(ws, run.id).await? {
                saved.push(Saved::Step(serde_json::to_string(&record)?));
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    loop {
        let page = engine
            .list_escalations(
                ws,
                EscalationFilter::default(),
                PageRequest::new(100, cursor)?,
            )
            .await?;
        for escalation in page.items {
            saved.push(Saved::Escalation(serde_json::to_string(&escalation)?));
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    loop {
        let page = engine
            .list_events(ws, EventFilter::default(), PageRequest::new(100, cursor)?)
            .await?;
        for event in page.items {
            saved.push(Saved::Event(serde_json::to_string(&event)?));
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let copy = nexwatt_storage_memory::MemoryStorage::new();
    let before = live_heap_bytes();
    for record in &saved {
        let write = match record {
            Saved::Agent(json) => Write::CreateAgent(serde_json::from_str(json)?),
            Saved::Run(json) => Write::CreateRun(serde_json::from_str(json)?),
            Saved::Step(json) => Write::PutStepRecord(serde_json::from_str(json)?),
            Saved::Escalation(json) => Write::CreateEscalation(serde_json::from_str(json)?),
            Saved::Event(json) => Write::AppendEvent(serde_json::from_str(json)?),
        };
        copy.apply(WriteBatch::one(write)).await?;
    }
    let after = live_heap_bytes();
    drop(copy);
    drop(saved);
    Ok((after - before) as f64 / 1024.0)
}
