//! Stripe (customers, payments, subscriptions, refunds, disputes) and
//! Shopify (orders, fulfillments, customers, products).

use nexwatt_engine::connector::ConnectorError;
use rand::Rng;
use serde_json::{json, Value};

use super::{canonical, cents, nothing_to_change, pick_event, Call, Entity};
use crate::sandbox::store::{exact, found, Key, System, BASE62};
use crate::sandbox::world::World;

const PAYMENT: Entity = Entity {
    key: "payment",
    collection: "payments",
    id: "id",
};
const SUBSCRIPTION: Entity = Entity {
    key: "subscription",
    collection: "subscriptions",
    id: "id",
};
const DISPUTE: Entity = Entity {
    key: "dispute",
    collection: "disputes",
    id: "id",
};
const PLANS: &[(&str, &str, f64)] = &[
    ("price_starter_monthly", "Starter monthly", 29.0),
    ("price_team_monthly", "Team monthly", 49.0),
    ("price_pro_monthly", "Pro monthly", 129.0),
    ("price_business_annual", "Business annual", 1490.0),
];

pub(super) fn stripe_seed(sys: &mut System, world: &World) {
    let mut customers = Vec::new();
    for p in world.people.iter().take(14) {
        let id = format!("cus_{}", sys.token(BASE62, 14));
        let created = sys.random_date(-700 + 1, -20 + 1);
        sys.insert(
            "customers",
            json!({"id": id, "email": p.email, "name": p.name(), "currency": "usd", "delinquent": false,
                   "created": format!("{created}T08:00:00Z")}),
        );
        customers.push(id);
    }
    for (n, cus) in customers.iter().enumerate() {
        let (price, name, amount) = PLANS[sys.rng().gen_range(0..PLANS.len())];
        let status = if n % 5 == 4 { "canceled" } else { "active" };
        let id = format!("sub_{}", sys.token(BASE62, 14));
        let period_end = sys.random_date(1, 30);
        let created = sys.random_date(-399, -29);
        sys.insert(
            "subscriptions",
            json!({"id": id, "customer": cus, "status": status,
                   "plan": {"id": price, "name": name, "amount": amount, "interval": if price.ends_with("annual") { "year" } else { "month" }},
                   "current_period_end": format!("{period_end}T06:00:00Z"),
                   "cancel_at_period_end": false, "created": format!("{created}T06:00:00Z")}),
        );
        for k in 0..2 {
            let pid = format!("pi_3{}", sys.token(BASE62, 13));
            let failed = sys.rng().gen_bool(0.15);
            let mut payment = json!({"id": pid, "amount": amount, "amount_refunded": 0.0, "currency": "usd", "customer": cus,
                   "status": if failed { "failed" } else { "succeeded" }, "description": format!("{name}, invoice {}", 100 + n * 2 + k),
                   "created": format!("{}T06:00:00Z", sys.date_in(-(30 * k as i64 + n as i64)))});
            if failed {
                payment["failure_message"] = json!("Your card was declined.");
            }
            sys.insert("payments", payment);
        }
    }
}

fn customer_of(sys: &System, record: &Value, field: &str) -> Value {
    record[field]
        .as_str()
        .and_then(|id| sys.index_of("customers", "id", id))
        .map_or(Value::Null, |i| sys.record("customers", i))
}

