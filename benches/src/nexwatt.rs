//! Nexwatt set up for benchmarks: an engine over a given storage with the
//! no-op connector, and one active agent whose plan is a hand-built graph.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nexwatt_engine::id::{AgentId, RunId, WorkspaceId};
use nexwatt_engine::model::{Run, RunMode, RunStatus, StepGraph};
use nexwatt_engine::storage::Storage;
use nexwatt_engine::{CreateAgent, Engine, EngineBuilder, EngineError, EngineLimits, StartRun};

use crate::noop;
use crate::planner::FixedPlanner;

/// Why a benchmark's run did not go as it must.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The engine refused or failed.
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// A run ended in another status than the benchmark expects.
    #[error("run {run} ended {found}, expected {expected}")]
    UnexpectedStatus {
        /// The run.
        run: RunId,
        /// Its status.
        found: &'static str,
        /// The status the benchmark waits for.
        expected: &'static str,
    },
}

/// An engine with one active agent to run.
#[derive(Debug, Clone)]
pub struct NexwattBench {
    /// The engine.
    pub engine: Engine,
    /// The workspace the agent lives in.
    pub workspace: WorkspaceId,
    /// The agent, whose plan is the graph given to [`NexwattBench::new`].
    pub agent: AgentId,
}

impl NexwattBench {
    /// Builds an engine over `storage` (no-op connector, `limits`), creates
    /// an agent whose plan is `graph` through [`Engine::create_agent`] and
    /// activates it.
    pub async fn new(
        storage: Arc<dyn Storage>,
        graph: StepGraph,
        limits: EngineLimits,
    ) -> Result<Self, BenchError> {
        let engine = EngineBuilder::new(
            storage,
            noop::registry(),
            Arc::new(FixedPlanner::new(graph)),
            Arc::new(noop::catalog()),
        )
        .limits(limits)
        .build()
        .await?;
        let workspace = WorkspaceId::generate();
        let agent = engine
            .create_agent(
                workspace,
                CreateAgent {
                    name: "bench".to_string(),
                    description: "Runs no-op steps for a benchmark.".to_string(),
                    connectors: Vec::new(),
                    confidence_threshold: None,
                    actor: "bench".to_string(),
                },
            )
            .await?;
        engine.activate_agent(workspace, agent.id, "bench").await?;
        Ok(Self {
            engine,
            workspace,
            agent: agent.id,
        })
    }

    /// Starts a live run of the agent and returns it at once.
    pub async fn start(&self) -> Result<Run, BenchError> {
        Ok(self
            .engine
            .start_run(
                self.workspace,
                self.agent,
                StartRun {
                    mode: RunMode::Live,
                    input: serde_json::Value::Null,
                    actor: "bench".to_string(),
                },
            )
            .await?)
    }

    /// Waits until run `id` stops running and checks it ended `expected`.
    pub async fn wait(&self, id: RunId, expected: RunStatus) -> Result<Run, BenchError> {
        let run = self.engine.wait_for_run(self.workspace, id).await?;
        if run.status != expected {
            return Err(BenchError::UnexpectedStatus {
                run: id,
                found: run.status.as_str(),
                expected: expected.as_str(),
            });
        }
        Ok(run)
    }

    /// One run end to end on the calling task
    /// ([`Engine::run_inline`](nexwatt_engine::Engine::run_inline)); checks
    /// it completed.
    pub async fn run_inline(&self) -> Result<Run, BenchError> {
        let run = self
            .engine
            .run_inline(
                self.workspace,
                self.agent,
                StartRun {
                    mode: RunMode::Live,
                    input: serde_json::Value::Null,
                    actor: "bench".to_string(),
                },
            )
            .await?;
        if run.status != RunStatus::Completed {
            return Err(BenchError::UnexpectedStatus {
                run: run.id,
                found: run.status.as_str(),
                expected: RunStatus::Completed.as_str(),
            });
        }
        Ok(run)
    }

    /// One run end to end: start it, wait until it has completed.
    pub async fn run_to_completion(&self) -> Result<Run, BenchError> {
        let run = self.start().await?;
        self.wait(run.id, RunStatus::Completed).await
    }
}

/// How a benchmark drives a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunPath {
    /// On the calling task ([`NexwattBench::run_inline`]).
    Inline,
    /// Started in the background and waited for
    /// ([`NexwattBench::run_to_completion`]).
    Background,
}

