//! The HubSpot live client (CRM v3, bearer token).
//!
//! | operation | API |
//! |---|---|
//! | `contact.find` | `GET /crm/v3/objects/contacts/{id}`, or `POST /crm/v3/objects/contacts/search` (by `email`, `filters`, `query`) |
//! | `contact.create` | `POST /crm/v3/objects/contacts` |
//! | `contact.update` | `PATCH /crm/v3/objects/contacts/{id}` |
//! | `deal.find` | `GET /crm/v3/objects/deals/{id}`, or `POST /crm/v3/objects/deals/search` (by `name`, `stage`, associated `contact_id` / `company_id`, a contact's `email`, `filters`, `query`) |
//! | `deal.create` | `POST /crm/v3/objects/deals` (with contact / company associations) |
//! | `deal.update` | `PATCH /crm/v3/objects/deals/{id}` |
//! | `owner.get` | `GET /crm/v3/owners/{id}`, or `GET /crm/v3/owners?email=…` |
//! | `task.create` | `POST /crm/v3/objects/tasks` with associations |
//! | `note.create` | `POST /crm/v3/objects/notes` with associations |
//!
//! Records come back with their properties at the top level next to `id`,
//! plus friendly names (`name`, `stage`, `owner_id`, `email`, …) and the
//! raw `properties`. A search without a match is a permanent `not_found`.
//! Stage and lifecycle-stage labels ("Closed Won", "Customer") are mapped
//! to HubSpot's internal values of the default pipeline; other values pass
//! through unchanged (custom pipelines use their own ids).

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, SecondsFormat, Utc};
use nexwatt_engine::connector::{Connector, ConnectorError, ConnectorManifest, ExecutionContext};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::config::{parse_base_url, HubSpotConfig};
use super::input::{parse_amount, scalar_text, Input};
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
            if response.status == StatusCode::TOO_MANY_REQUESTS
                && json
                    .as_ref()
                    .and_then(|j| j.get("policyName"))
                    .and_then(Value::as_str)
                    == Some("DAILY")
            {
                return Err(ConnectorError::permanent(
                    "quota_exhausted",
                    "HubSpot's daily API limit is used up (HTTP 429, policy DAILY)",
                ));
            }
            return Err(status_error(
                SERVICE,
                response.status,
                response.retry_after(),
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
        let props = object.properties().join(",");
        let raw = self
            .call(Method::GET, &path, &[("properties", props)], None, ctx)
            .await?;
        Ok(record(object, &raw))
    }

    /// Searches `object`; the matches, most recently modified first.
    async fn search(
        &self,
        object: Object,
        filters: Vec<Value>,
        query: Option<String>,
        limit: i64,
        ctx: &ExecutionContext,
    ) -> Result<Vec<Value>, ConnectorError> {
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
            .ok_or_else(|| invalid_response(SERVICE, "the search answer has no `results`"))?;
        Ok(results.iter().map(|r| record(object, r)).collect())
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
            let found = self.get_object(object, &id, ctx).await?;
            return Ok(find_output(found.clone(), vec![found]));
        }
        let limit = input.integer(&["limit"])?.unwrap_or(10).clamp(1, 100);
        let mut filters = Vec::new();
        let mut described = Vec::new();
        let mut add = |property: &str, value: String| {
            described.push(format!("{property} = {value:?}"));
            filters.push(json!({ "propertyName": property, "operator": "EQ", "value": value }));
        };
        match object {
            Object::Contact => {
                if let Some(email) = input.text(&["email", "contact_email"]) {
                    add("email", email);
                }
                if let Some(v) = input.text(&["firstname", "first_name"]) {
                    add("firstname", v);
                }
                if let Some(v) = input.text(&["lastname", "last_name"]) {
                    add("lastname", v);
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
                let contact = input.id(&["contact_id"], &["contact"]);
                let contact = match contact {
                    Some(c) => Some(c),
                    None => match input.text(&["email", "contact_email"]) {
                        // The deal of a person known by email: their contact
                        // first, then deals associated with it.
                        Some(email) => {
                            let contacts = self
                                .search(
                                    Object::Contact,
                                    vec![json!({ "propertyName": "email", "operator": "EQ", "value": email })],
                                    None,
                                    1,
                                    ctx,
                                )
                                .await?;
                            let id = contacts
                                .first()
                                .and_then(|c| c.get("id"))
                                .and_then(scalar_text)
                                .ok_or_else(|| {
                                    ConnectorError::permanent(
                                        "not_found",
                                        format!("HubSpot has no contact with email = {email:?}, so no deal of theirs"),
                                    )
                                })?;
                            Some(id)
                        }
                        None => None,
                    },
                };
                if let Some(c) = contact {
                    add("associations.contact", c);
                }
                if let Some(c) = input.id(&["company_id"], &["company"]) {
                    add("associations.company", c);
                }
            }
        }
        if let Some(extra) = input.map(&["filters"])? {
            for (k, v) in extra {
                let property = property_name(object, k);
                let value = scalar_text(v).unwrap_or_default();
                let value = normalise_value(&property, &value);
                add(&property, value);
            }
        }
        let query = input
            .text(&["query", "search", "company_name"])
            .or_else(|| {
                // A company named in text (not an object) is searched as text.
                (object == Object::Deal)
                    .then(|| input.text(&["company"]))
                    .flatten()
                    .filter(|_| input.id(&[], &["company"]).is_none())
            });
        if let Some(q) = &query {
            described.push(format!("text {q:?}"));
        }
        if filters.is_empty() && query.is_none() {
            return Err(input.missing(&[id_key.as_str(), "email", "filters", "query"]));
        }
        let results = self.search(object, filters, query, limit, ctx).await?;
        match results.first() {
            Some(first) => Ok(find_output(first.clone(), results)),
            None => Err(ConnectorError::permanent(
                "not_found",
                format!("HubSpot has no {noun} matching {}", described.join(", ")),
            )),
        }
    }

    async fn create(
        &self,
        object: Object,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let mut properties = collect_properties(object, input)?;
        let mut associations = Vec::new();
        match object {
            Object::Contact => {
                if !properties.contains_key("firstname") && !properties.contains_key("lastname") {
                    if let Some(name) = input.text(&["name", "full_name"]) {
                        let mut parts = name.splitn(2, ' ');
                        if let Some(first) = parts.next() {
                            properties.insert("firstname".into(), Value::String(first.to_string()));
                        }
                        if let Some(last) = parts.next() {
                            properties
                                .insert("lastname".into(), Value::String(last.trim().to_string()));
                        }
                    }
                }
                if properties.is_empty() {
                    return Err(input.missing(&["email", "properties"]));
                }
            }
            Object::Deal => {
                if !properties.contains_key("dealname") {
                    let name = input
                        .text(&["name", "deal_name", "title"])
                        .or_else(|| {
                            input
                                .text(&["company", "company_name"])
                                .map(|c| format!("Deal for {c}"))
                        })
                        .or_else(|| {
                            input
                                .text(&["email", "contact_email"])
                                .map(|e| format!("Deal for {e}"))
                        })
                        .ok_or_else(|| input.missing(&["name", "dealname"]))?;
                    properties.insert("dealname".into(), Value::String(name));
                }
                if !properties.contains_key("pipeline") {
                    properties.insert("pipeline".into(), Value::String("default".into()));
                }
                if let Some(c) = input.id(&["contact_id"], &["contact"]) {
                    associations.push(association(&c, DEAL_TO_CONTACT));
                }
                if let Some(c) = input.id(&["company_id"], &["company"]) {
                    associations.push(association(&c, DEAL_TO_COMPANY_PRIMARY));
                }
            }
        }
        let mut body = json!({ "properties": properties });
        if !associations.is_empty() {
            body["associations"] = Value::Array(associations);
        }
        let path = format!("/crm/v3/objects/{}", object.path());
        let raw = self.call(Method::POST, &path, &[], Some(body), ctx).await?;
        Ok(record(object, &raw))
    }

    async fn update(
        &self,
        object: Object,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let noun = object.noun();
        let id_key = format!("{noun}_id");
        let id = input.require_id(&[id_key.as_str(), "id", "hs_object_id"], &[noun])?;
        let properties = collect_properties(object, input)?;
        if properties.is_empty() {
            return Err(input.missing(&["properties", "property"]));
        }
        let path = format!("/crm/v3/objects/{}/{}", object.path(), path_segment(&id)?);
        let raw = self
            .call(
                Method::PATCH,
                &path,
                &[],
                Some(json!({ "properties": properties })),
                ctx,
            )
            .await?;
        Ok(record(object, &raw))
    }

    async fn owner_get(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        if let Some(id) = owner_id(input) {
            let path = format!("/crm/v3/owners/{}", path_segment(&id)?);
            let raw = self.call(Method::GET, &path, &[], None, ctx).await?;
            return Ok(owner_output(&raw));
        }
        let email = input
            .text(&["owner_email", "email"])
            .ok_or_else(|| input.missing(&["owner_id", "owner_email"]))?;
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
            .map(owner_output)
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
        match kind {
            Engagement::Task => {
                let subject = input
                    .text(&["title", "subject", "name"])
                    .unwrap_or_else(|| "Follow up".to_string());
                properties.insert("hs_task_subject".into(), Value::String(subject));
                if let Some(body) = input.text(&["body", "notes", "description", "text"]) {
                    properties.insert("hs_task_body".into(), Value::String(body));
                }
                properties.insert(
                    "hs_task_status".into(),
                    Value::String(
                        input
                            .text(&["status"])
                            .map_or("NOT_STARTED".into(), |s| upper_snake(&s)),
                    ),
                );
                if let Some(p) = input.text(&["priority"]) {
                    properties.insert("hs_task_priority".into(), Value::String(upper_snake(&p)));
                }
                properties.insert(
                    "hs_task_type".into(),
                    Value::String(
                        input
                            .text(&["task_type", "type"])
                            .map_or("TODO".into(), |s| upper_snake(&s)),
                    ),
                );
            }
            Engagement::Note => {
                let body = input.require_text(&["body", "note", "text", "content"])?;
                properties.insert("hs_note_body".into(), Value::String(body));
            }
        }
        if let Some(owner) = owner_id(input) {
            properties.insert("hubspot_owner_id".into(), Value::String(owner));
        }
        let (to_contact, to_company, to_deal) = match kind {
            Engagement::Task => (TASK_TO_CONTACT, TASK_TO_COMPANY, TASK_TO_DEAL),
            Engagement::Note => (NOTE_TO_CONTACT, NOTE_TO_COMPANY, NOTE_TO_DEAL),
        };
        let mut associations = Vec::new();
        if let Some(id) = input.id(&["contact_id"], &["contact"]) {
            associations.push(association(&id, to_contact));
        }
        if let Some(id) = input.id(&["company_id"], &["company"]) {
            associations.push(association(&id, to_company));
        }
        if let Some(id) = input.id(&["deal_id"], &["deal"]) {
            associations.push(association(&id, to_deal));
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
        let mut out = plain_record(&raw);
        if let Value::Object(o) = &mut out {
            let props = raw.get("properties").and_then(Value::as_object);
            let prop = |k: &str| props.and_then(|p| p.get(k)).cloned().unwrap_or(Value::Null);
            match kind {
                Engagement::Task => {
                    o.insert("title".into(), prop("hs_task_subject"));
                    o.insert("due".into(), prop("hs_timestamp"));
                    o.insert("status".into(), prop("hs_task_status"));
                }
                Engagement::Note => {
                    o.insert("body".into(), prop("hs_note_body"));
                }
            }
        }
        Ok(out)
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
                "contact.create" => self.create(Object::Contact, &input, ctx).await,
                "contact.update" => self.update(Object::Contact, &input, ctx).await,
                "deal.find" => self.find(Object::Deal, &input, ctx).await,
                "deal.create" => self.create(Object::Deal, &input, ctx).await,
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

/// The properties to write: `properties`, a `property`/`value` pair, and
/// the well-known fields given directly.
fn collect_properties(
    object: Object,
    input: &Input<'_>,
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
            ("firstname", &["firstname", "first_name"]),
            ("lastname", &["lastname", "last_name"]),
            ("phone", &["phone"]),
            ("company", &["company", "company_name"]),
            ("jobtitle", &["jobtitle", "job_title"]),
            ("lifecyclestage", &["lifecyclestage", "lifecycle_stage"]),
            ("hubspot_owner_id", &["owner_id", "hubspot_owner_id"]),
        ],
        Object::Deal => &[
            ("dealname", &["dealname", "deal_name"]),
            ("dealstage", &["stage", "dealstage"]),
            ("amount", &["amount"]),
            ("pipeline", &["pipeline"]),
            ("closedate", &["closedate", "close_date"]),
            ("hubspot_owner_id", &["owner_id", "hubspot_owner_id"]),
        ],
    };
    for (property, keys) in direct {
        if let Some(v) = input.get(keys) {
            if matches!(v, Value::Object(_) | Value::Array(_)) {
                continue;
            }
            put(property, v);
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
                let n = super::input::money(n);
                props.insert("amount".into(), Value::String(n.to_string()));
            }
            None => return Err(input.invalid(format!("amount {amount:?} is not a number"))),
        }
    }
    Ok(props)
}

