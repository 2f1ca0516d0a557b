//! CRMs: HubSpot (contacts, deals, owners, tasks, notes, forms) and
//! Salesforce (leads, contacts, opportunities, users, tasks).

use nexwatt_engine::connector::ConnectorError;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::{apply_fields, canonical, cents, nothing_to_change, pick_event, snake, Call, Entity};
use crate::sandbox::input::summarize;
use crate::sandbox::store::{contains, exact, found, Key, System, BASE62};
use crate::sandbox::world::{World, TEAM};

/// HubSpot's default sales pipeline.
pub(crate) const HUBSPOT_STAGES: &[&str] = &[
    "Appointment Scheduled",
    "Qualified To Buy",
    "Presentation Scheduled",
    "Decision Maker Bought-In",
    "Contract Sent",
    "Closed Won",
    "Closed Lost",
];
const LIFECYCLE: &[&str] = &[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
];
const PLANS: &[&str] = &[
    "Annual plan",
    "Pilot",
    "Expansion",
    "Renewal",
    "Enterprise tier",
];

const CONTACT: Entity = Entity {
    key: "contact",
    collection: "contacts",
    id: "id",
};
const DEAL: Entity = Entity {
    key: "deal",
    collection: "deals",
    id: "id",
};
const LEAD: Entity = Entity {
    key: "lead",
    collection: "leads",
    id: "id",
};
const OPPORTUNITY: Entity = Entity {
    key: "opportunity",
    collection: "opportunities",
    id: "id",
};

const CONTACT_KEYS: &[Key] = &[
    exact("contact_id", &["id"]),
    exact("email", &["email"]),
    exact("name", &["name"]),
    exact("company", &["company"]),
];
const DEAL_KEYS: &[Key] = &[
    exact("deal_id", &["id"]),
    contains("name", &["name"]),
    exact("company", &["company"]),
    exact("email", &["contact_email"]),
];
const OWNER_KEYS: &[Key] = &[exact("owner_id", &["id"]), exact("email", &["email"])];

pub(super) fn hubspot_seed(sys: &mut System, world: &World) {
    for (i, m) in TEAM.iter().take(5).enumerate() {
        sys.insert_unique(
            "owners",
            "id",
            json!({"id": (9001 + i).to_string(), "name": m.name(), "first_name": m.first, "last_name": m.last,
                   "email": m.email(), "team": if m.title.contains("Support") { "Support" } else { "Sales" }}),
        );
    }
    for form in [
        ("f3b2c1a0-demo", "Demo request"),
        ("a81c4e22-contact", "Contact us"),
        ("5d0e9b71-news", "Newsletter signup"),
    ] {
        sys.insert_unique("forms", "id", json!({"id": form.0, "name": form.1}));
    }
    for (i, p) in world.people.iter().enumerate() {
        let owner = (9001 + sys.rng().gen_range(0..4)).to_string();
        let stage = LIFECYCLE[sys.rng().gen_range(1..LIFECYCLE.len() - 1)];
        let created = sys.random_date(-600 + 1, -10 + 1);
        sys.insert(
            "contacts",
            json!({"id": (510 + i).to_string(), "email": p.email, "first_name": p.first, "last_name": p.last,
                   "name": p.name(), "company": world.company_of(p), "phone": p.phone, "lifecycle_stage": stage,
                   "owner_id": owner, "created_at": format!("{created}T10:00:00Z")}),
        );
    }
    for (i, c) in world.companies.iter().enumerate() {
        let contact = world.people.iter().find(|p| p.company == i);
        let plan = PLANS[sys.rng().gen_range(0..PLANS.len())];
        let stage = HUBSPOT_STAGES[sys.rng().gen_range(0..HUBSPOT_STAGES.len())];
        let amount = cents(f64::from(sys.rng().gen_range(10..400)) * 50.0);
        let owner = (9001 + sys.rng().gen_range(0..4)).to_string();
        let close = sys.random_date(-60, 120);
        sys.insert(
            "deals",
            json!({"id": (7010 + i).to_string(), "name": format!("{} - {plan}", c.name), "company": c.name,
                   "contact_email": contact.map(|p| p.email.clone()), "amount": amount, "currency": "USD",
                   "stage": stage, "pipeline": "default", "owner_id": owner, "close_date": close}),
        );
    }
}

