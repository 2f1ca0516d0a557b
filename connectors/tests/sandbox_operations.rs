//! Every operation of the catalog runs against its sandbox: triggers give
//! an event shaped like the manifest's example, finds return records,
//! writes change the simulated system (a later find sees the change) and
//! land in the effect log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use nexwatt_connectors::sandbox::{Sandbox, Sandboxes};
use nexwatt_engine::connector::{Connector, ExecutionContext};
use nexwatt_engine::id::RunId;
use nexwatt_engine::model::{Effect, RunMode};
use serde_json::{json, Value};

/// A working input for every operation of the catalog, by `connector.op`.
fn sample_input(step: &str) -> Option<Value> {
    Some(match step {
        "quickbooks.invoice.created" => json!({}),
        "quickbooks.invoice.paid" => json!({"invoice_id": "INV-4419"}),
        "quickbooks.invoice.overdue" => json!({"days": 30}),
        "quickbooks.customer.created" => json!({}),
        "quickbooks.invoice.find" => json!({"invoice_id": "INV-4419"}),
        "quickbooks.invoice.create" => {
            json!({"customer_id": "58", "amount": "1500", "due_in_days": 30})
        }
        "quickbooks.invoice.send" => json!({"invoice_id": "INV-4420"}),
        "quickbooks.customer.find" => json!({"email": "maya.chen@acmelogistics.com"}),
        "quickbooks.customer.create" => json!({"name": "Test Co", "email": "ap@test.co"}),
        "quickbooks.payment.record" => json!({"invoice_id": "INV-4420", "amount": 500}),
        "hubspot.contact.created" => json!({}),
        "hubspot.deal.created" => json!({}),
        "hubspot.deal.stage_changed" => json!({"stage": "Closed Won"}),
        "hubspot.form.submitted" => json!({"form": "Demo request"}),
        "hubspot.contact.find" => json!({"email": "maya.chen@acmelogistics.com"}),
        "hubspot.contact.create" => {
            json!({"email": "new.person@example.com", "first_name": "New", "last_name": "Person"})
        }
        "hubspot.contact.update" => {
            json!({"contact_id": "501", "property": "Lifecycle Stage", "value": "evangelist"})
        }
        "hubspot.deal.find" => json!({"company": "Acme Logistics"}),
        "hubspot.deal.create" => json!({"name": "Test deal", "amount": 5000}),
        "hubspot.deal.update" => json!({"deal_id": "7001", "stage": "closed won"}),
        "hubspot.owner.get" => json!({"owner_id": "9001"}),
        "hubspot.task.create" => json!({"title": "Call back", "deal_id": "7001"}),
        "hubspot.note.create" => json!({"body": "Paid in full.", "contact_id": "501"}),
        "slack.message.posted" => json!({"channel": "#support"}),
        "slack.message.send" => json!({"channel": "#finance", "text": "Invoice paid"}),
        "slack.dm.send" => {
            json!({"email": "dana.brooks@brightline.io", "text": "Your deal closed"})
        }
        "slack.user.find" => json!({"email": "dana.brooks@brightline.io"}),
        "email.message.received" => json!({}),
        "email.message.send" => {
            json!({"to": "maya.chen@acmelogistics.com", "subject": "Thanks", "body": "Received."})
        }
        "google_sheets.row.added" => json!({"sheet": "Leads"}),
        "google_sheets.row.append" => {
            json!({"sheet": "Orders", "values": {"Order": "#2001", "Total": 10}})
        }
        "google_sheets.row.find" => {
            json!({"sheet": "Leads", "column": "Email", "value": "leo.martin@blueharborfoods.com"})
        }
        "google_sheets.row.update" => {
            json!({"sheet": "Leads", "row_number": 2, "values": {"Source": "Qualified"}})
        }
        "salesforce.lead.created" => json!({}),
        "salesforce.opportunity.stage_changed" => json!({"stage": "Closed Won"}),
        "salesforce.lead.create" => {
            json!({"last_name": "Doe", "company": "Doe Inc", "email": "jane@doe.io"})
        }
        "salesforce.lead.update" => json!({"lead_id": "00Q5e00000BxLm1EAF", "status": "qualified"}),
        "salesforce.contact.find" => json!({"email": "maya.chen@acmelogistics.com"}),
        "salesforce.opportunity.find" => json!({"account": "Acme Logistics"}),
        "salesforce.opportunity.update" => {
            json!({"opportunity_id": "0065e00000DkWp3AAF", "stage": "Closed Won"})
        }
        "salesforce.owner.get" => json!({"owner_id": "0055e000001AbCdAAK"}),
        "salesforce.task.create" => json!({"title": "Call", "what_id": "0065e00000DkWp3AAF"}),
        "stripe.payment.succeeded" => json!({}),
        "stripe.payment.failed" => json!({}),
        "stripe.subscription.created" => json!({}),
        "stripe.subscription.canceled" => json!({}),
        "stripe.dispute.created" => json!({}),
        "stripe.customer.find" => json!({"email": "maya.chen@acmelogistics.com"}),
        "stripe.refund.create" => json!({"payment_id": "pi_3QhX2aLk8sT1", "amount": 29}),
        "stripe.subscription.cancel" => json!({"subscription_id": "sub_1QhX9cLk8sT1"}),
        "jira.issue.created" => json!({"project": "OPS"}),
        "jira.issue.transitioned" => json!({"status": "Done"}),
        "jira.issue.create" => {
            json!({"summary": "Checkout broken", "issue_type": "bug", "priority": "High"})
        }
        "jira.issue.update" => {
            json!({"issue_key": "OPS-142", "field": "priority", "value": "Highest"})
        }
        "jira.issue.comment" => json!({"issue_key": "OPS-142", "body": "Seen again"}),
        "jira.issue.transition" => json!({"issue_key": "OPS-142", "status": "in progress"}),
        "jira.issue.find" => json!({"issue_key": "OPS-142"}),
        "github.pull_request.opened" => json!({"repo": "brightline/web-app"}),
        "github.pull_request.merged" => json!({}),
        "github.issue.opened" => json!({"label": "bug"}),
        "github.release.published" => json!({}),
        "github.issue.create" => json!({"title": "Login broken", "label": "bug"}),
        "github.issue.comment" => json!({"number": 87, "body": "On it"}),
        "github.issue.label" => json!({"number": "87", "label": "needs-triage"}),
        "zendesk.ticket.created" => json!({}),
        "zendesk.ticket.updated" => json!({"status": "solved"}),
        "zendesk.ticket.create" => {
            json!({"subject": "Help", "priority": "High", "requester_email": "maya.chen@acmelogistics.com"})
        }
        "zendesk.ticket.update" => {
            json!({"ticket_id": 35436, "priority": "urgent", "status": "open"})
        }
        "zendesk.ticket.comment" => json!({"ticket_id": "35436", "body": "Linked to OPS-142"}),
        "zendesk.ticket.find" => json!({"requester_email": "maya.chen@acmelogistics.com"}),
        "shopify.order.created" => json!({}),
        "shopify.order.fulfilled" => json!({}),
        "shopify.order.cancelled" => json!({}),
        "shopify.inventory.low" => json!({"threshold": 10}),
        "shopify.order.find" => json!({"order_number": "#1042"}),
        "shopify.order.fulfill" => {
            json!({"order_id": 5820154970398_i64, "tracking_number": "1Z999"})
        }
        "shopify.customer.tag" => json!({"customer_id": 7390214501_i64, "tag": "VIP"}),
        "shopify.product.update" => json!({"sku": "MUG-BLK-12", "status": "unpublished"}),
        "twilio.sms.received" => json!({}),
        "twilio.sms.send" => json!({"to": "(415) 555-0142", "body": "Your order shipped"}),
        "http.webhook.received" => json!({}),
        "http.request.get" => json!({"url": "https://status.brightline.io/api/v2/status.json"}),
        "http.request.post" => {
            json!({"url": "https://api.example.com/orders", "body": {"order": "A-1"}})
        }
        "core.schedule" => json!({"every": "monday", "at": "09:00"}),
        "core.manual" => json!({}),
        "core.if" => json!({"condition": "amount > 1000", "invoice": {"amount": 1250}}),
        "core.delay" => json!({"duration": "2d"}),
        "core.approval" => json!({"approver": "finance manager"}),
        _ => return None,
    })
}

