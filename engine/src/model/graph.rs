//! The step graph: a DAG of [`Step`]s whose serde form is the plan JSON
//! (`{"steps": [{"step": 1, …, "after": []}, …]}`).

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde::{Deserialize, Serialize};

use super::step::{OperationKind, Step};

/// Why a list of steps is not a valid step graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A graph needs at least its trigger.
    #[error("a step graph needs at least one step (the trigger)")]
    Empty,
    /// Steps must be numbered 1, 2, 3… in list order.
    #[error(
        "step at position {position} is numbered {found}; steps are numbered 1, 2, 3… in order"
    )]
    Numbering {
        /// 1-based position in the list.
        position: usize,
        /// The number it carries.
        found: u32,
    },
    /// Only step 1 may be a trigger, and step 1 must be one.
    #[error("step {step}: {reason}")]
    Trigger {
        /// The offending step.
        step: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// `after` must name earlier steps, each once; only step 1 may have none.
    #[error("step {step}: bad dependency {after}: {reason}")]
    Dependency {
        /// The offending step.
        step: u32,
        /// The named predecessor (0 when the list is empty).
        after: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// A binding reads from a step that does not run before this one.
    #[error("step {step}: input {field:?} is bound to step {from}, which does not precede it")]
    Binding {
        /// The offending step.
        step: u32,
        /// The bound input field.
        field: String,
        /// The step it reads from.
        from: u32,
    },
    /// Confidence must lie in `[0, 1]`.
    #[error("step {step}: confidence {confidence} is outside [0, 1]")]
    Confidence {
        /// The offending step.
        step: u32,
        /// The value given.
        confidence: String,
    },
}

/// A validated DAG of steps. Step `n` is node `n - 1`; edges run from a
/// step to the steps that depend on it.
///
/// ```
/// use nexwatt_engine::model::StepGraph;
/// let json = serde_json::json!({"steps": [
///   {"step": 1, "connector": "core", "operation": "manual", "kind": "trigger", "effect": "control"},
///   {"step": 2, "connector": "slack", "operation": "message.send", "effect": "write",
///    "params": {"channel": "#ops"}, "after": [1]}]});
/// let graph: StepGraph = serde_json::from_value(json).unwrap();
/// assert_eq!(graph.len(), 2);
/// assert_eq!(graph.successors(1), vec![2]);
/// ```
#[derive(Debug, Clone)]
pub struct StepGraph {
    graph: DiGraph<Step, ()>,
}

#[derive(Serialize, Deserialize)]
struct StepGraphRepr {
    steps: Vec<Step>,
}

impl Serialize for StepGraph {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Ref<'a> {
            steps: Vec<&'a Step>,
        }
        Ref {
            steps: self.steps().collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for StepGraph {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let repr = StepGraphRepr::deserialize(d)?;
        StepGraph::new(repr.steps).map_err(serde::de::Error::custom)
    }
}

impl PartialEq for StepGraph {
    fn eq(&self, other: &Self) -> bool {
        self.steps().eq(other.steps())
    }
}

impl StepGraph {
    /// Builds and validates a graph from steps numbered 1..=n in order.
    pub fn new(steps: Vec<Step>) -> Result<Self, GraphError> {
        if steps.is_empty() {
            return Err(GraphError::Empty);
        }
        for (position, step) in steps.iter().enumerate() {
            let expected = u32::try_from(position + 1).unwrap_or(u32::MAX);
            if step.step != expected {
                return Err(GraphError::Numbering {
                    position: position + 1,
                    found: step.step,
                });
            }
            if !(0.0..=1.0).contains(&step.confidence) {
                return Err(GraphError::Confidence {
                    step: step.step,
                    confidence: step.confidence.to_string(),
                });
            }
            match (step.step, step.kind) {
                (1, OperationKind::Action) => {
                    return Err(GraphError::Trigger {
                        step: 1,
                        reason: "step 1 must be a trigger",
                    })
                }
                (n, OperationKind::Trigger) if n > 1 => {
                    return Err(GraphError::Trigger {
                        step: n,
                        reason: "only step 1 may be a trigger",
                    })
                }
                _ => {}
            }
            if step.step == 1 && !step.after.is_empty() {
                return Err(GraphError::Dependency {
                    step: 1,
                    after: step.after[0],
                    reason: "the trigger depends on nothing",
                });
            }
            if step.step > 1 && step.after.is_empty() {
                return Err(GraphError::Dependency {
                    step: step.step,
                    after: 0,
                    reason: "every step after the trigger depends on at least one earlier step",
                });
            }
            for (i, &after) in step.after.iter().enumerate() {
                if after == 0 || after >= step.step {
                    return Err(GraphError::Dependency {
                        step: step.step,
                        after,
                        reason: "must name an earlier step",
                    });
                }
                if step.after[..i].contains(&after) {
                    return Err(GraphError::Dependency {
                        step: step.step,
                        after,
                        reason: "named twice",
                    });
                }
            }
        }
        let mut graph = DiGraph::with_capacity(steps.len(), steps.len());
        for step in steps {
            graph.add_node(step);
        }
        let edges: Vec<(u32, u32)> = graph
            .node_weights()
            .flat_map(|s| s.after.iter().map(move |&a| (a, s.step)))
            .collect();
        for (from, to) in edges {
            graph.add_edge(node(from), node(to), ());
        }
        let built = Self { graph };
        for step in built.steps() {
            for (field, binding) in &step.bindings {
                if !built.precedes(binding.step, step.step) {
                    return Err(GraphError::Binding {
                        step: step.step,
                        field: field.clone(),
                        from: binding.step,
                    });
                }
            }
        }
        Ok(built)
    }

    /// Number of steps, trigger included.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Always false: a graph has at least its trigger.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The steps in number order (a topological order, since every step
    /// depends only on earlier ones).
    pub fn steps(&self) -> impl Iterator<Item = &Step> + '_ {
        self.graph.node_weights()
    }

    /// Step `number`, if there is one.
    pub fn step(&self, number: u32) -> Option<&Step> {
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        self.graph.node_weight(NodeIndex::new(index))
    }

    /// The trigger (step 1).
    pub fn trigger(&self) -> Option<&Step> {
        self.step(1)
    }

    /// The steps `number` directly depends on, ascending.
    pub fn predecessors(&self, number: u32) -> Vec<u32> {
        self.neighbours(number, Direction::Incoming)
    }

    /// The steps that directly depend on `number`, ascending.
    pub fn successors(&self, number: u32) -> Vec<u32> {
        self.neighbours(number, Direction::Outgoing)
    }

    fn neighbours(&self, number: u32, direction: Direction) -> Vec<u32> {
        if self.step(number).is_none() {
            return Vec::new();
        }
        let mut out: Vec<u32> = self
            .graph
            .neighbors_directed(node(number), direction)
            .filter_map(|n| self.graph.node_weight(n).map(|s| s.step))
            .collect();
        out.sort_unstable();
        out
    }

    /// Whether `earlier` must finish before `later` starts (transitively).
    pub fn precedes(&self, earlier: u32, later: u32) -> bool {
        if earlier >= later || self.step(earlier).is_none() || self.step(later).is_none() {
            return false;
        }
        petgraph::algo::has_path_connecting(&self.graph, node(earlier), node(later), None)
    }

    /// How many steps are flagged for review.
    pub fn flagged_count(&self) -> usize {
        self.steps().filter(|s| s.flagged).count()
    }

    /// The underlying petgraph graph (node `n - 1` is step `n`).
    pub fn as_petgraph(&self) -> &DiGraph<Step, ()> {
        &self.graph
    }
}

