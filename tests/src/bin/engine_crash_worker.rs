//! Child process of the engine crash test (`tests/tests/engine_crash.rs`).
//!
//! `engine_crash_worker DB_DIR EFFECTS_LOG WORKSPACE MODE SEED`
//!
//! Builds an [`Engine`] on the sled database in `DB_DIR` (which resumes
//! every run that was in flight), with one connector, `acme`, whose writes
//! are *effects* appended to `EFFECTS_LOG` (one JSON line per effect, with
//! its idempotency key; `fsync`ed before the call returns). `acme`
//! behaves like a real service: `record.update` honours idempotency keys
//! (a second call with a key it has seen applies nothing and returns the
//! first result), `message.send` does not (every call is a new effect).
//! Calls take 1–8 ms and fail with a retryable rate limit 10% of the time
//! (applying nothing).
//!
//! MODE `work`: creates four agents in `WORKSPACE` if it has none, starts
//! three new test runs, prints `UP`, and keeps driving runs until the parent
//! kills it (SIGKILL, at a random moment). MODE `finish`: starts nothing,
//! waits until every run of the workspace is settled, shuts the engine down
//! (flushing storage), prints `DONE` and exits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nexwatt_engine::connector::{
    Connector, ConnectorError, ConnectorManifest, ConnectorRegistry, ExecutionContext,
};
use nexwatt_engine::id::WorkspaceId;
use nexwatt_engine::model::{RunMode, RunStatus};
use nexwatt_engine::storage::{AgentFilter, PageRequest, RunFilter, Storage};
use nexwatt_engine::{CreateAgent, Engine, EngineBuilder, EngineLimits, StartRun};
use nexwatt_storage_sled::{SledConfig, SledStorage};
use nexwatt_tests::{acme_manifest, step, test_catalog, FixedPlanner, StepExt};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// `acme`, writing its effects to an append-only, fsynced log.
#[derive(Debug)]
struct EffectLog {
    manifest: ConnectorManifest,
    file: Mutex<File>,
    /// Results of `record.update` by idempotency key (the service's own
    /// idempotency store, rebuilt from the log).
    seen: Mutex<HashMap<String, Value>>,
    rng: Mutex<rand::rngs::StdRng>,
}

impl EffectLog {
    fn open(path: &str, seed: u64) -> Self {
        let mut seen = HashMap::new();
        if let Ok(f) = File::open(path) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["operation"] == "record.update" {
                        let key = v["key"].as_str().unwrap_or_default().to_string();
                        seen.insert(key, v["result"].clone());
                    }
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open effects log");
        Self {
            manifest: acme_manifest(),
            file: Mutex::new(file),
            seen: Mutex::new(seen),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
        }
    }

    fn append(&self, line: &Value) {
        let mut f = self.file.lock().unwrap();
        let mut bytes = serde_json::to_vec(line).unwrap();
        bytes.push(b'\n');
        f.write_all(&bytes).expect("append effect");
        f.sync_data().expect("fsync effect");
    }
}

#[async_trait]
impl Connector for EffectLog {
    fn manifest(&self) -> &ConnectorManifest {
        &self.manifest
    }

    async fn execute(
        &self,
        operation: &str,
        input: Value,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let (latency, fail) = {
            let mut rng = self.rng.lock().unwrap();
            (rng.gen_range(1..=8u64), rng.gen_bool(0.1))
        };
        tokio::time::sleep(Duration::from_millis(latency)).await;
        if fail {
            return Err(ConnectorError::rate_limited(Some(Duration::from_millis(3))));
        }
        let key = ctx.idempotency_key.clone();
        match operation {
            "record.find" | "record.get" => {
                Ok(json!({"id": format!("rec-{}", ctx.step), "amount": 120}))
            }
            "record.update" => {
                let mut seen = self.seen.lock().unwrap();
                if let Some(result) = seen.get(&key) {
                    return Ok(result.clone());
                }
                let result = json!({"updated": true, "key": key});
                self.append(
                    &json!({"key": key, "operation": operation, "result": result, "input": input}),
                );
                seen.insert(key, result.clone());
                Ok(result)
            }
            "message.send" => {
                let result = json!({"sent": true, "key": key});
                self.append(&json!({"key": key, "operation": operation, "result": result}));
                Ok(result)
            }
            other => Err(ConnectorError::unknown_operation("acme", other)),
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

async fn all_runs(engine: &Engine, ws: WorkspaceId) -> Vec<nexwatt_engine::model::Run> {
    let mut runs = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine
            .list_runs(
                ws,
                RunFilter::default(),
                PageRequest::new(100, cursor).unwrap(),
            )
            .await
            .unwrap();
        runs.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return runs,
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, log, ws, mode, seed] = args.as_slice() else {
        panic!("usage: engine_crash_worker DB_DIR EFFECTS_LOG WORKSPACE work|finish SEED");
    };
    let ws: WorkspaceId = ws.parse().expect("workspace id");
    let seed: u64 = seed.parse().expect("seed");
    let mut config = SledConfig::new(db);
    config.cache_capacity = 16 * 1024 * 1024;
    let storage: Arc<dyn Storage> =
        Arc::new(SledStorage::open_with(config).await.expect("open sled"));
    let acme = Arc::new(EffectLog::open(log, seed));
    let mut registry = ConnectorRegistry::new();
    registry.register(acme, None);
    let planner = FixedPlanner::new(
        vec![
            step(1, "core.manual", &[]),
            step(2, "acme.record.find", &[1]),
            step(3, "acme.record.update", &[2]).bind("id", 2, "id"),
            step(4, "acme.message.send", &[2]).param("text", json!("hello")),
            step(5, "acme.message.send", &[3, 4]).param("text", json!("done")),
        ],
        vec![],
    );
    let engine = EngineBuilder::new(storage, registry, planner, test_catalog())
        .limits(EngineLimits {
            backoff_base: Duration::from_millis(2),
            backoff_max: Duration::from_millis(20),
            max_attempts: 5,
            step_timeout: Duration::from_secs(10),
            ..EngineLimits::default()
        })
        .build()
        .await
        .expect("engine builds");

    if mode == "finish" {
        for run in all_runs(&engine, ws).await {
            let settled = engine.wait_for_run(ws, run.id).await.expect("run settles");
            assert!(
                matches!(
                    settled.status,
                    RunStatus::Completed | RunStatus::AwaitingReview
                ),
                "run {} ended {:?}",
                run.id,
                settled.status
            );
        }
        engine.shutdown().await.expect("shutdown");
        say("DONE");
        return;
    }

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut agents = engine
        .list_agents(ws, AgentFilter::default(), PageRequest::first())
        .await
        .unwrap()
        .items;
    if agents.is_empty() {
        for i in 0..4 {
            let agent = engine
                .create_agent(
                    ws,
                    CreateAgent {
                        name: format!("crash-agent-{i}"),
                        description: "find the record, update it, send two messages".into(),
                        connectors: vec![],
                        confidence_threshold: None,
                        actor: "crash-test".into(),
                    },
                )
                .await
                .expect("agent");
            agents.push(agent);
        }
    }
    say("UP");
    for _ in 0..3 {
        let agent = &agents[rng.gen_range(0..agents.len())];
        engine
            .start_run(
                ws,
                agent.id,
                StartRun {
                    mode: RunMode::Test,
                    input: json!({"amount": rng.gen_range(1..500)}),
                    actor: "crash-test".into(),
                },
            )
            .await
            .expect("run starts");
    }
    // Keep driving until killed.
    std::future::pending::<()>().await;
}
