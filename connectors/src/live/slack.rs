//! The Slack live client (Web API, bot token).
//!
//! | operation | API |
//! |---|---|
//! | `message.send` | `POST chat.postMessage` (`channel` as `#name` or id, `text`, optional `blocks`, `thread_ts`) |
//! | `dm.send` | `GET users.lookupByEmail` when only an email is given, then `POST conversations.open` and `POST chat.postMessage` to the DM channel |
//! | `user.find` | `GET users.lookupByEmail?email=…`, `GET users.info?user=…`, or by `name` through `GET users.list` (cursor-paged, at most 10 pages of 200) |
//!
//! Outputs have the catalog's shapes: `{"ok": true, "message": {"ts",
//! "channel", "channel_id", "text"}}`, `{"ok": true, "message": {"ts",
//! "channel_id", "user_id", "text"}}`, `{"user": {"id", "name",
//! "real_name", "email", "is_bot", "tz"}}`. A message without `text` (and
//! without `blocks`) says what the input's records are, in the same words
//! as the sandbox.
//!
//! Slack answers most errors with HTTP 200 and `{"ok": false, "error":
//! "…"}`; those codes are classified like HTTP statuses (`invalid_auth` →
//! `unauthorized`, `ratelimited` → `rate_limited` with `Retry-After`,
//! `channel_not_found` / `users_not_found` → `not_found`, …). Slack has no
//! idempotency keys: its writes are not idempotent.

use std::fmt;

use async_trait::async_trait;
use nexwatt_engine::connector::{Connector, ConnectorError, ConnectorManifest, ExecutionContext};
use reqwest::Method;
use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::config::{parse_base_url, SlackConfig};
use super::input::{compose_summary, Input};
use super::transport::{
    call_span, check_operation, invalid_response, log_outcome, not_supported_live, status_error,
    Transport, SERVICE_MAX_BODY,
};
use super::{catalog_manifest, LiveError};

const SERVICE: &str = "Slack";
/// How many `users.list` pages a lookup by name reads at most.
const MAX_USER_PAGES: usize = 10;

/// The live Slack client. `Debug` shows the base URL, never the token.
pub struct SlackClient {
    manifest: ConnectorManifest,
    base_url: String,
    transport: Transport,
}

