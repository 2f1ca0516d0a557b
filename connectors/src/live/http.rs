//! The generic `http` live client: GET and POST any allowed URL with
//! headers and a JSON body.
//!
//! Input: `url` (required), `headers` (object of name → value), `query`
//! (object of name → value or list of values, appended to the URL); for
//! `request.post`, the
//! JSON body is `body` (or `json` / `data`), else every other input field.
//! `request.post` sends the step's idempotency key as `Idempotency-Key`
//! unless the input's headers set one.
//!
//! Output: `{"status": 200, "headers": {...}, "body": ...}`, the body parsed
//! as JSON when it is JSON, else as a string (`Set-Cookie` is not copied).
//!
//! Hosts are checked against [`HttpConfig`]'s allow-list before the
//! request and at every redirect.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use nexwatt_engine::connector::{Connector, ConnectorError, ConnectorManifest, ExecutionContext};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::config::{is_internal_ip, HttpConfig};
use super::input::{scalar_text, Input};
use super::transport::{
    call_span, check_operation, log_outcome, not_supported_live, status_error, BlockedAddress,
    Transport,
};
use super::{catalog_manifest, LiveError};

const SERVICE: &str = "the HTTP endpoint";
const MAX_REDIRECTS: usize = 5;
/// Headers the caller may not set: the client owns them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
];
/// Input fields that are not part of a POST body.
const REQUEST_FIELDS: &[&str] = &["url", "headers", "query", "method"];

/// The live generic HTTP client.
pub struct HttpClient {
    manifest: ConnectorManifest,
    config: HttpConfig,
    transport: Transport,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("allow", &self.config.allow)
            .field("max_response_bytes", &self.config.max_response_bytes)
            .finish()
    }
}

impl HttpClient {
    /// A client for `config`, with the catalog's `http` manifest.
    pub fn new(config: &HttpConfig) -> Result<Self, LiveError> {
        let policy_config = config.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            let url = attempt.url();
            let allowed = match (url.host_str(), url.port_or_known_default()) {
                (Some(host), Some(port)) => {
                    matches!(url.scheme(), "http" | "https") && policy_config.allows(host, port)
                }
                _ => false,
            };
            if allowed {
                attempt.follow()
            } else {
                let host = url.host_str().unwrap_or("?").to_string();
                attempt.error(format!("redirect to {host}, which is not an allowed host"))
            }
        });
        let public_only = config.allow.is_none();
        let transport = Transport::with_builder(
            SERVICE,
            None,
            policy,
            config.max_response_bytes,
            |builder| {
                if public_only {
                    builder.dns_resolver(Arc::new(PublicOnlyResolver))
                } else {
                    builder
                }
            },
        )?;
        Ok(Self {
            manifest: catalog_manifest("http")?,
            config: config.clone(),
            transport,
        })
    }

    async fn request(
        &self,
        method: Method,
        input: &Input<'_>,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let raw_url = input.require_text(&["url"])?;
        let mut url = Url::parse(&raw_url)
            .map_err(|e| input.invalid(format!("`url` is not an absolute URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(input.invalid(format!("scheme {:?} is not http or https", url.scheme())));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(input.invalid("`url` must not carry credentials; pass them in `headers`"));
        }
        let (host, port) = match (url.host_str(), url.port_or_known_default()) {
            (Some(h), Some(p)) => (h.to_string(), p),
            _ => return Err(input.invalid("`url` has no host")),
        };
        if !self.config.allows(&host, port) {
            return Err(ConnectorError::rule_violation(
                "host_not_allowed",
                format!(
                    "http.{}: {host}:{port} is not an allowed host (see NEXWATT_HTTP_ALLOW)",
                    if method == Method::GET {
                        "request.get"
                    } else {
                        "request.post"
                    }
                ),
            ));
        }
        if let Some(query) = input.map(&["query"])? {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                match v {
                    // `{"tag": ["a", "b"]}` → `tag=a&tag=b`
                    Value::Array(items) => {
                        for item in items {
                            pairs.append_pair(k, &scalar_text(item).unwrap_or_default());
                        }
                    }
                    Value::Null => {}
                    v => {
                        pairs.append_pair(k, &scalar_text(v).unwrap_or_default());
                    }
                }
            }
        }
        // Secrets the caller may have put in the URL or headers never reach
        // an error message.
        let mut secrets: Vec<String> = url
            .query_pairs()
            .map(|(_, v)| v.into_owned())
            .filter(|v| v.len() >= 4)
            .collect();
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(map) = input.map(&["headers"])? {
            for (name, value) in map {
                let lower = name.to_ascii_lowercase();
                if RESERVED_HEADERS.contains(&lower.as_str()) {
                    return Err(input.invalid(format!("header {name:?} is set by the client")));
                }
                let text = match value {
                    Value::Null => continue,
                    v => scalar_text(v).unwrap_or_default(),
                };
                let header_name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| input.invalid(format!("{name:?} is not a header name")))?;
                let mut header_value = HeaderValue::from_str(&text)
                    .map_err(|_| input.invalid(format!("header {name:?} has an invalid value")))?;
                header_value.set_sensitive(true);
                secrets.push(text);
                headers.append(header_name, header_value);
            }
        }
        if method == Method::POST && !headers.contains_key("idempotency-key") {
            if let Ok(v) = HeaderValue::from_str(&ctx.idempotency_key) {
                headers.insert("idempotency-key", v);
            }
        }
        tracing::debug!(method = %method, host = %host, path = url.path(), "calling HTTP endpoint");
        let mut request = self
            .transport
            .client
            .request(method.clone(), url)
            .headers(headers);
        if method == Method::POST {
            request = request.json(&post_body(input));
        }
        let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let response = self.transport.send(request, ctx, &secret_refs).await?;
        let body_text = String::from_utf8_lossy(&response.body).into_owned();
        if !response.status.is_success() {
            let detail = self.transport.redact(&body_text, &secret_refs);
            return Err(status_error(
                &host,
                response.status,
                response.retry_after(),
                Some(&detail),
            ));
        }
        // JSON when the body is JSON and not declared as something else.
        let declared_other = response
            .media_type()
            .is_some_and(|m| !(m == "application/json" || m.ends_with("+json")));
        let body = match response.json() {
            Some(v) if !declared_other => v,
            _ => Value::String(body_text),
        };
        let mut out_headers = Map::new();
        for (name, value) in &response.headers {
            if name == reqwest::header::SET_COOKIE {
                continue;
            }
            if let Ok(v) = value.to_str() {
                out_headers.insert(name.as_str().to_string(), Value::String(v.to_string()));
            }
        }
        Ok(json!({
            "status": response.status.as_u16(),
            "headers": out_headers,
            "body": body,
        }))
    }
}