fn require_exists(
    sys: &System,
    what: &str,
    collection: &str,
    field: &str,
    id: Option<&str>,
) -> Result<(), ConnectorError> {
    match id {
        Some(id) if sys.index_of(collection, "id", id).is_none() => Err(ConnectorError::permanent(
            "not_found",
            format!("{what}: no record matches {field}={id}"),
        )),
        _ => Ok(()),
    }
}

pub(super) fn hubspot(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let what = call.what();
    let input = call.input;
    match call.op.id.as_str() {
        "contact.created" => {
            let keys = [exact("contact_id", &["id"]), exact("email", &["email"])];
            let i = pick_event(sys, call, &CONTACT, &keys, &|_| true)?;
            Ok(json!({ "contact": sys.record("contacts", i) }))
        }
        "deal.created" => {
            let keys = [exact("deal_id", &["id"])];
            let i = pick_event(sys, call, &DEAL, &keys, &|_| true)?;
            Ok(json!({ "deal": sys.record("deals", i) }))
        }
        "deal.stage_changed" => {
            let to = match input.str("stage") {
                Some(s) => canonical(&what, "stage", s, HUBSPOT_STAGES)?,
                None => "Closed Won".to_string(),
            };
            let keys = [exact("deal_id", &["id"])];
            let target = to.clone();
            let i = pick_event(sys, call, &DEAL, &keys, &|r| {
                r["stage"] != json!(target) && !is_closed(r)
            })?;
            let mut deal = sys.record("deals", i);
            let previous = deal["stage"].clone();
            deal["stage"] = json!(to);
            Ok(json!({ "deal": deal, "previous_stage": previous }))
        }
        "form.submitted" => {
            let form = match input.str("form") {
                Some(name) => {
                    let wanted = name.trim().trim_matches('"').to_lowercase();
                    let known = sys.all("forms").iter().position(|f| {
                        f["name"]
                            .as_str()
                            .is_some_and(|n| n.to_lowercase().contains(&wanted))
                    });
                    match known {
                        Some(idx) => sys.record("forms", idx),
                        None => {
                            // The simulated portal has every form a plan names.
                            let id =
                                format!("{}-{}", sys.token("0123456789abcdef", 8), snake(&wanted));
                            let form = json!({"id": id, "name": name.trim().trim_matches('"')});
                            sys.insert("forms", form.clone());
                            form
                        }
                    }
                }
                None => sys.record("forms", 0),
            };
            let keys = [exact("email", &["email"])];
            let i = pick_event(sys, call, &CONTACT, &keys, &|_| true)?;
            let contact = sys.record("contacts", i);
            let submitted = call.op.example_output["submitted_at"].clone();
            Ok(json!({
                "form": form, "submitted_at": submitted,
                "values": {"email": contact["email"], "first_name": contact["first_name"],
                           "last_name": contact["last_name"], "company": contact["company"]},
                "contact": contact,
            }))
        }
        "contact.find" => {
            let (i, n) = sys.find_one(&what, "contacts", CONTACT_KEYS, input, &|_| true)?;
            Ok(found("contact", sys.record("contacts", i), n))
        }
        "contact.create" => {
            let email = input.str("email").unwrap_or_default().to_string();
            if sys.index_of("contacts", "email", &email).is_some() {
                return Err(ConnectorError::permanent(
                    "already_exists",
                    format!("{what}: a contact with email {email} already exists"),
                ));
            }
            let stage = match input.str("lifecycle_stage") {
                Some(s) => canonical(&what, "lifecycle_stage", &s.replace(' ', ""), LIFECYCLE)?,
                None => "lead".to_string(),
            };
            let first = input.str("first_name").unwrap_or_default();
            let last = input.str("last_name").unwrap_or_default();
            let owner = input.str("owner_id").unwrap_or("9001").to_string();
            require_exists(sys, &what, "owners", "owner_id", Some(&owner))?;
            let id = sys.next_number("contacts", "id", "", 600).to_string();
            let created = sys.now();
            let contact = json!({
                "id": id, "email": email, "first_name": first, "last_name": last,
                "name": format!("{first} {last}").trim().to_string(), "company": input.str("company"),
                "phone": input.str("phone"), "lifecycle_stage": stage, "owner_id": owner, "created_at": created,
            });
            sys.insert("contacts", contact.clone());
            Ok(json!({ "contact": contact }))
        }
        "contact.update" => {
            let keys = [exact("contact_id", &["id"]), exact("email", &["email"])];
            let (i, _) = sys.find_one(&what, "contacts", &keys, input, &|_| true)?;
            let mut fields = input.obj("properties").cloned().unwrap_or_default();
            if let Some(property) = input.str("property") {
                let value = input.get("value").cloned().ok_or_else(|| {
                    ConnectorError::invalid_input(format!("{what}: `property` needs a `value`"))
                })?;
                fields.insert(snake(property), value);
            }
            if let Some(stage) = fields.get_mut("lifecycle_stage") {
                let given = stage.as_str().unwrap_or_default().replace(' ', "");
                *stage = json!(canonical(&what, "lifecycle_stage", &given, LIFECYCLE)?);
            }
            if fields.is_empty() {
                return Err(nothing_to_change(&what, &["property", "properties"]));
            }
            if let Some(email) = fields
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_lowercase)
            {
                // Emails identify contacts: another contact's is refused.
                if sys
                    .index_of("contacts", "email", &email)
                    .is_some_and(|other| other != i)
                {
                    return Err(ConnectorError::permanent(
                        "already_exists",
                        format!("{what}: another contact has the email {email}"),
                    ));
                }
                fields.insert("email".into(), json!(email));
            }
            let changed = apply_fields(&what, sys, "contacts", i, &fields, &["id", "created_at"])?;
            Ok(json!({ "contact": sys.record("contacts", i), "changed": changed }))
        }
        "deal.find" => {
            let (i, n) = sys.find_one(&what, "deals", DEAL_KEYS, input, &|_| true)?;
            Ok(found("deal", sys.record("deals", i), n))
        }
        "deal.create" => {
            let company = input.str("company");
            let name = match (input.str("name"), company) {
                (Some(n), _) => n.to_string(),
                (None, Some(c)) => format!("{c} - New deal"),
                (None, None) => {
                    return Err(ConnectorError::invalid_input(format!(
                        "{what}: give `name` or `company`"
                    )))
                }
            };
            let stage = match input.str("stage") {
                Some(s) => canonical(&what, "stage", s, HUBSPOT_STAGES)?,
                None => "Appointment Scheduled".to_string(),
            };
            let owner = input.str("owner_id").unwrap_or("9001").to_string();
            require_exists(sys, &what, "owners", "owner_id", Some(&owner))?;
            let id = sys.next_number("deals", "id", "", 7100).to_string();
            let deal = json!({
                "id": id, "name": name, "company": company, "contact_email": input.str("contact_email"),
                "amount": input.num("amount").map(cents), "currency": "USD", "stage": stage,
                "pipeline": "default", "owner_id": owner, "close_date": sys.date_in(30),
            });
            sys.insert("deals", deal.clone());
            Ok(json!({ "deal": deal }))
        }
        "deal.update" => {
            let (i, _) =
                sys.find_one(&what, "deals", &[exact("deal_id", &["id"])], input, &|_| {
                    true
                })?;
            let previous = sys.record("deals", i)["stage"].clone();
            let mut fields = input.obj("properties").cloned().unwrap_or_default();
            if let Some(stage) = input.str("stage") {
                fields.insert(
                    "stage".into(),
                    json!(canonical(&what, "stage", stage, HUBSPOT_STAGES)?),
                );
            } else if let Some(stage) = fields.get_mut("stage") {
                let given = stage.as_str().unwrap_or_default().to_string();
                *stage = json!(canonical(&what, "stage", &given, HUBSPOT_STAGES)?);
            }
            if let Some(amount) = input.num("amount") {
                fields.insert("amount".into(), json!(cents(amount)));
            }
            if fields.is_empty() {
                return Err(nothing_to_change(&what, &["stage", "amount", "properties"]));
            }
            let changed = apply_fields(&what, sys, "deals", i, &fields, &["id", "pipeline"])?;
            Ok(
                json!({ "deal": sys.record("deals", i), "previous_stage": previous, "changed": changed }),
            )
        }
        "owner.get" => {
            let (i, _) = sys.find_one(&what, "owners", OWNER_KEYS, input, &|_| true)?;
            Ok(json!({ "owner": sys.record("owners", i) }))
        }
        "task.create" => {
            let deal_id = input.str("deal_id");
            let contact_id = input.str("contact_id");
            require_exists(sys, &what, "deals", "deal_id", deal_id)?;
            require_exists(sys, &what, "contacts", "contact_id", contact_id)?;
            let owner = input
                .str("owner_id")
                .map(str::to_string)
                .or_else(|| {
                    deal_id
                        .and_then(|d| sys.index_of("deals", "id", d))
                        .and_then(|i| {
                            sys.record("deals", i)["owner_id"]
                                .as_str()
                                .map(str::to_string)
                        })
                })
                .unwrap_or_else(|| "9001".to_string());
            require_exists(sys, &what, "owners", "owner_id", Some(&owner))?;
            let days = input.int("due_in_days").unwrap_or(1).clamp(0, 3650);
            let id = sys.next_number("tasks", "id", "", 12001).to_string();
            let title = input.str("title").map(str::to_string).unwrap_or_else(|| {
                format!(
                    "Follow up: {}",
                    summarize(input.raw()).trim_start_matches("Nexwatt: ")
                )
            });
            let task = json!({
                "id": id, "title": title, "status": "NOT_STARTED", "due_date": sys.date_in(days),
                "owner_id": owner, "deal_id": deal_id, "contact_id": contact_id, "notes": input.str("notes").unwrap_or_default(),
            });
            sys.insert("tasks", task.clone());
            Ok(json!({ "task": task }))
        }
        "note.create" => {
            let deal_id = input.str("deal_id");
            let contact_id = input.str("contact_id");
            require_exists(sys, &what, "deals", "deal_id", deal_id)?;
            require_exists(sys, &what, "contacts", "contact_id", contact_id)?;
            let id = sys.next_number("notes", "id", "", 15001).to_string();
            let created = sys.now();
            let note = json!({
                "id": id, "body": input.text_or_summary("body"), "contact_id": contact_id,
                "deal_id": deal_id, "created_at": created,
            });
            sys.insert("notes", note.clone());
            Ok(json!({ "note": note }))
        }
        _ => Err(call.unsupported()),
    }
}

