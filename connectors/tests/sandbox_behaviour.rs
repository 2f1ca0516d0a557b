//! Sandbox behaviour beyond single operations: determinism for a seed,
//! fault injection (failures, rate limits with retry-after, latency under
//! paused time), the effect log and idempotency, input validation, and
//! arbitrary inputs never panicking.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use nexwatt_connectors::sandbox::{CallOutcome, Sandboxes};
use nexwatt_engine::connector::{Connector, ConnectorError, ConnectorErrorKind, ExecutionContext};
use nexwatt_engine::model::{Effect, OperationKind};
use proptest::prelude::*;
use serde_json::{json, Value};

fn ctx(key: &str) -> ExecutionContext {
    let mut ctx = ExecutionContext::for_test();
    ctx.idempotency_key = key.to_string();
    ctx
}

/// Every trigger and find of every connector, with no input (triggers) or
/// one generic key, plus every collection's records: what a seed decides.
async fn snapshot(sandboxes: &Sandboxes) -> Vec<Value> {
    let mut out = Vec::new();
    for sandbox in sandboxes.all() {
        for op in &sandbox.manifest().operations {
            if op.kind == OperationKind::Trigger {
                out.push(
                    sandbox
                        .execute(&op.id, json!({}), &ctx("k"))
                        .await
                        .unwrap_or_else(|e| json!({"error": e.code()})),
                );
            }
        }
        for collection in sandbox.collections() {
            let records = sandbox.records(&collection);
            out.push(json!({ collection: records }));
        }
    }
    out
}

#[tokio::test]
async fn the_same_seed_gives_the_same_systems_and_outputs() {
    let a = snapshot(&Sandboxes::new(1234)).await;
    let b = snapshot(&Sandboxes::new(1234)).await;
    assert_eq!(a, b);
    let c = snapshot(&Sandboxes::new(1235)).await;
    assert_ne!(a, c, "another seed draws other records");
    // Writes are deterministic too: ids and timestamps come from the seed.
    let (x, y) = (Sandboxes::new(9), Sandboxes::new(9));
    for s in [&x, &y] {
        let stripe = s.get("stripe").unwrap();
        let out = stripe
            .execute(
                "refund.create",
                json!({"payment_id": "pi_3QhX2aLk8sT1"}),
                &ctx("r"),
            )
            .await
            .unwrap();
        assert_eq!(out["refund"]["amount"], 129.0);
    }
    assert_eq!(
        x.get("stripe").unwrap().effects()[0].output,
        y.get("stripe").unwrap().effects()[0].output
    );
}

#[tokio::test]
async fn records_of_one_seed_agree_across_connectors() {
    let s = Sandboxes::new(77);
    let qb = s.get("quickbooks").unwrap().records("customers");
    let hs = s.get("hubspot").unwrap().records("contacts");
    // Every seeded QuickBooks customer's email is a HubSpot contact.
    for customer in qb
        .iter()
        .filter(|c| c["id"].as_str().is_some_and(|id| id.len() == 2))
    {
        assert!(
            hs.iter().any(|c| c["email"] == customer["email"]),
            "{} has no HubSpot contact",
            customer["email"]
        );
    }
}

#[tokio::test]
async fn fail_next_fails_exactly_n_calls_without_effects() {
    let s = Sandboxes::new(3);
    let slack = s.get("slack").unwrap();
    slack
        .faults()
        .fail_next(2, ConnectorError::retryable("upstream_unavailable", "503"));
    let input = json!({"channel": "#sales", "text": "hello"});
    for _ in 0..2 {
        let err = slack
            .execute("message.send", input.clone(), &ctx("a"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "upstream_unavailable");
        assert_eq!(err.kind(), ConnectorErrorKind::Retryable);
    }
    assert!(slack.effects().is_empty(), "a failed call writes nothing");
    slack
        .execute("message.send", input, &ctx("a"))
        .await
        .unwrap();
    assert_eq!(slack.effects().len(), 1);
    let outcomes: Vec<CallOutcome> = slack.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        [
            CallOutcome::Failed("upstream_unavailable".into()),
            CallOutcome::Failed("upstream_unavailable".into()),
            CallOutcome::Ok
        ]
    );
}

