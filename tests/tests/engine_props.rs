//! Property test of the runner on random step graphs with random step
//! behaviours: steps start only after every predecessor succeeded (or was
//! skipped), none runs twice, blocked steps escalate and stop only their
//! descendants, and skipping every escalation completes the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use nexwatt_engine::connector::{
    Connector, ConnectorError, ConnectorManifest, ConnectorRegistry, ExecutionContext,
};
use nexwatt_engine::id::WorkspaceId;
use nexwatt_engine::model::{EscalationStatus, ResolutionAction, RunMode, RunStatus, StepStatus};
use nexwatt_engine::storage::{EscalationFilter, PageRequest};
use nexwatt_engine::{CreateAgent, EngineBuilder, Resolve, StartRun};
use nexwatt_storage_memory::MemoryStorage;
use nexwatt_tests::{acme_manifest, step, test_catalog, test_limits, FixedPlanner, StepExt};
use proptest::prelude::*;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Behaviour {
    Ok,
    Flaky,
    Broken,
    Flagged,
}

#[derive(Debug)]
struct ByStep {
    manifest: ConnectorManifest,
    behaviour: BTreeMap<u32, Behaviour>,
    log: Mutex<Vec<(u32, bool)>>,
}

#[async_trait]
impl Connector for ByStep {
    fn manifest(&self) -> &ConnectorManifest {
        &self.manifest
    }
    async fn execute(
        &self,
        _operation: &str,
        _input: Value,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let mut log = self.log.lock().unwrap();
        let earlier = log.iter().filter(|(s, _)| *s == ctx.step).count();
        let ok = match self.behaviour[&ctx.step] {
            Behaviour::Broken => false,
            Behaviour::Flaky => earlier > 0,
            Behaviour::Ok | Behaviour::Flagged => true,
        };
        log.push((ctx.step, ok));
        if ok {
            Ok(json!({"step": ctx.step}))
        } else if self.behaviour[&ctx.step] == Behaviour::Flaky {
            Err(ConnectorError::retryable("flaky", "try again"))
        } else {
            Err(ConnectorError::permanent("broken", "always fails"))
        }
    }
}

fn graphs() -> impl Strategy<Value = (Vec<Vec<u32>>, Vec<Behaviour>)> {
    (2usize..=7).prop_flat_map(|n| {
        let afters: Vec<_> = (2..=n)
            .map(|k| {
                proptest::collection::btree_set(1u32..k as u32, 1..=(k - 1).min(3))
                    .prop_map(|s| s.into_iter().collect::<Vec<u32>>())
            })
            .collect();
        let behaviours = proptest::collection::vec(
            prop_oneof![
                4 => Just(Behaviour::Ok),
                1 => Just(Behaviour::Flaky),
                1 => Just(Behaviour::Broken),
                1 => Just(Behaviour::Flagged),
            ],
            n - 1,
        );
        (afters, behaviours)
    })
}

