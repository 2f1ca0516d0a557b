//! Behaviour of the deterministic planner: rejection, allowed connectors,
//! rules, determinism, catalog-driven vocabulary, request validation and
//! the JSON-lines and text renderings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexwatt_connectors::catalog::{parse_connector, FILES};
use nexwatt_engine::connector::Catalog;
use nexwatt_engine::model::RuleCheck;
use nexwatt_engine::planner::{
    plan_jsonl, render_text, DeterministicPlanner, PlanErrorKind, PlanRequest,
};

fn planner() -> DeterministicPlanner {
    DeterministicPlanner::new(nexwatt_connectors::catalog().expect("catalog loads"))
}

fn ops(planner: &DeterministicPlanner, d: &str) -> Vec<String> {
    match planner.plan_sync(&PlanRequest::new(d)) {
        Ok(p) => p.graph.steps().map(|s| s.op()).collect(),
        Err(e) => panic!("{d:?} was rejected: {e}"),
    }
}

#[test]
fn questions_wishes_and_unknown_products_are_rejected_with_what_was_understood() {
    let p = planner();
    for d in [
        "Why did our churn go up last quarter, and what should we be doing differently?",
        "I wish the people on our design team would stop talking over each other in meetings.",
        "Add our three new contractors to the payroll in Gusto and file their W-9 forms.",
        "When a candidate applies in Greenhouse, move them to the phone-screen stage in Lever.",
        "Which CRM is better for a five-person startup, HubSpot or Salesforce?",
        "Translate the employee handbook into Spanish and French.",
    ] {
        let err = p.plan_sync(&PlanRequest::new(d)).expect_err(d);
        assert_eq!(err.kind, PlanErrorKind::DescriptionUnrecognized, "{d}");
        assert_eq!(err.kind.code(), "description_unrecognized");
        assert!(
            err.message
                .starts_with("nothing in the description matches"),
            "{}",
            err.message
        );
    }
    let err = p
        .plan_sync(&PlanRequest::new(
            "Add our new contractors to the payroll in Gusto.",
        ))
        .expect_err("Gusto");
    assert!(
        err.message.contains("Gusto"),
        "says what was not understood: {}",
        err.message
    );
    let err = p
        .plan_sync(&PlanRequest::new(
            "Which CRM is better, HubSpot or Salesforce?",
        ))
        .expect_err("question");
    assert!(
        err.message.contains("HubSpot"),
        "says what was recognised: {}",
        err.message
    );
}

#[test]
fn invalid_requests_are_refused() {
    let p = planner();
    for d in ["", "   \n\t ", &"x".repeat(2001)] {
        let err = p.plan_sync(&PlanRequest::new(d)).expect_err("invalid");
        assert_eq!(err.kind, PlanErrorKind::InvalidRequest);
        assert_eq!(err.kind.code(), "invalid_request");
    }
    let mut r = PlanRequest::new("post in #ops");
    r.confidence_threshold = 1.5;
    assert_eq!(
        p.plan_sync(&r).expect_err("threshold").kind,
        PlanErrorKind::InvalidRequest
    );
}

#[test]
fn steps_outside_the_allowed_connectors_are_flagged_with_the_reason() {
    let p = planner();
    let mut r = PlanRequest::new(
        "When a Stripe payment fails, email the customer and post a message in #billing.",
    );
    r.allowed_connectors = vec!["stripe".into(), "slack".into()];
    let plan = p.plan_sync(&r).expect("plans");
    let email = plan
        .graph
        .steps()
        .find(|s| s.connector == "email")
        .expect("email step");
    assert!(email.flagged);
    assert!(email.confidence < r.confidence_threshold);
    assert!(
        email
            .rationale
            .contains("not in the agent's allowed connectors"),
        "{}",
        email.rationale
    );
    let slack = plan
        .graph
        .steps()
        .find(|s| s.connector == "slack")
        .expect("slack step");
    assert!(!slack.flagged, "allowed and explicit: {}", slack.rationale);
    assert!(!plan.graph.step(1).expect("trigger").flagged);
}

