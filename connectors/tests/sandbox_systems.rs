//! Domain rules of the simulated systems: what the real services allow and
//! refuse, and how state carries from one call to the next.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexwatt_connectors::sandbox::{Sandbox, Sandboxes};
use nexwatt_engine::connector::{Connector, ExecutionContext};
use serde_json::{json, Value};

async fn ok(s: &Sandbox, op: &str, input: Value) -> Value {
    match s
        .execute(op, input.clone(), &ExecutionContext::for_test())
        .await
    {
        Ok(v) => v,
        Err(e) => panic!("{op} {input}: {e}"),
    }
}

async fn err(s: &Sandbox, op: &str, input: Value) -> String {
    match s
        .execute(op, input.clone(), &ExecutionContext::for_test())
        .await
    {
        Ok(v) => panic!("{op} {input} should fail, gave {v}"),
        Err(e) => e.code().to_string(),
    }
}

#[tokio::test]
async fn quickbooks_invoices_and_payments() {
    let s = Sandboxes::new(21);
    let qb = s.get("quickbooks").unwrap();
    let created = ok(
        &qb,
        "invoice.create",
        json!({"customer_email": "maya.chen@acmelogistics.com", "amount": 300, "due_in_days": 15}),
    )
    .await;
    let id = created["invoice"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["invoice"]["status"], "open");
    assert_eq!(created["invoice"]["due_on"], "2026-12-19");
    assert_eq!(created["invoice"]["customer"]["id"], "58");
    // Partial payment, then the rest; a third is refused.
    let part = ok(
        &qb,
        "payment.record",
        json!({"invoice_id": id, "amount": 100}),
    )
    .await;
    assert_eq!(part["invoice"]["balance"], 200.0);
    assert_eq!(part["invoice"]["status"], "open");
    assert_eq!(
        err(
            &qb,
            "payment.record",
            json!({"invoice_id": id, "amount": 250})
        )
        .await,
        "amount_exceeds_balance"
    );
    let rest = ok(&qb, "payment.record", json!({"invoice_id": id})).await;
    assert_eq!(rest["payment"]["amount"], 200.0);
    assert_eq!(rest["invoice"]["status"], "paid");
    assert_eq!(
        err(&qb, "payment.record", json!({"invoice_id": id})).await,
        "invoice_already_paid"
    );
    let paid = ok(&qb, "invoice.find", json!({"invoice_id": id})).await;
    assert_eq!(paid["invoice"]["balance"], 0.0);
    // Sending emails the customer; an unknown invoice is not found.
    let sent = ok(&qb, "invoice.send", json!({"invoice_id": id})).await;
    assert_eq!(sent["sent_to"], "maya.chen@acmelogistics.com");
    assert_eq!(qb.records("emails").len(), 1);
    assert_eq!(
        err(&qb, "invoice.send", json!({"invoice_id": "INV-1"})).await,
        "not_found"
    );
    assert_eq!(
        err(&qb, "customer.create", json!({"name": "Acme Logistics"})).await,
        "already_exists"
    );
    assert_eq!(
        err(
            &qb,
            "invoice.create",
            json!({"customer_id": "58", "amount": -5})
        )
        .await,
        "invalid_input"
    );
}

#[tokio::test]
async fn stripe_refunds_and_subscriptions() {
    let s = Sandboxes::new(21);
    let stripe = s.get("stripe").unwrap();
    let first = ok(
        &stripe,
        "refund.create",
        json!({"payment_id": "pi_3QhX2aLk8sT1", "amount": 100, "reason": "duplicate"}),
    )
    .await;
    assert_eq!(first["payment"]["amount_refunded"], 100.0);
    let rest = ok(
        &stripe,
        "refund.create",
        json!({"payment_id": "pi_3QhX2aLk8sT1"}),
    )
    .await;
    assert_eq!(
        rest["refund"]["amount"], 29.0,
        "the default refunds what is left"
    );
    assert_eq!(
        err(
            &stripe,
            "refund.create",
            json!({"payment_id": "pi_3QhX2aLk8sT1"})
        )
        .await,
        "charge_already_refunded"
    );
    assert_eq!(
        err(
            &stripe,
            "refund.create",
            json!({"payment_id": "pi_3QhY7bLk8sT2"})
        )
        .await,
        "payment_not_refundable"
    );
    // Cancel at period end keeps it active; cancelling now ends it.
    let later = ok(
        &stripe,
        "subscription.cancel",
        json!({"subscription_id": "sub_1QhX9cLk8sT1", "at_period_end": "true"}),
    )
    .await;
    assert_eq!(later["subscription"]["status"], "active");
    assert_eq!(later["subscription"]["cancel_at_period_end"], true);
    let now = ok(
        &stripe,
        "subscription.cancel",
        json!({"customer_id": "cus_Q7mJk2LpXa9R"}),
    )
    .await;
    assert_eq!(now["subscription"]["status"], "canceled");
    assert_eq!(
        err(
            &stripe,
            "subscription.cancel",
            json!({"subscription_id": "sub_1QhX9cLk8sT1"})
        )
        .await,
        "already_canceled"
    );
}