/// HubSpot's internal name of a property written as a person would.
fn property_name(object: Object, name: &str) -> String {
    let key = name.trim().to_lowercase().replace(['-', '_'], " ");
    let key = key.split_whitespace().collect::<Vec<_>>().join(" ");
    let internal = match (object, key.as_str()) {
        (_, "lifecycle stage" | "lifecyclestage" | "lifecycle") => "lifecyclestage",
        (_, "lead status" | "hs lead status") => "hs_lead_status",
        (_, "first name" | "firstname") => "firstname",
        (_, "last name" | "lastname") => "lastname",
        (_, "job title" | "jobtitle" | "title") if object == Object::Contact => "jobtitle",
        (_, "phone number" | "phone") => "phone",
        (_, "owner" | "owner id" | "contact owner" | "deal owner" | "hubspot owner id") => {
            "hubspot_owner_id"
        }
        (Object::Deal, "stage" | "deal stage" | "dealstage") => "dealstage",
        (Object::Deal, "name" | "deal name" | "dealname") => "dealname",
        (Object::Deal, "close date" | "closedate") => "closedate",
        (_, "email" | "email address") => "email",
        _ => return key.replace(' ', "_"),
    };
    internal.to_string()
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

/// The default pipeline's internal stage id for a stage label.
fn deal_stage(label: &str) -> String {
    let key: String = label
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    match key.as_str() {
        "appointmentscheduled" => "appointmentscheduled",
        "qualifiedtobuy" => "qualifiedtobuy",
        "presentationscheduled" => "presentationscheduled",
        "decisionmakerboughtin" => "decisionmakerboughtin",
        "contractsent" => "contractsent",
        "closedwon" | "won" => "closedwon",
        "closedlost" | "lost" => "closedlost",
        _ => return label.trim().to_string(),
    }
    .to_string()
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
/// `due_in_days` from now, or now.
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
    if let Some(days) = input.integer(&["due_in_days", "days"])? {
        if !(0..=3650).contains(&days) {
            return Err(input.invalid("due_in_days must be between 0 and 3650"));
        }
        return Ok(Utc::now() + ChronoDuration::days(days));
    }
    Ok(Utc::now())
}

/// `id`, `created_at`, `updated_at`, `archived` and `properties` of a CRM
/// object.
fn plain_record(raw: &Value) -> Value {
    let field = |k: &str| raw.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": field("id"),
        "created_at": field("createdAt"),
        "updated_at": field("updatedAt"),
        "archived": raw.get("archived").cloned().unwrap_or(Value::Bool(false)),
        "properties": raw.get("properties").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A contact or deal with its properties at the top level and friendly
/// names.
fn record(object: Object, raw: &Value) -> Value {
    let mut out = Map::new();
    let props = raw.get("properties").and_then(Value::as_object);
    if let Some(p) = props {
        for (k, v) in p {
            out.insert(k.clone(), v.clone());
        }
    }
    let prop = |k: &str| props.and_then(|p| p.get(k)).cloned().unwrap_or(Value::Null);
    match object {
        Object::Contact => {
            let first = prop("firstname");
            let last = prop("lastname");
            let name = [first.as_str(), last.as_str()]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            out.insert("first_name".into(), first);
            out.insert("last_name".into(), last);
            out.insert(
                "name".into(),
                if name.is_empty() {
                    Value::Null
                } else {
                    Value::String(name)
                },
            );
            out.insert("lifecycle_stage".into(), prop("lifecyclestage"));
            out.insert("email".into(), prop("email"));
        }
        Object::Deal => {
            out.insert("name".into(), prop("dealname"));
            out.insert("stage".into(), prop("dealstage"));
            out.insert("close_date".into(), prop("closedate"));
            let amount = prop("amount");
            let amount = amount
                .as_str()
                .and_then(parse_amount)
                .map(super::input::money)
                .unwrap_or(amount);
            out.insert("amount".into(), amount);
        }
    }
    out.insert("owner_id".into(), prop("hubspot_owner_id"));
    if let Value::Object(plain) = plain_record(raw) {
        out.extend(plain);
    }
    Value::Object(out)
}

fn find_output(first: Value, results: Vec<Value>) -> Value {
    let mut out = match first {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    out.insert("total_results".into(), json!(results.len()));
    out.insert("results".into(), Value::Array(results));
    Value::Object(out)
}

/// An owner with snake-case names next to HubSpot's own.
fn owner_output(raw: &Value) -> Value {
    let mut out = raw.as_object().cloned().unwrap_or_default();
    let text = |k: &str| {
        raw.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let first = text("firstName");
    let last = text("lastName");
    let name = format!("{first} {last}").trim().to_string();
    out.insert("first_name".into(), Value::String(first));
    out.insert("last_name".into(), Value::String(last));
    out.insert("name".into(), Value::String(name));
    if let Some(u) = raw.get("userId") {
        out.insert("user_id".into(), u.clone());
    }
    if let Some(id) = raw.get("id") {
        out.insert("owner_id".into(), id.clone());
    }
    Value::Object(out)
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
            property_name(Object::Contact, "Lead Status"),
            "hs_lead_status"
        );
        assert_eq!(property_name(Object::Deal, "stage"), "dealstage");
        assert_eq!(property_name(Object::Deal, "custom thing"), "custom_thing");
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
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert!(path_segment("123").is_ok());
        assert!(path_segment("../owners").is_err());
        assert!(path_segment("1?x=2").is_err());
        assert!(path_segment("").is_err());
    }
}