fn is_closed(r: &Value) -> bool {
    r["stage"].as_str().is_some_and(|s| s.starts_with("Closed"))
}

/// Salesforce's standard opportunity stages.
pub(crate) const SF_STAGES: &[&str] = &[
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
];
/// Salesforce's standard lead statuses, plus the common custom ones.
pub(crate) const SF_LEAD_STATUSES: &[&str] = &[
    "Open - Not Contacted",
    "Working - Contacted",
    "Qualified",
    "Unqualified",
    "Closed - Converted",
    "Closed - Not Converted",
];

fn sf_id(sys: &mut System, prefix: &str) -> String {
    let tail = sys.token(BASE62, 9);
    format!("{prefix}5e00000{tail}")
}

pub(super) fn salesforce_seed(sys: &mut System, world: &World) {
    let mut users = Vec::new();
    for m in TEAM.iter().take(5) {
        let existing = sys.index_of("users", "email", &m.email());
        let id = match existing {
            Some(i) => sys.record("users", i)["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            None => {
                let id = sf_id(sys, "005");
                sys.insert(
                    "users",
                    json!({"id": id, "name": m.name(), "email": m.email(), "title": m.title}),
                );
                id
            }
        };
        users.push(id);
    }
    let pick_user = |sys: &mut System| {
        let i = sys.rng().gen_range(0..users.len().max(1));
        users.get(i).cloned().unwrap_or_default()
    };
    for p in world.people.iter().take(10) {
        let id = sf_id(sys, "00Q");
        let owner = pick_user(sys);
        let status = SF_LEAD_STATUSES[sys.rng().gen_range(0..3)];
        let created = sys.random_date(-199, 0);
        sys.insert(
            "leads",
            json!({"id": id, "first_name": p.first, "last_name": p.last, "name": p.name(), "email": p.email,
                   "company": world.company_of(p), "status": status, "source": "Web", "owner_id": owner,
                   "created_at": format!("{created}T11:00:00Z")}),
        );
    }
    for p in world.people.iter().skip(10) {
        let id = sf_id(sys, "003");
        let owner = pick_user(sys);
        sys.insert(
            "contacts",
            json!({"id": id, "first_name": p.first, "last_name": p.last, "name": p.name(), "email": p.email,
                   "account": world.company_of(p), "phone": p.phone, "owner_id": owner}),
        );
    }
    for (i, c) in world.companies.iter().enumerate().take(10) {
        let id = sf_id(sys, "006");
        let owner = pick_user(sys);
        let stage = SF_STAGES[sys.rng().gen_range(0..SF_STAGES.len())];
        let amount = f64::from(sys.rng().gen_range(5..200)) * 500.0;
        let contact = world
            .people
            .iter()
            .find(|p| p.company == i)
            .map(|p| p.email.clone());
        let close = sys.random_date(-30, 150);
        sys.insert(
            "opportunities",
            json!({"id": id, "name": format!("{} - {}", c.name, PLANS[i % PLANS.len()]), "account": c.name,
                   "contact_email": contact, "amount": amount, "stage": stage, "close_date": close, "owner_id": owner}),
        );
    }
}

