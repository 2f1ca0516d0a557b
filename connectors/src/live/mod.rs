//! Live HTTP clients for Slack, HubSpot, QuickBooks Online and generic HTTP.
//!
//! Each client implements [`Connector`] with the same manifest as the
//! catalog's (`nexwatt_connectors::catalog()`), speaks the service's public
//! API over reqwest with rustls, and classifies every failure the same way:
//!
//! | answer | error |
//! |---|---|
//! | 429 (or Slack `ratelimited`) | retryable `rate_limited`, carrying `Retry-After` (delta-seconds or HTTP-date) |
//! | 401 / 403 (or Slack `invalid_auth`, QBO `AuthenticationFault`) | permanent `unauthorized` |
//! | 5xx, 408, connection failure | retryable (`service_unavailable`, `timeout`, `connection_failed`) |
//! | no answer by the step's deadline | retryable `timeout` |
//! | 404 / Slack `channel_not_found` / no search match | permanent `not_found` |
//! | other 4xx | permanent (`invalid_input`, `conflict`, `request_rejected`) |
//! | a catalog operation with no API mapping, or a trigger | permanent `not_supported_live` |
//! | a write from a test-mode run | permanent `live_write_in_test` |
//!
//! Credentials are [`Secret`]s: clients and configs implement `Debug` by
//! hand or through `Secret`, and error messages and logs never carry a
//! token, an `Authorization` header or a request's query string.
//!
//! ## Configuration
//!
//! [`LiveConfig`] deserializes from a config file, or
//! [`LiveConfig::from_env`] reads these variables ([`ENV_VARS`]):
//!
//! | variable | meaning |
//! |---|---|
//! | `NEXWATT_SLACK_TOKEN` | Slack bot token; enables the Slack client |
//! | `NEXWATT_SLACK_BASE_URL` | default `https://slack.com/api` |
//! | `NEXWATT_HUBSPOT_TOKEN` | HubSpot private-app token; enables the HubSpot client |
//! | `NEXWATT_HUBSPOT_BASE_URL` | default `https://api.hubapi.com` |
//! | `NEXWATT_QBO_TOKEN` | QuickBooks Online OAuth 2.0 access token; enables the QuickBooks client |
//! | `NEXWATT_QBO_REALM_ID` | the company's realm id (required with the token) |
//! | `NEXWATT_QBO_BASE_URL` | default `https://quickbooks.api.intuit.com` |
//! | `NEXWATT_QBO_MINOR_VERSION` | default `75` |
//! | `NEXWATT_HTTP_ALLOW` | hosts the `http` connector may call, comma-separated (`*`, `api.example.com`, `*.example.com`, `host:8080`); unset: any public host (localhost, private IP literals and names that resolve only to local or private addresses are refused) |
//! | `NEXWATT_HTTP_MAX_RESPONSE_BYTES` | default 10 MiB |
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nexwatt_connectors::live::{live_clients, LiveConfig};
//! let config = LiveConfig::from_env()?;
//! for client in live_clients(&config) {
//!     println!("live client for {}", client.manifest().id);
//! }
//! # Ok(()) }
//! ```
//!
//! ## Idempotency
//!
//! QuickBooks writes send `ctx.idempotency_key` as the `requestid` query
//! parameter (QBO applies a repeated request id once). `http.request.post`
//! sends it as the `Idempotency-Key` header. Slack and HubSpot's single
//! object endpoints have no idempotency mechanism; their writes are not
//! idempotent.

mod config;
mod http;
mod hubspot;
mod input;
mod quickbooks;
mod slack;
mod transport;

use std::sync::Arc;

use nexwatt_engine::connector::{Connector, ConnectorManifest};

pub use config::{
    ConfigError, HostPattern, HttpConfig, HubSpotConfig, LiveConfig, QuickBooksConfig, Secret,
    SlackConfig, ENV_VARS, HTTP_DEFAULT_MAX_RESPONSE_BYTES, HUBSPOT_DEFAULT_BASE_URL,
    QBO_DEFAULT_BASE_URL, QBO_DEFAULT_MINOR_VERSION, SLACK_DEFAULT_BASE_URL,
};
pub use http::HttpClient;
pub use hubspot::HubSpotClient;
pub use quickbooks::QuickBooksClient;
pub use slack::SlackClient;
pub use transport::parse_retry_after;

/// Why a live client cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The built-in catalog does not load or lacks the connector.
    #[error("catalog: {0}")]
    Catalog(String),
    /// The HTTP client (TLS) cannot be set up.
    #[error("http_client: {service}: {message}")]
    HttpClient {
        /// The service.
        service: &'static str,
        /// What failed.
        message: String,
    },
}

impl LiveError {
    /// The stable code: the config error's code, `catalog` or
    /// `http_client`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(c) => c.code(),
            Self::Catalog(_) => "catalog",
            Self::HttpClient { .. } => "http_client",
        }
    }
}

/// The catalog's manifest of `id`, cloned.
pub(crate) fn catalog_manifest(id: &str) -> Result<ConnectorManifest, LiveError> {
    let catalog = crate::catalog().map_err(|e| LiveError::Catalog(e.to_string()))?;
    catalog
        .connector(id)
        .cloned()
        .ok_or_else(|| LiveError::Catalog(format!("the catalog has no connector {id:?}")))
}

/// Builds a live client for every configured connector (`http` always),
/// or the first error.
pub fn try_live_clients(config: &LiveConfig) -> Result<Vec<Arc<dyn Connector>>, LiveError> {
    config.validate()?;
    let mut clients: Vec<Arc<dyn Connector>> = Vec::new();
    if let Some(c) = &config.quickbooks {
        clients.push(Arc::new(QuickBooksClient::new(c)?));
    }
    if let Some(c) = &config.hubspot {
        clients.push(Arc::new(HubSpotClient::new(c)?));
    }
    if let Some(c) = &config.slack {
        clients.push(Arc::new(SlackClient::new(c)?));
    }
    clients.push(Arc::new(HttpClient::new(&config.http)?));
    Ok(clients)
}

/// A live client for every connector that is configured (`http` is always
/// available), in catalog order. A client that cannot be built is logged
/// (with its error code, never a secret) and left out, so its connector has
/// no live client and live runs of it fail with `no_live_client`; use
/// [`try_live_clients`] to fail instead.
pub fn live_clients(config: &LiveConfig) -> Vec<Arc<dyn Connector>> {
    let mut clients: Vec<Arc<dyn Connector>> = Vec::new();
    let mut push = |result: Result<Arc<dyn Connector>, LiveError>, id: &str| match result {
        Ok(c) => clients.push(c),
        Err(e) => {
            tracing::error!(connector = id, code = e.code(), error = %e, "live client not built")
        }
    };
    if let Some(c) = &config.quickbooks {
        push(
            QuickBooksClient::new(c).map(|c| Arc::new(c) as Arc<dyn Connector>),
            "quickbooks",
        );
    }
    if let Some(c) = &config.hubspot {
        push(
            HubSpotClient::new(c).map(|c| Arc::new(c) as Arc<dyn Connector>),
            "hubspot",
        );
    }
    if let Some(c) = &config.slack {
        push(
            SlackClient::new(c).map(|c| Arc::new(c) as Arc<dyn Connector>),
            "slack",
        );
    }
    push(
        HttpClient::new(&config.http).map(|c| Arc::new(c) as Arc<dyn Connector>),
        "http",
    );
    clients
}