impl fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackClient")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl SlackClient {
    /// A client for `config`, with the catalog's `slack` manifest.
    pub fn new(config: &SlackConfig) -> Result<Self, LiveError> {
        let base = parse_base_url("slack.base_url", &config.base_url)?;
        Ok(Self {
            manifest: catalog_manifest("slack")?,
            base_url: base.as_str().trim_end_matches('/').to_string(),
            transport: Transport::new(
                SERVICE,
                Some(config.token.clone()),
                reqwest::redirect::Policy::none(),
                SERVICE_MAX_BODY,
            )?,
        })
    }

    /// Calls Web API `method`; returns the body of an `ok: true` answer.
    async fn call(
        &self,
        http_method: Method,
        method: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let url = format!("{}/{}", self.base_url, method);
        tracing::debug!(method = %http_method, api = method, "calling Slack");
        let mut request = self.transport.client.request(http_method, url);
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
        let slack_code = json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(Value::as_str)
            .map(|s| self.transport.redact(s, &[]));
        if !response.status.is_success() {
            if let Some(code) = &slack_code {
                // A Slack error body on a non-2xx status: the status decides
                // the class for 429/401/5xx, the Slack code otherwise.
                let status = response.status.as_u16();
                if status != 429 && status != 401 && status != 403 && status < 500 {
                    return Err(slack_error(method, code, response.retry_after()));
                }
            }
            return Err(status_error(
                SERVICE,
                response.status,
                response.retry_after(),
                slack_code.as_deref(),
            ));
        }
        let json = json.ok_or_else(|| invalid_response(SERVICE, "the body is not JSON"))?;
        match json.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(json),
            Some(false) => Err(slack_error(
                method,
                slack_code.as_deref().unwrap_or("unknown_error"),
                response.retry_after(),
            )),
            None => Err(invalid_response(SERVICE, "the body has no `ok` field")),
        }
    }

    /// The message text: `text` (or `message`), else (unless `blocks`
    /// stand alone) a line composed from the records the input carries,
    /// as the sandbox composes it.
    fn message_text(input: &Input<'_>) -> Option<String> {
        if let Some(t) = input.text(&["text", "message"]) {
            return Some(t);
        }
        if input.get(&["blocks"]).is_some() {
            return None;
        }
        Some(compose_summary(input))
    }

    /// Posts `text` / `blocks` to `channel`; the API's answer.
    async fn post(
        &self,
        channel: &str,
        text: &Option<String>,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let mut body = Map::new();
        body.insert("channel".into(), Value::String(channel.to_string()));
        if let Some(t) = text {
            body.insert("text".into(), Value::String(t.clone()));
        }
        if let Some(b) = input.get(&["blocks"]) {
            body.insert("blocks".into(), b.clone());
        }
        if let Some(ts) = input.text(&["thread_ts"]) {
            body.insert("thread_ts".into(), Value::String(ts));
        }
        self.call(
            Method::POST,
            "chat.postMessage",
            &[],
            Some(Value::Object(body)),
            ctx,
        )
        .await
    }

    async fn message_send(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let channel = input.require_text(&["channel", "channel_id"])?;
        let text = Self::message_text(input);
        let answer = self.post(&channel, &text, input, ctx).await?;
        let channel_id = answer.get("channel").cloned().unwrap_or(Value::Null);
        let shown = if looks_like_channel_id(&channel) {
            channel_id.clone()
        } else {
            Value::String(format!("#{}", channel.trim_start_matches('#')))
        };
        Ok(json!({
            "ok": true,
            "message": {
                "ts": answer.get("ts").cloned().unwrap_or(Value::Null),
                "channel": shown,
                "channel_id": channel_id,
                "text": posted_text(&answer, &text),
            }
        }))
    }

    /// The id of the user with `email`.
    async fn lookup_by_email(
        &self,
        email: &str,
        ctx: &ExecutionContext,
    ) -> Result<Map<String, Value>, ConnectorError> {
        let found = self
            .call(
                Method::GET,
                "users.lookupByEmail",
                &[("email", email)],
                None,
                ctx,
            )
            .await?;
        found
            .get("user")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| invalid_response(SERVICE, "users.lookupByEmail gave no user"))
    }

    async fn dm_send(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let text = Self::message_text(input);
        let user_id = match recipient_id(input) {
            Some(id) => id,
            None => {
                let email =
                    recipient_email(input).ok_or_else(|| input.missing(&["user_id", "email"]))?;
                let user = self.lookup_by_email(&email, ctx).await?;
                user.get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        invalid_response(SERVICE, "users.lookupByEmail gave no user id")
                    })?
            }
        };
        let opened = self
            .call(
                Method::POST,
                "conversations.open",
                &[],
                Some(json!({ "users": user_id })),
                ctx,
            )
            .await?;
        let channel = opened
            .pointer("/channel/id")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_response(SERVICE, "conversations.open gave no channel id"))?
            .to_string();
        let answer = self.post(&channel, &text, input, ctx).await?;
        Ok(json!({
            "ok": true,
            "message": {
                "ts": answer.get("ts").cloned().unwrap_or(Value::Null),
                "channel_id": answer.get("channel").cloned().unwrap_or(Value::String(channel)),
                "user_id": user_id,
                "text": posted_text(&answer, &text),
            }
        }))
    }

    async fn user_find(
        &self,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        if let Some(email) = recipient_email(input) {
            let user = self.lookup_by_email(&email, ctx).await?;
            return Ok(json!({ "user": user_output(&user) }));
        }
        if let Some(id) = recipient_id(input) {
            let found = self
                .call(Method::GET, "users.info", &[("user", &id)], None, ctx)
                .await?;
            let user = found
                .get("user")
                .and_then(Value::as_object)
                .ok_or_else(|| invalid_response(SERVICE, "users.info gave no user"))?;
            return Ok(json!({ "user": user_output(user) }));
        }
        let name = input
            .text(&["name", "real_name"])
            .ok_or_else(|| input.missing(&["email", "user_id", "name"]))?;
        self.user_by_name(&name, ctx).await
    }

    /// Pages through `users.list` for a user whose handle, display name or
    /// real name is `name` (ignoring case).
    async fn user_by_name(
        &self,
        name: &str,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let wanted = name.trim().trim_start_matches('@').to_lowercase();
        let mut cursor = String::new();
        for _ in 0..MAX_USER_PAGES {
            let mut query = vec![("limit", "200")];
            if !cursor.is_empty() {
                query.push(("cursor", cursor.as_str()));
            }
            let page = self
                .call(Method::GET, "users.list", &query, None, ctx)
                .await?;
            let members = page
                .get("members")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid_response(SERVICE, "users.list gave no members"))?;
            let hit = members.iter().filter_map(Value::as_object).find(|u| {
                let field = |k: &str| {
                    u.get(k)
                        .or_else(|| u.get("profile").and_then(|p| p.get(k)))
                        .and_then(Value::as_str)
                        .map(str::to_lowercase)
                };
                u.get("deleted") != Some(&Value::Bool(true))
                    && ["name", "real_name", "display_name"]
                        .iter()
                        .any(|k| field(k).as_deref() == Some(wanted.as_str()))
            });
            if let Some(u) = hit {
                return Ok(json!({ "user": user_output(u) }));
            }
            cursor = page
                .pointer("/response_metadata/next_cursor")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if cursor.is_empty() {
                break;
            }
        }
        Err(ConnectorError::permanent(
            "not_found",
            format!("Slack has no user named {name:?}"),
        ))
    }
}

