//! Crash test of the engine: a child process (`engine_crash_worker`) runs
//! many agents on sled and is killed with SIGKILL at random moments, many
//! times over the same database and effect log. After every kill:
//!
//! - every step that was committed as succeeded or skipped in an earlier
//!   check still is, with the same output (no committed step is lost);
//! - no effect with the same idempotency key happened twice (the worker's
//!   `message.send` does not honour idempotency keys, so a blind re-run
//!   after a crash would show up as a second effect);
//! - every effect belongs to a run the database knows;
//! - every committed write step has its effect in the log.
//!
//! After every eighth kill, and at the end, a worker runs without being
//! killed until it has settled every run; then every run must be completed
//! or awaiting review, the only escalations are
//! `api_error`s for outcomes the crash made unknown, and every effect is
//! accounted for by its step.
//!
//! `NEXWATT_ENGINE_CRASH_KILLS` sets the number of kills (default 32),
//! `NEXWATT_ENGINE_CRASH_SEED` the seed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nexwatt_engine::id::{RunId, WorkspaceId};
use nexwatt_engine::model::{
    EscalationReason, EscalationStatus, Run, RunStatus, StepRecord, StepStatus,
};
use nexwatt_engine::storage::{EscalationFilter, PageRequest, RunFilter, Storage};
use nexwatt_storage_sled::SledStorage;
use rand::{Rng, SeedableRng};
use serde_json::Value;

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(db: &Path, log: &Path, ws: WorkspaceId, mode: &str, seed: u64) -> ChildGuard {
    let child = Command::new(env!("CARGO_BIN_EXE_engine_crash_worker"))
        .arg(db)
        .arg(log)
        .arg(ws.to_string())
        .arg(mode)
        .arg(seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn engine_crash_worker");
    ChildGuard(child)
}

/// Reads the child's stdout until `line`; panics with its stderr if it
/// exits first.
fn wait_for_line(guard: &mut ChildGuard, line: &str) {
    let stdout = guard.0.stdout.as_mut().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut buf = String::new();
    loop {
        buf.clear();
        let n = reader.read_line(&mut buf).expect("read child stdout");
        if n == 0 {
            let mut err = String::new();
            if let Some(stderr) = guard.0.stderr.as_mut() {
                let _ = stderr.read_to_string(&mut err);
            }
            panic!("worker exited before printing {line}: {err}");
        }
        if buf.trim() == line {
            return;
        }
    }
}

type Key = String;

fn effects(log: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(log) else {
        return Vec::new();
    };
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn effect line {l:?}: {e}")))
        .collect()
}

struct State {
    runs: Vec<Run>,
    records: BTreeMap<RunId, Vec<StepRecord>>,
}

async fn read_state(db: &Path, ws: WorkspaceId) -> State {
    let storage = SledStorage::open(db)
        .await
        .expect("sled reopens after SIGKILL");
    let mut runs = Vec::new();
    let mut cursor = None;
    loop {
        let page = storage
            .list_runs(
                ws,
                &RunFilter::default(),
                PageRequest::new(100, cursor).unwrap(),
            )
            .await
            .unwrap();
        runs.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut records = BTreeMap::new();
    for run in &runs {
        records.insert(run.id, storage.get_step_records(ws, run.id).await.unwrap());
    }
    State { runs, records }
}

const WRITE_STEPS: [u32; 3] = [3, 4, 5];

/// The checks made after every kill; `committed` accumulates every step
/// seen done.
fn check(state: &State, log: &[Value], committed: &mut HashMap<Key, (StepStatus, Option<Value>)>) {
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for e in log {
        *per_key.entry(e["key"].as_str().unwrap()).or_default() += 1;
    }
    for (key, n) in &per_key {
        assert_eq!(
            *n, 1,
            "effect with idempotency key {key} happened {n} times"
        );
    }
    let runs: HashMap<String, &Run> = state.runs.iter().map(|r| (r.id.to_string(), r)).collect();
    for key in per_key.keys() {
        let (run, _) = key.rsplit_once('-').unwrap();
        assert!(
            runs.contains_key(run),
            "effect {key} belongs to a run the database lost"
        );
    }
    let mut now_done = HashMap::new();
    for (run, records) in &state.records {
        for r in records {
            if r.status.is_done() {
                now_done.insert(r.idempotency_key.clone(), (r.status, r.output.clone()));
                if r.status == StepStatus::Succeeded && WRITE_STEPS.contains(&r.step) {
                    assert!(
                        per_key.contains_key(r.idempotency_key.as_str()),
                        "run {run} step {} is committed as succeeded but its effect is not in the log",
                        r.step
                    );
                }
            }
        }
    }
    for (key, before) in committed.iter() {
        let now = now_done
            .get(key)
            .unwrap_or_else(|| panic!("committed step {key} was lost"));
        assert_eq!(now, before, "committed step {key} changed");
    }
    committed.extend(now_done);
}

#[test]
fn runs_survive_sigkill_without_lost_steps_or_duplicate_effects() {
    let kills: u32 = std::env::var("NEXWATT_ENGINE_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let seed: u64 = std::env::var("NEXWATT_ENGINE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("engine crash test: seed {seed}, {kills} kills");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let log = dir.path().join("effects.jsonl");
    let ws = WorkspaceId::generate();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut committed = HashMap::new();

    for i in 0..kills {
        let mut child = spawn(&db, &log, ws, "work", seed.wrapping_add(u64::from(i)));
        wait_for_line(&mut child, "UP");
        // A random moment: while runs start, steps call, commits land.
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..120)));
        child.0.kill().expect("SIGKILL the worker");
        child.0.wait().expect("reap the worker");
        drop(child);
        let state = rt.block_on(read_state(&db, ws));
        check(&state, &effects(&log), &mut committed);
        if i % 8 == 7 {
            finish_and_check(&db, &log, ws, seed ^ u64::from(i), &rt, &mut committed);
        }
    }

    // Every few kills, and at the end, let a worker finish every run.
    let (runs, completed, waiting, unknown, effect_count) =
        finish_and_check(&db, &log, ws, seed ^ 1, &rt, &mut committed);
    assert!(runs >= 3, "the workload ran ({runs} runs)");
    eprintln!(
        "engine crash test: {runs} runs ({completed} completed, {waiting} awaiting review with {unknown} unknown outcomes), {effect_count} effects"
    );
}

