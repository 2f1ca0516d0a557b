//! API keys: generation, workspaces by name, authentication, revocation.
//!
//! A key is `nxwt_live_` followed by 48 hex digits (192 bits from the
//! operating system's CSPRNG). Only its SHA-256 ([`KeyHash`]) is stored;
//! the secret is shown once, when it is made.

use chrono::{DateTime, SubsecRound, Utc};
use nexwatt_engine::id::{ApiKeyId, WorkspaceId};
use nexwatt_engine::model::{ApiKeyRecord, KeyHash, Workspace};
use nexwatt_engine::storage::{Storage, StorageError, StorageErrorKind, StorageExt};
use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "nxwt_live_";

/// Random bytes in a key (192 bits).
pub const KEY_RANDOM_BYTES: usize = 24;

/// The workspace `serve` creates on first start and `keys create` uses by
/// default.
pub const DEFAULT_WORKSPACE: &str = "default";

// A key carries at least 128 bits of randomness.
const _: () = assert!(KEY_RANDOM_BYTES * 8 >= 128);

/// Characters of the secret kept in the record to tell keys apart.
const DISPLAY_PREFIX_CHARS: usize = KEY_PREFIX.len() + 6;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No workspace with that id.
    #[error("no workspace {0}")]
    WorkspaceNotFound(String),
    /// No key with that id.
    #[error("no API key {0}")]
    KeyNotFound(String),
    /// The key was revoked already.
    #[error("API key {0} is already revoked")]
    AlreadyRevoked(String),
    /// The workspace name is unusable.
    #[error("invalid workspace name {0:?}: use 1 to 64 characters, no control characters")]
    InvalidWorkspaceName(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl KeyError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::WorkspaceNotFound(_) => "workspace_not_found",
            Self::KeyNotFound(_) => "key_not_found",
            Self::AlreadyRevoked(_) => "already_revoked",
            Self::InvalidWorkspaceName(_) => "invalid_workspace_name",
            Self::Storage(_) => "storage",
        }
    }
}

/// A new secret: `nxwt_live_` + 48 hex digits from the OS CSPRNG.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; KEY_RANDOM_BYTES];
    OsRng.fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

/// A key just made: the record stored and the secret, shown once.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The stored record (hash only).
    pub record: ApiKeyRecord,
    /// The workspace it opens.
    pub workspace: Workspace,
    /// Whether the workspace was created for it.
    pub workspace_created: bool,
    /// The secret. Print it once; it is not stored.
    pub secret: String,
}

fn now_secs() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=64).contains(&n) && !name.chars().any(char::is_control) && name.trim() == name
}

/// Finds a workspace by id (`ws_…`) or by name; with `create_missing`, a
/// name that matches none makes a new workspace.
pub async fn resolve_workspace(
    storage: &dyn Storage,
    name_or_id: &str,
    create_missing: bool,
) -> Result<(Workspace, bool), KeyError> {
    if let Ok(id) = name_or_id.parse::<WorkspaceId>() {
        return match storage.get_workspace(id).await {
            Ok(ws) => Ok((ws, false)),
            Err(e) if e.kind() == StorageErrorKind::NotFound => {
                Err(KeyError::WorkspaceNotFound(name_or_id.to_string()))
            }
            Err(e) => Err(e.into()),
        };
    }
    if let Some(ws) = storage
        .list_workspaces()
        .await?
        .into_iter()
        .find(|w| w.name == name_or_id)
    {
        return Ok((ws, false));
    }
    if !create_missing {
        return Err(KeyError::WorkspaceNotFound(name_or_id.to_string()));
    }
    if !valid_name(name_or_id) {
        return Err(KeyError::InvalidWorkspaceName(name_or_id.to_string()));
    }
    let ws = Workspace {
        id: WorkspaceId::generate(),
        name: name_or_id.to_string(),
        created_at: now_secs(),
    };
    storage.create_workspace(&ws).await?;
    Ok((ws, true))
}