impl NexwattBench {
    /// One run end to end by `path`; checks it completed.
    pub async fn run_by(&self, path: RunPath) -> Result<Run, BenchError> {
        match path {
            RunPath::Inline => self.run_inline().await,
            RunPath::Background => self.run_to_completion().await,
        }
    }
}

/// A [`NexwattBench`] on the memory backend that is replaced by a fresh one
/// (engine, storage, agent) every `runs_per_store` runs, outside the timed
/// part.
///
/// Criterion runs a fast benchmark millions of times; left to grow, one
/// memory store would hold gigabytes of finished runs, and each run's cost
/// would be the machine's first touch of fresh pages (several µs per run
/// on a VM), not the engine's. Replacing the store keeps every run's
/// storage the same size, as a host that prunes old runs would.
#[derive(Debug)]
pub struct FreshMemoryBench {
    graph: StepGraph,
    limits: EngineLimits,
    runs_per_store: u64,
    current: NexwattBench,
    held: u64,
}

impl FreshMemoryBench {
    /// A bench running `graph`, on a store replaced every `runs_per_store`
    /// runs (at least one).
    pub async fn new(
        graph: StepGraph,
        limits: EngineLimits,
        runs_per_store: u64,
    ) -> Result<Self, BenchError> {
        let current = Self::fresh(&graph, limits.clone()).await?;
        Ok(Self {
            graph,
            limits,
            runs_per_store: runs_per_store.max(1),
            current,
            held: 0,
        })
    }

    async fn fresh(graph: &StepGraph, limits: EngineLimits) -> Result<NexwattBench, BenchError> {
        NexwattBench::new(
            Arc::new(nexwatt_storage_memory::MemoryStorage::new()),
            graph.clone(),
            limits,
        )
        .await
    }

    /// The bench runs go to now.
    pub fn current(&self) -> &NexwattBench {
        &self.current
    }

    /// Runs `iters` runs by `path` and returns the time they took, leaving
    /// out the replacement of full stores. For criterion's `iter_custom`.
    pub async fn timed(&mut self, iters: u64, path: RunPath) -> Result<Duration, BenchError> {
        let mut timed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.held >= self.runs_per_store {
                self.current.engine.shutdown().await?;
                self.current = Self::fresh(&self.graph, self.limits.clone()).await?;
                self.held = 0;
            }
            let chunk = left.min(self.runs_per_store - self.held);
            let start = Instant::now();
            for _ in 0..chunk {
                self.current.run_by(path).await?;
            }
            timed += start.elapsed();
            self.held += chunk;
            left -= chunk;
        }
        Ok(timed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn bench(flagged: Option<u32>) -> NexwattBench {
        NexwattBench::new(
            Arc::new(nexwatt_storage_memory::MemoryStorage::new()),
            noop::chain(5, flagged).unwrap(),
            EngineLimits::default(),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_run_of_the_workflow_completes_every_step() {
        let bench = bench(None).await;
        let run = bench.run_to_completion().await.unwrap();
        assert_eq!(run.steps_completed, 5);
        let detail = bench.engine.get_run(bench.workspace, run.id).await.unwrap();
        assert_eq!(detail.steps.len(), 5);
    }

    #[tokio::test]
    async fn a_fresh_memory_bench_replaces_its_store_when_full() {
        let mut fresh =
            FreshMemoryBench::new(noop::chain(2, None).unwrap(), EngineLimits::default(), 3)
                .await
                .unwrap();
        let first = fresh.current().agent;
        fresh.timed(3, RunPath::Inline).await.unwrap();
        assert_eq!(fresh.current().agent, first, "3 runs fit the first store");
        fresh.timed(2, RunPath::Background).await.unwrap();
        let second = fresh.current().agent;
        assert_ne!(second, first, "the fourth run went to a fresh store");
        let runs = fresh
            .current()
            .engine
            .list_runs(
                fresh.current().workspace,
                nexwatt_engine::storage::RunFilter::default(),
                nexwatt_engine::storage::PageRequest::new(100, None).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(runs.items.len(), 2, "only the runs since the swap are held");
    }

    #[tokio::test]
    async fn a_flagged_step_leaves_the_run_awaiting_review() {
        let bench = bench(Some(2)).await;
        let run = bench.start().await.unwrap();
        let run = bench.wait(run.id, RunStatus::AwaitingReview).await.unwrap();
        assert_eq!(run.steps_completed, 1);
        // The wrong expectation is reported, not ignored.
        let err = bench.wait(run.id, RunStatus::Completed).await.unwrap_err();
        assert!(matches!(err, BenchError::UnexpectedStatus { .. }));
    }
}
