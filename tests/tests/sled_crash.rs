//! Crash test of the sled backend: a child process (`sled_crash_writer`)
//! writes through `SledStorage`, flushing and acknowledging each write on
//! stdout; the parent kills it with SIGKILL after a random number of
//! acknowledgements (seeded RNG, so a failure replays with its seed), many
//! times over the same database. After every kill the database must open,
//! every acknowledged write must be there and decodable, and every run
//! found — acknowledged or not — must be whole (no half-applied
//! `commit_step`).
//!
//! `NEXWATT_CRASH_SEED` picks the seed, `NEXWATT_CRASH_KILLS` the number
//! of kills (default 36).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nexwatt_engine::id::{AgentId, EscalationId, RunId, WorkspaceId};
use nexwatt_engine::model::{EscalationStatus, RunStatus};
use nexwatt_engine::storage::{EventFilter, PageRequest, RunFilter, Storage, StorageExt};
use nexwatt_engine::testkit::cases::collect_pages;
use nexwatt_storage_sled::SledStorage;

/// SplitMix64: a tiny deterministic RNG, enough to choose kill points.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Kills and reaps the child if the test panics while it runs.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What has been acknowledged durable, accumulated over every child.
#[derive(Default)]
struct Acked {
    /// Workspace → its agent.
    workspaces: BTreeMap<WorkspaceId, AgentId>,
    /// Run → (workspace, highest acknowledged revision).
    runs: BTreeMap<RunId, (WorkspaceId, u64)>,
    /// Escalation → (workspace, run).
    escalations: BTreeMap<EscalationId, (WorkspaceId, RunId)>,
}

impl Acked {
    fn record(&mut self, line: &str) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.len(), 6, "bad ack line {line:?}");
        assert_eq!(parts[0], "ack");
        let ws: WorkspaceId = parts[1].parse().unwrap();
        let agent: AgentId = parts[2].parse().unwrap();
        self.workspaces.insert(ws, agent);
        if parts[3] != "-" {
            let run: RunId = parts[3].parse().unwrap();
            let revision: u64 = parts[4].parse().unwrap();
            let entry = self.runs.entry(run).or_insert((ws, 0));
            entry.1 = entry.1.max(revision);
            if parts[5] != "-" {
                self.escalations
                    .insert(parts[5].parse().unwrap(), (ws, run));
            }
        }
    }
}

async fn verify(storage: &SledStorage, acked: &Acked) {
    for (&ws, &agent) in &acked.workspaces {
        storage.get_workspace(ws).await.expect("acked workspace");
        let stored = storage.get_agent(ws, agent).await.expect("acked agent");
        assert_eq!(stored.workspace, ws);
        // Every run of the workspace, acknowledged or not, is whole.
        let filter = RunFilter::default();
        let runs = collect_pages(100, |p| storage.list_runs(ws, &filter, p)).await;
        for run in runs {
            let expected_steps = u32::try_from(run.revision.saturating_sub(2)).unwrap();
            assert!(
                run.revision <= 5,
                "run {} revision {}",
                run.id,
                run.revision
            );
            assert_eq!(run.steps_completed, expected_steps, "run {}", run.id);
            let records = storage.get_step_records(ws, run.id).await.unwrap();
            assert_eq!(
                records.iter().map(|r| r.step).collect::<Vec<_>>(),
                (1..=expected_steps).collect::<Vec<_>>(),
                "step records of run {} at revision {}",
                run.id,
                run.revision
            );
            let events = storage
                .list_events(
                    ws,
                    &EventFilter {
                        run: Some(run.id),
                        agent: None,
                    },
                    PageRequest::new(100, None).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(
                events.items.len(),
                expected_steps as usize,
                "events of {}",
                run.id
            );
            let escalations = storage
                .list_escalations(
                    ws,
                    &nexwatt_engine::storage::EscalationFilter {
                        run: Some(run.id),
                        ..Default::default()
                    },
                    PageRequest::new(100, None).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(escalations.items.len(), usize::from(expected_steps == 3));
            let status = match run.revision {
                1 => RunStatus::Queued,
                5 => RunStatus::AwaitingReview,
                _ => RunStatus::Running,
            };
            assert_eq!(run.status, status, "run {}", run.id);
        }
    }
    for (&run, &(ws, revision)) in &acked.runs {
        let stored = storage.get_run(ws, run).await.expect("acked run");
        assert!(
            stored.revision >= revision,
            "run {run}: acknowledged revision {revision}, found {}",
            stored.revision
        );
    }
    for (&esc, &(ws, run)) in &acked.escalations {
        let stored = storage
            .get_escalation(ws, esc)
            .await
            .expect("acked escalation");
        assert_eq!(stored.run_id, run);
        assert_eq!(stored.status, EscalationStatus::Open);
    }
}

fn run_child(db: &Path, acks_to_read: u64, acked: &mut Acked) -> u64 {
    let child = Command::new(env!("CARGO_BIN_EXE_sled_crash_writer"))
        .arg(db)
        .arg("40")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sled_crash_writer");
    let mut guard = ChildGuard(child);
    let stdout = guard.0.stdout.take().expect("child stdout");
    let mut read = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read ack");
        acked.record(&line);
        read += 1;
        if read == acks_to_read {
            break;
        }
    }
    // SIGKILL, while the child is in the middle of its next writes (or
    // already done, if it ran out of rounds).
    guard.0.kill().expect("kill child");
    guard.0.wait().expect("reap child");
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let seed: u64 = std::env::var("NEXWATT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_CA5E);
    let kills: u32 = std::env::var("NEXWATT_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(36);
    eprintln!("sled crash test: seed {seed}, {kills} kills");
    let mut rng = SplitMix(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut acked = Acked::default();
    let mut total_acks = 0;
    for kill in 0..kills {
        // Mostly early kills (during the first rounds), sometimes later.
        let acks = if rng.below(4) == 0 {
            1 + rng.below(60)
        } else {
            1 + rng.below(8)
        };
        let db_for_child = db.clone();
        let mut child_acked = std::mem::take(&mut acked);
        let (read, back) = tokio::task::spawn_blocking(move || {
            let read = run_child(&db_for_child, acks, &mut child_acked);
            (read, child_acked)
        })
        .await
        .unwrap();
        acked = back;
        total_acks += read;
        let storage = SledStorage::open(&db)
            .await
            .unwrap_or_else(|e| panic!("database does not open after kill {kill}: {e}"));
        verify(&storage, &acked).await;
        // The reopened store takes writes.
        let ws = *acked.workspaces.keys().next().unwrap();
        let agent = acked.workspaces[&ws];
        let extra = nexwatt_engine::testkit::fixtures::event(ws, agent, None);
        storage.append_event(&extra).await.unwrap();
        storage.flush().await.unwrap();
        drop(storage);
    }
    assert!(
        acked.runs.len() > kills as usize / 2,
        "the children wrote too little"
    );
    eprintln!(
        "sled crash test: {kills} kills, {total_acks} acknowledged flushes, {} runs checked",
        acked.runs.len()
    );
}
