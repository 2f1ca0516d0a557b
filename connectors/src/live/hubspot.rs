//! The HubSpot live client (CRM v3, bearer token).
//!
//! | operation | API |
//! |---|---|
//! | `contact.find` | `GET /crm/v3/objects/contacts/{id}`, or `POST /crm/v3/objects/contacts/search` (by `email`, `name`, `company`, `filters`, `query`) |
//! | `contact.create` | `POST /crm/v3/objects/contacts` (lifecycle stage `lead` unless given) |
//! | `contact.update` | `PATCH /crm/v3/objects/contacts/{id}` (or `{email}?idProperty=email`) |
//! | `deal.find` | `GET /crm/v3/objects/deals/{id}?associations=companies,contacts`, or `POST /crm/v3/objects/deals/search` (by `name`, `stage`, associated `contact_id` / `company_id`, a contact's `email`, `company` as text, `filters`, `query`) then that GET; the first associated company's name and contact's email fill `company` and `contact_email` |
//! | `deal.create` | `POST /crm/v3/objects/deals` (with contact / company associations; `contact_email` is looked up) |
//! | `deal.update` | `GET` then `PATCH /crm/v3/objects/deals/{id}` (the GET gives `previous_stage`, company and contact) |
//! | `owner.get` | `GET /crm/v3/owners/{id}`, or `GET /crm/v3/owners?email=…` |
//! | `task.create` | `POST /crm/v3/objects/tasks` with associations |
//! | `note.create` | `POST /crm/v3/objects/notes` with associations |
//!
//! Outputs have the catalog's shapes (the manifests' example outputs, the
//! same as the sandbox's): `{"match_count", "contact": {...}}`,
//! `{"changed", "previous_stage", "deal": {...}}`, `{"owner": {...}}`,
//! `{"task": {...}}`, `{"note": {...}}`, records with snake-case fields
//! (`first_name`, `lifecycle_stage`, `owner_id`, `stage`, `close_date`, …)
//! and HubSpot's raw `properties`. A search without a match is a permanent
//! `not_found`. Stage and lifecycle-stage labels ("Closed Won",
//! "Customer") are mapped to the default pipeline's internal values on the
//! way in and back to labels on the way out; other values pass through
//! unchanged (custom pipelines use their own ids).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, SecondsFormat, Utc};
use nexwatt_engine::connector::{Connector, ConnectorError, ConnectorManifest, ExecutionContext};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::config::{parse_base_url, HubSpotConfig};
use super::input::{compose_summary, money, parse_amount, scalar_text, Input};
use super::transport::{
    call_span, check_operation, invalid_response, log_outcome, not_supported_live, status_error,
    Transport, SERVICE_MAX_BODY,
};
use super::{catalog_manifest, LiveError};

const SERVICE: &str = "HubSpot";

const CONTACT_PROPERTIES: &[&str] = &[
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "jobtitle",
    "lifecyclestage",
    "hs_lead_status",
    "hubspot_owner_id",
    "createdate",
    "lastmodifieddate",
];
const DEAL_PROPERTIES: &[&str] = &[
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "closedate",
    "hubspot_owner_id",
    "createdate",
    "hs_lastmodifieddate",
];

// HubSpot-defined association type ids.
const DEAL_TO_CONTACT: u32 = 3;
const DEAL_TO_COMPANY_PRIMARY: u32 = 5;
const TASK_TO_CONTACT: u32 = 204;
const TASK_TO_COMPANY: u32 = 192;
const TASK_TO_DEAL: u32 = 216;
const NOTE_TO_CONTACT: u32 = 202;
const NOTE_TO_COMPANY: u32 = 190;
const NOTE_TO_DEAL: u32 = 214;

/// The CRM object types the client works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    Contact,
    Deal,
}

impl Object {
    fn path(self) -> &'static str {
        match self {
            Self::Contact => "contacts",
            Self::Deal => "deals",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Deal => "deal",
        }
    }
    fn properties(self) -> &'static [&'static str] {
        match self {
            Self::Contact => CONTACT_PROPERTIES,
            Self::Deal => DEAL_PROPERTIES,
        }
    }
    fn modified_property(self) -> &'static str {
        match self {
            Self::Contact => "lastmodifieddate",
            Self::Deal => "hs_lastmodifieddate",
        }
    }
}

/// The live HubSpot client. `Debug` shows the base URL, never the token.
pub struct HubSpotClient {
    manifest: ConnectorManifest,
    base_url: String,
    transport: Transport,
}

