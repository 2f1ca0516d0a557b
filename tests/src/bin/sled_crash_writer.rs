//! Child process of the sled crash test (`tests/tests/sled_crash.rs`).
//!
//! `sled_crash_writer DB_PATH MAX_ROUNDS` opens the sled database at
//! `DB_PATH` (with sled's own periodic flushing off, so only explicit
//! flushes make data durable), creates a workspace and an agent, then for
//! up to `MAX_ROUNDS` rounds creates a run, moves it to `running`, and
//! commits steps 1..=3 with `commit_step` (step 3 opens an escalation),
//! flushing after each write and printing one acknowledgement line to
//! stdout per flush, of what is now durable:
//!
//! ```text
//! ack WS AGENT RUN REVISION ESCALATION|-
//! ```
//!
//! Every run it writes keeps an invariant the parent checks on any run it
//! finds, acknowledged or not: at revision `r`, `steps_completed` is
//! `r - 2` (0 below), there are exactly that many step records and events,
//! and an escalation exactly when 3 steps completed.
//!
//! The parent kills it with SIGKILL at a moment of its choosing. It exits by
//! itself after `MAX_ROUNDS` rounds, or when stdout is closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;

use nexwatt_engine::model::{RunStatus, StepStatus};
use nexwatt_engine::storage::{Storage, StorageExt};
use nexwatt_engine::testkit::fixtures;
use nexwatt_storage_sled::{SledConfig, SledStorage};

fn ack(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        // The parent is gone: stop writing.
        std::process::exit(0);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: sled_crash_writer DB_PATH MAX_ROUNDS");
    let rounds: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(50);
    let mut config = SledConfig::new(path);
    config.flush_every_ms = None;
    config.cache_capacity = 8 * 1024 * 1024;
    let storage = SledStorage::open_with(config).await.expect("open sled");

    let ws = fixtures::workspace();
    storage.create_workspace(&ws).await.unwrap();
    let agent = fixtures::agent(ws.id);
    storage.create_agent(&agent).await.unwrap();
    storage.flush().await.unwrap();
    ack(&format!("ack {} {} - 0 -", ws.id, agent.id));

    for _ in 0..rounds {
        let mut run = fixtures::run(ws.id, agent.id);
        storage.create_run(&run).await.unwrap();
        storage.flush().await.unwrap();
        ack(&format!(
            "ack {} {} {} {} -",
            ws.id, agent.id, run.id, run.revision
        ));

        run.status = RunStatus::Running;
        storage.update_run(&mut run).await.unwrap();
        storage.flush().await.unwrap();
        ack(&format!(
            "ack {} {} {} {} -",
            ws.id, agent.id, run.id, run.revision
        ));

        for step in 1..=3u32 {
            run.steps_completed = step;
            let mut record = fixtures::step_record(&run, step);
            let escalation = if step == 3 {
                run.status = RunStatus::AwaitingReview;
                record.status = StepStatus::AwaitingReview;
                Some(fixtures::escalation(&run))
            } else {
                None
            };
            let event = fixtures::event(ws.id, agent.id, Some(run.id));
            storage
                .commit_step(&mut run, &record, escalation.as_ref(), &[event])
                .await
                .unwrap();
            storage.flush().await.unwrap();
            let esc = escalation.map_or_else(|| "-".to_string(), |e| e.id.to_string());
            ack(&format!(
                "ack {} {} {} {} {esc}",
                ws.id, agent.id, run.id, run.revision
            ));
        }
    }
}