fn node(step: u32) -> NodeIndex {
    NodeIndex::new(step as usize - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Effect, OperationKind};

    fn step(n: u32, after: &[u32]) -> Step {
        Step {
            step: n,
            connector: if n == 1 { "core" } else { "slack" }.into(),
            operation: if n == 1 { "manual" } else { "message.send" }.into(),
            kind: if n == 1 {
                OperationKind::Trigger
            } else {
                OperationKind::Action
            },
            effect: Effect::Write,
            params: Default::default(),
            after: after.to_vec(),
            bindings: Default::default(),
            confidence: 0.9,
            flagged: false,
            rationale: String::new(),
            span: None,
        }
    }

    #[test]
    fn diamond_has_expected_edges() {
        let g = StepGraph::new(vec![
            step(1, &[]),
            step(2, &[1]),
            step(3, &[1]),
            step(4, &[2, 3]),
        ])
        .unwrap();
        assert_eq!(g.successors(1), vec![2, 3]);
        assert_eq!(g.predecessors(4), vec![2, 3]);
        assert!(g.precedes(1, 4));
        assert!(!g.precedes(2, 3));
        let json = serde_json::to_value(&g).unwrap();
        let back: StepGraph = serde_json::from_value(json).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn invalid_graphs_are_rejected() {
        assert_eq!(StepGraph::new(vec![]).unwrap_err(), GraphError::Empty);
        assert!(matches!(
            StepGraph::new(vec![step(1, &[]), step(3, &[1])]),
            Err(GraphError::Numbering { .. })
        ));
        assert!(matches!(
            StepGraph::new(vec![step(1, &[]), step(2, &[2])]),
            Err(GraphError::Dependency { .. })
        ));
        assert!(matches!(
            StepGraph::new(vec![step(1, &[]), step(2, &[])]),
            Err(GraphError::Dependency { .. })
        ));
        let mut bad = step(2, &[1]);
        bad.kind = OperationKind::Trigger;
        assert!(matches!(
            StepGraph::new(vec![step(1, &[]), bad]),
            Err(GraphError::Trigger { .. })
        ));
        let mut nan = step(2, &[1]);
        nan.confidence = f64::NAN;
        assert!(matches!(
            StepGraph::new(vec![step(1, &[]), nan]),
            Err(GraphError::Confidence { .. })
        ));
    }

    #[test]
    fn bindings_must_read_from_a_predecessor() {
        let mut s3 = step(3, &[1]);
        s3.bindings.insert(
            "text".into(),
            crate::model::Binding {
                step: 2,
                path: String::new(),
            },
        );
        let err = StepGraph::new(vec![step(1, &[]), step(2, &[1]), s3]).unwrap_err();
        assert!(matches!(err, GraphError::Binding { from: 2, .. }));
    }
}