#[allow(clippy::panic)] // a test helper: failing loudly is its job
async fn check(afters: Vec<Vec<u32>>, behaviours: Vec<Behaviour>) {
    let n = afters.len() as u32 + 1;
    let mut steps = vec![step(1, "core.manual", &[])];
    let mut behaviour = BTreeMap::new();
    for (i, (after, b)) in afters.iter().zip(&behaviours).enumerate() {
        let k = i as u32 + 2;
        let mut s = step(k, "acme.record.get", after);
        if *b == Behaviour::Flagged {
            s = s.flagged();
        }
        steps.push(s);
        behaviour.insert(k, *b);
    }
    let preds: BTreeMap<u32, Vec<u32>> = steps.iter().map(|s| (s.step, s.after.clone())).collect();
    let acme = Arc::new(ByStep {
        manifest: acme_manifest(),
        behaviour: behaviour.clone(),
        log: Mutex::new(Vec::new()),
    });
    let mut registry = ConnectorRegistry::new();
    registry.register(Arc::clone(&acme) as Arc<dyn Connector>, None);
    let engine = EngineBuilder::new(
        Arc::new(MemoryStorage::new()),
        registry,
        FixedPlanner::new(steps, vec![]),
        test_catalog(),
    )
    .limits(test_limits())
    .build()
    .await
    .unwrap();
    let ws = WorkspaceId::generate();
    let agent = engine
        .create_agent(
            ws,
            CreateAgent {
                name: "prop".into(),
                description: "random graph".into(),
                connectors: vec![],
                confidence_threshold: None,
                actor: "p".into(),
            },
        )
        .await
        .unwrap();
    let run = engine
        .start_run(
            ws,
            agent.id,
            StartRun {
                mode: RunMode::Test,
                input: json!({}),
                actor: "p".into(),
            },
        )
        .await
        .unwrap();
    let mut skipped: Vec<u32> = Vec::new();
    for _round in 0..=n {
        let settled = engine.wait_for_run(ws, run.id).await.unwrap();
        let detail = engine.get_run(ws, run.id).await.unwrap();
        let status = |k: u32| detail.steps[k as usize - 1].status;
        let done = |k: u32| status(k).is_done();
        // Every call happened after all its predecessors were done.
        let log = acme.log.lock().unwrap().clone();
        for (i, (k, _)) in log.iter().enumerate() {
            for p in &preds[k] {
                let p_done =
                    *p == 1 || skipped.contains(p) || log[..i].iter().any(|(s, ok)| s == p && *ok);
                assert!(p_done, "step {k} called before step {p} was done: {log:?}");
            }
        }
        // No step succeeded twice; a broken one is called once per round.
        for k in 2..=n {
            let oks = log.iter().filter(|(s, ok)| *s == k && *ok).count();
            assert!(oks <= 1, "step {k} succeeded {oks} times");
        }
        let open: Vec<_> = engine
            .list_escalations(
                ws,
                EscalationFilter {
                    run: Some(run.id),
                    status: Some(EscalationStatus::Open),
                    ..Default::default()
                },
                PageRequest::new(100, None).unwrap(),
            )
            .await
            .unwrap()
            .items;
        // A step waits for a person iff all its predecessors are done and
        // it is broken or flagged; nothing below a waiting step ran.
        for k in 2..=n {
            let reachable = preds[&k].iter().all(|&p| done(p));
            let waits = open.iter().any(|e| e.step == k);
            if reachable && !skipped.contains(&k) {
                let b = behaviour[&k];
                assert_eq!(
                    waits,
                    matches!(b, Behaviour::Broken | Behaviour::Flagged),
                    "step {k} ({b:?}) status {:?}",
                    status(k)
                );
                if !waits {
                    assert_eq!(status(k), StepStatus::Succeeded);
                }
            } else if !reachable {
                assert_eq!(status(k), StepStatus::Pending, "step {k} ran too early");
            }
        }
        let succeeded = detail.steps.iter().filter(|s| s.status.is_done()).count() as u32;
        assert_eq!(settled.steps_completed, succeeded);
        if open.is_empty() {
            assert_eq!(settled.status, RunStatus::Completed);
            assert!(detail.steps.iter().all(|s| s.status.is_done()));
            return;
        }
        assert_eq!(settled.status, RunStatus::AwaitingReview);
        for esc in open {
            skipped.push(esc.step);
            engine
                .resolve_escalation(
                    ws,
                    esc.id,
                    Resolve {
                        action: ResolutionAction::Skip,
                        note: None,
                        actor: "p".into(),
                        input: None,
                        output: Some(json!({"skipped": esc.step})),
                    },
                )
                .await
                .unwrap();
        }
    }
    panic!("the run did not complete after skipping every escalation");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_graphs_run_in_order_and_complete_when_escalations_are_skipped(
        (afters, behaviours) in graphs()
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(check(afters, behaviours));
    }
}