#[tokio::test]
async fn faults_can_target_one_operation() {
    let s = Sandboxes::new(3);
    let hubspot = s.get("hubspot").unwrap();
    hubspot.faults().fail_next_on(
        "deal.update",
        1,
        ConnectorError::permanent("forbidden", "403"),
    );
    // Other operations pass.
    hubspot
        .execute("deal.find", json!({"deal_id": "7001"}), &ctx("1"))
        .await
        .unwrap();
    let err = hubspot
        .execute(
            "deal.update",
            json!({"deal_id": "7001", "stage": "Closed Won"}),
            &ctx("2"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.kind()),
        ("forbidden", ConnectorErrorKind::Permanent)
    );
    hubspot
        .execute(
            "deal.update",
            json!({"deal_id": "7001", "stage": "Closed Won"}),
            &ctx("2"),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn rate_limits_are_retryable_and_carry_the_delay() {
    let s = Sandboxes::new(3);
    let qb = s.get("quickbooks").unwrap();
    qb.faults().rate_limit_next(1, Duration::from_secs(7));
    let err = qb
        .execute("invoice.find", json!({"invoice_id": "INV-4419"}), &ctx("x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "rate_limited");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(qb.faults().pending(), 0);
    qb.execute("invoice.find", json!({"invoice_id": "INV-4419"}), &ctx("x"))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn latency_uses_tokio_time() {
    let s = Sandboxes::new(3);
    let jira = s.get("jira").unwrap();
    jira.faults().add_latency(Duration::from_secs(20));
    let start = tokio::time::Instant::now();
    jira.execute("issue.find", json!({"issue_key": "OPS-142"}), &ctx("l"))
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_secs(20));
    // A caller's timeout fires first, and the call then has no effect.
    let slow_ctx = ctx("m");
    let slow = jira.execute(
        "issue.comment",
        json!({"issue_key": "OPS-142", "body": "x"}),
        &slow_ctx,
    );
    let timed_out = tokio::time::timeout(Duration::from_secs(5), slow).await;
    assert!(timed_out.is_err());
    assert!(jira.effects().is_empty());
    // Past the step's deadline the sandbox gives up like a real client.
    let mut short = ctx("d");
    short.deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let start = tokio::time::Instant::now();
    let err = jira
        .execute(
            "issue.comment",
            json!({"issue_key": "OPS-142", "body": "x"}),
            &short,
        )
        .await
        .unwrap_err();
    assert_eq!((err.code(), err.is_retryable()), ("timeout", true));
    assert_eq!(start.elapsed(), Duration::from_millis(3001));
    assert!(jira.effects().is_empty());
    // A caller timing out at the deadline itself wins the tie.
    let mut tie = ctx("e");
    tie.deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let call = jira.execute("issue.find", json!({"issue_key": "OPS-142"}), &tie);
    assert!(tokio::time::timeout_at(tie.deadline, call).await.is_err());
    jira.faults().clear();
    let start = tokio::time::Instant::now();
    jira.execute("issue.find", json!({"issue_key": "OPS-142"}), &ctx("l"))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn idempotent_writes_apply_once_per_key() {
    let s = Sandboxes::new(5);
    let stripe = s.get("stripe").unwrap();
    let input = json!({"payment_id": "pi_3QhX2aLk8sT1", "amount": 50});
    let first = stripe
        .execute("refund.create", input.clone(), &ctx("run-1"))
        .await
        .unwrap();
    let again = stripe
        .execute("refund.create", input.clone(), &ctx("run-1"))
        .await
        .unwrap();
    assert_eq!(first, again, "the first result is returned");
    assert_eq!(stripe.effects_of("refund.create").len(), 1, "refunded once");
    assert_eq!(stripe.records("refunds").len(), 1);
    assert_eq!(
        stripe.calls().last().unwrap().outcome,
        CallOutcome::Replayed
    );
    // The same key with another input is refused, as Stripe does.
    let err = stripe
        .execute(
            "refund.create",
            json!({"payment_id": "pi_3QhX2aLk8sT1", "amount": 10}),
            &ctx("run-1"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "idempotency_key_reused");
    // Another key is another refund.
    stripe
        .execute(
            "refund.create",
            json!({"payment_id": "pi_3QhX2aLk8sT1", "amount": 10}),
            &ctx("run-2"),
        )
        .await
        .unwrap();
    let effects = stripe.effects();
    assert_eq!(effects.len(), 2);
    assert_eq!(effects[0].idempotency_key, "run-1");
    assert_eq!(effects[1].idempotency_key, "run-2");
    assert!(effects[0].seq < effects[1].seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_key_apply_once() {
    let s = Sandboxes::new(5);
    let hubspot = s.get("hubspot").unwrap();
    let mut tasks = Vec::new();
    for n in 0..32 {
        let hubspot = hubspot.clone();
        tasks.push(tokio::spawn(async move {
            // Half the tasks share one key (retries of one step), the
            // others each have their own (different steps).
            let key = if n % 2 == 0 {
                "run-1-3".to_string()
            } else {
                format!("run-2-{n}")
            };
            hubspot
                .execute(
                    "deal.update",
                    json!({"deal_id": "7001", "stage": "Closed Won"}),
                    &ctx(&key),
                )
                .await
                .unwrap()
        }));
    }
    let mut outputs = Vec::new();
    for t in tasks {
        outputs.push(t.await.unwrap());
    }
    let effects = hubspot.effects();
    assert_eq!(
        effects.len(),
        1 + 16,
        "one effect for the shared key, one per other key"
    );
    assert_eq!(
        effects
            .iter()
            .filter(|e| e.idempotency_key == "run-1-3")
            .count(),
        1
    );
    let mut seqs: Vec<u64> = effects.iter().map(|e| e.seq).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), 17, "sequence numbers are unique and ordered");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let replayed = hubspot
        .calls()
        .iter()
        .filter(|c| c.outcome == CallOutcome::Replayed)
        .count();
    assert_eq!(replayed, 15);
    assert!(outputs.iter().all(|o| o["deal"]["stage"] == "Closed Won"));
}

#[tokio::test]
async fn non_idempotent_writes_happen_twice_like_the_real_service() {
    let s = Sandboxes::new(5);
    let slack = s.get("slack").unwrap();
    assert!(
        !slack
            .manifest()
            .operation("message.send")
            .unwrap()
            .idempotent
    );
    let input = json!({"channel": "#ops", "text": "deploy done"});
    slack
        .execute("message.send", input.clone(), &ctx("k"))
        .await
        .unwrap();
    slack
        .execute("message.send", input, &ctx("k"))
        .await
        .unwrap();
    let effects = slack.effects();
    assert_eq!(effects.len(), 2);
    assert_eq!(
        effects[0].idempotency_key, effects[1].idempotency_key,
        "a test can see the duplicate"
    );
}

#[tokio::test]
async fn invalid_input_and_missing_records_are_permanent_typed_errors() {
    let s = Sandboxes::new(5);
    let hubspot = s.get("hubspot").unwrap();
    let cases = [
        (
            "deal.update",
            json!({"stage": "Closed Won"}),
            "invalid_input",
        ),
        (
            "deal.update",
            json!({"deal_id": "7001", "stage": "Nirvana"}),
            "invalid_input",
        ),
        ("deal.update", json!({"deal_id": "404404"}), "not_found"),
        ("deal.find", json!({}), "invalid_input"),
        (
            "deal.find",
            json!({"company": "No Such Company"}),
            "not_found",
        ),
        (
            "contact.create",
            json!({"email": "not-an-email"}),
            "invalid_input",
        ),
        (
            "contact.create",
            json!({"email": "maya.chen@acmelogistics.com"}),
            "already_exists",
        ),
        (
            "deal.create",
            json!({"name": "x", "amount": "lots"}),
            "invalid_input",
        ),
        ("deal.float", json!({}), "unknown_operation"),
    ];
    for (op, input, code) in cases {
        let err = hubspot
            .execute(op, input.clone(), &ctx("v"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{op} {input}: {err}");
        assert_eq!(err.kind(), ConnectorErrorKind::Permanent);
    }
    let err = hubspot
        .execute("deal.find", json!([1, 2]), &ctx("v"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    assert!(hubspot.effects().is_empty());
    // Domain rules of the simulated systems.
    let stripe = s.get("stripe").unwrap();
    let err = stripe
        .execute(
            "refund.create",
            json!({"payment_id": "pi_3QhX2aLk8sT1", "amount": 5000}),
            &ctx("r"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "amount_too_large");
    let shopify = s.get("shopify").unwrap();
    let order = json!({"order_id": 5820154970398_i64});
    shopify
        .execute("order.fulfill", order.clone(), &ctx("f1"))
        .await
        .unwrap();
    let err = shopify
        .execute("order.fulfill", order, &ctx("f2"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "already_fulfilled");
    let jira = s.get("jira").unwrap();
    let err = jira
        .execute(
            "issue.transition",
            json!({"issue_key": "OPS-142", "status": "Shipped"}),
            &ctx("t"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "transition_unavailable");
}

#[tokio::test]
async fn inputs_are_found_in_earlier_outputs() {
    // A runner may hand a step the outputs of earlier steps: ids, emails
    // and numbers are found inside them.
    let s = Sandboxes::new(5);
    let shopify = s.get("shopify").unwrap();
    let event = shopify
        .execute("order.created", json!({}), &ctx("1"))
        .await
        .unwrap();
    let tagged = shopify
        .execute(
            "customer.tag",
            json!({"tag": "VIP", "order": event["order"]}),
            &ctx("2"),
        )
        .await
        .unwrap();
    assert_eq!(tagged["customer"]["id"], event["order"]["customer"]["id"]);
    let zendesk = s.get("zendesk").unwrap();
    let ticket = zendesk
        .execute("ticket.created", json!({}), &ctx("3"))
        .await
        .unwrap();
    let updated = zendesk
        .execute(
            "ticket.update",
            json!({"status": "close", "ticket": ticket["ticket"]}),
            &ctx("4"),
        )
        .await
        .unwrap();
    assert_eq!(updated["ticket"]["status"], "closed");
    let err = zendesk
        .execute(
            "ticket.comment",
            json!({"body": "x", "ticket": ticket["ticket"]}),
            &ctx("5"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ticket_closed");
}

#[tokio::test]
async fn contact_details_come_from_the_records_at_hand() {
    let s = Sandboxes::new(5);
    // "When a demo form is submitted, create a lead in Salesforce and text
    // them": names, company and phone come from the submission.
    let form = s
        .get("hubspot")
        .unwrap()
        .execute("form.submitted", json!({}), &ctx("1"))
        .await
        .unwrap();
    let lead = s
        .get("salesforce")
        .unwrap()
        .execute("lead.create", form.clone(), &ctx("2"))
        .await
        .unwrap();
    assert_eq!(lead["lead"]["last_name"], "Martin");
    assert_eq!(lead["lead"]["company"], "Blue Harbor Foods");
    let sms = s
        .get("twilio")
        .unwrap()
        .execute("sms.send", form.clone(), &ctx("3"))
        .await
        .unwrap();
    assert_eq!(sms["message"]["to"], "+13125550188");
    let mail = s
        .get("email")
        .unwrap()
        .execute("message.send", form, &ctx("4"))
        .await
        .unwrap();
    assert_eq!(mail["message"]["to"][0], "leo.martin@blueharborfoods.com");
}

#[tokio::test]
async fn finds_set_aside_keys_that_match_nothing() {
    let s = Sandboxes::new(5);
    let qb = s.get("quickbooks").unwrap();
    // After a Shopify order: its customer id and name mean nothing to
    // QuickBooks, the email finds the customer.
    let out = qb
        .execute(
            "customer.find",
            json!({"customer_id": "7390214501", "email": "maya.chen@acmelogistics.com", "name": "#1042"}),
            &ctx("1"),
        )
        .await
        .unwrap();
    assert_eq!(out["customer"]["id"], "58");
    // Two keys that each match, but not the same record: nothing.
    let zd = s.get("zendesk").unwrap();
    let solved_only = json!({"requester_email": "maya.chen@acmelogistics.com", "status": "closed"});
    let err = zd
        .execute("ticket.find", solved_only, &ctx("2"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    // Nothing matching at all: not found.
    let err = qb
        .execute(
            "customer.find",
            json!({"email": "nobody@nowhere.io"}),
            &ctx("3"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn named_channels_sheets_projects_repos_and_forms_exist() {
    // A test run cannot know the real workspace's containers: the sandbox
    // has every one a plan names (well-formed), and records go into it.
    let s = Sandboxes::new(5);
    let slack = s.get("slack").unwrap();
    let out = slack
        .execute(
            "message.send",
            json!({"channel": "#ar-team", "text": "paid"}),
            &ctx("1"),
        )
        .await
        .unwrap();
    assert_eq!(out["message"]["channel"], "#ar-team");
    let err = slack
        .execute(
            "message.send",
            json!({"channel": "#Not A Channel!", "text": "x"}),
            &ctx("2"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "channel_not_found");

    let sheets = s.get("google_sheets").unwrap();
    let row = sheets
        .execute(
            "row.append",
            json!({"sheet": "Onboarding Queue", "opportunity": {"name": "Acme", "amount": 10}}),
            &ctx("3"),
        )
        .await
        .unwrap();
    assert_eq!(row["row"]["row_number"], 2);
    assert_eq!(row["row"]["values"]["name"], "Acme");
    let found = sheets
        .execute(
            "row.find",
            json!({"sheet": "Onboarding Queue", "value": "Acme"}),
            &ctx("4"),
        )
        .await
        .unwrap();
    assert_eq!(found["row"]["row_number"], 2);

    let jira = s.get("jira").unwrap();
    let issue = jira
        .execute(
            "issue.create",
            json!({"project": "mobile", "summary": "Crash"}),
            &ctx("5"),
        )
        .await
        .unwrap();
    assert_eq!(issue["issue"]["key"], "MOBILE-1");
    let err = jira
        .execute(
            "issue.create",
            json!({"project": "not a key", "summary": "x"}),
            &ctx("6"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");

    let github = s.get("github").unwrap();
    let gh = github
        .execute(
            "issue.create",
            json!({"repo": "brightline/docs", "title": "Typo"}),
            &ctx("7"),
        )
        .await
        .unwrap();
    assert_eq!(
        gh["issue"]["html_url"],
        "https://github.com/brightline/docs/issues/1"
    );
    let pr = github
        .execute(
            "pull_request.opened",
            json!({"repo": "brightline/docs"}),
            &ctx("8"),
        )
        .await
        .unwrap();
    assert_eq!(pr["pull_request"]["repo"], "brightline/docs");

    let hubspot = s.get("hubspot").unwrap();
    let form = hubspot
        .execute(
            "form.submitted",
            json!({"form": "Webinar Registration"}),
            &ctx("9"),
        )
        .await
        .unwrap();
    assert_eq!(form["form"]["name"], "Webinar Registration");
}

#[tokio::test]
async fn recipients_come_from_to_or_the_records_email_and_phone() {
    let s = Sandboxes::new(5);
    let email = s.get("email").unwrap();
    let sent = email
        .execute(
            "message.send",
            json!({"email": "ap@globex.com", "subject": "Hi"}),
            &ctx("1"),
        )
        .await
        .unwrap();
    assert_eq!(sent["message"]["to"], json!(["ap@globex.com"]));
    let err = email
        .execute("message.send", json!({"subject": "Hi"}), &ctx("2"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    let twilio = s.get("twilio").unwrap();
    let sms = twilio
        .execute(
            "sms.send",
            json!({"phone": "+44 20 7946 0958", "body": "Hi"}),
            &ctx("3"),
        )
        .await
        .unwrap();
    assert_eq!(sms["message"]["to"], "+442079460958");
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("7001"),
            Just("INV-4419"),
            Just("maya.chen@acmelogistics.com"),
            Just("#finance"),
            Just("OPS-142"),
            Just("Closed Won"),
            Just("https://x.io/a"),
            Just("2d"),
            Just("+14155550142"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("deal_id".to_string()),
                    Just("email".to_string()),
                    Just("stage".to_string()),
                    Just("amount".to_string()),
                    Just("invoice".to_string()),
                    Just("text".to_string()),
                    Just("channel".to_string()),
                    Just("url".to_string()),
                    Just("values".to_string()),
                    Just("condition".to_string()),
                    Just("issue_key".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_inputs_never_panic(input in arb_json(), pick in any::<prop::sample::Index>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let sandboxes = Sandboxes::new(11);
        let ops: Vec<(usize, String)> = sandboxes
            .all()
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.manifest().operations.iter().map(move |o| (i, o.id.clone())))
            .collect();
        let (i, op) = &ops[pick.index(ops.len())];
        let sandbox = &sandboxes.all()[*i];
        let result = runtime.block_on(sandbox.execute(op, input.clone(), &ctx("p")));
        match result {
            Ok(out) => prop_assert!(out.is_object(), "{op}: {out}"),
            Err(e) => {
                prop_assert!(!e.code().is_empty());
                prop_assert_eq!(e.kind(), ConnectorErrorKind::Permanent, "{}: {}", op, e);
            }
        }
        // Every operation, with this input: no panic, and a failed call
        // writes nothing while a successful write is logged once.
        for (i, op) in &ops {
            let sandbox = &sandboxes.all()[*i];
            let before = sandbox.effects().len();
            let result = runtime.block_on(sandbox.execute(op, input.clone(), &ctx("q")));
            let is_write = sandbox.manifest().operation(op).is_some_and(|o| o.effect == Effect::Write);
            let after = sandbox.effects().len();
            match result {
                Ok(_) if is_write => prop_assert!(after == before + 1 || after == before, "{}", op),
                _ => prop_assert_eq!(after, before, "{}", op),
            }
        }
    }
}