impl fmt::Debug for HubSpotClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSpotClient")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl HubSpotClient {
    /// A client for `config`, with the catalog's `hubspot` manifest.
    pub fn new(config: &HubSpotConfig) -> Result<Self, LiveError> {
        let base = parse_base_url("hubspot.base_url", &config.base_url)?;
        Ok(Self {
            manifest: catalog_manifest("hubspot")?,
            base_url: base.as_str().trim_end_matches('/').to_string(),
            transport: Transport::new(
                SERVICE,
                Some(config.token.clone()),
                reqwest::redirect::Policy::none(),
                SERVICE_MAX_BODY,
            )?,
        })
    }

    /// One API call; the JSON answer of a 2xx, or a classified error.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        tracing::debug!(method = %method, path, "calling HubSpot");
        let mut request = self
            .transport
            .client
            .request(method, format!("{}{}", self.base_url, path))
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = self
            .transport
            .send(self.transport.authorize(request), ctx, &[])
            .await?;
        let json = response.json();
        if !response.status.is_success() {
            let message = json
                .as_ref()
                .and_then(|j| j.get("message"))
                .and_then(Value::as_str)
                .map(|m| self.transport.redact(m, &[]));
            let policy = json
                .as_ref()
                .and_then(|j| j.get("policyName"))
                .and_then(Value::as_str);
            let mut retry_after = response.retry_after();
            if response.status == StatusCode::TOO_MANY_REQUESTS {
                match policy {
                    Some("DAILY") => {
                        return Err(ConnectorError::permanent(
                            "quota_exhausted",
                            "HubSpot's daily API limit is used up (HTTP 429, policy DAILY)",
                        ))
                    }
                    // Without a Retry-After, wait out the policy's window.
                    Some("TEN_SECONDLY_ROLLING") if retry_after.is_none() => {
                        retry_after = Some(Duration::from_secs(10));
                    }
                    Some("SECONDLY") if retry_after.is_none() => {
                        retry_after = Some(Duration::from_secs(1));
                    }
                    _ => {}
                }
            }
            return Err(status_error(
                SERVICE,
                response.status,
                retry_after,
                message.as_deref(),
            ));
        }
        if response.status == StatusCode::NO_CONTENT || response.body.is_empty() {
            return Ok(Value::Null);
        }
        json.ok_or_else(|| invalid_response(SERVICE, "the body is not JSON"))
    }

    async fn get_object(
        &self,
        object: Object,
        id: &str,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let path = format!("/crm/v3/objects/{}/{}", object.path(), path_segment(id)?);
        let mut query = vec![("properties", object.properties().join(","))];
        if object == Object::Deal {
            query.push(("associations", "companies,contacts".to_string()));
        }
        self.call(Method::GET, &path, &query, None, ctx).await
    }

    /// A deal record with its `company` (name) and `contact_email` filled
    /// from the first associated company and contact of `raw` (a deal read
    /// with its associations). These lookups only add detail: if one
    /// fails, the field stays null and the failure is logged.
    async fn deal_with_parties(&self, raw: &Value, ctx: &ExecutionContext) -> Value {
        let mut deal = Object::Deal.record(raw);
        let first = |kind: &str| {
            raw.pointer(&format!("/associations/{kind}/results/0/id"))
                .and_then(scalar_text)
        };
        let lookups = [
            (first("companies"), "companies", "name", "company"),
            (first("contacts"), "contacts", "email", "contact_email"),
        ];
        for (id, path, property, field) in lookups {
            let Some(id) = id else { continue };
            let Ok(segment) = path_segment(&id) else {
                continue;
            };
            let found = self
                .call(
                    Method::GET,
                    &format!("/crm/v3/objects/{path}/{segment}"),
                    &[("properties", property.to_string())],
                    None,
                    ctx,
                )
                .await;
            match found {
                Ok(record) => {
                    if let Some(v) = record
                        .pointer(&format!("/properties/{property}"))
                        .filter(|v| !v.is_null())
                    {
                        deal[field] = v.clone();
                    }
                }
                Err(e) => tracing::warn!(code = e.code(), error = %e, "deal's {field} not read"),
            }
        }
        deal
    }

    /// Searches `object`: how many records match in all, and the first
    /// `limit` raw matches, most recently modified first.
    async fn search(
        &self,
        object: Object,
        filters: Vec<Value>,
        query: Option<String>,
        limit: i64,
        ctx: &ExecutionContext,
    ) -> Result<(u64, Vec<Value>), ConnectorError> {
        let mut body = Map::new();
        if !filters.is_empty() {
            body.insert("filterGroups".into(), json!([{ "filters": filters }]));
        }
        if let Some(q) = query {
            body.insert("query".into(), Value::String(q));
        }
        body.insert("properties".into(), json!(object.properties()));
        body.insert(
            "sorts".into(),
            json!([{ "propertyName": object.modified_property(), "direction": "DESCENDING" }]),
        );
        body.insert("limit".into(), json!(limit));
        let path = format!("/crm/v3/objects/{}/search", object.path());
        let answer = self
            .call(Method::POST, &path, &[], Some(Value::Object(body)), ctx)
            .await?;
        let results = answer
            .get("results")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| invalid_response(SERVICE, "the search answer has no `results`"))?;
        let total = answer
            .get("total")
            .and_then(Value::as_u64)
            .unwrap_or(results.len() as u64)
            .max(results.len() as u64);
        Ok((total, results))
    }

    /// The id of the contact with `email`, or a permanent `not_found`.
    async fn contact_id_by_email(
        &self,
        email: &str,
        ctx: &ExecutionContext,
    ) -> Result<String, ConnectorError> {
        let filter = json!({ "propertyName": "email", "operator": "EQ", "value": email });
        let (_, contacts) = self
            .search(Object::Contact, vec![filter], None, 1, ctx)
            .await?;
        contacts
            .first()
            .and_then(|c| c.get("id"))
            .and_then(scalar_text)
            .ok_or_else(|| {
                ConnectorError::permanent(
                    "not_found",
                    format!("HubSpot has no contact with email = {email:?}"),
                )
            })
    }

    async fn find(
        &self,
        object: Object,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let noun = object.noun();
        let id_key = format!("{noun}_id");
        if let Some(id) = input.id(&[id_key.as_str(), "hs_object_id"], &[noun]) {
            let raw = self.get_object(object, &id, ctx).await?;
            let record = match object {
                Object::Deal => self.deal_with_parties(&raw, ctx).await,
                Object::Contact => object.record(&raw),
            };
            return Ok(json!({ "match_count": 1, noun: record }));
        }
        let limit = input.integer(&["limit"])?.unwrap_or(10).clamp(1, 100);
        let mut filters = Vec::new();
        let mut described = Vec::new();
        let mut add = |property: &str, value: String| {
            described.push(format!("{property} = {value:?}"));
            filters.push(json!({ "propertyName": property, "operator": "EQ", "value": value }));
        };
        let mut query = input.text(&["query", "search"]);
        match object {
            Object::Contact => {
                if let Some(email) = input.text(&["email", "contact_email"]) {
                    add("email", email);
                }
                if let Some(v) = input.text(&["first_name", "firstname"]) {
                    add("firstname", v);
                }
                if let Some(v) = input.text(&["last_name", "lastname"]) {
                    add("lastname", v);
                }
                if let Some(name) = input.text(&["name", "full_name"]) {
                    match name.split_once(' ') {
                        Some((first, last)) => {
                            add("firstname", first.trim().to_string());
                            add("lastname", last.trim().to_string());
                        }
                        None => query = Some(name),
                    }
                }
                if let Some(v) = input.text(&["company", "company_name"]) {
                    add("company", v);
                }
                if let Some(v) = input.text(&["phone"]) {
                    add("phone", v);
                }
            }
            Object::Deal => {
                if let Some(name) = input.text(&["name", "deal_name", "dealname"]) {
                    add("dealname", name);
                }
                if let Some(stage) = input.text(&["stage", "dealstage"]) {
                    add("dealstage", deal_stage(&stage));
                }
                let contact = match input.id(&["contact_id"], &["contact"]) {
                    Some(c) => Some(c),
                    // The deal of a person known by email: their contact
                    // first, then deals associated with it.
                    None => match input.text(&["email", "contact_email"]) {
                        Some(email) => Some(self.contact_id_by_email(&email, ctx).await?),
                        None => None,
                    },
                };
                if let Some(c) = contact {
                    add("associations.contact", c);
                }
                if let Some(c) = input.id(&["company_id"], &["company"]) {
                    add("associations.company", c);
                }
                // A company named in text is searched as text.
                if query.is_none() {
                    query = input.text(&["company", "company_name"]);
                }
            }
        }
        if let Some(extra) = input.map(&["filters"])? {
            for (k, v) in extra {
                let property = property_name(object, k);
                let value = normalise_value(&property, &scalar_text(v).unwrap_or_default());
                add(&property, value);
            }
        }
        if let Some(q) = &query {
            described.push(format!("text {q:?}"));
        }
        if filters.is_empty() && query.is_none() {
            return Err(input.missing(&[id_key.as_str(), "email", "name", "company"]));
        }
        let (total, results) = self.search(object, filters, query, limit, ctx).await?;
        match results.first() {
            Some(first) => {
                let record = match (object, first.get("id").and_then(scalar_text)) {
                    // Search answers carry no associations: read the deal
                    // with them for its company and contact.
                    (Object::Deal, Some(id)) => {
                        let raw = self.get_object(object, &id, ctx).await?;
                        self.deal_with_parties(&raw, ctx).await
                    }
                    _ => object.record(first),
                };
                Ok(json!({ "match_count": total, noun: record }))
            }
            None => Err(ConnectorError::permanent(
                "not_found",
                format!("HubSpot has no {noun} matching {}", described.join(", ")),
            )),
        }
    }

    async fn contact_create(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let mut properties = collect_properties(Object::Contact, input, &[])?;
        if !properties.contains_key("email") {
            return Err(input.missing(&["email"]));
        }
        if !properties.contains_key("firstname") && !properties.contains_key("lastname") {
            if let Some(name) = input.text(&["name", "full_name"]) {
                let (first, last) = split_name(&name);
                properties.insert("firstname".into(), Value::String(first));
                if let Some(last) = last {
                    properties.insert("lastname".into(), Value::String(last));
                }
            }
        }
        properties
            .entry("lifecyclestage")
            .or_insert_with(|| Value::String("lead".into()));
        let raw = self
            .call(
                Method::POST,
                "/crm/v3/objects/contacts",
                &[],
                Some(json!({ "properties": properties })),
                ctx,
            )
            .await?;
        Ok(json!({ "contact": Object::Contact.record(&raw) }))
    }

    async fn deal_create(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let mut properties = collect_properties(Object::Deal, input, &[])?;
        let company = input.text(&["company", "company_name"]);
        if !properties.contains_key("dealname") {
            let name = input
                .text(&["name", "title"])
                .or_else(|| company.clone())
                .unwrap_or_else(|| "New deal".to_string());
            properties.insert("dealname".into(), Value::String(name));
        }
        properties
            .entry("dealstage")
            .or_insert_with(|| Value::String("appointmentscheduled".into()));
        properties
            .entry("pipeline")
            .or_insert_with(|| Value::String("default".into()));
        let contact_email = input.text(&["contact_email", "email"]);
        let contact = match input.id(&["contact_id"], &["contact"]) {
            Some(c) => Some(c),
            None => match &contact_email {
                Some(email) => Some(self.contact_id_by_email(email, ctx).await?),
                None => None,
            },
        };
        let mut associations = Vec::new();
        if let Some(c) = &contact {
            associations.push(association(c, DEAL_TO_CONTACT));
        }
        if let Some(c) = input.id(&["company_id"], &[]) {
            associations.push(association(&c, DEAL_TO_COMPANY_PRIMARY));
        }
        let mut body = json!({ "properties": properties });
        if !associations.is_empty() {
            body["associations"] = Value::Array(associations);
        }
        let raw = self
            .call(Method::POST, "/crm/v3/objects/deals", &[], Some(body), ctx)
            .await?;
        let mut deal = Object::Deal.record(&raw);
        deal["company"] = company.map(Value::String).unwrap_or(Value::Null);
        deal["contact_email"] = contact_email.map(Value::String).unwrap_or(Value::Null);
        Ok(json!({ "deal": deal }))
    }

    async fn update(
        &self,
        object: Object,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let noun = object.noun();
        let id_key = format!("{noun}_id");
        // On an update, `email` names the contact; a new email is set
        // through `property`/`value` or `properties`.
        let properties = collect_properties(object, input, &["email"])?;
        // A contact may be named by email (HubSpot's idProperty).
        let (segment, query) = match input.id(&[id_key.as_str(), "id", "hs_object_id"], &[noun]) {
            Some(id) => (path_segment(&id)?, Vec::new()),
            None => match (object, input.text(&["email", "contact_email"])) {
                (Object::Contact, Some(email)) => (
                    email_segment(input, &email)?,
                    vec![("idProperty", "email".to_string())],
                ),
                _ => return Err(input.missing(&[id_key.as_str()])),
            },
        };
        if properties.is_empty() {
            return Err(input.missing(&["property", "properties"]));
        }
        let path = format!("/crm/v3/objects/{}/{}", object.path(), segment);
        let before = match object {
            Object::Deal => Some(self.get_object(object, &segment, ctx).await?),
            Object::Contact => None,
        };
        let changed: Vec<Value> = properties
            .keys()
            .map(|k| Value::String(output_field(k)))
            .collect();
        let raw = self
            .call(
                Method::PATCH,
                &path,
                &query,
                Some(json!({ "properties": properties })),
                ctx,
            )
            .await?;
        let mut out = json!({ "changed": changed, noun: object.record(&raw) });
        if let Some(before) = before {
            out["previous_stage"] = Value::String(stage_label(
                before
                    .pointer("/properties/dealstage")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ));
            // The parties are the deal's before and after the update.
            let parties = self.deal_with_parties(&before, ctx).await;
            out[noun]["company"] = parties["company"].clone();
            out[noun]["contact_email"] = parties["contact_email"].clone();
        }
        Ok(out)
    }

    async fn owner_get(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        if let Some(id) = owner_id(input) {
            let path = format!("/crm/v3/owners/{}", path_segment(&id)?);
            let raw = self.call(Method::GET, &path, &[], None, ctx).await?;
            return Ok(json!({ "owner": owner_output(&raw) }));
        }
        let email = input
            .text(&["email", "owner_email"])
            .ok_or_else(|| input.missing(&["owner_id", "email"]))?;
        let answer = self
            .call(
                Method::GET,
                "/crm/v3/owners",
                &[("email", email.clone()), ("limit", "1".into())],
                None,
                ctx,
            )
            .await?;
        answer
            .get("results")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .map(|o| json!({ "owner": owner_output(o) }))
            .ok_or_else(|| {
                ConnectorError::permanent(
                    "not_found",
                    format!("HubSpot has no owner with email = {email:?}"),
                )
            })
    }

    async fn engagement_create(
        &self,
        kind: Engagement,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let mut properties = Map::new();
        let timestamp = match kind {
            Engagement::Task => due_timestamp(input)?,
            Engagement::Note => Utc::now(),
        };
        properties.insert(
            "hs_timestamp".into(),
            Value::String(timestamp.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        let text = match kind {
            Engagement::Task => {
                let subject = input.text(&["title", "subject"]).unwrap_or_else(|| {
                    format!(
                        "Follow up: {}",
                        compose_summary(input).trim_start_matches("Nexwatt: ")
                    )
                });
                properties.insert("hs_task_subject".into(), Value::String(subject));
                let notes = input.text(&["notes", "body", "description"]);
                if let Some(n) = &notes {
                    properties.insert("hs_task_body".into(), Value::String(n.clone()));
                }
                let status = input
                    .text(&["status"])
                    .map_or("NOT_STARTED".into(), |s| upper_snake(&s));
                properties.insert("hs_task_status".into(), Value::String(status));
                if let Some(p) = input.text(&["priority"]) {
                    properties.insert("hs_task_priority".into(), Value::String(upper_snake(&p)));
                }
                let task_type = input
                    .text(&["task_type", "type"])
                    .map_or("TODO".into(), |s| upper_snake(&s));
                properties.insert("hs_task_type".into(), Value::String(task_type));
                notes
            }
            Engagement::Note => {
                let body = input
                    .text(&["body", "note", "text"])
                    .unwrap_or_else(|| compose_summary(input));
                properties.insert("hs_note_body".into(), Value::String(body.clone()));
                Some(body)
            }
        };
        let owner = owner_id(input);
        if let Some(o) = &owner {
            properties.insert("hubspot_owner_id".into(), Value::String(o.clone()));
        }
        let (to_contact, to_company, to_deal) = match kind {
            Engagement::Task => (TASK_TO_CONTACT, TASK_TO_COMPANY, TASK_TO_DEAL),
            Engagement::Note => (NOTE_TO_CONTACT, NOTE_TO_COMPANY, NOTE_TO_DEAL),
        };
        let contact = input.id(&["contact_id"], &["contact"]);
        let deal = input.id(&["deal_id"], &["deal"]);
        let mut associations = Vec::new();
        if let Some(id) = &contact {
            associations.push(association(id, to_contact));
        }
        if let Some(id) = input.id(&["company_id"], &["company"]) {
            associations.push(association(&id, to_company));
        }
        if let Some(id) = &deal {
            associations.push(association(id, to_deal));
        }
        let mut body = json!({ "properties": properties });
        if !associations.is_empty() {
            body["associations"] = Value::Array(associations);
        }
        let path = match kind {
            Engagement::Task => "/crm/v3/objects/tasks",
            Engagement::Note => "/crm/v3/objects/notes",
        };
        let raw = self.call(Method::POST, path, &[], Some(body), ctx).await?;
        let prop = |k: &str| raw.pointer(&format!("/properties/{k}")).cloned();
        let id = raw.get("id").cloned().unwrap_or(Value::Null);
        let opt = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
        Ok(match kind {
            Engagement::Task => json!({ "task": {
                "id": id,
                "title": prop("hs_task_subject").unwrap_or(Value::Null),
                "status": prop("hs_task_status").unwrap_or(Value::Null),
                "due_date": timestamp.format("%Y-%m-%d").to_string(),
                "owner_id": opt(owner),
                "deal_id": opt(deal),
                "contact_id": opt(contact),
                "notes": text.unwrap_or_default(),
            }}),
            Engagement::Note => json!({ "note": {
                "id": id,
                "body": prop("hs_note_body").unwrap_or_else(|| opt(text)),
                "contact_id": opt(contact),
                "deal_id": opt(deal),
                "created_at": raw.get("createdAt").cloned().unwrap_or(Value::Null),
            }}),
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Engagement {
    Task,
    Note,
}

#[async_trait]
impl Connector for HubSpotClient {
    fn manifest(&self) -> &ConnectorManifest {
        &self.manifest
    }

    async fn execute(
        &self,
        operation: &str,
        input: Value,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        check_operation(&self.manifest, operation, ctx)?;
        let span = call_span("hubspot", operation, ctx);
        async {
            let input = Input::new("hubspot", operation, &input)?;
            let result = match operation {
                "contact.find" => self.find(Object::Contact, &input, ctx).await,
                "contact.create" => self.contact_create(&input, ctx).await,
                "contact.update" => self.update(Object::Contact, &input, ctx).await,
                "deal.find" => self.find(Object::Deal, &input, ctx).await,
                "deal.create" => self.deal_create(&input, ctx).await,
                "deal.update" => self.update(Object::Deal, &input, ctx).await,
                "owner.get" => self.owner_get(&input, ctx).await,
                "task.create" => self.engagement_create(Engagement::Task, &input, ctx).await,
                "note.create" => self.engagement_create(Engagement::Note, &input, ctx).await,
                other => Err(not_supported_live("hubspot", other)),
            };
            log_outcome(&result);
            result
        }
        .instrument(span)
        .await
    }
}

/// An id as one URL path segment (HubSpot ids are digits; anything with a
/// `/`, `?` or `#` is refused rather than escaped into another path).
fn path_segment(id: &str) -> Result<String, ConnectorError> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ConnectorError::invalid_input(format!(
            "{id:?} is not a HubSpot record id"
        )));
    }
    Ok(id.to_string())
}

/// An email as a path segment (`idProperty=email`), percent-encoded.
fn email_segment(input: &Input<'_>, email: &str) -> Result<String, ConnectorError> {
    if !email.contains('@') || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(input.invalid(format!("{email:?} is not an email address")));
    }
    Ok(email
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '~' | '@' => c.to_string(),
            other => {
                let mut buf = [0u8; 4];
                other
                    .encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect())
}

fn split_name(name: &str) -> (String, Option<String>) {
    match name.trim().split_once(' ') {
        Some((first, last)) => (first.to_string(), Some(last.trim().to_string())),
        None => (name.trim().to_string(), None),
    }
}

fn association(id: &str, type_id: u32) -> Value {
    json!({
        "to": { "id": id },
        "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }]
    })
}

/// The owner id: `owner_id` / `hubspot_owner_id`, an `owner` object's id,
/// or the owner of a `deal` / `contact` record passed in.
fn owner_id(input: &Input<'_>) -> Option<String> {
    if let Some(id) = input.id(&["owner_id", "hubspot_owner_id"], &["owner"]) {
        return Some(id);
    }
    let obj = input.object()?;
    ["deal", "contact", "record", "company"]
        .iter()
        .filter_map(|k| obj.get(*k))
        .filter_map(Value::as_object)
        .find_map(|rec| {
            rec.get("owner_id")
                .or_else(|| rec.get("hubspot_owner_id"))
                .or_else(|| {
                    rec.get("properties")
                        .and_then(|p| p.get("hubspot_owner_id"))
                })
                .and_then(scalar_text)
        })
}

/// The properties to write: the well-known fields given directly (but
/// not the `identifying` ones, which say which record to change), a
/// `property`/`value` pair, and `properties`.
fn collect_properties(
    object: Object,
    input: &Input<'_>,
    identifying: &[&str],
) -> Result<Map<String, Value>, ConnectorError> {
    let mut props = Map::new();
    let mut put = |name: &str, value: &Value| {
        if let Some(text) = scalar_text(value) {
            let property = property_name(object, name);
            let value = normalise_value(&property, &text);
            props.insert(property, Value::String(value));
        }
    };
    let direct: &[(&str, &[&str])] = match object {
        Object::Contact => &[
            ("email", &["email"]),
            ("firstname", &["first_name", "firstname"]),
            ("lastname", &["last_name", "lastname"]),
            ("phone", &["phone"]),
            ("company", &["company", "company_name"]),
            ("jobtitle", &["job_title", "jobtitle"]),
            ("lifecyclestage", &["lifecycle_stage", "lifecyclestage"]),
            ("hubspot_owner_id", &["owner_id", "hubspot_owner_id"]),
        ],
        Object::Deal => &[
            ("dealname", &["dealname", "deal_name"]),
            ("dealstage", &["stage", "dealstage"]),
            ("amount", &["amount"]),
            ("pipeline", &["pipeline"]),
            ("closedate", &["close_date", "closedate"]),
            ("deal_currency_code", &["currency"]),
            ("hubspot_owner_id", &["owner_id", "hubspot_owner_id"]),
        ],
    };
    for (property, keys) in direct {
        if identifying.contains(property) {
            continue;
        }
        if let Some(v) = input.get(keys) {
            if !matches!(v, Value::Object(_) | Value::Array(_)) {
                put(property, v);
            }
        }
    }
    if let (Some(property), Some(value)) =
        (input.text(&["property", "field"]), input.get(&["value"]))
    {
        put(&property, value);
    }
    if let Some(map) = input.map(&["properties"])? {
        for (k, v) in map {
            put(k, v);
        }
    }
    if let Some(amount) = props.get("amount").and_then(Value::as_str) {
        match parse_amount(amount) {
            Some(n) => {
                let n = money(n);
                props.insert("amount".into(), Value::String(n.to_string()));
            }
            None => return Err(input.invalid(format!("amount {amount:?} is not a number"))),
        }
    }
    Ok(props)
}

/// HubSpot's internal name of a property written as a person or the
/// catalog would (`lifecycle stage`, `lifecycle_stage`, `owner_id`).
fn property_name(object: Object, name: &str) -> String {
    let key = name.trim().to_lowercase().replace(['-', '_'], " ");
    let key = key.split_whitespace().collect::<Vec<_>>().join(" ");
    let internal = match (object, key.as_str()) {
        (_, "lifecycle stage" | "lifecyclestage" | "lifecycle") => "lifecyclestage",
        (_, "lead status" | "hs lead status") => "hs_lead_status",
        (_, "first name" | "firstname") => "firstname",
        (_, "last name" | "lastname") => "lastname",
        (Object::Contact, "job title" | "jobtitle" | "title") => "jobtitle",
        (_, "phone number" | "phone") => "phone",
        (_, "owner" | "owner id" | "contact owner" | "deal owner" | "hubspot owner id") => {
            "hubspot_owner_id"
        }
        (Object::Deal, "stage" | "deal stage" | "dealstage") => "dealstage",
        (Object::Deal, "name" | "deal name" | "dealname") => "dealname",
        (Object::Deal, "close date" | "closedate") => "closedate",
        (Object::Deal, "currency" | "deal currency code") => "deal_currency_code",
        (_, "email" | "email address") => "email",
        _ => return key.replace(' ', "_"),
    };
    internal.to_string()
}

/// The catalog's field name of a HubSpot property (the inverse of
/// [`property_name`] for the fields records show).
fn output_field(property: &str) -> String {
    match property {
        "firstname" => "first_name",
        "lastname" => "last_name",
        "lifecyclestage" => "lifecycle_stage",
        "hubspot_owner_id" => "owner_id",
        "dealstage" => "stage",
        "dealname" => "name",
        "closedate" => "close_date",
        "deal_currency_code" => "currency",
        "jobtitle" => "job_title",
        other => other,
    }
    .to_string()
}

/// Maps labels of well-known enumerations to HubSpot's internal values.
fn normalise_value(property: &str, value: &str) -> String {
    match property {
        "dealstage" => deal_stage(value),
        "lifecyclestage" => {
            let key = value.trim().to_lowercase().replace(['-', '_'], " ");
            match key.as_str() {
                "subscriber" => "subscriber",
                "lead" => "lead",
                "marketing qualified lead" | "mql" | "marketingqualifiedlead" => {
                    "marketingqualifiedlead"
                }
                "sales qualified lead" | "sql" | "salesqualifiedlead" => "salesqualifiedlead",
                "opportunity" => "opportunity",
                "customer" => "customer",
                "evangelist" => "evangelist",
                "other" => "other",
                _ => return value.trim().to_string(),
            }
            .to_string()
        }
        "hs_lead_status" => upper_snake(value),
        _ => value.to_string(),
    }
}

/// The default pipeline's stages: (internal id, label).
const DEFAULT_STAGES: &[(&str, &str)] = &[
    ("appointmentscheduled", "Appointment Scheduled"),
    ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"),
    ("contractsent", "Contract Sent"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
];

/// The default pipeline's internal stage id for a stage label.
fn deal_stage(label: &str) -> String {
    let key: String = label
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let key = match key.as_str() {
        "won" => "closedwon",
        "lost" => "closedlost",
        k => k,
    };
    DEFAULT_STAGES
        .iter()
        .find(|(id, _)| *id == key)
        .map_or_else(|| label.trim().to_string(), |(id, _)| (*id).to_string())
}

/// The label of a default-pipeline stage id (other ids unchanged).
fn stage_label(id: &str) -> String {
    DEFAULT_STAGES
        .iter()
        .find(|(i, _)| *i == id)
        .map_or_else(|| id.to_string(), |(_, label)| (*label).to_string())
}

fn upper_snake(s: &str) -> String {
    s.trim()
        .split(|c: char| c.is_whitespace() || c == '-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_")
        .to_uppercase()
}

/// When a task is due: `due` / `due_date` (RFC 3339 or `YYYY-MM-DD`), or
/// `due_in_days` from now (default 1).
fn due_timestamp(input: &Input<'_>) -> Result<DateTime<Utc>, ConnectorError> {
    if let Some(due) = input.text(&["due", "due_date", "due_at"]) {
        if let Ok(d) = DateTime::parse_from_rfc3339(&due) {
            return Ok(d.with_timezone(&Utc));
        }
        if let Ok(d) = NaiveDate::parse_from_str(&due, "%Y-%m-%d") {
            if let Some(t) = d.and_hms_opt(9, 0, 0) {
                return Ok(t.and_utc());
            }
        }
        return Err(input.invalid(format!(
            "due {due:?} is not a date (YYYY-MM-DD or RFC 3339)"
        )));
    }
    let days = input.integer(&["due_in_days", "days"])?.unwrap_or(1);
    if !(0..=3650).contains(&days) {
        return Err(input.invalid("due_in_days must be between 0 and 3650"));
    }
    Ok(Utc::now() + ChronoDuration::days(days))
}

impl Object {
    /// A raw CRM object in the catalog's record shape.
    fn record(self, raw: &Value) -> Value {
        let props = raw.get("properties").and_then(Value::as_object);
        let prop = |k: &str| {
            props
                .and_then(|p| p.get(k))
                .cloned()
                .filter(|v| !(v.is_null() || v.as_str() == Some("")))
                .unwrap_or(Value::Null)
        };
        let id = raw.get("id").cloned().unwrap_or(Value::Null);
        let raw_props = Value::Object(props.cloned().unwrap_or_default());
        match self {
            Self::Contact => {
                let first = prop("firstname");
                let last = prop("lastname");
                let name = [first.as_str(), last.as_str()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                json!({
                    "id": id,
                    "email": prop("email"),
                    "first_name": first,
                    "last_name": last,
                    "name": if name.is_empty() { Value::Null } else { Value::String(name) },
                    "company": prop("company"),
                    "phone": prop("phone"),
                    "lifecycle_stage": prop("lifecyclestage"),
                    "owner_id": prop("hubspot_owner_id"),
                    "created_at": raw.get("createdAt").cloned().unwrap_or_else(|| prop("createdate")),
                    "properties": raw_props,
                })
            }
            Self::Deal => {
                let amount = prop("amount");
                let amount = amount
                    .as_str()
                    .and_then(parse_amount)
                    .map(money)
                    .unwrap_or(amount);
                let stage_id = prop("dealstage");
                let close_date = prop("closedate")
                    .as_str()
                    .map(|d| Value::String(d.chars().take(10).collect()))
                    .unwrap_or(Value::Null);
                json!({
                    "id": id,
                    "name": prop("dealname"),
                    "company": Value::Null,
                    "contact_email": Value::Null,
                    "amount": amount,
                    "currency": prop("deal_currency_code"),
                    "stage": stage_id.as_str().map_or(Value::Null, |s| Value::String(stage_label(s))),
                    "stage_id": stage_id,
                    "pipeline": prop("pipeline"),
                    "owner_id": prop("hubspot_owner_id"),
                    "close_date": close_date,
                    "properties": raw_props,
                })
            }
        }
    }
}

/// An owner in the catalog's shape.
fn owner_output(raw: &Value) -> Value {
    let text = |k: &str| {
        raw.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let first = text("firstName");
    let last = text("lastName");
    let team = raw
        .get("teams")
        .and_then(Value::as_array)
        .and_then(|teams| {
            teams
                .iter()
                .find(|t| t.get("primary") == Some(&Value::Bool(true)))
                .or_else(|| teams.first())
        })
        .and_then(|t| t.get("name"))
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "id": raw.get("id").cloned().unwrap_or(Value::Null),
        "name": format!("{first} {last}").trim(),
        "first_name": first,
        "last_name": last,
        "email": raw.get("email").cloned().unwrap_or(Value::Null),
        "team": team,
        "user_id": raw.get("userId").cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn property_names_and_values() {
        assert_eq!(
            property_name(Object::Contact, "lifecycle stage"),
            "lifecyclestage"
        );
        assert_eq!(
            property_name(Object::Contact, "lifecycle_stage"),
            "lifecyclestage"
        );
        assert_eq!(
            property_name(Object::Contact, "Lead Status"),
            "hs_lead_status"
        );
        assert_eq!(property_name(Object::Deal, "stage"), "dealstage");
        assert_eq!(property_name(Object::Deal, "custom thing"), "custom_thing");
        assert_eq!(output_field("lifecyclestage"), "lifecycle_stage");
        assert_eq!(normalise_value("lifecyclestage", "Customer"), "customer");
        assert_eq!(
            normalise_value("lifecyclestage", "Marketing Qualified Lead"),
            "marketingqualifiedlead"
        );
        assert_eq!(
            normalise_value("hs_lead_status", "in progress"),
            "IN_PROGRESS"
        );
        assert_eq!(deal_stage("Closed Won"), "closedwon");
        assert_eq!(
            deal_stage("Decision maker bought-in"),
            "decisionmakerboughtin"
        );
        assert_eq!(deal_stage("12345678"), "12345678");
        assert_eq!(stage_label("contractsent"), "Contract Sent");
        assert_eq!(stage_label("12345678"), "12345678");
        for (id, label) in DEFAULT_STAGES {
            assert_eq!(deal_stage(label), *id);
        }
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert!(path_segment("123").is_ok());
        assert!(path_segment("../owners").is_err());
        assert!(path_segment("1?x=2").is_err());
        assert!(path_segment("").is_err());
        let v = serde_json::json!({});
        let input = Input::new("hubspot", "contact.update", &v).unwrap();
        assert_eq!(email_segment(&input, "a+b@x.io").unwrap(), "a%2Bb@x.io");
        assert!(email_segment(&input, "a/b").is_err());
    }
}