/// Makes a key for the workspace named (or with the id) `workspace`,
/// creating a workspace of that name if there is none.
pub async fn create_key(storage: &dyn Storage, workspace: &str) -> Result<NewKey, KeyError> {
    let (workspace, workspace_created) = resolve_workspace(storage, workspace, true).await?;
    let secret = generate_secret();
    let record = ApiKeyRecord {
        id: ApiKeyId::generate(),
        workspace: workspace.id,
        hash: KeyHash::of_secret(&secret),
        display_prefix: secret.chars().take(DISPLAY_PREFIX_CHARS).collect(),
        created_at: now_secs(),
        revoked_at: None,
        revision: 1,
    };
    storage.create_api_key(&record).await?;
    storage.flush().await?;
    Ok(NewKey {
        record,
        workspace,
        workspace_created,
        secret,
    })
}

/// On first start (no workspace at all): creates the `default` workspace and
/// a key for it. Returns `None` when a workspace exists already.
pub async fn bootstrap(storage: &dyn Storage) -> Result<Option<NewKey>, KeyError> {
    if !storage.list_workspaces().await?.is_empty() {
        return Ok(None);
    }
    create_key(storage, DEFAULT_WORKSPACE).await.map(Some)
}

/// Every key with its workspace's name, in id order.
pub async fn list_keys(
    storage: &dyn Storage,
) -> Result<Vec<(ApiKeyRecord, Option<Workspace>)>, KeyError> {
    let workspaces = storage.list_workspaces().await?;
    Ok(storage
        .list_api_keys(None)
        .await?
        .into_iter()
        .map(|k| {
            let ws = workspaces.iter().find(|w| w.id == k.workspace).cloned();
            (k, ws)
        })
        .collect())
}

/// Revokes key `id` (`key_…`); a revoked key opens nothing from then on.
pub async fn revoke_key(storage: &dyn Storage, id: &str) -> Result<ApiKeyRecord, KeyError> {
    let key_id: ApiKeyId = id
        .parse()
        .map_err(|_| KeyError::KeyNotFound(id.to_string()))?;
    let mut record = storage
        .list_api_keys(None)
        .await?
        .into_iter()
        .find(|k| k.id == key_id)
        .ok_or_else(|| KeyError::KeyNotFound(id.to_string()))?;
    if record.revoked_at.is_some() {
        return Err(KeyError::AlreadyRevoked(id.to_string()));
    }
    record.revoked_at = Some(now_secs());
    storage.update_api_key(&mut record).await?;
    storage.flush().await?;
    Ok(record)
}

/// Who a request is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The workspace the key opens.
    pub workspace: WorkspaceId,
    /// The key, recorded as the actor of changes.
    pub key: ApiKeyId,
}

/// Why a presented key was refused (all answered with 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Not shaped like a key.
    Malformed,
    /// No such key.
    Unknown,
    /// The key was revoked.
    Revoked,
}

/// Checks a presented secret: hashes it, looks the hash up and compares
/// the stored hash with the computed one in constant time.
pub async fn authenticate(
    storage: &dyn Storage,
    secret: &str,
) -> Result<Result<Principal, AuthFailure>, StorageError> {
    if !secret.starts_with(KEY_PREFIX) || secret.len() > 200 {
        return Ok(Err(AuthFailure::Malformed));
    }
    let hash = KeyHash::of_secret(secret);
    let Some(record) = storage.get_api_key_by_hash(&hash).await? else {
        return Ok(Err(AuthFailure::Unknown));
    };
    if !bool::from(record.hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok(Err(AuthFailure::Unknown));
    }
    if record.revoked_at.is_some() {
        return Ok(Err(AuthFailure::Revoked));
    }
    Ok(Ok(Principal {
        workspace: record.workspace,
        key: record.id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + 2 * KEY_RANDOM_BYTES);
        assert!(a[KEY_PREFIX.len()..].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn workspace_names_are_checked() {
        assert!(valid_name("default"));
        assert!(valid_name("acme corp"));
        assert!(!valid_name(""));
        assert!(!valid_name(" padded"));
        assert!(!valid_name("a\nb"));
        assert!(!valid_name(&"x".repeat(65)));
    }
}
