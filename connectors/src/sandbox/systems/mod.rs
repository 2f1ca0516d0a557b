//! What each simulated system does: its seed data and the behaviour of each
//! operation, on top of the generic [`System`] record store.
//!
//! Shared here: seeding the store from the manifest's example records,
//! picking the record a simulated trigger event is about, and the
//! canonical-value helpers (stages, statuses, priorities). Each connector's
//! module holds only what is specific to it.

mod accounting;
mod chat;
mod commerce;
mod core;
mod crm;
mod devtools;
mod messaging;
mod web;

use nexwatt_engine::connector::{ConnectorError, ConnectorManifest, OperationManifest};
use nexwatt_engine::model::{Effect, OperationKind};
use serde_json::{Map, Value};

use super::input::Input;
use super::store::{at, norm, Key, System};
use super::world::World;

/// Maps an example record's key in a manifest's `example_output` (e.g.
/// `invoice`) to the collection it belongs in and its unique field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entity {
    pub key: &'static str,
    pub collection: &'static str,
    pub id: &'static str,
}

/// Seeds `sys` for `manifest`'s connector: first the example records of
/// its read operations (so test runs find what the manifest promises),
/// then plausible records drawn from `world` and the system's random
/// source.
pub(crate) fn seed(manifest: &ConnectorManifest, sys: &mut System, world: &World) {
    let entities = entities(&manifest.id);
    seed_examples(manifest, sys, &entities);
    match manifest.id.as_str() {
        "quickbooks" => accounting::seed(sys, world),
        "hubspot" => crm::hubspot_seed(sys, world),
        "salesforce" => crm::salesforce_seed(sys, world),
        "slack" => chat::slack_seed(sys, world),
        "email" => messaging::email_seed(sys, world),
        "twilio" => messaging::twilio_seed(sys, world),
        "google_sheets" => web::sheets_seed(manifest, sys, world),
        "stripe" => commerce::stripe_seed(sys, world),
        "shopify" => commerce::shopify_seed(sys, world),
        "jira" => devtools::jira_seed(sys, world),
        "github" => devtools::github_seed(sys, world),
        "zendesk" => devtools::zendesk_seed(sys, world),
        "http" => web::http_seed(sys),
        _ => {}
    }
}

/// Runs `op` of connector `id` against `sys`.
pub(crate) fn execute(
    id: &str,
    sys: &mut System,
    op: &OperationManifest,
    input: &Input,
) -> Result<Value, ConnectorError> {
    let call = Call { id, op, input };
    match id {
        "quickbooks" => accounting::execute(sys, &call),
        "hubspot" => crm::hubspot(sys, &call),
        "salesforce" => crm::salesforce(sys, &call),
        "slack" => chat::slack(sys, &call),
        "email" => messaging::email(sys, &call),
        "twilio" => messaging::twilio(sys, &call),
        "google_sheets" => web::sheets(sys, &call),
        "http" => web::http(sys, &call),
        "stripe" => commerce::stripe(sys, &call),
        "shopify" => commerce::shopify(sys, &call),
        "jira" => devtools::jira(sys, &call),
        "github" => devtools::github(sys, &call),
        "zendesk" => devtools::zendesk(sys, &call),
        "core" => core::execute(sys, &call),
        _ => Err(ConnectorError::permanent(
            "no_sandbox",
            format!("connector {id} has no simulated system"),
        )),
    }
}

/// One call being served.
pub(crate) struct Call<'a> {
    pub id: &'a str,
    pub op: &'a OperationManifest,
    pub input: &'a Input,
}

impl Call<'_> {
    /// `connector.operation`, for messages.
    pub(crate) fn what(&self) -> String {
        format!("{}.{}", self.id, self.op.id)
    }

    /// The permanent error of an operation this system does not simulate
    /// (a manifest operation added without behaviour).
    pub(crate) fn unsupported(&self) -> ConnectorError {
        ConnectorError::unknown_operation(self.id, &self.op.id)
    }

    /// The id of the manifest example's record under `entity`.
    pub(crate) fn example_id(&self, entity: &str, id_field: &str) -> Option<String> {
        self.op
            .example_output
            .get(entity)
            .and_then(|r| at(r, id_field))
            .and_then(norm)
    }
}

fn entities(id: &str) -> Vec<Entity> {
    const fn e(key: &'static str, collection: &'static str, id: &'static str) -> Entity {
        Entity {
            key,
            collection,
            id,
        }
    }
    match id {
        "quickbooks" => vec![
            e("invoice", "invoices", "id"),
            e("customer", "customers", "id"),
            e("payment", "payments", "id"),
        ],
        "hubspot" => vec![
            e("contact", "contacts", "id"),
            e("deal", "deals", "id"),
            e("owner", "owners", "id"),
            e("form", "forms", "id"),
        ],
        "salesforce" => vec![
            e("lead", "leads", "id"),
            e("contact", "contacts", "id"),
            e("opportunity", "opportunities", "id"),
            e("owner", "users", "id"),
        ],
        "slack" => vec![e("message", "messages", "ts"), e("user", "users", "id")],
        "email" => vec![e("message", "inbox", "id")],
        "twilio" => vec![e("message", "messages", "sid")],
        "stripe" => vec![
            e("customer", "customers", "id"),
            e("payment", "payments", "id"),
            e("subscription", "subscriptions", "id"),
            e("dispute", "disputes", "id"),
        ],
        "shopify" => vec![
            e("order", "orders", "id"),
            e("customer", "customers", "id"),
            e("product", "products", "id"),
            e("fulfillment", "fulfillments", "id"),
        ],
        "jira" => vec![e("issue", "issues", "key")],
        "github" => vec![
            e("issue", "issues", "html_url"),
            e("pull_request", "pull_requests", "html_url"),
            e("release", "releases", "html_url"),
        ],
        "zendesk" => vec![e("ticket", "tickets", "id")],
        "http" => vec![e("request", "webhooks", "path")],
        _ => vec![],
    }
}

