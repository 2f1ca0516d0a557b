//! Connector errors, classified for the runner.

use std::time::Duration;

/// How the runner should treat a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectorErrorKind {
    /// Trying again may succeed (rate limit, 5xx, network). The runner
    /// retries with backoff, waiting at least `retry_after` if given.
    Retryable,
    /// Trying again will fail the same way (401, 404, bad input, no live
    /// client). The runner escalates with `api_error`.
    Permanent,
    /// The call would break a rule of the connected system or the agent.
    /// The runner escalates with `rule_violation`.
    RuleViolation,
}

/// A failed connector call.
///
/// ```
/// use std::time::Duration;
/// use nexwatt_engine::connector::{ConnectorError, ConnectorErrorKind};
/// let e = ConnectorError::rate_limited(Some(Duration::from_secs(3)));
/// assert_eq!(e.kind(), ConnectorErrorKind::Retryable);
/// assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
/// assert_eq!(e.code(), "rate_limited");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ConnectorError {
    kind: ConnectorErrorKind,
    code: String,
    message: String,
    retry_after: Option<Duration>,
}

impl ConnectorError {
    /// An error of `kind` with a stable `code` and a message a person can
    /// read (never a secret).
    pub fn new(
        kind: ConnectorErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// A retryable error.
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ConnectorErrorKind::Retryable, code, message)
    }

    /// A permanent error.
    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ConnectorErrorKind::Permanent, code, message)
    }

    /// A rule-breaking error.
    pub fn rule_violation(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ConnectorErrorKind::RuleViolation, code, message)
    }

    /// `rate_limited`, retryable, after `retry_after` if the service said.
    pub fn rate_limited(retry_after: Option<Duration>) -> Self {
        let message = match retry_after {
            Some(d) => format!("rate limited; retry after {} ms", d.as_millis()),
            None => "rate limited".to_string(),
        };
        Self::retryable("rate_limited", message).with_retry_after(retry_after)
    }

    /// `unknown_operation`, permanent.
    pub fn unknown_operation(connector: &str, operation: &str) -> Self {
        Self::permanent(
            "unknown_operation",
            format!("connector {connector} has no operation {operation:?}"),
        )
    }

    /// `invalid_input`, permanent.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::permanent("invalid_input", message)
    }

    /// Sets the delay the service asked for.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// How the runner should treat it.
    pub fn kind(&self) -> ConnectorErrorKind {
        self.kind
    }

    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        self.kind == ConnectorErrorKind::Retryable
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The delay the service asked for before a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}