#[test]
fn rules_in_the_description_become_rules_not_steps() {
    let p = planner();
    let d = "Never refund more than $500. When a dispute is opened in Stripe, refund the customer $40 and post in #billing. Don't message customers on weekends.";
    let plan = p.plan_sync(&PlanRequest::new(d)).expect("plans");
    let ops: Vec<String> = plan.graph.steps().map(|s| s.op()).collect();
    assert_eq!(
        ops,
        [
            "stripe.dispute.created",
            "stripe.refund.create",
            "slack.message.send"
        ]
    );
    let max = plan
        .rules
        .iter()
        .find(|r| matches!(r.check, RuleCheck::MaxValue { .. }))
        .expect("a max-value rule");
    assert_eq!(max.applies_to.connector.as_deref(), Some("stripe"));
    assert_eq!(max.applies_to.operation.as_deref(), Some("refund.create"));
    assert_eq!(
        max.check,
        RuleCheck::MaxValue {
            field: "amount".into(),
            max: 500.0
        }
    );
    let span = max.span.expect("span");
    assert_eq!(span.text(d), Some("Never refund more than $500"));
    let weekend: Vec<_> = plan
        .rules
        .iter()
        .filter(|r| matches!(&r.check, RuleCheck::ForbiddenWeekdays { days } if days == &["saturday", "sunday"]))
        .collect();
    assert!(
        weekend.iter().any(
            |r| r.applies_to.operation.as_deref() == Some("message.send")
                && r.applies_to.connector.as_deref() == Some("email")
        ),
        "{weekend:?}"
    );
    assert!(weekend
        .iter()
        .any(|r| r.applies_to.connector.as_deref() == Some("twilio")));
}

#[test]
fn planning_is_deterministic_across_instances() {
    let a = planner();
    let b = DeterministicPlanner::new(&nexwatt_connectors::load_catalog().expect("loads"));
    let dev = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("planner/extra.jsonl"),
    )
    .expect("extra set");
    let mut out_a = Vec::new();
    let mut out_b = Vec::new();
    plan_jsonl(&a, dev.as_bytes(), &mut out_a).expect("a");
    plan_jsonl(&b, dev.as_bytes(), &mut out_b).expect("b");
    assert_eq!(out_a, out_b);
    let mut again = Vec::new();
    plan_jsonl(&a, dev.as_bytes(), &mut again).expect("again");
    assert_eq!(out_a, again);
}

const BLIPPER_MANIFEST: &str = r#"
id = "blipper"
name = "Blipper"
category = "paging"
description = "A made-up paging service, for this test."

[[operations]]
id = "page.sent"
kind = "trigger"
effect = "read"
summary = "a page is sent"

[[operations]]
id = "page.send"
kind = "action"
effect = "write"
summary = "page someone"
params = [{ name = "team", type = "string" }]

[[operations]]
id = "rota.find"
kind = "action"
effect = "read"
summary = "find the rota"
"#;

const BLIPPER_VOCABULARY: &str = r#"
aliases = ["blipper", "blip"]

[entities]
page = ["page", "blip", "pager alert"]
rota = ["rota", "on-call rota"]

[operations."page.sent"]
verbs = ["send", "go out", "fire"]

[operations."page.send"]
verbs = ["page", "blip", "send", "wake"]
params.team = { patterns = ["the {} team", "team {}"] }

[operations."rota.find"]
verbs = ["find", "look up", "check"]
"#;