/// After a write, a read that must see its effect: (read op, input built
/// from the write's output, JSON pointer into the read's output, expected
/// value).
fn check_after(step: &str, out: &Value) -> Option<(&'static str, Value, &'static str, Value)> {
    Some(match step {
        "quickbooks.invoice.create" => (
            "invoice.find",
            json!({"invoice_id": out["invoice"]["id"]}),
            "/invoice/amount",
            json!(1500.0),
        ),
        "quickbooks.invoice.send" => (
            "invoice.find",
            json!({"invoice_id": "INV-4420"}),
            "/invoice/sent",
            json!(true),
        ),
        "quickbooks.customer.create" => (
            "customer.find",
            json!({"email": "ap@test.co"}),
            "/customer/name",
            json!("Test Co"),
        ),
        "quickbooks.payment.record" => (
            "invoice.find",
            json!({"invoice_id": "INV-4420"}),
            "/invoice/balance",
            json!(480.0),
        ),
        "hubspot.contact.create" => (
            "contact.find",
            json!({"email": "new.person@example.com"}),
            "/contact/name",
            json!("New Person"),
        ),
        "hubspot.contact.update" => (
            "contact.find",
            json!({"contact_id": "501"}),
            "/contact/lifecycle_stage",
            json!("evangelist"),
        ),
        "hubspot.deal.create" => (
            "deal.find",
            json!({"deal_id": out["deal"]["id"]}),
            "/deal/name",
            json!("Test deal"),
        ),
        "hubspot.deal.update" => (
            "deal.find",
            json!({"deal_id": "7001"}),
            "/deal/stage",
            json!("Closed Won"),
        ),
        "salesforce.lead.update" => (
            "lead.created",
            json!({"lead_id": "00Q5e00000BxLm1EAF"}),
            "/lead/status",
            json!("Qualified"),
        ),
        "salesforce.lead.create" => (
            "lead.created",
            json!({"lead_id": out["lead"]["id"]}),
            "/lead/company",
            json!("Doe Inc"),
        ),
        "salesforce.opportunity.update" => (
            "opportunity.find",
            json!({"opportunity_id": "0065e00000DkWp3AAF"}),
            "/opportunity/stage",
            json!("Closed Won"),
        ),
        "google_sheets.row.append" => (
            "row.find",
            json!({"sheet": "Orders", "value": "#2001"}),
            "/row/values/Total",
            json!(10),
        ),
        "google_sheets.row.update" => (
            "row.find",
            json!({"sheet": "Leads", "row_number": 2}),
            "/row/values/Source",
            json!("Qualified"),
        ),
        "jira.issue.create" => (
            "issue.find",
            json!({"issue_key": out["issue"]["key"]}),
            "/issue/issue_type",
            json!("Bug"),
        ),
        "jira.issue.update" => (
            "issue.find",
            json!({"issue_key": "OPS-142"}),
            "/issue/priority",
            json!("highest"),
        ),
        "jira.issue.transition" => (
            "issue.find",
            json!({"issue_key": "OPS-142"}),
            "/issue/status",
            json!("In Progress"),
        ),
        "zendesk.ticket.create" => (
            "ticket.find",
            json!({"ticket_id": out["ticket"]["id"]}),
            "/ticket/priority",
            json!("high"),
        ),
        "zendesk.ticket.update" => (
            "ticket.find",
            json!({"ticket_id": 35436}),
            "/ticket/priority",
            json!("urgent"),
        ),
        "shopify.order.fulfill" => (
            "order.find",
            json!({"order_id": 5820154970398_i64}),
            "/order/fulfillment_status",
            json!("fulfilled"),
        ),
        "http.request.post" => (
            "request.get",
            json!({"url": "https://api.example.com/orders"}),
            "/body/received/order",
            json!("A-1"),
        ),
        _ => return None,
    })
}

