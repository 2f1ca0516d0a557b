//! Many concurrent runs in one engine: wall time, peak memory, and the
//! memory each run costs while it waits for review.
//!
//! ```text
//! concurrent_runs [--mode complete|idle] [--runs N] [--steps N] [--backend memory|sled]
//! ```
//!
//! - `complete` (default): starts `--runs` runs (default 10 000) of a chain
//!   of `--steps` no-op steps (default 5) without waiting between starts,
//!   then waits for every one, checks each completed, and prints the wall
//!   time, runs per second, and the process's peak and current resident
//!   memory (`VmHWM`, `VmRSS` of `/proc/self/status`).
//! - `idle`: the same chain with step 2 flagged, so every run stops at it in
//!   `awaiting_review`; prints the resident-memory growth from just before
//!   the first start to when all runs wait, divided by the number of runs.
//!   That figure includes everything a waiting run keeps in this process:
//!   engine state, and with the memory backend also its stored records (the
//!   run, the trigger's step record, the escalation, the audit events).
//!
//! Run it once per mode, each in its own process, so one measurement's
//! allocations do not hide in the other's.

use std::sync::Arc;
use std::time::Instant;

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
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        mode: Mode::Complete,
        runs: 10_000,
        steps: 5,
        backend: Backend::Memory,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--mode" => {
                args.mode = match value()?.as_str() {
                    "complete" => Mode::Complete,
                    "idle" => Mode::Idle,
                    other => return Err(format!("unknown mode {other:?}; complete or idle").into()),
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
            "-h" | "--help" => {
                println!(
                    "concurrent_runs [--mode complete|idle] [--runs N] [--steps N] [--backend memory|sled]"
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
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
        storage,
        noop::chain(args.steps, flagged)?,
        EngineLimits::default(),
    )
    .await?;
    let expected = match args.mode {
        Mode::Complete => RunStatus::Completed,
        Mode::Idle => RunStatus::AwaitingReview,
    };
    // Warm up: lazily allocated engine and allocator state is not a run's.
    for _ in 0..16 {
        let run = bench.start().await?;
        bench.wait(run.id, expected).await?;
    }

    let before = read_memory()?;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        ids.push(bench.start().await?.id);
    }
    let all_started = started.elapsed();
    // Waiting in turn: each wait returns at once for runs already done.
    for id in &ids {
        bench.wait(*id, expected).await?;
    }
    let wall = started.elapsed();
    let after = read_memory()?;
    let runs = args.runs as f64;
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
                runs * f64::from(args.steps) / wall.as_secs_f64()
            );
            println!(
                "  peak_rss_mib={:.1} rss_mib={:.1} rss_before_mib={:.1}",
                after.peak_kib as f64 / 1024.0,
                after.rss_kib as f64 / 1024.0,
                before.rss_kib as f64 / 1024.0
            );
        }
        Mode::Idle => {
            let active = bench.engine.active_runs();
            let delta = after.rss_kib.saturating_sub(before.rss_kib);
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
            println!("  kib_per_idle_waiting_run={:.2}", delta as f64 / runs);
        }
    }
    bench.engine.shutdown().await?;
    Ok(())
}