#[test]
fn a_new_vocabulary_file_teaches_the_planner_a_new_connector() {
    let d = "When a Zendesk ticket is marked urgent, check the on-call rota in Blipper by team and then page the Payments team in Blipper.";
    // Without the connector, its words mean nothing: only a trigger is left.
    let before = planner();
    let err = before
        .plan_sync(&PlanRequest::new(d))
        .expect_err("nothing to do");
    assert!(
        err.message.contains("'Blipper' is not a connector"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("zendesk.ticket.updated"),
        "{}",
        err.message
    );

    let mut connectors: Vec<_> = FILES
        .iter()
        .map(|(id, m, v)| parse_connector(id, m, v).expect("parses"))
        .collect();
    connectors.insert(
        0,
        parse_connector("blipper", BLIPPER_MANIFEST, BLIPPER_VOCABULARY)
            .expect("made-up connector parses"),
    );
    let taught = DeterministicPlanner::new(&Catalog::new(connectors));
    let ops = ops(&taught, d);
    assert_eq!(
        ops,
        [
            "zendesk.ticket.updated",
            "blipper.rota.find",
            "blipper.page.send"
        ]
    );
    let plan = taught.plan_sync(&PlanRequest::new(d)).expect("plans");
    let page = plan.graph.step(3).expect("page");
    assert_eq!(
        page.params.get("team").and_then(|v| v.as_str()),
        Some("Payments")
    );
    assert_eq!(page.after, vec![2]);
    // And as a trigger.
    let ops = ops_of(&taught, "When a Blipper page goes out, post in #incidents.");
    assert_eq!(ops, ["blipper.page.sent", "slack.message.send"]);
}

fn ops_of(p: &DeterministicPlanner, d: &str) -> Vec<String> {
    ops(p, d)
}

#[test]
fn jsonl_output_has_one_line_per_input_and_never_crashes_on_bad_lines() {
    let p = planner();
    let long = "a".repeat(2001);
    let input = format!(
        "{}\nnot json at all\n{}\n{}\n\n{}\n{}\n",
        r#"{"id": "a", "description": "Every hour, fetch https://example.com/x and post it to #ops."}"#,
        r#"{"id": "b", "description": ""}"#,
        serde_json::json!({"id": "c", "description": long}),
        r#"{"id": "d", "description": "Why is the sky blue?"}"#,
        r#"{"id": 7, "description": 12}"#,
    );
    let mut out = Vec::new();
    plan_jsonl(&p, input.as_bytes(), &mut out).expect("writes");
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["id"], "a");
    let steps = lines[0]["steps"].as_array().expect("steps");
    assert_eq!(steps[0]["connector"], "core");
    assert_eq!(steps[0]["operation"], "schedule");
    assert_eq!(steps[0]["params"]["every"], "hour");
    for key in [
        "step",
        "connector",
        "operation",
        "params",
        "after",
        "confidence",
        "flagged",
    ] {
        assert!(steps[1].get(key).is_some(), "{key} in {}", steps[1]);
    }
    assert_eq!(lines[1]["error"]["code"], "invalid_request");
    assert_eq!(lines[2]["id"], "b");
    assert_eq!(lines[2]["error"]["code"], "invalid_request");
    assert_eq!(lines[3]["error"]["code"], "invalid_request");
    assert_eq!(lines[4]["error"]["code"], "description_unrecognized");
    assert_eq!(lines[5]["id"], 7);
    assert_eq!(lines[5]["error"]["code"], "invalid_request");
}

#[test]
fn text_rendering_shows_steps_flags_order_sources_and_rules() {
    let p = planner();
    let d = "Never refund more than $500. When a new invoice is marked paid in QuickBooks, update the matching deal in HubSpot to Closed Won and notify the account owner in Slack.";
    let result = p.plan_sync(&PlanRequest::new(d));
    let text = render_text(d, &result);
    assert!(text.contains("5 steps, 1 flagged"), "{text}");
    assert!(text.contains("hubspot.deal.find"), "{text}");
    assert!(text.contains("FLAGGED"), "{text}");
    assert!(text.contains("after 2"), "{text}");
    assert!(
        text.contains("from:   \"When a new invoice is marked paid in QuickBooks"),
        "{text}"
    );
    assert!(text.contains("stage=\"Closed Won\""), "{text}");
    assert!(
        text.contains("stripe.refund.create: amount must not exceed 500"),
        "{text}"
    );
    let err = p.plan_sync(&PlanRequest::new("Why is the sky blue?"));
    assert!(render_text("Why is the sky blue?", &err).contains("description_unrecognized"));
}

#[test]
fn typos_are_read_through() {
    let p = planner();
    assert_eq!(
        ops(&p, "evry time a strip payment fails, email teh customer, then wait 24 hours and text them as well"),
        ["stripe.payment.failed", "email.message.send", "core.delay", "twilio.sms.send"]
    );
    assert_eq!(
        ops(&p, "wehn a deal is creatd in hubspot, post it to #sales and then create a folow-up task in hubspot"),
        ["hubspot.deal.created", "slack.message.send", "hubspot.task.create"]
    );
}
