//! The QuickBooks Online live client (v3 accounting API, OAuth 2.0 bearer
//! token, `/v3/company/{realmId}/…`).
//!
//! | operation | API |
//! |---|---|
//! | `invoice.find` | `GET /invoice/{id}`, or `GET /query?query=SELECT * FROM Invoice WHERE …` (by `number`, `customer_id` or `customer_email`, `status` = `open` / `overdue` / `paid`) |
//! | `invoice.create` | `POST /invoice` (a customer by id or email, one `amount` or several `lines`, due in `due_in_days` (default 30) or on `due_date`, `currency`) |
//! | `invoice.send` | `POST /invoice/{id}/send` (optionally `sendTo`) |
//! | `customer.find` | `GET /customer/{id}`, or a query by `email`, `name`, `company` |
//! | `customer.create` | `POST /customer` |
//! | `payment.record` | `GET /invoice/{id}`, then `POST /payment` linked to it; customer and amount (its balance) come from the invoice |
//!
//! Every write carries the step's idempotency key as the `requestid` query
//! parameter: QuickBooks applies a repeated request id once and answers
//! with the first outcome. Errors arrive as `{"Fault": {"Error":
//! [{"Message", "Detail", "code"}], "type"}}` and are classified by type,
//! code and status (`AuthenticationFault` → `unauthorized`, code 610 →
//! `not_found`, 6240 → `conflict`, `ValidationFault` → `invalid_input`,
//! `SystemFault` → retryable).
//!
//! Outputs have the catalog's shapes (`{"match_count", "invoice": {"id",
//! "number", "amount", "balance", "currency", "status", "issued_on",
//! "due_on", "sent", "lines", "customer": {"id", "name", "email"}}}`, …),
//! with QuickBooks' own record under `raw`. An invoice line sells item `1`
//! (Services) unless the input names `item_id`; a payment `method` is kept
//! in the payment's private note (QuickBooks payment methods are ids).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{Duration as ChronoDuration, NaiveDate, Utc};
use nexwatt_engine::connector::{Connector, ConnectorError, ConnectorManifest, ExecutionContext};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::config::{check_realm, parse_base_url, QuickBooksConfig};
use super::input::{money, scalar_text, Input};
use super::transport::{
    call_span, check_operation, invalid_response, log_outcome, not_supported_live, status_error,
    truncate, Transport, SERVICE_MAX_BODY,
};
use super::{catalog_manifest, LiveError};

const SERVICE: &str = "QuickBooks";
/// The item an invoice line sells when the input names none (`1` is
/// "Services" in a new QuickBooks company).
const DEFAULT_ITEM_ID: &str = "1";
/// Days until an invoice is due when the input says nothing.
const DEFAULT_DUE_IN_DAYS: i64 = 30;

/// The live QuickBooks Online client. `Debug` shows the base URL and realm,
/// never the token.
pub struct QuickBooksClient {
    manifest: ConnectorManifest,
    company_url: String,
    realm_id: String,
    minor_version: String,
    transport: Transport,
}

impl fmt::Debug for QuickBooksClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuickBooksClient")
            .field("company_url", &self.company_url)
            .field("realm_id", &self.realm_id)
            .field("minor_version", &self.minor_version)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// Whether a call writes (and so carries `requestid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    No,
    Yes,
}

