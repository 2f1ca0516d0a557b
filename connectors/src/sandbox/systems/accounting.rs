//! QuickBooks Online: customers, invoices and payments.

use nexwatt_engine::connector::ConnectorError;
use rand::Rng;
use serde_json::{json, Value};

use super::{cents, pick_event, Call, Entity};
use crate::sandbox::store::{exact, found, Key, System};
use crate::sandbox::world::World;

const INVOICE: Entity = Entity {
    key: "invoice",
    collection: "invoices",
    id: "id",
};
const CUSTOMER: Entity = Entity {
    key: "customer",
    collection: "customers",
    id: "id",
};

const INVOICE_KEYS: &[Key] = &[
    exact("invoice_id", &["id", "number"]),
    exact("number", &["number"]),
];
const INVOICE_FIND_KEYS: &[Key] = &[
    exact("invoice_id", &["id", "number"]),
    exact("number", &["number"]),
    exact("customer_id", &["customer.id"]),
    exact("customer_email", &["customer.email"]),
    exact("status", &["status"]),
];
const CUSTOMER_KEYS: &[Key] = &[
    exact("customer_id", &["id"]),
    exact("email", &["email"]),
    exact("name", &["name", "company"]),
];

const LINES: &[&str] = &[
    "Freight management",
    "Warehouse storage",
    "Consulting services",
    "Annual subscription",
    "Implementation package",
    "Support retainer",
];

pub(super) fn seed(sys: &mut System, world: &World) {
    let mut customers = Vec::new();
    for (i, company) in world.companies.iter().enumerate() {
        let contact = world.people.iter().find(|p| p.company == i);
        let id = (60 + i).to_string();
        let email = contact.map_or_else(|| format!("ap@{}", company.domain), |p| p.email.clone());
        let phone = contact.map_or_else(String::new, |p| p.phone.clone());
        let created = sys.random_date(-700 + 1, -30 + 1);
        sys.insert(
            "customers",
            json!({"id": id, "name": company.name, "company": company.name, "email": email,
                   "phone": phone, "balance": 0.0, "currency": "USD", "created_at": format!("{created}T09:00:00Z")}),
        );
        customers.push((id, company.name.clone(), email));
    }
    for n in 0..24 {
        let Some((cid, name, email)) = customers
            .get(sys.rng().gen_range(0..customers.len().max(1)))
            .cloned()
        else {
            break;
        };
        let amount = cents(sys.rng().gen_range(150.0..9500.0));
        let age = sys.rng().gen_range(1..90);
        let issued = sys.date_in(-age);
        let due = sys.date_in(30 - age);
        let status = match (age > 30, sys.rng().gen_bool(0.5)) {
            (_, true) => "paid",
            (true, false) => "overdue",
            (false, false) => "open",
        };
        let balance = if status == "paid" { 0.0 } else { amount };
        let line = LINES[sys.rng().gen_range(0..LINES.len())];
        let number = 4430 + n;
        sys.insert(
            "invoices",
            json!({"id": format!("INV-{number}"), "number": number.to_string(),
                   "customer": {"id": cid, "name": name, "email": email},
                   "amount": amount, "balance": balance, "currency": "USD", "status": status,
                   "issued_on": issued, "due_on": due, "sent": true,
                   "lines": [{"description": line, "amount": amount}]}),
        );
    }
}

fn find_invoice(sys: &System, call: &Call<'_>) -> Result<usize, ConnectorError> {
    sys.find_one(&call.what(), "invoices", INVOICE_KEYS, call.input, &|_| {
        true
    })
    .map(|(i, _)| i)
}

fn days_between(from: &str, to: &str) -> Option<i64> {
    let a = chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d").ok()?;
    let b = chrono::NaiveDate::parse_from_str(to, "%Y-%m-%d").ok()?;
    Some((b - a).num_days())
}