#[tokio::test]
async fn crm_records_change_and_stay_changed() {
    let s = Sandboxes::new(21);
    let hs = s.get("hubspot").unwrap();
    let contact = ok(&hs, "contact.create", json!({"email": "Ana.Ruiz@Example.com", "first_name": "Ana", "last_name": "Ruiz", "lifecycle_stage": "Sales Qualified Lead"})).await;
    assert_eq!(contact["contact"]["email"], "ana.ruiz@example.com");
    assert_eq!(contact["contact"]["lifecycle_stage"], "salesqualifiedlead");
    let id = contact["contact"]["id"].clone();
    ok(
        &hs,
        "contact.update",
        json!({"contact_id": id, "properties": {"Job Title": "CFO"}}),
    )
    .await;
    let found = ok(
        &hs,
        "contact.find",
        json!({"email": "ana.ruiz@example.com"}),
    )
    .await;
    assert_eq!(found["contact"]["job_title"], "CFO");
    assert_eq!(
        err(
            &hs,
            "contact.update",
            json!({"contact_id": id, "property": "id", "value": "1"})
        )
        .await,
        "invalid_input"
    );
    let taken =
        json!({"contact_id": id, "property": "email", "value": "maya.chen@acmelogistics.com"});
    assert_eq!(err(&hs, "contact.update", taken).await, "already_exists");
    // A task on a deal belongs to the deal's owner.
    let task = ok(&hs, "task.create", json!({"deal_id": "7001"})).await;
    assert_eq!(task["task"]["owner_id"], "9001");
    assert!(task["task"]["title"]
        .as_str()
        .unwrap()
        .starts_with("Follow up"));
    assert_eq!(
        err(
            &hs,
            "note.create",
            json!({"body": "x", "deal_id": "999999"})
        )
        .await,
        "not_found"
    );
    let sf = s.get("salesforce").unwrap();
    let opp = ok(
        &sf,
        "opportunity.update",
        json!({"opportunity_id": "0065e00000DkWp3AAF", "stage": "negotiation"}),
    )
    .await;
    assert_eq!(opp["opportunity"]["stage"], "Negotiation/Review");
    assert_eq!(
        err(&sf, "lead.create", json!({"last_name": "Solo"})).await,
        "invalid_input"
    );
}

