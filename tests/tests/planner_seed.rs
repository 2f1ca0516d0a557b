//! The seed's example, planned by the deterministic planner: five steps,
//! exactly one flagged, at the default threshold and at 0.70.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexwatt_engine::model::OperationKind;
use nexwatt_engine::planner::{DeterministicPlanner, PlanRequest, Planner};

const SEED: &str = "When a new invoice is marked paid in QuickBooks, update the matching deal in HubSpot to Closed Won and notify the account owner in Slack.";

fn planner() -> DeterministicPlanner {
    DeterministicPlanner::new(nexwatt_connectors::catalog().expect("catalog loads"))
}

#[test]
fn seed_example_has_five_steps_and_one_flag_at_both_thresholds() {
    let planner = planner();
    for threshold in [0.65, 0.70] {
        let mut request = PlanRequest::new(SEED);
        request.confidence_threshold = threshold;
        let plan = planner.plan_sync(&request).expect("the seed plans");
        let ops: Vec<String> = plan.graph.steps().map(|s| s.op()).collect();
        assert_eq!(
            ops,
            [
                "quickbooks.invoice.paid",
                "hubspot.deal.find",
                "hubspot.deal.update",
                "hubspot.owner.get",
                "slack.dm.send"
            ],
            "threshold {threshold}"
        );
        assert_eq!(plan.graph.flagged_count(), 1, "threshold {threshold}");
        let find = plan.graph.step(2).expect("step 2");
        assert!(find.flagged, "the unkeyed lookup is the flagged step");
        assert!(find.confidence < threshold);
        for s in plan.graph.steps().filter(|s| !s.flagged) {
            assert!(s.confidence >= threshold, "{} at {}", s.op(), s.confidence);
        }
    }
}

#[test]
fn seed_example_steps_carry_params_order_spans_and_reasons() {
    let plan = planner().plan_sync(&PlanRequest::new(SEED)).expect("plans");
    let g = &plan.graph;
    let trigger = g.step(1).expect("trigger");
    assert_eq!(trigger.kind, OperationKind::Trigger);
    let update = g.step(3).expect("update");
    assert_eq!(
        update.params.get("stage").and_then(|v| v.as_str()),
        Some("Closed Won")
    );
    assert_eq!(update.after, vec![2], "the update acts on the deal found");
    assert!(g.precedes(2, 4), "the owner is the found deal's owner");
    assert_eq!(g.step(5).expect("dm").after, vec![4]);
    let dm = g.step(5).expect("dm");
    assert!(
        dm.rationale.contains("hubspot.owner.get"),
        "{}",
        dm.rationale
    );
    assert!(dm.rationale.contains("slack.dm.send"), "{}", dm.rationale);
    // Every step came from a part of the description.
    for s in g.steps() {
        let span = s.span.expect("span");
        let text = span.text(SEED).expect("span on char boundaries");
        assert!(!text.trim().is_empty());
        assert!((0.0..=1.0).contains(&s.confidence));
        for b in s.bindings.values() {
            assert!(
                g.precedes(b.step, s.step),
                "binding of step {} reads step {}",
                s.step,
                b.step
            );
        }
    }
    assert!(update
        .span
        .and_then(|sp| sp.text(SEED))
        .is_some_and(|t| t.contains("Closed Won")));
    // The update reads the deal id found by step 2.
    assert_eq!(update.bindings.get("deal_id").map(|b| b.step), Some(2));
}

#[tokio::test]
async fn the_trait_object_plans_like_plan_sync() {
    let planner = planner();
    let sync = planner.plan_sync(&PlanRequest::new(SEED)).expect("plans");
    let dynamic: &dyn Planner = &planner;
    let via_trait = dynamic.plan(&PlanRequest::new(SEED)).await.expect("plans");
    assert_eq!(sync, via_trait);
}
