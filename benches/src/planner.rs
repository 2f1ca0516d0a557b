//! A planner that ignores the description and returns one fixed graph, so
//! benchmarks create agents with hand-built graphs through the engine's own
//! `create_agent`.

use async_trait::async_trait;
use nexwatt_engine::model::StepGraph;
use nexwatt_engine::planner::{Plan, PlanError, PlanRequest, Planner};

/// Plans every (valid) request as the same graph, with no rules.
#[derive(Debug, Clone)]
pub struct FixedPlanner {
    graph: StepGraph,
}

impl FixedPlanner {
    /// A planner that answers `graph` to every request.
    pub fn new(graph: StepGraph) -> Self {
        Self { graph }
    }
}

#[async_trait]
impl Planner for FixedPlanner {
    async fn plan(&self, request: &PlanRequest) -> Result<Plan, PlanError> {
        request.validate()?;
        Ok(Plan {
            graph: self.graph.clone(),
            rules: Vec::new(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_the_fixed_graph_and_still_validates() {
        let graph = crate::noop::chain(3, None).unwrap();
        let planner = FixedPlanner::new(graph.clone());
        let plan = planner.plan(&PlanRequest::new("anything")).await.unwrap();
        assert_eq!(plan.graph, graph);
        assert!(planner.plan(&PlanRequest::new("  ")).await.is_err());
    }
}