#[tokio::test]
async fn issue_trackers_and_support() {
    let s = Sandboxes::new(21);
    let jira = s.get("jira").unwrap();
    ok(
        &jira,
        "issue.transition",
        json!({"issue_key": "ops-142", "status": "In Review"}),
    )
    .await;
    assert_eq!(
        err(
            &jira,
            "issue.transition",
            json!({"issue_key": "OPS-142", "status": "in review"})
        )
        .await,
        "transition_unavailable"
    );
    assert_eq!(
        err(
            &jira,
            "issue.update",
            json!({"issue_key": "OPS-142", "field": "status", "value": "Done"})
        )
        .await,
        "invalid_input"
    );
    let assigned = ok(
        &jira,
        "issue.update",
        json!({"issue_key": "OPS-142", "field": "assignee", "value": "Priya Nair"}),
    )
    .await;
    assert_eq!(
        assigned["issue"]["assignee"]["email"],
        "priya.nair@brightline.io"
    );
    let gh = s.get("github").unwrap();
    ok(&gh, "issue.label", json!({"number": 87, "label": "bug"})).await;
    let issue = ok(&gh, "issue.label", json!({"number": 87, "label": "P1"})).await;
    assert_eq!(
        issue["issue"]["labels"],
        json!(["bug", "P1"]),
        "labels are a set"
    );
    let pr = ok(&gh, "issue.comment", json!({"number": 214, "body": "LGTM"})).await;
    assert_eq!(
        pr["comment"]["number"], 214,
        "pull requests take comments too"
    );
    assert_eq!(
        err(&gh, "issue.comment", json!({"number": 9999})).await,
        "not_found"
    );
    let zd = s.get("zendesk").unwrap();
    let t = ok(&zd, "ticket.create", json!({"subject": "Broken", "priority": "critical", "requester_email": "maya.chen@acmelogistics.com"})).await;
    assert_eq!(t["ticket"]["priority"], "urgent");
    assert_eq!(t["ticket"]["requester"]["name"], "Maya Chen");
    let open = ok(
        &zd,
        "ticket.find",
        json!({"requester_email": "maya.chen@acmelogistics.com"}),
    )
    .await;
    assert_ne!(open["ticket"]["status"], "solved");
    assert_eq!(
        err(
            &zd,
            "ticket.update",
            json!({"ticket_id": t["ticket"]["id"], "status": "archived"})
        )
        .await,
        "invalid_input"
    );
}

#[tokio::test]
async fn shops_sheets_chat_and_http() {
    let s = Sandboxes::new(21);
    let shop = s.get("shopify").unwrap();
    let p = ok(
        &shop,
        "product.update",
        json!({"sku": "MUG-BLK-12", "price": "59.5", "inventory_quantity": 40}),
    )
    .await;
    assert_eq!(p["product"]["price"], 59.5);
    assert_eq!(p["changed"], json!(["price", "inventory_quantity"]));
    assert_eq!(
        err(&shop, "product.update", json!({"sku": "MUG-BLK-12"})).await,
        "invalid_input"
    );
    let cancelled = ok(&shop, "order.cancelled", json!({})).await;
    assert_eq!(
        err(
            &shop,
            "order.fulfill",
            json!({"order_id": cancelled["order"]["id"]})
        )
        .await,
        "order_cancelled"
    );
    let sheets = s.get("google_sheets").unwrap();
    let appended = ok(
        &sheets,
        "row.append",
        json!({"sheet": "leads", "contact": {"email": "x@y.io", "company": "Y"}}),
    )
    .await;
    assert_eq!(appended["row"]["sheet"], "Leads");
    assert_eq!(appended["row"]["values"]["Email"], "x@y.io");
    assert_eq!(appended["row"]["values"]["Company"], "Y");
    let slack = s.get("slack").unwrap();
    ok(
        &slack,
        "message.send",
        json!({"channel": "C05FINANCE", "text": "by id"}),
    )
    .await;
    assert_eq!(
        err(
            &slack,
            "message.send",
            json!({"channel": "C0NOSUCHCHAN", "text": "x"})
        )
        .await,
        "channel_not_found"
    );
    assert_eq!(
        err(&slack, "dm.send", json!({"user_id": "U04NEXWATT"})).await,
        "cannot_dm_bot"
    );
    let http = s.get("http").unwrap();
    let got = ok(
        &http,
        "request.get",
        json!({"url": "https://api.brightline.io/v1/health"}),
    )
    .await;
    assert_eq!(got["body"]["ok"], true);
    let echo = ok(
        &http,
        "request.get",
        json!({"url": "https://example.org/x", "query": {"a": 1}}),
    )
    .await;
    assert_eq!(echo["body"]["url"], "https://example.org/x?a=1");
    assert_eq!(
        err(&http, "request.post", json!({"url": "ftp://example.org"})).await,
        "invalid_input"
    );
    let core = s.get("core").unwrap();
    let r = ok(
        &core,
        "if",
        json!({"condition": "total < 50", "order": {"total": 189.0}}),
    )
    .await;
    assert_eq!(r["result"], false);
    assert_eq!(
        err(&core, "delay", json!({"duration": "soon"})).await,
        "invalid_input"
    );
}
