//! Storage errors, with a kind a caller can match.

use std::fmt;

/// What went wrong, coarsely: what a caller branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// A create found the id taken.
    AlreadyExists,
    /// No such record in this workspace.
    NotFound,
    /// An update's revision did not match the stored one.
    Conflict,
    /// A pagination cursor that is malformed or belongs to another list.
    InvalidCursor,
    /// A request the backend refuses (limit out of range, a batch that
    /// writes one record twice…).
    InvalidRequest,
    /// Reading failed (I/O, corruption, undecodable record).
    Read,
    /// Writing failed (I/O, disk full); nothing of the batch was applied.
    Write,
    /// The backend is closed or unusable.
    Unavailable,
}

impl StorageErrorKind {
    /// A stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Self::AlreadyExists => "already_exists",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::InvalidCursor => "invalid_cursor",
            Self::InvalidRequest => "invalid_request",
            Self::Read => "storage_read",
            Self::Write => "storage_write",
            Self::Unavailable => "storage_unavailable",
        }
    }
}

impl fmt::Display for StorageErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A storage failure: a [`StorageErrorKind`], a message, and the
/// underlying error if there is one.
///
/// ```
/// use nexwatt_engine::storage::{StorageError, StorageErrorKind};
/// let e = StorageError::not_found("run run_01J8K3N0P1Q2R3S4T5U6V7W8");
/// assert_eq!(e.kind(), StorageErrorKind::NotFound);
/// assert_eq!(e.to_string(), "not_found: run run_01J8K3N0P1Q2R3S4T5U6V7W8");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StorageError {
    kind: StorageErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StorageError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind, to match on.
    pub fn kind(&self) -> StorageErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `AlreadyExists` for `what`.
    pub fn already_exists(what: impl fmt::Display) -> Self {
        Self::new(
            StorageErrorKind::AlreadyExists,
            format!("{what} already exists"),
        )
    }

    /// `NotFound` for `what`.
    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::new(StorageErrorKind::NotFound, what.to_string())
    }

    /// `Conflict` for `what`, whose stored revision is `stored`.
    pub fn conflict(what: impl fmt::Display, expected: u64, stored: u64) -> Self {
        Self::new(
            StorageErrorKind::Conflict,
            format!(
                "{what} was changed concurrently (expected revision {expected}, stored {stored})"
            ),
        )
    }

    /// `InvalidCursor` saying why.
    pub fn invalid_cursor(why: impl Into<String>) -> Self {
        Self::new(StorageErrorKind::InvalidCursor, why)
    }
}
