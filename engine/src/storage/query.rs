//! List filters and pagination.

use crate::id::{AgentId, Cursor, RunId};
use crate::model::{AgentStatus, EscalationStatus, RunStatus};

use super::{StorageError, StorageErrorKind};

/// Which agents to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentFilter {
    /// Only agents in this status.
    pub status: Option<AgentStatus>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs of this agent.
    pub agent: Option<AgentId>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
}

/// Which escalations to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscalationFilter {
    /// Only escalations in this status.
    pub status: Option<EscalationStatus>,
    /// Only escalations of this run.
    pub run: Option<RunId>,
    /// Only escalations of this agent.
    pub agent: Option<AgentId>,
}

/// Which audit events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of this agent.
    pub agent: Option<AgentId>,
    /// Only events of this run.
    pub run: Option<RunId>,
}

/// One page's size and where it starts.
///
/// ```
/// use nexwatt_engine::storage::PageRequest;
/// assert!(PageRequest::new(0, None).is_err());
/// assert!(PageRequest::new(101, None).is_err());
/// assert_eq!(PageRequest::new(20, None).unwrap().limit(), 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: usize,
    cursor: Option<Cursor>,
}

impl PageRequest {
    /// The largest page.
    pub const MAX_LIMIT: usize = 100;
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: usize = 20;

    /// A page of `limit` records (1..=100) after `cursor`.
    pub fn new(limit: usize, cursor: Option<Cursor>) -> Result<Self, StorageError> {
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(StorageError::new(
                StorageErrorKind::InvalidRequest,
                format!(
                    "limit must be between 1 and {}, got {limit}",
                    Self::MAX_LIMIT
                ),
            ));
        }
        Ok(Self { limit, cursor })
    }

    /// The first page of the default size.
    pub fn first() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            cursor: None,
        }
    }

    /// Records per page.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Where the page starts (exclusive), if not at the beginning.
    pub fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The records, in id order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when this page is the last.
    pub next_cursor: Option<Cursor>,
}
