//! API errors: every failure the server returns is
//! `{"error": {"code", "message"}}` with the matching HTTP status.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use nexwatt_engine::storage::{StorageError, StorageErrorKind};
use nexwatt_engine::{EngineError, ErrorKind};
use serde::Serialize;

/// The stable error codes the API returns, with their statuses.
pub mod codes {
    /// 400: a malformed or out-of-range parameter, body or id.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// 422: the planner recognised nothing of the description.
    pub const DESCRIPTION_UNRECOGNIZED: &str = "description_unrecognized";
    /// 401: missing, unknown or revoked API key.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// 404: no such resource in this workspace.
    pub const NOT_FOUND: &str = "not_found";
    /// 404: no such route.
    pub const ROUTE_NOT_FOUND: &str = "route_not_found";
    /// 405: the route exists, the method does not.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// 409: the resource is not in a state that allows the request.
    pub const CONFLICT: &str = "conflict";
    /// 413: the body is larger than the server accepts.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// 415: the body is not `application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// 429: the workspace's rate limit is exhausted.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// 500: something failed inside; details are in the server log only.
    pub const INTERNAL: &str = "internal";
    /// 503: the engine is shutting down or storage is unavailable.
    pub const UNAVAILABLE: &str = "unavailable";
}

/// An error response: a status, a stable snake_case code and a message a
/// person can act on. Never carries internals: [`ApiError::internal`] logs
/// the cause and returns a generic message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code (see [`codes`]).
    pub code: Cow<'static, str>,
    /// What went wrong.
    pub message: String,
    /// Seconds to wait, sent as `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }

    /// 500 `internal`: logs `cause` with tracing and returns a message that
    /// reveals nothing of it.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error while handling a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "internal server error; the server log has the details",
        )
    }

    /// The generic error for a bare status (used for responses produced
    /// outside the handlers: unknown routes, wrong methods, body limits).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::BAD_REQUEST => (codes::INVALID_REQUEST, "bad request"),
            StatusCode::UNAUTHORIZED => (codes::UNAUTHORIZED, "missing or invalid API key"),
            StatusCode::NOT_FOUND => (codes::ROUTE_NOT_FOUND, "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => (
                codes::METHOD_NOT_ALLOWED,
                "this route does not accept that method",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                codes::PAYLOAD_TOO_LARGE,
                "request body is larger than the server accepts",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                codes::UNSUPPORTED_MEDIA_TYPE,
                "request body must be application/json",
            ),
            StatusCode::TOO_MANY_REQUESTS => (codes::RATE_LIMITED, "rate limit exceeded"),
            StatusCode::SERVICE_UNAVAILABLE => (codes::UNAVAILABLE, "service unavailable"),
            s if s.is_server_error() => (codes::INTERNAL, "internal server error"),
            _ => (codes::INVALID_REQUEST, "request refused"),
        };
        Self::new(status, code, message)
    }

    /// Sets the `Retry-After` seconds.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The JSON body `{"error": {"code", "message"}}`.
    pub fn body(&self) -> String {
        let body = ErrorBody {
            error: ErrorInner {
                code: &self.code,
                message: &self.message,
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| {
            r#"{"error":{"code":"internal","message":"internal server error"}}"#.to_string()
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        let message = err.message().to_string();
        match err.kind() {
            ErrorKind::InvalidRequest => Self::invalid(message),
            ErrorKind::NotFound => Self::not_found(message),
            ErrorKind::Conflict => Self::new(StatusCode::CONFLICT, codes::CONFLICT, message),
            ErrorKind::DescriptionUnrecognized => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::DESCRIPTION_UNRECOGNIZED,
                message,
            ),
            ErrorKind::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UNAVAILABLE,
                "the engine is not accepting requests right now; try again shortly",
            )
            .with_retry_after(1),
            _ => Self::internal(&err),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err.kind() {
            StorageErrorKind::NotFound => Self::not_found(err.message().to_string()),
            StorageErrorKind::InvalidCursor | StorageErrorKind::InvalidRequest => {
                Self::invalid(err.message().to_string())
            }
            StorageErrorKind::Conflict => Self::new(
                StatusCode::CONFLICT,
                codes::CONFLICT,
                err.message().to_string(),
            ),
            _ => Self::internal(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_and_message() {
        let e = ApiError::invalid("limit must be between 1 and 100, got 0");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["error"]["code"], "invalid_request");
        assert_eq!(
            v["error"]["message"],
            "limit must be between 1 and 100, got 0"
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::internal(&"sled: corrupted page at /var/secret/path");
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.body().contains("secret"));
    }

    #[test]
    fn every_error_status_has_a_code() {
        for status in [400u16, 401, 404, 405, 413, 415, 429, 500, 502, 503] {
            let e = ApiError::for_status(StatusCode::from_u16(status).unwrap());
            assert!(!e.code.is_empty());
            assert_eq!(e.status.as_u16(), status);
        }
    }
}
