//! Configuration of the live clients: base URLs, credentials and the
//! generic HTTP connector's host allow-list.
//!
//! Secrets are held in [`Secret`], whose `Debug` output is redacted and
//! which has no `Display` or `Serialize`, so a token cannot end up in a log
//! line, an error message or a serialized config by accident.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use reqwest::Url;
use serde::Deserialize;

/// Default base URL of the Slack Web API.
pub const SLACK_DEFAULT_BASE_URL: &str = "https://slack.com/api";
/// Default base URL of the HubSpot API.
pub const HUBSPOT_DEFAULT_BASE_URL: &str = "https://api.hubapi.com";
/// Default base URL of the QuickBooks Online accounting API (production;
/// the Intuit sandbox is `https://sandbox-quickbooks.api.intuit.com`).
pub const QBO_DEFAULT_BASE_URL: &str = "https://quickbooks.api.intuit.com";
/// Default QuickBooks Online `minorversion`.
pub const QBO_DEFAULT_MINOR_VERSION: u32 = 75;
/// Default cap on a response body the generic HTTP connector reads (10 MiB).
pub const HTTP_DEFAULT_MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

/// A credential. `Debug` prints `Secret([redacted])`; there is no
/// `Display` or `Serialize`. Read it with [`Secret::expose`] only where it
/// is put on the wire.
///
/// ```
/// use nexwatt_connectors::live::Secret;
/// let s = Secret::new("xoxb-very-secret");
/// assert_eq!(format!("{s:?}"), "Secret([redacted])");
/// assert_eq!(s.expose(), "xoxb-very-secret");
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself, for the request that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty (an unset credential).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting that another one needs is missing (a QuickBooks token
    /// without a realm id).
    #[error("missing_setting: {setting} is required when {because}")]
    Missing {
        /// The missing setting (an environment variable or field name).
        setting: String,
        /// Which other setting needs it.
        because: String,
    },
    /// A setting has a value that cannot be used (never echoes a secret).
    #[error("invalid_setting: {setting}: {message}")]
    Invalid {
        /// The setting.
        setting: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// The stable code: `missing_setting` or `invalid_setting`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "missing_setting",
            Self::Invalid { .. } => "invalid_setting",
        }
    }
}

fn default_slack_base() -> String {
    SLACK_DEFAULT_BASE_URL.to_string()
}
fn default_hubspot_base() -> String {
    HUBSPOT_DEFAULT_BASE_URL.to_string()
}
fn default_qbo_base() -> String {
    QBO_DEFAULT_BASE_URL.to_string()
}
fn default_minor_version() -> u32 {
    QBO_DEFAULT_MINOR_VERSION
}
fn default_max_response_bytes() -> usize {
    HTTP_DEFAULT_MAX_RESPONSE_BYTES
}

/// Slack Web API settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// A bot token (`xoxb-…`) with `chat:write`, `im:write` and
    /// `users:read.email` scopes.
    pub token: Secret,
    /// Base URL of the Web API, default [`SLACK_DEFAULT_BASE_URL`]; method
    /// names are appended (`{base_url}/chat.postMessage`).
    #[serde(default = "default_slack_base")]
    pub base_url: String,
}

impl SlackConfig {
    /// Settings with the default base URL.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: Secret::new(token),
            base_url: default_slack_base(),
        }
    }

    /// Replaces the base URL (a fake server in tests, a proxy).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }
}

/// HubSpot CRM v3 settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
    /// A private-app access token (sent as a bearer token).
    pub token: Secret,
    /// Base URL, default [`HUBSPOT_DEFAULT_BASE_URL`]; paths such as
    /// `/crm/v3/objects/deals` are appended.
    #[serde(default = "default_hubspot_base")]
    pub base_url: String,
}

impl HubSpotConfig {
    /// Settings with the default base URL.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: Secret::new(token),
            base_url: default_hubspot_base(),
        }
    }

    /// Replaces the base URL.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }
}

