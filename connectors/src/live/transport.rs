//! What every live client shares: the HTTP client, deadlines, error
//! classification, `Retry-After` parsing and secret redaction.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use nexwatt_engine::connector::{ConnectorError, ConnectorManifest, ExecutionContext};
use nexwatt_engine::model::{Effect, OperationKind, RunMode};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;

use super::config::Secret;
use super::LiveError;

/// Longest service-provided detail kept in an error message.
const MAX_DETAIL_CHARS: usize = 300;
/// How long connecting may take at most (the step deadline may cut it
/// shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body the service clients read (Slack, HubSpot, QBO).
pub(crate) const SERVICE_MAX_BODY: usize = 16 * 1024 * 1024;

/// The `User-Agent` every live client sends.
pub(crate) const USER_AGENT: &str = concat!("nexwatt/", env!("CARGO_PKG_VERSION"));

/// Parses an HTTP `Retry-After` value: delta-seconds (`120`, also a
/// fractional `1.5`) or an HTTP-date (IMF-fixdate `Sun, 06 Nov 1994
/// 08:49:37 GMT`, and the obsolete RFC 850 and asctime forms), relative to
/// `now`. A date in the past gives zero; an unreadable value gives `None`.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use nexwatt_connectors::live::parse_retry_after;
/// let now = Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap();
/// assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
/// assert_eq!(
///     parse_retry_after("Mon, 05 Jan 2026 12:00:30 GMT", now),
///     Some(Duration::from_secs(30))
/// );
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurd values instead of failing.
        return Some(Duration::from_secs(
            v.parse::<u64>().unwrap_or(u64::MAX / 4),
        ));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && (0.0..1e12).contains(&secs) {
            return Some(Duration::from_secs_f64(secs));
        }
        return None;
    }
    let date = DateTime::parse_from_rfc2822(v)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
            NaiveDateTime::parse_from_str(v, "%A, %d-%b-%y %H:%M:%S GMT")
                .ok()
                .map(|n| n.and_utc())
        })
        .or_else(|| {
            // asctime: Sun Nov  6 08:49:37 1994
            let squeezed = v.split_whitespace().collect::<Vec<_>>().join(" ");
            NaiveDateTime::parse_from_str(&squeezed, "%a %b %e %H:%M:%S %Y")
                .ok()
                .map(|n| n.and_utc())
        })?;
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

/// The `Retry-After` of a response, if it has a readable one.
pub(crate) fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()))
}

/// A response read in full.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The delay the service asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after_of(&self.headers)
    }

    /// The media type, lower case, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// One service's HTTP client with its credential.
pub(crate) struct Transport {
    /// The service's display name, used in messages.
    pub service: &'static str,
    pub client: reqwest::Client,
    token: Option<Secret>,
    max_body: usize,
}

impl Transport {
    /// A transport for `service`. Service APIs never redirect, so
    /// `redirect` is `Policy::none()` for them.
    pub fn new(
        service: &'static str,
        token: Option<Secret>,
        redirect: reqwest::redirect::Policy,
        max_body: usize,
    ) -> Result<Self, LiveError> {
        Self::with_builder(service, token, redirect, max_body, |b| b)
    }