impl QuickBooksClient {
    /// A client for `config`, with the catalog's `quickbooks` manifest.
    pub fn new(config: &QuickBooksConfig) -> Result<Self, LiveError> {
        let base = parse_base_url("quickbooks.base_url", &config.base_url)?;
        check_realm(&config.realm_id)?;
        Ok(Self {
            manifest: catalog_manifest("quickbooks")?,
            company_url: format!(
                "{}/v3/company/{}",
                base.as_str().trim_end_matches('/'),
                config.realm_id
            ),
            realm_id: config.realm_id.clone(),
            minor_version: config.minor_version.to_string(),
            transport: Transport::new(
                SERVICE,
                Some(config.token.clone()),
                reqwest::redirect::Policy::none(),
                SERVICE_MAX_BODY,
            )?,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        extra_query: &[(&str, String)],
        body: Option<Value>,
        write: Write,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        tracing::debug!(method = %method, path, "calling QuickBooks");
        let mut query: Vec<(&str, String)> = extra_query.to_vec();
        query.push(("minorversion", self.minor_version.clone()));
        if write == Write::Yes {
            query.push(("requestid", ctx.idempotency_key.clone()));
        }
        let mut request = self
            .transport
            .client
            .request(method, format!("{}{}", self.company_url, path))
            .header(ACCEPT, "application/json")
            .query(&query);
        request = match body {
            Some(body) => request.json(&body),
            None if write == Write::Yes => request
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(Vec::new()),
            None => request,
        };
        let response = self
            .transport
            .send(self.transport.authorize(request), ctx, &[])
            .await?;
        let json = response.json();
        if let Some(fault) = json.as_ref().and_then(|j| j.get("Fault")) {
            return Err(self.fault_error(fault, response.status, response.retry_after()));
        }
        if !response.status.is_success() {
            let detail = String::from_utf8_lossy(&response.body);
            let detail = self.transport.redact(&detail, &[]);
            let detail = (!detail.trim_start().starts_with('<')).then_some(detail);
            return Err(status_error(
                SERVICE,
                response.status,
                response.retry_after(),
                detail.as_deref(),
            ));
        }
        json.ok_or_else(|| invalid_response(SERVICE, "the body is not JSON"))
    }

    /// Classifies a QuickBooks `Fault`.
    fn fault_error(
        &self,
        fault: &Value,
        status: StatusCode,
        retry_after: Option<Duration>,
    ) -> ConnectorError {
        let fault_type = fault.get("type").and_then(Value::as_str).unwrap_or("Fault");
        let first = fault
            .get("Error")
            .and_then(Value::as_array)
            .and_then(|e| e.first());
        let field = |k: &str| {
            first
                .and_then(|e| e.get(k))
                .and_then(scalar_text)
                .unwrap_or_default()
        };
        let code = field("code");
        let mut text = format!("QuickBooks {fault_type}");
        if !code.is_empty() {
            text.push_str(&format!(" {code}"));
        }
        for part in [field("Message"), field("Detail")] {
            if !part.is_empty() && !text.contains(&part) {
                text.push_str(": ");
                text.push_str(&part);
            }
        }
        let message = truncate(&self.transport.redact(&text, &[]));
        let lower_type = fault_type.to_ascii_lowercase();
        if status == StatusCode::TOO_MANY_REQUESTS
            || code == "003001"
            || lower_type.contains("throttl")
        {
            return ConnectorError::retryable("rate_limited", message)
                .with_retry_after(retry_after);
        }
        if status == StatusCode::UNAUTHORIZED
            || status == StatusCode::FORBIDDEN
            || lower_type == "authenticationfault"
            || lower_type == "authorizationfault"
        {
            return ConnectorError::permanent("unauthorized", message);
        }
        if status.is_server_error() || lower_type == "systemfault" {
            return ConnectorError::retryable("service_unavailable", message)
                .with_retry_after(retry_after);
        }
        match code.as_str() {
            "610" => return ConnectorError::permanent("not_found", message),
            "6240" | "5010" => return ConnectorError::permanent("conflict", message),
            _ => {}
        }
        if status == StatusCode::NOT_FOUND {
            return ConnectorError::permanent("not_found", message);
        }
        ConnectorError::invalid_input(message)
    }

    /// Runs a query; the rows of `entity`.
    async fn query(
        &self,
        entity: &str,
        sql: String,
        ctx: &ExecutionContext,
    ) -> Result<Vec<Value>, ConnectorError> {
        let answer = self
            .call(
                Method::GET,
                "/query",
                &[("query", sql)],
                None,
                Write::No,
                ctx,
            )
            .await?;
        let response = answer
            .get("QueryResponse")
            .ok_or_else(|| invalid_response(SERVICE, "the query answer has no QueryResponse"))?;
        Ok(response
            .get(entity)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    async fn read(
        &self,
        entity: &str,
        id: &str,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let path = format!("/{}/{}", entity.to_ascii_lowercase(), id_segment(id)?);
        let answer = self
            .call(Method::GET, &path, &[], None, Write::No, ctx)
            .await?;
        answer
            .get(entity)
            .cloned()
            .ok_or_else(|| invalid_response(SERVICE, &format!("the answer has no {entity}")))
    }

    async fn create(
        &self,
        entity: &str,
        body: Value,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let path = format!("/{}", entity.to_ascii_lowercase());
        let answer = self
            .call(Method::POST, &path, &[], Some(body), Write::Yes, ctx)
            .await?;
        answer
            .get(entity)
            .cloned()
            .ok_or_else(|| invalid_response(SERVICE, &format!("the answer has no {entity}")))
    }

    /// The id of the customer with `email`, or a permanent `not_found`.
    async fn customer_id_by_email(
        &self,
        input: &Input<'_>,
        email: &str,
        ctx: &ExecutionContext,
    ) -> Result<String, ConnectorError> {
        let sql = format!(
            "SELECT * FROM Customer WHERE PrimaryEmailAddr = {} MAXRESULTS 1",
            quote(input, email)?
        );
        let rows = self.query("Customer", sql, ctx).await?;
        rows.first()
            .and_then(|c| c.get("Id"))
            .and_then(scalar_text)
            .ok_or_else(|| {
                ConnectorError::permanent(
                    "not_found",
                    format!("QuickBooks has no customer with email = {email:?}"),
                )
            })
    }

    async fn invoice_find(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        if let Some(id) = input.id(&["invoice_id"], &["invoice"]) {
            let invoice = invoice_record(&self.read("Invoice", &id, ctx).await?);
            return Ok(json!({ "match_count": 1, "invoice": invoice }));
        }
        let mut conditions = Vec::new();
        if let Some(n) = input.text(&["number", "doc_number", "invoice_number"]) {
            conditions.push(format!("DocNumber = {}", quote(input, &n)?));
        }
        let customer = match input.id(&["customer_id"], &["customer"]) {
            Some(c) => Some(c),
            None => match input.text(&["customer_email"]) {
                Some(email) => Some(self.customer_id_by_email(input, &email, ctx).await?),
                None => None,
            },
        };
        if let Some(c) = customer {
            conditions.push(format!("CustomerRef = {}", quote(input, &c)?));
        }
        if let Some(status) = input.text(&["status"]) {
            let today = Utc::now().date_naive().format("%Y-%m-%d").to_string();
            match status.to_ascii_lowercase().as_str() {
                "open" | "unpaid" => conditions.push("Balance > '0'".to_string()),
                "overdue" | "past due" => {
                    conditions.push("Balance > '0'".to_string());
                    conditions.push(format!("DueDate < '{today}'"));
                }
                "paid" => conditions.push("Balance = '0'".to_string()),
                other => {
                    return Err(
                        input.invalid(format!("status {other:?} is not open, overdue or paid"))
                    )
                }
            }
        }
        if conditions.is_empty() {
            return Err(input.missing(&["invoice_id", "number", "customer_id", "customer_email"]));
        }
        let limit = input.integer(&["limit"])?.unwrap_or(10).clamp(1, 1000);
        let sql = format!(
            "SELECT * FROM Invoice WHERE {} ORDERBY TxnDate DESC MAXRESULTS {limit}",
            conditions.join(" AND ")
        );
        let rows = self.query("Invoice", sql, ctx).await?;
        match rows.first() {
            Some(first) => {
                Ok(json!({ "match_count": rows.len(), "invoice": invoice_record(first) }))
            }
            None => Err(ConnectorError::permanent(
                "not_found",
                format!(
                    "QuickBooks has no invoice where {}",
                    conditions.join(" AND ")
                ),
            )),
        }
    }

    async fn customer_find(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        if let Some(id) = input.id(&["customer_id"], &["customer"]) {
            let customer = customer_record(&self.read("Customer", &id, ctx).await?);
            return Ok(json!({ "match_count": 1, "customer": customer }));
        }
        let mut conditions = Vec::new();
        if let Some(e) = input.text(&["email", "customer_email"]) {
            conditions.push(format!("PrimaryEmailAddr = {}", quote(input, &e)?));
        }
        if let Some(n) = input.text(&["name", "display_name", "customer_name"]) {
            conditions.push(format!("DisplayName = {}", quote(input, &n)?));
        }
        if let Some(c) = input.text(&["company", "company_name"]) {
            conditions.push(format!("CompanyName = {}", quote(input, &c)?));
        }
        if conditions.is_empty() {
            return Err(input.missing(&["customer_id", "email", "name"]));
        }
        let sql = format!(
            "SELECT * FROM Customer WHERE {} MAXRESULTS 10",
            conditions.join(" AND ")
        );
        let rows = self.query("Customer", sql, ctx).await?;
        match rows.first() {
            Some(first) => {
                Ok(json!({ "match_count": rows.len(), "customer": customer_record(first) }))
            }
            None => Err(ConnectorError::permanent(
                "not_found",
                format!(
                    "QuickBooks has no customer where {}",
                    conditions.join(" AND ")
                ),
            )),
        }
    }

    async fn invoice_create(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let lines = invoice_lines(input)?;
        let email = input.text(&["customer_email", "email", "bill_email"]);
        let customer = match input.id(&["customer_id"], &["customer"]) {
            Some(c) => c,
            None => match &email {
                Some(e) => self.customer_id_by_email(input, e, ctx).await?,
                None => return Err(input.missing(&["customer_id", "customer_email"])),
            },
        };
        let mut body = json!({
            "CustomerRef": { "value": customer },
            "Line": lines,
            "DueDate": due_date(input)?,
        });
        if let Some(email) = email {
            body["BillEmail"] = json!({ "Address": email });
        }
        if let Some(c) = input.text(&["currency"]) {
            body["CurrencyRef"] = json!({ "value": c.to_ascii_uppercase() });
        }
        if let Some(n) = input.text(&["number", "doc_number"]) {
            body["DocNumber"] = Value::String(n);
        }
        if let Some(memo) = input.text(&["memo", "customer_memo"]) {
            body["CustomerMemo"] = json!({ "value": memo });
        }
        let invoice = self.create("Invoice", body, ctx).await?;
        Ok(json!({ "invoice": invoice_record(&invoice) }))
    }

    async fn invoice_send(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let id = input.require_id(&["invoice_id"], &["invoice"])?;
        let path = format!("/invoice/{}/send", id_segment(&id)?);
        let to = input.text(&["to", "send_to", "email"]);
        let mut query = Vec::new();
        if let Some(to) = &to {
            query.push(("sendTo", to.clone()));
        }
        let answer = self
            .call(Method::POST, &path, &query, None, Write::Yes, ctx)
            .await?;
        let invoice = answer
            .get("Invoice")
            .ok_or_else(|| invalid_response(SERVICE, "the answer has no Invoice"))?;
        let sent_to = to
            .map(Value::String)
            .or_else(|| invoice.pointer("/BillEmail/Address").cloned())
            .unwrap_or(Value::Null);
        Ok(json!({ "sent_to": sent_to, "invoice": invoice_record(invoice) }))
    }

    async fn customer_create(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let given = input.text(&["first_name", "given_name"]);
        let family = input.text(&["last_name", "family_name"]);
        let name = input.text(&["name", "display_name"]);
        let company = input.text(&["company", "company_name"]);
        let email = input.text(&["email"]);
        let display = name
            .clone()
            .or_else(|| match (&given, &family) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                (Some(g), None) => Some(g.clone()),
                (None, Some(f)) => Some(f.clone()),
                (None, None) => None,
            })
            .or_else(|| company.clone())
            .or_else(|| email.clone())
            .ok_or_else(|| input.missing(&["name"]))?;
        let mut body = Map::new();
        body.insert("DisplayName".into(), Value::String(display));
        if let Some(g) = given {
            body.insert("GivenName".into(), Value::String(g));
        }
        if let Some(f) = family {
            body.insert("FamilyName".into(), Value::String(f));
        }
        if let Some(c) = company {
            body.insert("CompanyName".into(), Value::String(c));
        }
        if let Some(e) = email {
            body.insert("PrimaryEmailAddr".into(), json!({ "Address": e }));
        }
        if let Some(p) = input.text(&["phone"]) {
            body.insert("PrimaryPhone".into(), json!({ "FreeFormNumber": p }));
        }
        let customer = self.create("Customer", Value::Object(body), ctx).await?;
        Ok(json!({ "customer": customer_record(&customer) }))
    }

    async fn payment_record(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let invoice_id = input.require_id(&["invoice_id"], &["invoice"])?;
        // The invoice gives the customer and the default amount.
        let invoice = self.read("Invoice", &invoice_id, ctx).await?;
        let customer = invoice
            .pointer("/CustomerRef/value")
            .and_then(scalar_text)
            .ok_or_else(|| invalid_response(SERVICE, "the invoice has no CustomerRef"))?;
        let balance = invoice
            .get("Balance")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let amount = input.number(&["amount"])?.unwrap_or(balance);
        if amount <= 0.0 {
            return Err(input.invalid(format!(
                "the payment amount must be above zero (invoice {invoice_id} has a balance of {balance})"
            )));
        }
        let mut body = json!({
            "CustomerRef": { "value": customer },
            "TotalAmt": money(amount),
            "Line": [{
                "Amount": money(amount),
                "LinkedTxn": [{ "TxnId": invoice_id, "TxnType": "Invoice" }]
            }],
        });
        if let Some(d) = input.text(&["paid_on", "payment_date", "date"]) {
            let date = NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|_| input.invalid(format!("paid_on {d:?} is not YYYY-MM-DD")))?;
            body["TxnDate"] = Value::String(date.format("%Y-%m-%d").to_string());
        }
        let method = input.text(&["method", "payment_method"]);
        if let Some(m) = &method {
            body["PrivateNote"] = Value::String(format!("Payment method: {m}"));
        }
        if let Some(r) = input.text(&["reference", "payment_ref"]) {
            body["PaymentRefNum"] = Value::String(r);
        }
        if let Some(c) = invoice.pointer("/CurrencyRef/value") {
            body["CurrencyRef"] = json!({ "value": c });
        }
        let payment = self.create("Payment", body, ctx).await?;
        // The invoice as the payment leaves it (no second read: the write
        // is done and must not fail on a read).
        let mut after = invoice.clone();
        after["Balance"] = money((balance - amount).max(0.0));
        let mut payment_out = payment_record(&payment, &invoice_id);
        if let Some(m) = method {
            payment_out["method"] = Value::String(m);
        }
        Ok(json!({ "payment": payment_out, "invoice": invoice_record(&after) }))
    }
}

#[async_trait]
impl Connector for QuickBooksClient {
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
        let span = call_span("quickbooks", operation, ctx);
        async {
            let input = Input::new("quickbooks", operation, &input)?;
            let result = match operation {
                "invoice.find" => self.invoice_find(&input, ctx).await,
                "invoice.create" => self.invoice_create(&input, ctx).await,
                "invoice.send" => self.invoice_send(&input, ctx).await,
                "customer.find" => self.customer_find(&input, ctx).await,
                "customer.create" => self.customer_create(&input, ctx).await,
                "payment.record" => self.payment_record(&input, ctx).await,
                other => Err(not_supported_live("quickbooks", other)),
            };
            log_outcome(&result);
            result
        }
        .instrument(span)
        .await
    }
}

/// A QuickBooks id as a path segment (ids are digits).
fn id_segment(id: &str) -> Result<String, ConnectorError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ConnectorError::invalid_input(format!(
            "{id:?} is not a QuickBooks id"
        )));
    }
    Ok(id.to_string())
}

