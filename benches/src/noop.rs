//! A connector that does nothing, its manifest, and the step graphs the
//! engine benchmarks run.
//!
//! The connector returns at once, so what a benchmark measures is the
//! engine's own cost per step: scheduling, bindings, storage commits and
//! events. Its id, `bench`, is made up and lives only in the catalog
//! [`catalog`] builds.

use std::sync::Arc;

use async_trait::async_trait;
use nexwatt_engine::connector::{
    Catalog, Connector, ConnectorError, ConnectorManifest, ConnectorRegistry, ExecutionContext,
    OperationManifest,
};
use nexwatt_engine::model::{Effect, OperationKind, Step, StepGraph};

/// The made-up connector id.
pub const CONNECTOR_ID: &str = "bench";
/// Its trigger operation (step 1).
pub const TRIGGER_OP: &str = "start";
/// Its no-op action.
pub const NOOP_OP: &str = "noop";

/// The steps of the workflow every engine runs in the comparison: a
/// trigger and four no-op actions, each after the one before
/// (1 → 2 → 3 → 4 → 5).
pub const WORKFLOW_STEPS: u32 = 5;

/// The manifest of the `bench` connector: a trigger and one no-op action,
/// both reads, both idempotent.
pub fn manifest() -> ConnectorManifest {
    let op = |id: &str, kind: OperationKind, summary: &str| OperationManifest {
        id: id.to_string(),
        kind,
        effect: Effect::Read,
        summary: summary.to_string(),
        params: Vec::new(),
        inputs: Vec::new(),
        example_output: serde_json::json!({}),
        idempotent: true,
        vocabulary: Default::default(),
    };
    ConnectorManifest {
        id: CONNECTOR_ID.to_string(),
        name: "Bench".to_string(),
        category: "test".to_string(),
        description: "Does nothing, at once: measures the engine's own cost per step.".to_string(),
        operations: vec![
            op(
                TRIGGER_OP,
                OperationKind::Trigger,
                "Starts a benchmark run.",
            ),
            op(NOOP_OP, OperationKind::Action, "Does nothing."),
        ],
        vocabulary: Default::default(),
    }
}

/// A connector whose every operation returns `{}` at once.
#[derive(Debug)]
pub struct NoopConnector {
    manifest: ConnectorManifest,
}

impl NoopConnector {
    /// The connector, with [`manifest`].
    pub fn new() -> Self {
        Self {
            manifest: manifest(),
        }
    }
}

impl Default for NoopConnector {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Connector for NoopConnector {
    fn manifest(&self) -> &ConnectorManifest {
        &self.manifest
    }

    async fn execute(
        &self,
        _operation: &str,
        _input: serde_json::Value,
        _ctx: &ExecutionContext,
    ) -> Result<serde_json::Value, ConnectorError> {
        Ok(serde_json::Value::Object(serde_json::Map::new()))
    }
}

/// A catalog holding only the `bench` connector.
pub fn catalog() -> Catalog {
    Catalog::new(vec![manifest()])
}

/// A registry with the no-op connector as both sandbox and live client, so
/// test and live runs reach it alike.
pub fn registry() -> ConnectorRegistry {
    let noop: Arc<dyn Connector> = Arc::new(NoopConnector::new());
    let mut registry = ConnectorRegistry::new();
    registry.register(Arc::clone(&noop), Some(noop));
    registry
}

fn step(number: u32, after: Vec<u32>, flagged: bool) -> Step {
    let trigger = number == 1;
    Step {
        step: number,
        connector: CONNECTOR_ID.to_string(),
        operation: if trigger { TRIGGER_OP } else { NOOP_OP }.to_string(),
        kind: if trigger {
            OperationKind::Trigger
        } else {
            OperationKind::Action
        },
        effect: Effect::Read,
        params: Default::default(),
        after,
        bindings: Default::default(),
        confidence: if flagged { 0.2 } else { 1.0 },
        flagged,
        rationale: String::new(),
        span: None,
    }
}

/// A chain of `steps` steps (`steps` ≥ 1): the trigger, then no-op actions,
/// each after the one before. Step `flagged`, if given, is flagged for
/// review, so runs stop at it in `awaiting_review`.
pub fn chain(
    steps: u32,
    flagged: Option<u32>,
) -> Result<StepGraph, nexwatt_engine::model::GraphError> {
    let steps = (1..=steps.max(1))
        .map(|n| {
            let after = if n == 1 { Vec::new() } else { vec![n - 1] };
            step(n, after, flagged == Some(n))
        })
        .collect();
    StepGraph::new(steps)
}

/// The comparison's workflow: [`chain`] of [`WORKFLOW_STEPS`] steps.
pub fn workflow() -> Result<StepGraph, nexwatt_engine::model::GraphError> {
    chain(WORKFLOW_STEPS, None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_valid_and_linear() {
        let graph = chain(5, Some(2)).unwrap();
        assert_eq!(graph.len(), 5);
        assert_eq!(graph.successors(1), vec![2]);
        assert_eq!(graph.predecessors(5), vec![4]);
        assert_eq!(graph.flagged_count(), 1);
        assert!(graph.step(2).unwrap().flagged);
    }

    #[test]
    fn catalog_knows_every_operation_of_the_graph() {
        let catalog = catalog();
        for step in workflow().unwrap().steps() {
            assert!(catalog
                .operation(&step.connector, &step.operation)
                .is_some());
        }
    }
}