/// Lets a worker finish every run (no kill), then checks that every run is
/// completed or awaiting review, that the only escalations are unknown
/// outcomes, and that every effect is accounted for by its step. Returns
/// (runs, completed, waiting, unknown outcomes, effects).
fn finish_and_check(
    db: &Path,
    log_path: &Path,
    ws: WorkspaceId,
    seed: u64,
    rt: &tokio::runtime::Runtime,
    committed: &mut HashMap<Key, (StepStatus, Option<Value>)>,
) -> (usize, usize, usize, usize, usize) {
    let mut child = spawn(db, log_path, ws, "finish", seed);
    wait_for_line(&mut child, "DONE");
    let status = child.0.wait().unwrap();
    assert!(status.success(), "finishing worker failed: {status}");
    drop(child);

    let state = rt.block_on(read_state(db, ws));
    let log = effects(log_path);
    check(&state, &log, committed);
    let storage = rt.block_on(SledStorage::open(db)).unwrap();
    let effect_keys: HashMap<&str, &Value> = log
        .iter()
        .map(|e| (e["key"].as_str().unwrap(), e))
        .collect();
    let (mut completed, mut waiting, mut unknown) = (0, 0, 0);
    for run in &state.runs {
        let records = &state.records[&run.id];
        match run.status {
            RunStatus::Completed => {
                completed += 1;
                assert_eq!(records.len(), 5);
                assert!(records.iter().all(|r| r.status == StepStatus::Succeeded));
                assert_eq!(run.steps_completed, 5);
            }
            RunStatus::AwaitingReview => {
                waiting += 1;
                let escalations = rt
                    .block_on(storage.list_escalations(
                        ws,
                        &EscalationFilter {
                            run: Some(run.id),
                            ..Default::default()
                        },
                        PageRequest::new(100, None).unwrap(),
                    ))
                    .unwrap()
                    .items;
                assert!(escalations
                    .iter()
                    .any(|e| e.status == EscalationStatus::Open));
                for e in &escalations {
                    assert_eq!(e.reason, EscalationReason::ApiError);
                    assert!(e.message.contains("unknown"), "{}", e.message);
                    let r = records.iter().find(|r| r.step == e.step).unwrap();
                    assert_eq!(r.status, StepStatus::Failed);
                    assert_eq!(r.error.as_ref().unwrap().code, "outcome_unknown");
                    unknown += 1;
                }
            }
            other => panic!("run {} ended {other:?}", run.id),
        }
        for r in records {
            let effect = effect_keys.get(r.idempotency_key.as_str());
            if WRITE_STEPS.contains(&r.step) && r.status == StepStatus::Succeeded {
                assert!(
                    effect.is_some(),
                    "{} succeeded without its effect",
                    r.idempotency_key
                );
            }
            if effect.is_some() {
                assert!(
                    r.status == StepStatus::Succeeded
                        || r.error
                            .as_ref()
                            .is_some_and(|e| e.code == "outcome_unknown"),
                    "effect {} is not accounted for by its step ({:?})",
                    r.idempotency_key,
                    r.status
                );
            }
        }
    }
    (state.runs.len(), completed, waiting, unknown, log.len())
}