/// A string literal of the QuickBooks query language (`'` escaped as
/// `\'`).
fn quote(input: &Input<'_>, value: &str) -> Result<String, ConnectorError> {
    if value.chars().any(char::is_control) || value.contains('\\') {
        return Err(input.invalid(format!("{value:?} cannot be used in a query")));
    }
    Ok(format!("'{}'", value.replace('\'', "\\'")))
}

/// Invoice lines: `lines` (objects with `amount`, `description`,
/// `item_id`, `quantity`) or one line of `amount`.
fn invoice_lines(input: &Input<'_>) -> Result<Vec<Value>, ConnectorError> {
    let default_item = input
        .text(&["item_id"])
        .unwrap_or_else(|| DEFAULT_ITEM_ID.to_string());
    let line = |amount: f64,
                description: Option<String>,
                item: String,
                qty: f64|
     -> Result<Value, ConnectorError> {
        if amount <= 0.0 {
            return Err(input.invalid("an invoice line's amount must be above zero"));
        }
        let qty = if qty > 0.0 { qty } else { 1.0 };
        let mut l = json!({
            "Amount": money(amount),
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {
                "ItemRef": { "value": item },
                "Qty": qty,
                "UnitPrice": money(amount / qty),
            }
        });
        if let Some(d) = description {
            l["Description"] = Value::String(d);
        }
        Ok(l)
    };
    if let Some(lines) = input.get(&["lines"]) {
        let lines = lines
            .as_array()
            .ok_or_else(|| input.invalid("`lines` must be an array"))?;
        if lines.is_empty() {
            return Err(input.invalid("`lines` is empty"));
        }
        return lines
            .iter()
            .map(|l| {
                let li = Input::new("quickbooks", "invoice.create", l)?;
                let amount = li
                    .number(&["amount"])?
                    .ok_or_else(|| input.invalid("every line needs an `amount`"))?;
                let qty = li.number(&["quantity", "qty"])?.unwrap_or(1.0);
                line(
                    amount,
                    li.text(&["description"]),
                    li.text(&["item_id"])
                        .unwrap_or_else(|| default_item.clone()),
                    qty,
                )
            })
            .collect();
    }
    let amount = input
        .number(&["amount", "total"])?
        .ok_or_else(|| input.missing(&["amount", "lines"]))?;
    Ok(vec![line(
        amount,
        input.text(&["description"]),
        default_item,
        1.0,
    )?])
}