pub(super) fn execute(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let what = call.what();
    let input = call.input;
    match call.op.id.as_str() {
        "invoice.created" => {
            let i = pick_event(sys, call, &INVOICE, INVOICE_KEYS, &|r| {
                r["status"] == "open"
            })?;
            Ok(json!({ "invoice": sys.record("invoices", i) }))
        }
        "invoice.paid" => {
            let i = pick_event(sys, call, &INVOICE, INVOICE_KEYS, &|r| {
                r["status"] == "paid"
            })?;
            let invoice = sys.record("invoices", i);
            let id = invoice["id"].as_str().unwrap_or_default().to_string();
            let payment = sys
                .index_of("payments", "invoice_id", &id)
                .map(|p| sys.record("payments", p))
                .unwrap_or_else(|| {
                    json!({"id": format!("PMT-{}", invoice["number"].as_str().unwrap_or("0")),
                           "invoice_id": id, "amount": invoice["amount"], "currency": invoice["currency"],
                           "method": "ach", "paid_on": invoice["due_on"]})
                });
            Ok(json!({ "invoice": invoice, "payment": payment }))
        }
        "invoice.overdue" => {
            let i = pick_event(sys, call, &INVOICE, INVOICE_KEYS, &|r| {
                r["status"] == "overdue"
            })?;
            let invoice = sys.record("invoices", i);
            let computed = invoice["due_on"]
                .as_str()
                .and_then(|due| days_between(due, &sys.date_in(0)))
                .unwrap_or(0)
                .max(1);
            let days = input.int("days").unwrap_or(computed);
            let mut invoice = invoice;
            invoice["status"] = json!("overdue");
            Ok(json!({ "invoice": invoice, "days_overdue": days }))
        }
        "customer.created" => {
            let keys = [exact("customer_id", &["id"]), exact("email", &["email"])];
            let i = pick_event(sys, call, &CUSTOMER, &keys, &|_| true)?;
            Ok(json!({ "customer": sys.record("customers", i) }))
        }
        "invoice.find" => {
            let (i, n) = sys.find_one(&what, "invoices", INVOICE_FIND_KEYS, input, &|_| true)?;
            Ok(found("invoice", sys.record("invoices", i), n))
        }
        "customer.find" => {
            let (i, n) = sys.find_one(&what, "customers", CUSTOMER_KEYS, input, &|_| true)?;
            Ok(found("customer", sys.record("customers", i), n))
        }
        "invoice.create" => {
            let keys = [
                exact("customer_id", &["id"]),
                exact("customer_email", &["email"]),
            ];
            let (c, _) = sys.find_one(&what, "customers", &keys, input, &|_| true)?;
            let customer = sys.record("customers", c);
            let amount = cents(input.num("amount").unwrap_or(0.0));
            if amount <= 0.0 {
                return Err(ConnectorError::invalid_input(format!(
                    "{what}: `amount` must be more than 0"
                )));
            }
            let days = input.int("due_in_days").unwrap_or(30);
            if !(0..=3650).contains(&days) {
                return Err(ConnectorError::invalid_input(format!(
                    "{what}: `due_in_days` must be 0..=3650"
                )));
            }
            let number = sys.next_number("invoices", "number", "", 4421);
            let invoice = json!({
                "id": format!("INV-{number}"), "number": number.to_string(),
                "customer": {"id": customer["id"], "name": customer["name"], "email": customer["email"]},
                "amount": amount, "balance": amount,
                "currency": input.str("currency").map_or_else(|| customer["currency"].clone(), |c| json!(c.to_uppercase())),
                "status": "open", "issued_on": sys.date_in(0), "due_on": sys.date_in(days), "sent": false,
                "lines": [{"description": input.str("description").unwrap_or("Services"), "amount": amount}],
            });
            sys.insert("invoices", invoice.clone());
            Ok(json!({ "invoice": invoice }))
        }
        "invoice.send" => {
            let i = find_invoice(sys, call)?;
            let invoice = sys.record("invoices", i);
            let to = input
                .str("to")
                .map(str::to_string)
                .or_else(|| invoice["customer"]["email"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    ConnectorError::invalid_input(format!(
                        "{what}: the customer has no email; give `to`"
                    ))
                })?;
            sys.set("invoices", i, "sent", json!(true));
            let at = sys.now();
            sys.insert("emails", json!({"to": to, "invoice_id": invoice["id"], "sent_at": at,
                "subject": format!("Invoice {} from Brightline", invoice["number"].as_str().unwrap_or_default())}));
            Ok(json!({ "invoice": sys.record("invoices", i), "sent_to": to }))
        }
        "customer.create" => {
            let name = input.str("name").unwrap_or_default().to_string();
            if sys.index_of("customers", "name", &name).is_some() {
                return Err(ConnectorError::permanent(
                    "already_exists",
                    format!("{what}: a customer named {name:?} already exists (display names are unique)"),
                ));
            }
            let id = sys.next_number("customers", "id", "", 100).to_string();
            let created = sys.now();
            let customer = json!({
                "id": id, "name": name, "company": input.str("company").unwrap_or(&name),
                "email": input.str("email"), "phone": input.str("phone"),
                "balance": 0.0, "currency": "USD", "created_at": created,
            });
            sys.insert("customers", customer.clone());
            Ok(json!({ "customer": customer }))
        }
        "payment.record" => {
            let i = find_invoice(sys, call)?;
            let invoice = sys.record("invoices", i);
            let balance = invoice["balance"].as_f64().unwrap_or(0.0);
            if balance <= 0.0 {
                return Err(ConnectorError::permanent(
                    "invoice_already_paid",
                    format!(
                        "{what}: invoice {} has no open balance",
                        invoice["id"].as_str().unwrap_or_default()
                    ),
                ));
            }
            let amount = cents(input.num("amount").unwrap_or(balance));
            if amount <= 0.0 {
                return Err(ConnectorError::invalid_input(format!(
                    "{what}: `amount` must be more than 0"
                )));
            }
            if amount > balance + 0.005 {
                return Err(ConnectorError::permanent(
                    "amount_exceeds_balance",
                    format!("{what}: {amount} is more than the open balance {balance}"),
                ));
            }
            let method = input.str("method").unwrap_or("ach").to_lowercase();
            let remaining = cents(balance - amount);
            sys.set("invoices", i, "balance", json!(remaining));
            if remaining <= 0.0 {
                sys.set("invoices", i, "status", json!("paid"));
            }
            let number = sys.next_number("payments", "id", "PMT-", 9002);
            let payment = json!({
                "id": format!("PMT-{number}"), "invoice_id": invoice["id"], "amount": amount,
                "currency": invoice["currency"], "method": method,
                "paid_on": input.str("paid_on").map_or_else(|| sys.date_in(0), str::to_string),
            });
            sys.insert("payments", payment.clone());
            Ok(json!({ "payment": payment, "invoice": sys.record("invoices", i) }))
        }
        _ => Err(call.unsupported()),
    }
}
