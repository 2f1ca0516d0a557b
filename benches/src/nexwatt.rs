//! Nexwatt set up for benchmarks: an engine over a given storage with the
//! no-op connector, and one active agent whose plan is a hand-built graph.

use std::sync::Arc;

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