/// The due date: `due_date` (`YYYY-MM-DD`) or `due_in_days` from today
/// (default 30).
fn due_date(input: &Input<'_>) -> Result<String, ConnectorError> {
    if let Some(d) = input.text(&["due_date", "due_on"]) {
        let date = NaiveDate::parse_from_str(&d, "%Y-%m-%d")
            .map_err(|_| input.invalid(format!("due_date {d:?} is not YYYY-MM-DD")))?;
        return Ok(date.format("%Y-%m-%d").to_string());
    }
    let days = input
        .integer(&["due_in_days"])?
        .unwrap_or(DEFAULT_DUE_IN_DAYS);
    if !(0..=3650).contains(&days) {
        return Err(input.invalid("due_in_days must be between 0 and 3650"));
    }
    Ok((Utc::now().date_naive() + ChronoDuration::days(days))
        .format("%Y-%m-%d")
        .to_string())
}

fn text_at(raw: &Value, pointer: &str) -> Value {
    raw.pointer(pointer).cloned().unwrap_or(Value::Null)
}

/// An invoice in the catalog's shape (QuickBooks' own record under `raw`).
fn invoice_record(raw: &Value) -> Value {
    let balance = raw.get("Balance").and_then(Value::as_f64);
    let due = raw.get("DueDate").and_then(Value::as_str);
    let today = Utc::now().date_naive().format("%Y-%m-%d").to_string();
    let status = match (balance, due) {
        (Some(b), _) if b <= 0.0 => "paid",
        (Some(_), Some(d)) if d < today.as_str() => "overdue",
        (Some(_), _) => "open",
        (None, _) => "unknown",
    };
    let lines: Vec<Value> = raw
        .get("Line")
        .and_then(Value::as_array)
        .map(|lines| {
            lines
                .iter()
                .filter(|l| l.get("DetailType").and_then(Value::as_str) != Some("SubTotalLineDetail"))
                .map(|l| json!({ "description": text_at(l, "/Description"), "amount": text_at(l, "/Amount") }))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": text_at(raw, "/Id"),
        "number": text_at(raw, "/DocNumber"),
        "amount": text_at(raw, "/TotalAmt"),
        "balance": text_at(raw, "/Balance"),
        "currency": text_at(raw, "/CurrencyRef/value"),
        "status": status,
        "issued_on": text_at(raw, "/TxnDate"),
        "due_on": text_at(raw, "/DueDate"),
        "sent": raw.get("EmailStatus").and_then(Value::as_str) == Some("EmailSent"),
        "lines": lines,
        "customer": {
            "id": text_at(raw, "/CustomerRef/value"),
            "name": text_at(raw, "/CustomerRef/name"),
            "email": text_at(raw, "/BillEmail/Address"),
        },
        "raw": raw,
    })
}

/// A customer in the catalog's shape.
fn customer_record(raw: &Value) -> Value {
    json!({
        "id": text_at(raw, "/Id"),
        "name": text_at(raw, "/DisplayName"),
        "company": text_at(raw, "/CompanyName"),
        "email": text_at(raw, "/PrimaryEmailAddr/Address"),
        "phone": text_at(raw, "/PrimaryPhone/FreeFormNumber"),
        "balance": text_at(raw, "/Balance"),
        "currency": text_at(raw, "/CurrencyRef/value"),
        "created_at": text_at(raw, "/MetaData/CreateTime"),
        "raw": raw,
    })
}

/// A payment in the catalog's shape.
fn payment_record(raw: &Value, invoice_id: &str) -> Value {
    json!({
        "id": text_at(raw, "/Id"),
        "invoice_id": invoice_id,
        "amount": text_at(raw, "/TotalAmt"),
        "currency": text_at(raw, "/CurrencyRef/value"),
        "method": text_at(raw, "/PaymentMethodRef/name"),
        "paid_on": text_at(raw, "/TxnDate"),
        "raw": raw,
    })
}
