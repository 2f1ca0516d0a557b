//! The workflow on `acts` (a YAML workflow engine).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use acts::{Engine, Principal, Vars, Workflow};
use tokio::sync::oneshot;

use super::OtherEngineError;

const ENGINE: &str = "acts";
const MODEL_ID: &str = "nexwatt-compare-chain";

/// The workflow as acts' YAML: five steps with no acts, run in order.
const MODEL: &str = r#"
id: nexwatt-compare-chain
name: five no-op steps
ver: 1.0.0
steps:
  - id: step1
    name: step 1
  - id: step2
    name: step 2
  - id: step3
    name: step 3
  - id: step4
    name: step 4
  - id: step5
    name: step 5
"#;

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>;

/// A started acts engine with the workflow deployed and a completion
/// channel listening.
pub struct ActsBench {
    engine: Engine,
    waiters: Waiters,
    next: std::sync::atomic::AtomicU64,
}

impl ActsBench {
    /// Starts the engine on its default in-memory store, deploys the model
    /// and subscribes to completions.
    pub async fn start() -> Result<Self, OtherEngineError> {
        let engine = Engine::builder()
            .start()
            .await
            .map_err(|e| OtherEngineError::new(ENGINE, e))?;
        let workflow = Workflow::from_yml(MODEL).map_err(|e| OtherEngineError::new(ENGINE, e))?;
        engine
            .executor(&Principal::unrestricted())
            .model()
            .deploy(&workflow, None)
            .await
            .map_err(|e| OtherEngineError::new(ENGINE, e))?;
        let waiters: Waiters = Arc::default();
        let on_complete = Arc::clone(&waiters);
        engine.channel().on_complete(move |e| {
            let waiter = on_complete
                .lock()
                .ok()
                .and_then(|mut w| w.remove(e.pid.as_str()));
            async move {
                if let Some(tx) = waiter {
                    let _ = tx.send(());
                }
            }
        });
        Ok(Self {
            engine,
            waiters,
            next: Default::default(),
        })
    }

    /// Starts one process of the model and waits until it completes.
    pub async fn run(&self) -> Result<(), OtherEngineError> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = format!("p{n}");
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .map_err(|_| OtherEngineError::new(ENGINE, "waiter map poisoned"))?
            .insert(pid.clone(), tx);
        let mut vars = Vars::new();
        vars.set("pid", pid.as_str());
        self.engine
            .executor(&Principal::unrestricted())
            .proc()
            .start(MODEL_ID, vars)
            .await
            .map_err(|e| OtherEngineError::new(ENGINE, e))?;
        rx.await
            .map_err(|_| OtherEngineError::new(ENGINE, format!("process {pid} never completed")))
    }

    /// Closes the engine.
    pub async fn close(&self) {
        self.engine.close().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_to_completion() {
        let bench = super::ActsBench::start().await.unwrap();
        bench.run().await.unwrap();
        bench.run().await.unwrap();
        bench.close().await;
    }
}