pub(super) fn stripe(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let what = call.what();
    let input = call.input;
    match call.op.id.as_str() {
        "payment.succeeded" | "payment.failed" => {
            let wanted = if call.op.id == "payment.succeeded" {
                "succeeded"
            } else {
                "failed"
            };
            let keys = [exact("payment_id", &["id"])];
            let i = pick_event(sys, call, &PAYMENT, &keys, &|p| p["status"] == wanted)?;
            let mut payment = sys.record("payments", i);
            payment["status"] = json!(wanted);
            let customer = customer_of(sys, &payment, "customer");
            Ok(json!({ "payment": payment, "customer": customer }))
        }
        "subscription.created" | "subscription.canceled" => {
            let wanted = if call.op.id == "subscription.created" {
                "active"
            } else {
                "canceled"
            };
            let keys = [exact("subscription_id", &["id"])];
            let i = pick_event(sys, call, &SUBSCRIPTION, &keys, &|s| s["status"] == wanted)?;
            let subscription = sys.record("subscriptions", i);
            let customer = customer_of(sys, &subscription, "customer");
            Ok(json!({ "subscription": subscription, "customer": customer }))
        }
        "dispute.created" => {
            let i = pick_event(
                sys,
                call,
                &DISPUTE,
                &[exact("dispute_id", &["id"])],
                &|_| true,
            )?;
            let dispute = sys.record("disputes", i);
            let payment = dispute["payment"]
                .as_str()
                .and_then(|id| sys.index_of("payments", "id", id))
                .map_or(Value::Null, |p| sys.record("payments", p));
            let customer = customer_of(sys, &payment, "customer");
            Ok(json!({ "dispute": dispute, "payment": payment, "customer": customer }))
        }
        "customer.find" => {
            let keys = [
                exact("customer_id", &["id"]),
                exact("email", &["email"]),
                exact("name", &["name"]),
            ];
            let (i, n) = sys.find_one(&what, "customers", &keys, input, &|_| true)?;
            Ok(found("customer", sys.record("customers", i), n))
        }
        "refund.create" => {
            let (i, _) = sys.find_one(
                &what,
                "payments",
                &[exact("payment_id", &["id"])],
                input,
                &|_| true,
            )?;
            let payment = sys.record("payments", i);
            if payment["status"] != "succeeded" {
                return Err(ConnectorError::permanent(
                    "payment_not_refundable",
                    format!(
                        "{what}: payment {} did not succeed; nothing to refund",
                        payment["id"].as_str().unwrap_or_default()
                    ),
                ));
            }
            let amount = payment["amount"].as_f64().unwrap_or(0.0);
            let refunded = payment["amount_refunded"].as_f64().unwrap_or(0.0);
            let left = cents(amount - refunded);
            if left <= 0.0 {
                return Err(ConnectorError::permanent(
                    "charge_already_refunded",
                    format!(
                        "{what}: payment {} is already fully refunded",
                        payment["id"].as_str().unwrap_or_default()
                    ),
                ));
            }
            let refund_amount = cents(input.num("amount").unwrap_or(left));
            if refund_amount <= 0.0 {
                return Err(ConnectorError::invalid_input(format!(
                    "{what}: `amount` must be more than 0"
                )));
            }
            if refund_amount > left + 0.005 {
                return Err(ConnectorError::permanent(
                    "amount_too_large",
                    format!(
                        "{what}: refund of {refund_amount} is more than the {left} left to refund"
                    ),
                ));
            }
            let reason = match input.str("reason") {
                Some(r) => canonical(
                    &what,
                    "reason",
                    &r.replace(' ', "_"),
                    &["duplicate", "fraudulent", "requested_by_customer"],
                )?,
                None => "requested_by_customer".to_string(),
            };
            sys.set(
                "payments",
                i,
                "amount_refunded",
                json!(cents(refunded + refund_amount)),
            );
            let id = format!("re_{}", sys.token(BASE62, 14));
            let created = sys.now();
            let refund = json!({
                "id": id, "payment": payment["id"], "amount": refund_amount, "currency": payment["currency"],
                "status": "succeeded", "reason": reason, "created": created,
            });
            sys.insert("refunds", refund.clone());
            Ok(json!({ "refund": refund, "payment": sys.record("payments", i) }))
        }
        "subscription.cancel" => {
            let i = if input.get("subscription_id").is_some() {
                sys.find_one(
                    &what,
                    "subscriptions",
                    &[exact("subscription_id", &["id"])],
                    input,
                    &|_| true,
                )?
                .0
            } else {
                let keys = [exact("customer_id", &["customer"])];
                sys.find_one(&what, "subscriptions", &keys, input, &|s| {
                    s["status"] == "active"
                })?
                .0
            };
            let subscription = sys.record("subscriptions", i);
            if subscription["status"] == "canceled" {
                return Err(ConnectorError::permanent(
                    "already_canceled",
                    format!(
                        "{what}: subscription {} is already canceled",
                        subscription["id"].as_str().unwrap_or_default()
                    ),
                ));
            }
            if input.bool("at_period_end").unwrap_or(false) {
                sys.set("subscriptions", i, "cancel_at_period_end", json!(true));
            } else {
                let at = sys.now();
                sys.set("subscriptions", i, "status", json!("canceled"));
                sys.set("subscriptions", i, "canceled_at", json!(at));
            }
            Ok(json!({ "subscription": sys.record("subscriptions", i) }))
        }
        _ => Err(call.unsupported()),
    }
}