/// The DNS resolver of the default policy: the system's answer without
/// local and private addresses, so a public-looking name cannot lead the
/// connector into the host's own network.
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let answer: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public = public_addresses(&host, answer)?;
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The public addresses of a DNS answer for `host`, or [`BlockedAddress`]
/// when it has none.
fn public_addresses(
    host: &str,
    answer: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, BlockedAddress> {
    let public: Vec<SocketAddr> = answer
        .into_iter()
        .filter(|a| !is_internal_ip(a.ip()))
        .collect();
    if public.is_empty() {
        return Err(BlockedAddress(host.to_string()));
    }
    Ok(public)
}

/// The JSON body of a POST: `body` / `json` / `data`, else the input
/// without the request fields.
fn post_body(input: &Input<'_>) -> Value {
    if let Some(b) = input.get(&["body", "json", "data"]) {
        return b.clone();
    }
    let rest: Map<String, Value> = input
        .object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !REQUEST_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    Value::Object(rest)
}

#[async_trait]
impl Connector for HttpClient {
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
        let span = call_span("http", operation, ctx);
        async {
            let input = Input::new("http", operation, &input)?;
            let result = match operation {
                "request.get" => self.request(Method::GET, &input, ctx).await,
                "request.post" => self.request(Method::POST, &input, ctx).await,
                other => Err(not_supported_live("http", other)),
            };
            log_outcome(&result);
            result
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn private_answers_are_dropped_and_all_private_is_refused() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let mixed = vec![a("10.0.0.5:0"), a("93.184.216.34:0"), a("[::1]:0")];
        assert_eq!(
            public_addresses("x.example", mixed).unwrap(),
            vec![a("93.184.216.34:0")]
        );
        for private in [
            "127.0.0.1:0",
            "192.168.1.9:0",
            "169.254.169.254:0",
            "[fd00::1]:0",
            "[::ffff:10.1.1.1]:0",
            "100.64.0.1:0",
        ] {
            let e = public_addresses("internal.example", vec![a(private)]).unwrap_err();
            assert!(e.to_string().contains("internal.example"), "{e}");
        }
        assert!(public_addresses("none.example", vec![]).is_err());
    }
}