/// Inserts the example records of `manifest`'s read operations: first the
/// top-level ones of every operation, then records nested in them (an
/// order's customer), each once.
fn seed_examples(manifest: &ConnectorManifest, sys: &mut System, entities: &[Entity]) {
    // Finds show records as they are; trigger events may show them after a
    // change (a deal already moved to Closed Won), so finds come first.
    let reads = manifest
        .operations
        .iter()
        .filter(|op| op.effect == Effect::Read);
    let examples: Vec<&Map<String, Value>> = reads
        .clone()
        .filter(|op| op.kind == OperationKind::Action)
        .chain(reads.filter(|op| op.kind == OperationKind::Trigger))
        .filter_map(|op| op.example_output.as_object())
        .collect();
    for example in &examples {
        for entity in entities {
            if let Some(record @ Value::Object(_)) = example.get(entity.key) {
                sys.insert_unique(entity.collection, entity.id, record.clone());
            }
        }
    }
    for example in &examples {
        for record in example.values().filter_map(Value::as_object) {
            for entity in entities {
                if let Some(nested @ Value::Object(_)) = record.get(entity.key) {
                    sys.insert_unique(entity.collection, entity.id, nested.clone());
                }
            }
        }
    }
}

/// Picks the record a simulated trigger event is about:
/// - when the input names one by an id key (`invoice_id`), that record, or
///   a permanent `not_found`;
/// - otherwise the manifest example's record if it passes `prefer`, else
///   the first that does, else the example's record, else the first.
pub(crate) fn pick_event(
    sys: &System,
    call: &Call<'_>,
    entity: &Entity,
    keys: &[Key],
    prefer: &dyn Fn(&Value) -> bool,
) -> Result<usize, ConnectorError> {
    if let Some(found) = sys.matching(entity.collection, keys, call.input, &|_| true) {
        return found
            .first()
            .copied()
            .ok_or_else(|| super::store::not_found(&call.what(), keys, call.input));
    }
    let records = sys.all(entity.collection);
    let example = call
        .example_id(entity.key, entity.id)
        .and_then(|id| sys.index_of(entity.collection, entity.id, &id));
    if let Some(i) = example.filter(|&i| records.get(i).is_some_and(prefer)) {
        return Ok(i);
    }
    if let Some(i) = records.iter().position(prefer) {
        return Ok(i);
    }
    example
        .or(if records.is_empty() { None } else { Some(0) })
        .ok_or_else(|| {
            ConnectorError::permanent(
                "not_found",
                format!("{}: the sandbox has no {} records", call.what(), entity.key),
            )
        })
}

/// The canonical spelling of `given` among `allowed` (equal ignoring case,
/// or the one allowed value it starts), or a permanent `invalid_input`.
pub(crate) fn canonical(
    what: &str,
    field: &str,
    given: &str,
    allowed: &[&str],
) -> Result<String, ConnectorError> {
    let g = given.trim().to_lowercase();
    if let Some(a) = allowed.iter().find(|a| a.to_lowercase() == g) {
        return Ok((*a).to_string());
    }
    let prefixed: Vec<&&str> = allowed
        .iter()
        .filter(|a| !g.is_empty() && a.to_lowercase().starts_with(&g))
        .collect();
    if let [only] = prefixed.as_slice() {
        return Ok((**only).to_string());
    }
    Err(ConnectorError::invalid_input(format!(
        "{what}: `{field}` {given:?} is not one of: {}",
        allowed.join(", ")
    )))
}

/// A permanent `invalid_input` saying an update changes nothing.
pub(crate) fn nothing_to_change(what: &str, fields: &[&str]) -> ConnectorError {
    ConnectorError::invalid_input(format!(
        "{what}: nothing to change; give {}",
        fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(" or ")
    ))
}

/// A property name as a snake_case field name (`Lifecycle Stage` →
/// `lifecycle_stage`).
pub(crate) fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// Sets `fields` on the record at `index`, refusing `protected` ones;
/// returns the names changed.
pub(crate) fn apply_fields(
    what: &str,
    sys: &mut System,
    collection: &str,
    index: usize,
    fields: &Map<String, Value>,
    protected: &[&str],
) -> Result<Vec<String>, ConnectorError> {
    let mut changed = Vec::new();
    for (name, value) in fields {
        let field = snake(name);
        if field.is_empty() || protected.contains(&field.as_str()) {
            return Err(ConnectorError::invalid_input(format!(
                "{what}: field {name:?} cannot be changed"
            )));
        }
        sys.set(collection, index, &field, value.clone());
        changed.push(field);
    }
    Ok(changed)
}

/// Money rounded to cents.
pub(crate) fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