    /// Like [`new`](Self::new), with a last say on the client builder (a
    /// DNS resolver).
    pub fn with_builder(
        service: &'static str,
        token: Option<Secret>,
        redirect: reqwest::redirect::Policy,
        max_body: usize,
        customize: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Result<Self, LiveError> {
        let builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(redirect)
            .user_agent(USER_AGENT);
        let client = customize(builder)
            .build()
            .map_err(|e| LiveError::HttpClient {
                service,
                message: e.without_url().to_string(),
            })?;
        Ok(Self {
            service,
            client,
            token,
            max_body,
        })
    }

    /// Adds the bearer credential to a request (marked sensitive, so
    /// reqwest's own Debug output hides it too).
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => request.bearer_auth(t.expose()),
            None => request,
        }
    }

    /// Removes the credential (and `extra` secrets) from `text`.
    pub fn redact(&self, text: &str, extra: &[&str]) -> String {
        let mut out = text.to_string();
        let token = self.token.as_ref().map(Secret::expose);
        for secret in token.into_iter().chain(extra.iter().copied()) {
            if secret.len() >= 4 && out.contains(secret) {
                out = out.replace(secret, "[redacted]");
            }
        }
        out
    }

    /// Sends `request` and reads the whole response, giving up at
    /// `ctx.deadline`. `extra_secrets` are removed from any error message.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        ctx: &ExecutionContext,
        extra_secrets: &[&str],
    ) -> Result<RawResponse, ConnectorError> {
        let remaining = ctx.remaining();
        if remaining.is_zero() {
            return Err(self.deadline_error());
        }
        let request = request.timeout(remaining);
        let exchange = async {
            let mut response = request
                .send()
                .await
                .map_err(|e| self.transport_error(e, extra_secrets))?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| self.transport_error(e, extra_secrets))?
            {
                if body.len().saturating_add(chunk.len()) > self.max_body {
                    return Err(ConnectorError::permanent(
                        "response_too_large",
                        format!(
                            "{} sent a response larger than {} bytes",
                            self.service, self.max_body
                        ),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(RawResponse {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout_at(ctx.deadline, exchange).await {
            Ok(result) => {
                if let Ok(r) = &result {
                    tracing::debug!(
                        service = self.service,
                        status = r.status.as_u16(),
                        bytes = r.body.len(),
                        "response"
                    );
                }
                result
            }
            Err(_) => Err(self.deadline_error()),
        }
    }

    /// The error for a call that ran out of time.
    pub fn deadline_error(&self) -> ConnectorError {
        ConnectorError::retryable(
            "timeout",
            format!("{} did not answer before the step's deadline", self.service),
        )
    }

    /// Classifies a reqwest failure; the message never carries the URL or a
    /// secret.
    pub fn transport_error(&self, e: reqwest::Error, extra: &[&str]) -> ConnectorError {
        if e.is_timeout() {
            return self.deadline_error();
        }
        let mut detail = String::new();
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = source {
            let text = s.to_string();
            if !detail.contains(&text) {
                if !detail.is_empty() {
                    detail.push_str(": ");
                }
                detail.push_str(&text);
            }
            source = s.source();
        }
        let detail = self.redact(&truncate(&detail), extra);
        let service = self.service;
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = source {
            if let Some(blocked) = s.downcast_ref::<BlockedAddress>() {
                return ConnectorError::rule_violation(
                    "host_not_allowed",
                    format!("{blocked} (see NEXWATT_HTTP_ALLOW)"),
                );
            }
            source = s.source();
        }
        if e.is_redirect() {
            return ConnectorError::permanent(
                "redirect_refused",
                format!("{service} redirected the request where it may not go: {detail}"),
            );
        }
        if e.is_builder() {
            return ConnectorError::invalid_input(format!(
                "the request to {service} cannot be built: {detail}"
            ));
        }
        if e.is_connect() {
            return ConnectorError::retryable(
                "connection_failed",
                format!("could not connect to {service}: {detail}"),
            );
        }
        ConnectorError::retryable(
            "connection_failed",
            format!("the exchange with {service} failed: {detail}"),
        )
    }
}

/// A DNS answer the `http` connector's default policy refuses: the name
/// resolves only to loopback or private addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockedAddress(pub String);

impl std::fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves only to local or private addresses, which the http connector does not call by default",
            self.0
        )
    }
}

impl std::error::Error for BlockedAddress {}

/// The uniform classification of an HTTP error status: 429 → retryable
/// `rate_limited` with the delay; 401/403 → permanent `unauthorized`;
/// 408 and 5xx → retryable; 404 → `not_found`, 409 → `conflict`, 400/422 →
/// `invalid_input`, other 4xx → `request_rejected`, all permanent.
pub(crate) fn status_error(
    service: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    detail: Option<&str>,
) -> ConnectorError {
    let detail = detail
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| format!(": {}", truncate(d)))
        .unwrap_or_default();
    let code = status.as_u16();
    match code {
        429 => {
            let wait = match retry_after {
                Some(d) => format!("; retry after {} ms", d.as_millis()),
                None => String::new(),
            };
            ConnectorError::retryable(
                "rate_limited",
                format!("{service} rate-limited the call (HTTP 429){wait}{detail}"),
            )
            .with_retry_after(retry_after)
        }
        401 | 403 => ConnectorError::permanent(
            "unauthorized",
            format!("{service} refused the credentials (HTTP {code}){detail}"),
        ),
        408 => ConnectorError::retryable(
            "timeout",
            format!("{service} timed out the request (HTTP 408){detail}"),
        )
        .with_retry_after(retry_after),
        404 => ConnectorError::permanent(
            "not_found",
            format!("{service} has no such record (HTTP 404){detail}"),
        ),
        409 => ConnectorError::permanent(
            "conflict",
            format!("{service} reported a conflict (HTTP 409){detail}"),
        ),
        400 | 422 => ConnectorError::invalid_input(format!(
            "{service} rejected the request (HTTP {code}){detail}"
        )),
        500..=599 => ConnectorError::retryable(
            "service_unavailable",
            format!("{service} failed (HTTP {code}){detail}"),
        )
        .with_retry_after(retry_after),
        _ => ConnectorError::permanent(
            "request_rejected",
            format!("{service} rejected the request (HTTP {code}){detail}"),
        ),
    }
}

/// The error for a 2xx response whose body is not what the API promises.
pub(crate) fn invalid_response(service: &str, what: &str) -> ConnectorError {
    ConnectorError::permanent(
        "invalid_response",
        format!("{service} sent an unexpected response: {what}"),
    )
}

/// Shortens a service-provided detail for an error message.
pub(crate) fn truncate(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_DETAIL_CHARS {
        return text.to_string();
    }
    let mut s: String = text.chars().take(MAX_DETAIL_CHARS).collect();
    s.push('…');
    s
}

/// Checks an operation before it runs: it exists, it is not a trigger,
/// and a write is not sent to a live system from a test run (the registry
/// already routes those to the sandbox; this is a second guard).
pub(crate) fn check_operation(
    manifest: &ConnectorManifest,
    operation: &str,
    ctx: &ExecutionContext,
) -> Result<(), ConnectorError> {
    let op = manifest
        .operation(operation)
        .ok_or_else(|| ConnectorError::unknown_operation(&manifest.id, operation))?;
    if op.kind == OperationKind::Trigger {
        return Err(ConnectorError::permanent(
            "not_supported_live",
            format!(
                "{}.{} is a trigger: the live client does not run triggers (they start runs from webhooks or schedules)",
                manifest.id, operation
            ),
        ));
    }
    if ctx.mode == RunMode::Test && op.effect == Effect::Write {
        return Err(ConnectorError::permanent(
            "live_write_in_test",
            format!(
                "{}.{} writes to a live system and the run is in test mode; test runs write only to sandboxes",
                manifest.id, operation
            ),
        ));
    }
    Ok(())
}

/// The error for a catalog operation the live client has no API mapping
/// for.
pub(crate) fn not_supported_live(connector: &str, operation: &str) -> ConnectorError {
    ConnectorError::permanent(
        "not_supported_live",
        format!(
            "{connector}.{operation} has no live API mapping in this client; it runs only against the sandbox"
        ),
    )
}

/// The span a live call runs in, a child of the step's span.
pub(crate) fn call_span(connector: &str, operation: &str, ctx: &ExecutionContext) -> tracing::Span {
    tracing::info_span!(
        parent: &ctx.span,
        "live_call",
        connector = connector,
        operation = operation,
        step = ctx.step,
        idempotency_key = %ctx.idempotency_key,
    )
}

/// Logs a failed call (code and message, which never hold secrets).
pub(crate) fn log_outcome(result: &Result<Value, ConnectorError>) {
    match result {
        Ok(_) => tracing::debug!("live call succeeded"),
        Err(e) => {
            tracing::warn!(code = e.code(), retryable = e.is_retryable(), error = %e, "live call failed")
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn retry_after_forms() {
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(parse_retry_after("120", now()), secs(120));
        assert_eq!(parse_retry_after(" 0 ", now()), secs(0));
        assert_eq!(
            parse_retry_after("1.5", now()),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now()),
            secs(37)
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now()),
            secs(37)
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", now()),
            secs(37)
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now()),
            secs(0)
        );
        for bad in ["", "-5", "soon", "NaN", "inf", "1e400", "Sun, 99 Nov 1994"] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad:?}");
        }
        assert!(parse_retry_after("99999999999999999999999", now()).is_some());
    }

    #[test]
    fn statuses_are_classified_uniformly() {
        use nexwatt_engine::connector::ConnectorErrorKind::{Permanent, Retryable};
        let wait = Some(Duration::from_secs(4));
        let cases = [
            (429, Retryable, "rate_limited"),
            (401, Permanent, "unauthorized"),
            (403, Permanent, "unauthorized"),
            (404, Permanent, "not_found"),
            (409, Permanent, "conflict"),
            (400, Permanent, "invalid_input"),
            (422, Permanent, "invalid_input"),
            (410, Permanent, "request_rejected"),
            (408, Retryable, "timeout"),
            (500, Retryable, "service_unavailable"),
            (503, Retryable, "service_unavailable"),
        ];
        for (status, kind, code) in cases {
            let status = StatusCode::from_u16(status).unwrap_or_default();
            let e = status_error("Svc", status, wait, Some("detail"));
            assert_eq!((e.kind(), e.code()), (kind, code), "{status}");
            assert!(e.message().contains("detail"));
        }
        let e = status_error("Svc", StatusCode::TOO_MANY_REQUESTS, wait, None);
        assert_eq!(e.retry_after(), wait);
    }

    #[test]
    fn details_are_truncated() {
        let long = "x".repeat(1000);
        assert!(truncate(&long).chars().count() <= MAX_DETAIL_CHARS + 1);
        assert_eq!(truncate(" short "), "short");
    }
}