const ORDER: Entity = Entity {
    key: "order",
    collection: "orders",
    id: "id",
};
const PRODUCT: Entity = Entity {
    key: "product",
    collection: "products",
    id: "id",
};
const ORDER_ID: &[Key] = &[exact("order_id", &["id"])];
const ORDER_KEYS: &[Key] = &[
    exact("order_id", &["id"]),
    exact("order_number", &["order_number", "name"]),
    exact("email", &["email", "customer.email"]),
];
const PRODUCTS: &[(&str, &str, f64)] = &[
    ("TEE-WHT-M", "Organic tee, white", 28.0),
    ("HOOD-GRY-L", "Fleece hoodie, grey", 64.0),
    ("CAP-NVY", "Canvas cap, navy", 22.0),
    ("BOT-STL-750", "Steel bottle, 750 ml", 34.0),
    ("TOTE-NAT", "Canvas tote, natural", 18.0),
    ("SOCK-3PK", "Wool socks, 3-pack", 24.0),
    ("BAG-DAY-20", "Daypack, 20 l", 89.0),
];

pub(super) fn shopify_seed(sys: &mut System, world: &World) {
    for (n, (sku, title, price)) in PRODUCTS.iter().enumerate() {
        let stock = sys.rng().gen_range(0..120);
        sys.insert(
            "products",
            json!({"id": 8012345680_i64 + n as i64, "title": title, "sku": sku, "price": price,
                   "inventory_quantity": stock, "status": "active", "tags": []}),
        );
    }
    let mut customers = Vec::new();
    for (n, p) in world.people.iter().enumerate().take(12) {
        let id = 7_390_214_510_i64 + n as i64;
        let customer = json!({"id": id, "first_name": p.first, "last_name": p.last, "email": p.email, "phone": p.phone,
                              "tags": [], "orders_count": sys.rng().gen_range(1..9), "total_spent": f64::from(sys.rng().gen_range(30..900))});
        sys.insert("customers", customer.clone());
        customers.push(customer);
    }
    let products: Vec<Value> = sys.all("products").to_vec();
    for n in 0..20_i64 {
        let customer = customers
            .get(sys.rng().gen_range(0..customers.len().max(1)))
            .cloned()
            .unwrap_or(Value::Null);
        let product = products
            .get(sys.rng().gen_range(0..products.len().max(1)))
            .cloned()
            .unwrap_or(Value::Null);
        let qty = sys.rng().gen_range(1..4);
        let price = product["price"].as_f64().unwrap_or(20.0);
        let fulfilled = sys.rng().gen_bool(0.5);
        let number = 1022 + n;
        sys.insert(
            "orders",
            json!({"id": 5_820_154_970_300_i64 + n, "name": format!("#{number}"), "order_number": number,
                   "email": customer["email"], "customer": customer, "total": cents(price * f64::from(qty)), "currency": "USD",
                   "financial_status": "paid", "fulfillment_status": if fulfilled { "fulfilled" } else { "unfulfilled" },
                   "cancelled": false,
                   "line_items": [{"sku": product["sku"], "title": product["title"], "quantity": qty, "price": price}],
                   "created_at": format!("{}T10:00:00Z", sys.date_in(n - 25))}),
        );
    }
}

fn find_product(sys: &System, call: &Call<'_>) -> Result<usize, ConnectorError> {
    let keys = [exact("product_id", &["id"]), exact("sku", &["sku"])];
    sys.find_one(&call.what(), "products", &keys, call.input, &|_| true)
        .map(|(i, _)| i)
}

