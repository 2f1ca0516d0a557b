//! The workflow on `duroxide` (durable orchestrations, in-memory SQLite).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use duroxide::providers::sqlite::SqliteProvider;
use duroxide::runtime::registry::ActivityRegistry;
use duroxide::runtime::{self, RuntimeOptions};
use duroxide::{
    ActivityContext, Client, OrchestrationContext, OrchestrationRegistry, OrchestrationStatus,
};

use super::OtherEngineError;
use crate::noop::WORKFLOW_STEPS;

const ENGINE: &str = "duroxide";
const ORCHESTRATION: &str = "NexwattCompareChain";

/// A started duroxide runtime with the orchestration registered, and a
/// client on the same store.
pub struct DuroxideBench {
    runtime: Arc<runtime::Runtime>,
    client: Client,
    next: AtomicU64,
    _dir: tempfile::TempDir,
}

impl DuroxideBench {
    /// Starts the runtime on a SQLite database in a temporary directory, as
    /// duroxide's `hello_world` example does. (Its shared-cache in-memory
    /// store reports "database is deadlocked" under the two dispatchers and
    /// backs off 200 ms each time, which would misstate its speed.)
    pub async fn start() -> Result<Self, OtherEngineError> {
        let dir = tempfile::tempdir().map_err(|e| OtherEngineError::new(ENGINE, e))?;
        let path = dir.path().join("duroxide.db");
        std::fs::File::create(&path).map_err(|e| OtherEngineError::new(ENGINE, e))?;
        let url = format!("sqlite:{}", path.display());
        let store = Arc::new(
            SqliteProvider::new(&url, None)
                .await
                .map_err(|e| OtherEngineError::new(ENGINE, e))?,
        );
        let activities = ActivityRegistry::builder()
            .register("Noop", |_ctx: ActivityContext, input: String| async move {
                Ok(input)
            })
            .build();
        let orchestrations = OrchestrationRegistry::builder()
            .register(
                ORCHESTRATION,
                |ctx: OrchestrationContext, input: String| async move {
                    for _ in 0..WORKFLOW_STEPS {
                        ctx.schedule_activity("Noop", input.clone()).await?;
                    }
                    Ok(input)
                },
            )
            .build();
        let options = RuntimeOptions {
            dispatcher_min_poll_interval: Duration::from_millis(1),
            ..Default::default()
        };
        let runtime = runtime::Runtime::start_with_options(
            store.clone(),
            activities,
            orchestrations,
            options,
        )
        .await;
        Ok(Self {
            runtime,
            client: Client::new(store),
            next: AtomicU64::new(0),
            _dir: dir,
        })
    }

    /// Starts one orchestration instance and waits until it completes.
    pub async fn run(&self) -> Result<(), OtherEngineError> {
        let instance = format!("i{}", self.next.fetch_add(1, Ordering::Relaxed));
        self.client
            .start_orchestration(&instance, ORCHESTRATION, "")
            .await
            .map_err(|e| OtherEngineError::new(ENGINE, format!("{e:?}")))?;
        match self
            .client
            .wait_for_orchestration(&instance, Duration::from_secs(30))
            .await
            .map_err(|e| OtherEngineError::new(ENGINE, format!("{e:?}")))?
        {
            OrchestrationStatus::Completed { .. } => Ok(()),
            other => Err(OtherEngineError::new(
                ENGINE,
                format!("instance {instance} ended {other:?}"),
            )),
        }
    }

    /// Stops the runtime.
    pub async fn close(&self) {
        Arc::clone(&self.runtime).shutdown(None).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_to_completion() {
        let bench = super::DuroxideBench::start().await.unwrap();
        bench.run().await.unwrap();
        bench.close().await;
    }
}