/// QuickBooks Online accounting API settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickBooksConfig {
    /// An OAuth 2.0 access token (sent as a bearer token). Refreshing it is
    /// the host's job; a 401 surfaces as a permanent `unauthorized` error.
    pub token: Secret,
    /// The company's realm id.
    pub realm_id: String,
    /// Base URL, default [`QBO_DEFAULT_BASE_URL`]; `/v3/company/{realm_id}/…`
    /// is appended.
    #[serde(default = "default_qbo_base")]
    pub base_url: String,
    /// The `minorversion` query parameter, default
    /// [`QBO_DEFAULT_MINOR_VERSION`].
    #[serde(default = "default_minor_version")]
    pub minor_version: u32,
}

impl QuickBooksConfig {
    /// Settings with the default base URL and minor version.
    pub fn new(token: impl Into<String>, realm_id: impl Into<String>) -> Self {
        Self {
            token: Secret::new(token),
            realm_id: realm_id.into(),
            base_url: default_qbo_base(),
            minor_version: QBO_DEFAULT_MINOR_VERSION,
        }
    }

    /// Replaces the base URL.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }
}

/// A host the generic HTTP connector may call.
///
/// Forms: `*` (any host), `example.com` (that host), `*.example.com` (its
/// subdomains, not itself), each optionally with `:PORT` (then only that
/// port); IPv6 literals in brackets (`[::1]:8080`).
///
/// ```
/// use nexwatt_connectors::live::HostPattern;
/// let p: HostPattern = "*.example.com".parse().unwrap();
/// assert!(p.matches("api.example.com", 443));
/// assert!(!p.matches("example.com", 443));
/// let p: HostPattern = "127.0.0.1:8080".parse().unwrap();
/// assert!(p.matches("127.0.0.1", 8080));
/// assert!(!p.matches("127.0.0.1", 8081));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Exact(String),
    Subdomains(String),
}

impl HostPattern {
    /// Whether a request to `host:port` is allowed by this pattern.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        match &self.host {
            HostMatch::Any => true,
            HostMatch::Exact(h) => *h == host,
            HostMatch::Subdomains(d) => host
                .strip_suffix(d.as_str())
                .is_some_and(|rest| !rest.is_empty()),
        }
    }
}

impl FromStr for HostPattern {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |message: &str| ConfigError::Invalid {
            setting: "http.allow".to_string(),
            message: format!("{s:?}: {message}"),
        };
        let s_trim = s.trim();
        if s_trim.is_empty() {
            return Err(invalid("empty host pattern"));
        }
        let (host, port) = if let Some(rest) = s_trim.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| invalid("unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse::<u16>().map_err(|_| invalid("bad port"))?),
                None if after.is_empty() => None,
                None => return Err(invalid("unexpected text after ']'")),
            };
            (h.to_string(), port)
        } else {
            match s_trim.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (
                    h.to_string(),
                    Some(p.parse::<u16>().map_err(|_| invalid("bad port"))?),
                ),
                Some(_) => (s_trim.to_string(), None),
                None => (s_trim.to_string(), None),
            }
        };
        let host = host.to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        if host.contains('/') || host.contains('@') || host.chars().any(char::is_whitespace) {
            return Err(invalid("a host pattern is a host name, not a URL"));
        }
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err(invalid("bad wildcard"));
            }
            HostMatch::Subdomains(format!(".{domain}"))
        } else if host.contains('*') {
            return Err(invalid("'*' is allowed only as '*' or a leading '*.'"));
        } else if host.is_empty() {
            return Err(invalid("empty host"));
        } else {
            HostMatch::Exact(host.to_string())
        };
        Ok(Self { host, port })
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Generic HTTP connector settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Hosts it may call. `None` (the default): any public host; names
    /// `localhost` / `*.localhost`, loopback, private, link-local and
    /// unspecified IP literals are refused, and so is a name whose DNS
    /// answer holds only such addresses (private ones are dropped from any
    /// answer). `Some(list)`: exactly the hosts the list matches, wherever
    /// they resolve (`["*"]` allows every host, private ones included).
    /// Redirects are followed only to allowed hosts.
    #[serde(default)]
    pub allow: Option<Vec<HostPattern>>,
    /// The largest response body it reads; a longer one fails with a
    /// permanent `response_too_large` error.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            allow: None,
            max_response_bytes: HTTP_DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl HttpConfig {
    /// Settings that allow exactly `patterns`.
    pub fn allowing<I, S>(patterns: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let allow = patterns
            .into_iter()
            .map(|p| p.as_ref().parse())
            .collect::<Result<Vec<HostPattern>, _>>()?;
        Ok(Self {
            allow: Some(allow),
            ..Self::default()
        })
    }

    /// Whether a request to `host:port` is allowed.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        match &self.allow {
            Some(list) => list.iter().any(|p| p.matches(host, port)),
            None => !is_internal_host(host),
        }
    }
}