pub(super) fn salesforce(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let what = call.what();
    let input = call.input;
    match call.op.id.as_str() {
        "lead.created" => {
            let keys = [exact("lead_id", &["id"]), exact("email", &["email"])];
            let i = pick_event(sys, call, &LEAD, &keys, &|_| true)?;
            Ok(json!({ "lead": sys.record("leads", i) }))
        }
        "opportunity.stage_changed" => {
            let to = match input.str("stage") {
                Some(s) => canonical(&what, "stage", s, SF_STAGES)?,
                None => "Closed Won".to_string(),
            };
            let keys = [exact("opportunity_id", &["id"])];
            let target = to.clone();
            let i = pick_event(sys, call, &OPPORTUNITY, &keys, &|r| {
                r["stage"] != json!(target) && !is_closed(r)
            })?;
            let mut opp = sys.record("opportunities", i);
            let previous = opp["stage"].clone();
            opp["stage"] = json!(to);
            Ok(json!({ "opportunity": opp, "previous_stage": previous }))
        }
        "lead.create" => {
            let status = match input.str("status") {
                Some(s) => canonical(&what, "status", s, SF_LEAD_STATUSES)?,
                None => SF_LEAD_STATUSES[0].to_string(),
            };
            let first = input.str("first_name").unwrap_or_default();
            let last = input.str("last_name").unwrap_or_default();
            let id = sf_id(sys, "00Q");
            let owner = sys
                .all("users")
                .first()
                .map(|u| u["id"].clone())
                .unwrap_or(Value::Null);
            let created = sys.now();
            let lead = json!({
                "id": id, "first_name": first, "last_name": last, "name": format!("{first} {last}").trim().to_string(),
                "email": input.str("email"), "company": input.str("company"), "status": status,
                "source": input.str("source").unwrap_or("Nexwatt"), "owner_id": owner, "created_at": created,
            });
            sys.insert("leads", lead.clone());
            Ok(json!({ "lead": lead }))
        }
        "lead.update" => {
            let keys = [exact("lead_id", &["id"]), exact("email", &["email"])];
            let (i, _) = sys.find_one(&what, "leads", &keys, input, &|_| true)?;
            let previous = sys.record("leads", i)["status"].clone();
            let mut fields: Map<String, Value> = input.obj("fields").cloned().unwrap_or_default();
            if let Some(status) = input.str("status") {
                fields.insert(
                    "status".into(),
                    json!(canonical(&what, "status", status, SF_LEAD_STATUSES)?),
                );
            }
            if fields.is_empty() {
                return Err(nothing_to_change(&what, &["status", "fields"]));
            }
            let changed = apply_fields(&what, sys, "leads", i, &fields, &["id", "created_at"])?;
            Ok(
                json!({ "lead": sys.record("leads", i), "previous_status": previous, "changed": changed }),
            )
        }
        "contact.find" => {
            let keys = [
                exact("contact_id", &["id"]),
                exact("email", &["email"]),
                exact("name", &["name"]),
                exact("account", &["account"]),
            ];
            let (i, n) = sys.find_one(&what, "contacts", &keys, input, &|_| true)?;
            Ok(found("contact", sys.record("contacts", i), n))
        }
        "opportunity.find" => {
            let keys = [
                exact("opportunity_id", &["id"]),
                contains("name", &["name"]),
                exact("account", &["account"]),
                exact("email", &["contact_email"]),
            ];
            let (i, n) = sys.find_one(&what, "opportunities", &keys, input, &|_| true)?;
            Ok(found("opportunity", sys.record("opportunities", i), n))
        }
        "opportunity.update" => {
            let keys = [exact("opportunity_id", &["id"])];
            let (i, _) = sys.find_one(&what, "opportunities", &keys, input, &|_| true)?;
            let previous = sys.record("opportunities", i)["stage"].clone();
            let mut fields: Map<String, Value> = input.obj("fields").cloned().unwrap_or_default();
            if let Some(stage) = input.str("stage") {
                fields.insert(
                    "stage".into(),
                    json!(canonical(&what, "stage", stage, SF_STAGES)?),
                );
            }
            if let Some(amount) = input.num("amount") {
                fields.insert("amount".into(), json!(cents(amount)));
            }
            if fields.is_empty() {
                return Err(nothing_to_change(&what, &["stage", "amount", "fields"]));
            }
            let changed = apply_fields(&what, sys, "opportunities", i, &fields, &["id"])?;
            Ok(
                json!({ "opportunity": sys.record("opportunities", i), "previous_stage": previous, "changed": changed }),
            )
        }
        "owner.get" => {
            let (i, _) = sys.find_one(&what, "users", OWNER_KEYS, input, &|_| true)?;
            Ok(json!({ "owner": sys.record("users", i) }))
        }
        "task.create" => {
            let what_id = input.str("what_id").map(str::to_string);
            let who_id = input.str("who_id").map(str::to_string);
            let related = what_id.as_deref().and_then(|id| {
                sys.index_of("opportunities", "id", id)
                    .map(|i| sys.record("opportunities", i))
            });
            if let (Some(id), None) = (&what_id, &related) {
                return Err(ConnectorError::permanent(
                    "not_found",
                    format!("{what}: no opportunity matches what_id={id}"),
                ));
            }
            if let Some(id) = &who_id {
                if sys.index_of("contacts", "id", id).is_none()
                    && sys.index_of("leads", "id", id).is_none()
                {
                    return Err(ConnectorError::permanent(
                        "not_found",
                        format!("{what}: no lead or contact matches who_id={id}"),
                    ));
                }
            }
            let owner = input
                .str("owner_id")
                .map(|s| json!(s))
                .or_else(|| related.as_ref().map(|r| r["owner_id"].clone()))
                .unwrap_or_else(|| {
                    sys.all("users")
                        .first()
                        .map(|u| u["id"].clone())
                        .unwrap_or(Value::Null)
                });
            let days = input.int("due_in_days").unwrap_or(1).clamp(0, 3650);
            let id = sf_id(sys, "00T");
            let title = input.str("title").map(str::to_string).unwrap_or_else(|| {
                format!(
                    "Follow up: {}",
                    summarize(input.raw()).trim_start_matches("Nexwatt: ")
                )
            });
            let task = json!({
                "id": id, "title": title, "status": "Not Started", "due_date": sys.date_in(days),
                "owner_id": owner, "what_id": what_id, "who_id": who_id,
            });
            sys.insert("tasks", task.clone());
            Ok(json!({ "task": task }))
        }
        _ => Err(call.unsupported()),
    }
}
