//! The engine's error type: a kind a caller can match, a stable code and a
//! message a person can read.

use std::fmt;

use crate::connector::ConnectorError;
use crate::model::TransitionError;
use crate::planner::{PlanError, PlanErrorKind};
use crate::storage::{StorageError, StorageErrorKind};

/// What kind of failure an [`EngineError`] is: what a caller (the REST
/// server, a host) branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed (bad name, description, input, cursor…).
    InvalidRequest,
    /// No such agent, run or escalation in this workspace.
    NotFound,
    /// The request conflicts with the current state (an escalation that is
    /// no longer open, a live run of an agent that is not active, a
    /// concurrent change).
    Conflict,
    /// The planner recognised nothing of the catalog in the description.
    DescriptionUnrecognized,
    /// The engine or its storage is shutting down or unusable.
    Unavailable,
    /// Something failed inside the engine (storage I/O, a planner outage).
    Internal,
}

impl ErrorKind {
    /// The stable snake_case code of this kind.
    ///
    /// ```
    /// use nexwatt_engine::ErrorKind;
    /// assert_eq!(ErrorKind::NotFound.code(), "not_found");
    /// ```
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::DescriptionUnrecognized => "description_unrecognized",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A failed engine operation.
///
/// ```
/// use nexwatt_engine::{EngineError, ErrorKind};
/// let e = EngineError::new(ErrorKind::Conflict, "escalation esc_x is resolved, not open");
/// assert_eq!(e.kind(), ErrorKind::Conflict);
/// assert_eq!(e.code(), "conflict");
/// assert_eq!(e.to_string(), "conflict: escalation esc_x is resolved, not open");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", kind.code())]
pub struct EngineError {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl EngineError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An `InvalidRequest` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// A `NotFound` error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A `Conflict` error.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// An `Internal` error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// An `Unavailable` error.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// The kind, to match on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable snake_case code (the kind's code).
    pub fn code(&self) -> &str {
        self.kind.code()
    }

    /// The message, without the code.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<StorageError> for EngineError {
    fn from(e: StorageError) -> Self {
        let kind = match e.kind() {
            StorageErrorKind::NotFound => ErrorKind::NotFound,
            StorageErrorKind::Conflict | StorageErrorKind::AlreadyExists => ErrorKind::Conflict,
            StorageErrorKind::InvalidCursor | StorageErrorKind::InvalidRequest => {
                ErrorKind::InvalidRequest
            }
            StorageErrorKind::Unavailable => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        let message = e.message().to_string();
        Self {
            kind,
            message,
            source: Some(Box::new(e)),
        }
    }
}

impl From<PlanError> for EngineError {
    fn from(e: PlanError) -> Self {
        let kind = match e.kind {
            PlanErrorKind::InvalidRequest => ErrorKind::InvalidRequest,
            PlanErrorKind::DescriptionUnrecognized => ErrorKind::DescriptionUnrecognized,
            _ => ErrorKind::Internal,
        };
        Self::new(kind, e.message)
    }
}

impl From<TransitionError> for EngineError {
    fn from(e: TransitionError) -> Self {
        Self::conflict(e.to_string())
    }
}

impl From<ConnectorError> for EngineError {
    fn from(e: ConnectorError) -> Self {
        Self::internal(e.to_string())
    }
}