/// Whether `host` names this machine or a private network by itself (without
/// a DNS lookup).
fn is_internal_host(host: &str) -> bool {
    let h = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(is_internal_ip)
}

/// Whether `ip` is loopback, private, link-local, unspecified, broadcast,
/// carrier-grade NAT or unique-local (an address the default `http`
/// policy never calls).
pub(crate) fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT
                || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(ip) => {
            if let Some(v4) = ip.to_ipv4_mapped() {
                return is_internal_ip(IpAddr::V4(v4));
            }
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link local fe80::/10
        }
    }
}

/// Settings of every live client. Deserializable (e.g. from a TOML or JSON
/// config file) or read from the environment with [`LiveConfig::from_env`].
///
/// A connector whose section is absent has no live client; `http` always
/// has one.
///
/// ```
/// use nexwatt_connectors::live::LiveConfig;
/// let config: LiveConfig = serde_json::from_value(serde_json::json!({
///     "slack": { "token": "xoxb-1" },
///     "quickbooks": { "token": "t", "realm_id": "123" },
///     "http": { "allow": ["api.example.com", "*.internal.example.com"] }
/// })).unwrap();
/// assert!(config.slack.is_some() && config.hubspot.is_none());
/// assert!(!format!("{config:?}").contains("xoxb-1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// Slack, if configured.
    #[serde(default)]
    pub slack: Option<SlackConfig>,
    /// HubSpot, if configured.
    #[serde(default)]
    pub hubspot: Option<HubSpotConfig>,
    /// QuickBooks Online, if configured.
    #[serde(default)]
    pub quickbooks: Option<QuickBooksConfig>,
    /// The generic HTTP connector (always available).
    #[serde(default)]
    pub http: HttpConfig,
}

/// The environment variables [`LiveConfig::from_env`] reads, with what each
/// means (for `--help` texts and docs).
pub const ENV_VARS: &[(&str, &str)] = &[
    ("NEXWATT_SLACK_TOKEN", "Slack bot token; enables the Slack live client"),
    ("NEXWATT_SLACK_BASE_URL", "Slack Web API base URL (default https://slack.com/api)"),
    ("NEXWATT_HUBSPOT_TOKEN", "HubSpot private-app token; enables the HubSpot live client"),
    ("NEXWATT_HUBSPOT_BASE_URL", "HubSpot API base URL (default https://api.hubapi.com)"),
    ("NEXWATT_QBO_TOKEN", "QuickBooks Online OAuth 2.0 access token; enables the QuickBooks live client"),
    ("NEXWATT_QBO_REALM_ID", "QuickBooks Online company (realm) id; required with NEXWATT_QBO_TOKEN"),
    ("NEXWATT_QBO_BASE_URL", "QuickBooks Online API base URL (default https://quickbooks.api.intuit.com)"),
    ("NEXWATT_QBO_MINOR_VERSION", "QuickBooks Online minorversion (default 75)"),
    ("NEXWATT_HTTP_ALLOW", "comma-separated hosts the http connector may call (`*`, `host`, `*.domain`, optional `:port`); unset: any public host, never local or private addresses"),
    ("NEXWATT_HTTP_MAX_RESPONSE_BYTES", "largest response body the http connector reads (default 10485760)"),
];