fn ctx(step: u32) -> ExecutionContext {
    let mut ctx = ExecutionContext::for_test();
    ctx.step = step;
    ctx.idempotency_key = format!("{}-{step}", ctx.run_id);
    ctx
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

async fn call(sandbox: &Arc<Sandbox>, op: &str, input: Value, step: u32) -> Value {
    match sandbox.execute(op, input, &ctx(step)).await {
        Ok(v) => v,
        Err(e) => panic!("{}.{op} failed: {e}", sandbox.manifest().id),
    }
}

#[tokio::test]
async fn every_catalog_operation_runs_against_its_sandbox() {
    let catalog = nexwatt_connectors::catalog().expect("catalog");
    let sandboxes = Sandboxes::new(42);
    let mut ran = 0;
    let mut checked_after = 0;
    for connector in catalog.connectors() {
        let sandbox = sandboxes
            .get(&connector.id)
            .expect("a sandbox for every connector");
        for (n, op) in connector.operations.iter().enumerate() {
            let step = format!("{}.{}", connector.id, op.id);
            let input = sample_input(&step).unwrap_or_else(|| panic!("no sample input for {step}"));
            let before = sandbox.effects().len();
            let out = call(&sandbox, &op.id, input.clone(), n as u32 + 1).await;
            ran += 1;
            // The output has the shape the manifest promises.
            assert_eq!(
                keys(&out),
                keys(&op.example_output),
                "{step}: output {out} vs example"
            );
            let effects = sandbox.effects();
            if op.effect == Effect::Write {
                assert_eq!(effects.len(), before + 1, "{step}: one effect");
                let last = effects.last().expect("effect");
                assert_eq!(last.operation, op.id);
                assert_eq!(last.input, input);
                assert_eq!(last.output, out);
                assert!(last.idempotency_key.ends_with(&format!("-{}", n + 1)));
            } else {
                assert_eq!(
                    effects.len(),
                    before,
                    "{step}: a read or control has no effect"
                );
            }
            if let Some((read, read_input, pointer, expected)) = check_after(&step, &out) {
                let seen = call(&sandbox, read, read_input, 99).await;
                assert_eq!(
                    seen.pointer(pointer),
                    Some(&expected),
                    "{step} then {read}: {seen}"
                );
                checked_after += 1;
            }
        }
    }
    assert_eq!(
        ran,
        catalog
            .connectors()
            .iter()
            .map(|c| c.operations.len())
            .sum::<usize>()
    );
    assert!(
        checked_after >= 20,
        "{checked_after} writes checked by a later read"
    );
}

#[tokio::test]
async fn the_seed_example_flows_through_the_sandboxes() {
    // quickbooks.invoice.paid → hubspot.deal.find → deal.update →
    // owner.get → slack.dm.send, each fed the earlier outputs.
    let sandboxes = Sandboxes::new(7);
    let qb = sandboxes.get("quickbooks").expect("quickbooks");
    let hs = sandboxes.get("hubspot").expect("hubspot");
    let slack = sandboxes.get("slack").expect("slack");
    let event = call(&qb, "invoice.paid", json!({"invoice_id": "INV-4419"}), 1).await;
    assert_eq!(event["invoice"]["id"], "INV-4419");
    let deal = call(&hs, "deal.find", event.clone(), 2).await;
    assert_eq!(deal["deal"]["company"], "Acme Logistics");
    let updated = call(
        &hs,
        "deal.update",
        json!({"stage": "Closed Won", "deal": deal["deal"]}),
        3,
    )
    .await;
    assert_eq!(updated["deal"]["stage"], "Closed Won");
    assert_eq!(updated["previous_stage"], "Contract Sent");
    let owner = call(&hs, "owner.get", deal.clone(), 4).await;
    assert_eq!(owner["owner"]["name"], "Dana Brooks");
    let mut dm_input = owner.clone();
    dm_input["invoice"] = event["invoice"].clone();
    let dm = call(&slack, "dm.send", dm_input, 5).await;
    assert_eq!(dm["message"]["user_id"], "U04DBROOKS");
    assert!(
        dm["message"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("INV-4419")),
        "{dm}"
    );
    let effects = sandboxes.effects();
    let ops: Vec<String> = effects
        .iter()
        .map(|e| format!("{}.{}", e.connector, e.operation))
        .collect();
    assert_eq!(ops, ["hubspot.deal.update", "slack.dm.send"]);
    assert!(effects[0].seq < effects[1].seq);
}

#[tokio::test]
async fn registry_routes_test_calls_to_sandboxes() {
    let sandboxes = Sandboxes::new(1);
    let registry = sandboxes.registry(Vec::new());
    let ids: Vec<&str> = registry.ids().collect();
    assert_eq!(ids.len(), 14);
    let (route, connector) = registry
        .resolve("hubspot", Effect::Write, RunMode::Test)
        .expect("route");
    assert_eq!(route, nexwatt_engine::connector::Route::Sandbox);
    let mut c = ctx(3);
    c.run_id = RunId::generate();
    let out = connector
        .execute(
            "deal.update",
            json!({"deal_id": "7001", "stage": "Closed Lost"}),
            &c,
        )
        .await
        .expect("update");
    assert_eq!(out["deal"]["stage"], "Closed Lost");
    // The registry holds the same sandbox the test inspects.
    let hubspot = sandboxes.get("hubspot").expect("hubspot");
    assert_eq!(hubspot.effects().len(), 1);
    assert_eq!(hubspot.effects()[0].run_id, c.run_id.to_string());
    // Live mode without a live client is a clear permanent error.
    let err = registry
        .resolve("hubspot", Effect::Write, RunMode::Live)
        .expect_err("no live client");
    assert_eq!(err.code(), "no_live_client");
}
