//! Workspaces: the unit of isolation and of API keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::WorkspaceId;

/// A tenant. Nothing of one workspace is visible through another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    /// Its id, `ws_…`.
    pub id: WorkspaceId,
    /// A human name, unique per installation (enforced by the callers that
    /// create workspaces by name).
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}