impl LiveConfig {
    /// Reads the configuration from the process environment (see
    /// [`ENV_VARS`]). An unset or empty variable counts as absent.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (an environment variable
    /// name → its value), so tests and hosts need not touch the process
    /// environment.
    pub fn from_lookup<F>(lookup: F) -> Result<Self, ConfigError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let slack = get("NEXWATT_SLACK_TOKEN").map(|token| SlackConfig {
            token: Secret::new(token),
            base_url: get("NEXWATT_SLACK_BASE_URL").unwrap_or_else(default_slack_base),
        });
        let hubspot = get("NEXWATT_HUBSPOT_TOKEN").map(|token| HubSpotConfig {
            token: Secret::new(token),
            base_url: get("NEXWATT_HUBSPOT_BASE_URL").unwrap_or_else(default_hubspot_base),
        });
        let quickbooks = match get("NEXWATT_QBO_TOKEN") {
            None => {
                if get("NEXWATT_QBO_REALM_ID").is_some() {
                    tracing::warn!("NEXWATT_QBO_REALM_ID is set without NEXWATT_QBO_TOKEN; QuickBooks has no live client");
                }
                None
            }
            Some(token) => {
                let realm_id = get("NEXWATT_QBO_REALM_ID").ok_or_else(|| ConfigError::Missing {
                    setting: "NEXWATT_QBO_REALM_ID".to_string(),
                    because: "NEXWATT_QBO_TOKEN is set".to_string(),
                })?;
                let minor_version = match get("NEXWATT_QBO_MINOR_VERSION") {
                    None => QBO_DEFAULT_MINOR_VERSION,
                    Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                        setting: "NEXWATT_QBO_MINOR_VERSION".to_string(),
                        message: format!("{v:?} is not a whole number"),
                    })?,
                };
                Some(QuickBooksConfig {
                    token: Secret::new(token),
                    realm_id,
                    base_url: get("NEXWATT_QBO_BASE_URL").unwrap_or_else(default_qbo_base),
                    minor_version,
                })
            }
        };
        let allow = match get("NEXWATT_HTTP_ALLOW") {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        p.parse::<HostPattern>().map_err(|e| match e {
                            ConfigError::Invalid { message, .. } => ConfigError::Invalid {
                                setting: "NEXWATT_HTTP_ALLOW".to_string(),
                                message,
                            },
                            other => other,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let max_response_bytes = match get("NEXWATT_HTTP_MAX_RESPONSE_BYTES") {
            None => HTTP_DEFAULT_MAX_RESPONSE_BYTES,
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                setting: "NEXWATT_HTTP_MAX_RESPONSE_BYTES".to_string(),
                message: format!("{v:?} is not a whole number"),
            })?,
        };
        let config = Self {
            slack,
            hubspot,
            quickbooks,
            http: HttpConfig {
                allow,
                max_response_bytes,
            },
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks base URLs and required values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(s) = &self.slack {
            check_secret("slack.token", &s.token)?;
            parse_base_url("slack.base_url", &s.base_url)?;
        }
        if let Some(h) = &self.hubspot {
            check_secret("hubspot.token", &h.token)?;
            parse_base_url("hubspot.base_url", &h.base_url)?;
        }
        if let Some(q) = &self.quickbooks {
            check_secret("quickbooks.token", &q.token)?;
            parse_base_url("quickbooks.base_url", &q.base_url)?;
            check_realm(&q.realm_id)?;
        }
        if self.http.max_response_bytes == 0 {
            return Err(ConfigError::Invalid {
                setting: "http.max_response_bytes".to_string(),
                message: "must be at least 1".to_string(),
            });
        }
        Ok(())
    }
}

fn check_secret(setting: &str, secret: &Secret) -> Result<(), ConfigError> {
    if secret.is_empty() {
        return Err(ConfigError::Invalid {
            setting: setting.to_string(),
            message: "is empty".to_string(),
        });
    }
    if secret.expose().chars().any(|c| c.is_control() || c == ' ') {
        return Err(ConfigError::Invalid {
            setting: setting.to_string(),
            message: "contains spaces or control characters".to_string(),
        });
    }
    Ok(())
}

pub(crate) fn check_realm(realm: &str) -> Result<(), ConfigError> {
    if realm.is_empty() || !realm.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ConfigError::Invalid {
            setting: "quickbooks.realm_id".to_string(),
            message: format!("{realm:?} is not a realm id (letters and digits)"),
        });
    }
    Ok(())
}

/// Parses a base URL (http or https, no query or fragment), without a
/// trailing slash on its path.
pub(crate) fn parse_base_url(setting: &str, value: &str) -> Result<Url, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        setting: setting.to_string(),
        message,
    };
    let mut url = Url::parse(value.trim()).map_err(|e| invalid(format!("not a URL: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none() {
        return Err(invalid("has no host".to_string()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not carry credentials; use the token setting".to_string(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment".to_string()));
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}