#[async_trait]
impl Connector for SlackClient {
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
        let span = call_span("slack", operation, ctx);
        async {
            let input = Input::new("slack", operation, &input)?;
            let result = match operation {
                "message.send" => self.message_send(&input, ctx).await,
                "dm.send" => self.dm_send(&input, ctx).await,
                "user.find" => self.user_find(&input, ctx).await,
                other => Err(not_supported_live("slack", other)),
            };
            log_outcome(&result);
            result
        }
        .instrument(span)
        .await
    }
}

/// A Slack user id given directly (`user_id` unless it is an email, a
/// `U…`/`W…` string in `user`, or the `id` of a `user` / `slack_user`
/// object).
fn recipient_id(input: &Input<'_>) -> Option<String> {
    if let Some(id) = input.text(&["user_id", "slack_user_id"]) {
        if !id.contains('@') {
            return Some(id);
        }
    }
    if let Some(u) = input.text(&["user"]) {
        if looks_like_user_id(&u) {
            return Some(u);
        }
    }
    input
        .id(&[], &["user", "slack_user"])
        .filter(|id| looks_like_user_id(id))
}

fn looks_like_user_id(s: &str) -> bool {
    (s.starts_with('U') || s.starts_with('W'))
        && s.len() >= 3
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn looks_like_channel_id(s: &str) -> bool {
    (s.starts_with('C') || s.starts_with('G') || s.starts_with('D'))
        && s.len() >= 9
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The recipient's email: `email`, an email in `user_id` / `user` / `to`,
/// or the `email` of an `owner` / `user` / `contact` object.
fn recipient_email(input: &Input<'_>) -> Option<String> {
    for key in ["email", "user_email", "user_id", "to", "user"] {
        if let Some(e) = input.text(&[key]) {
            if e.contains('@') {
                return Some(e);
            }
        }
    }
    let obj = input.object()?;
    ["owner", "user", "contact", "assignee", "recipient"]
        .iter()
        .filter_map(|k| obj.get(*k))
        .filter_map(Value::as_object)
        .find_map(|o| {
            o.get("email")
                .and_then(Value::as_str)
                .filter(|e| e.contains('@'))
                .map(str::to_string)
        })
}

/// The text Slack stored, else the text sent.
fn posted_text(answer: &Value, text: &Option<String>) -> Value {
    answer
        .pointer("/message/text")
        .cloned()
        .filter(|t| !t.is_null())
        .or_else(|| text.clone().map(Value::String))
        .unwrap_or(Value::Null)
}

/// A Slack user in the catalog's shape: `id`, `name`, `real_name`,
/// `email`, `is_bot`, `tz` (plus `display_name`).
fn user_output(user: &Map<String, Value>) -> Value {
    let profile = user.get("profile").and_then(Value::as_object);
    let field = |k: &str| user.get(k).cloned().unwrap_or(Value::Null);
    let from_profile = |k: &str| {
        profile
            .and_then(|p| p.get(k))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let real_name = match field("real_name") {
        Value::Null => from_profile("real_name"),
        v => v,
    };
    json!({
        "id": field("id"),
        "name": field("name"),
        "real_name": real_name,
        "display_name": from_profile("display_name"),
        "email": from_profile("email"),
        "is_bot": user.get("is_bot").cloned().unwrap_or(Value::Bool(false)),
        "tz": field("tz"),
    })
}

/// Classifies a Slack `error` code.
fn slack_error(
    method: &str,
    code: &str,
    retry_after: Option<std::time::Duration>,
) -> ConnectorError {
    let message = format!("Slack {method} failed: {code}");
    match code {
        "invalid_auth"
        | "not_authed"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "no_permission"
        | "missing_scope"
        | "not_allowed_token_type"
        | "ekm_access_denied"
        | "org_login_required"
        | "access_denied" => ConnectorError::permanent("unauthorized", message),
        "ratelimited" | "rate_limited" => {
            ConnectorError::retryable("rate_limited", message).with_retry_after(retry_after)
        }
        "channel_not_found" | "users_not_found" | "user_not_found" | "not_found" => {
            ConnectorError::permanent("not_found", message)
        }
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            ConnectorError::retryable("service_unavailable", message).with_retry_after(retry_after)
        }
        "invalid_arguments"
        | "invalid_arg_name"
        | "invalid_array_arg"
        | "no_text"
        | "msg_too_long"
        | "invalid_blocks"
        | "invalid_blocks_format"
        | "too_many_attachments"
        | "invalid_email"
        | "invalid_json"
        | "json_not_object"
        | "invalid_form_data" => ConnectorError::invalid_input(message),
        _ => ConnectorError::permanent("request_rejected", message),
    }
}
