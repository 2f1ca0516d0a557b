//! The workflow on `dagrs` (a flow-based DAG runtime).

use std::sync::Arc;

use dagrs::{Action, DefaultNode, EnvVar, Graph, InChannels, Node, NodeTable, OutChannels, Output};

use super::OtherEngineError;
use crate::noop::WORKFLOW_STEPS;

const ENGINE: &str = "dagrs";

/// A node action that does nothing.
struct Noop;

#[dagrs::async_trait::async_trait]
impl Action for Noop {
    async fn run(&self, _: &mut InChannels, _: &mut OutChannels, _: Arc<EnvVar>) -> Output {
        Output::empty()
    }
}

/// Builds the workflow: [`WORKFLOW_STEPS`] no-op nodes, each after the one
/// before.
pub fn build() -> Result<Graph, OtherEngineError> {
    let mut table = NodeTable::default();
    let nodes: Vec<DefaultNode> = (1..=WORKFLOW_STEPS)
        .map(|i| DefaultNode::with_action(format!("step-{i}"), Noop, &mut table))
        .collect();
    let ids: Vec<_> = nodes.iter().map(|n| n.id()).collect();
    let mut graph = Graph::new();
    for node in nodes {
        graph
            .add_node(node)
            .map_err(|e| OtherEngineError::new(ENGINE, format!("{e:?}")))?;
    }
    for pair in ids.windows(2) {
        graph
            .add_edge(pair[0], [pair[1]])
            .map_err(|e| OtherEngineError::new(ENGINE, format!("{e:?}")))?;
    }
    graph.set_env(EnvVar::new(table));
    Ok(graph)
}

/// Runs a graph [`build`] made, to the end; fails unless every node
/// succeeded.
pub async fn run(graph: &mut Graph) -> Result<(), OtherEngineError> {
    let report = graph
        .async_start()
        .await
        .map_err(|e| OtherEngineError::new(ENGINE, format!("{e:?}")))?;
    if report.node_succeeded != WORKFLOW_STEPS as usize {
        return Err(OtherEngineError::new(
            ENGINE,
            format!(
                "{} of {} nodes succeeded ({:?})",
                report.node_succeeded, WORKFLOW_STEPS, report.status
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[tokio::test]
    async fn runs_every_node() {
        let mut graph = super::build().unwrap();
        super::run(&mut graph).await.unwrap();
    }
}