pub(super) fn shopify(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let what = call.what();
    let input = call.input;
    match call.op.id.as_str() {
        "order.created" => {
            let i = pick_event(sys, call, &ORDER, ORDER_ID, &|o| {
                o["fulfillment_status"] == "unfulfilled" && o["cancelled"] != true
            })?;
            Ok(json!({ "order": sys.record("orders", i) }))
        }
        "order.fulfilled" => {
            let i = pick_event(sys, call, &ORDER, ORDER_ID, &|o| {
                o["fulfillment_status"] == "fulfilled"
            })?;
            let mut order = sys.record("orders", i);
            order["fulfillment_status"] = json!("fulfilled");
            let fulfillment = sys
                .index_of("fulfillments", "order_id", &order["id"].to_string())
                .map(|f| sys.record("fulfillments", f))
                .unwrap_or_else(|| {
                    json!({"id": 4_410_000_i64 + (order["order_number"].as_i64().unwrap_or(0) % 1000), "order_id": order["id"],
                           "tracking_company": "UPS", "tracking_number": "1Z999AA10123456784", "status": "success"})
                });
            Ok(json!({ "order": order, "fulfillment": fulfillment }))
        }
        "order.cancelled" => {
            let i = pick_event(sys, call, &ORDER, ORDER_ID, &|o| o["cancelled"] == true)?;
            let mut order = sys.record("orders", i);
            order["cancelled"] = json!(true);
            Ok(json!({ "order": order, "cancel_reason": "customer" }))
        }
        "inventory.low" => {
            let threshold = input.num("threshold").unwrap_or(10.0);
            let i = pick_event(sys, call, &PRODUCT, &[exact("product_id", &["id"])], &|p| {
                p["inventory_quantity"]
                    .as_f64()
                    .is_some_and(|q| q < threshold)
            })?;
            let mut product = sys.record("products", i);
            let mut qty = product["inventory_quantity"].as_f64().unwrap_or(0.0);
            if qty >= threshold {
                // Simulate the drop below the threshold.
                qty = (threshold - 1.0).max(0.0).floor();
                product["inventory_quantity"] = json!(qty as i64);
            }
            Ok(
                json!({ "product": product, "inventory_quantity": qty as i64, "threshold": threshold }),
            )
        }
        "order.find" => {
            let (i, n) = sys.find_one(&what, "orders", ORDER_KEYS, input, &|_| true)?;
            Ok(found("order", sys.record("orders", i), n))
        }
        "order.fulfill" => {
            let (i, _) = sys.find_one(
                &what,
                "orders",
                &[exact("order_id", &["id"])],
                input,
                &|_| true,
            )?;
            let order = sys.record("orders", i);
            if order["cancelled"] == true {
                return Err(ConnectorError::permanent(
                    "order_cancelled",
                    format!(
                        "{what}: order {} is cancelled",
                        order["name"].as_str().unwrap_or_default()
                    ),
                ));
            }
            if order["fulfillment_status"] == "fulfilled" {
                return Err(ConnectorError::permanent(
                    "already_fulfilled",
                    format!(
                        "{what}: order {} is already fulfilled",
                        order["name"].as_str().unwrap_or_default()
                    ),
                ));
            }
            let id = sys.next_number("fulfillments", "id", "", 4_410_100);
            let fulfillment = json!({
                "id": id, "order_id": order["id"], "tracking_company": input.str("tracking_company"),
                "tracking_number": input.str("tracking_number"), "status": "success",
                "notify_customer": input.bool("notify_customer").unwrap_or(false),
            });
            sys.insert("fulfillments", fulfillment.clone());
            sys.set("orders", i, "fulfillment_status", json!("fulfilled"));
            Ok(json!({ "order": sys.record("orders", i), "fulfillment": fulfillment }))
        }
        "customer.tag" => {
            let (i, _) = sys.find_one(
                &what,
                "customers",
                &[exact("customer_id", &["id"])],
                input,
                &|_| true,
            )?;
            let tag = input.str("tag").unwrap_or_default().to_string();
            let mut tags: Vec<Value> = sys.record("customers", i)["tags"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !tags
                .iter()
                .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(&tag)))
            {
                tags.push(json!(tag));
            }
            sys.set("customers", i, "tags", Value::Array(tags));
            Ok(json!({ "customer": sys.record("customers", i), "added": tag }))
        }
        "product.update" => {
            let i = find_product(sys, call)?;
            let mut changed = Vec::new();
            if let Some(title) = input.str("title") {
                sys.set("products", i, "title", json!(title));
                changed.push("title");
            }
            if let Some(price) = input.num("price") {
                if price < 0.0 {
                    return Err(ConnectorError::invalid_input(format!(
                        "{what}: `price` must not be negative"
                    )));
                }
                sys.set("products", i, "price", json!(cents(price)));
                changed.push("price");
            }
            if let Some(status) = input.str("status") {
                let status = match status.to_lowercase().as_str() {
                    "unpublished" | "unpublish" | "hidden" => "draft".to_string(),
                    "published" | "publish" | "live" => "active".to_string(),
                    other => canonical(&what, "status", other, &["active", "draft", "archived"])?,
                };
                sys.set("products", i, "status", json!(status));
                changed.push("status");
            }
            if let Some(qty) = input.int("inventory_quantity") {
                sys.set("products", i, "inventory_quantity", json!(qty));
                changed.push("inventory_quantity");
            }
            if input.get("tags").is_some() {
                sys.set("products", i, "tags", json!(input.strings("tags")));
                changed.push("tags");
            }
            if changed.is_empty() {
                return Err(nothing_to_change(
                    &what,
                    &["title", "price", "status", "inventory_quantity", "tags"],
                ));
            }
            Ok(json!({ "product": sys.record("products", i), "changed": changed }))
        }
        _ => Err(call.unsupported()),
    }
}
