//! API key records. Only a hash of the secret is ever stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Revision;
use crate::id::{ApiKeyId, WorkspaceId};

/// SHA-256 of an API key secret, hex encoded. Keys carry at least 128 bits
/// of randomness, so an unsalted fast hash is the right tool: there is
/// nothing to brute-force.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyHash(String);

impl KeyHash {
    /// Hashes a secret as presented by a client (`nxwt_live_…`).
    ///
    /// ```
    /// use nexwatt_engine::model::KeyHash;
    /// let a = KeyHash::of_secret("nxwt_live_abc");
    /// assert_eq!(a, KeyHash::of_secret("nxwt_live_abc"));
    /// assert_ne!(a, KeyHash::of_secret("nxwt_live_abd"));
    /// assert_eq!(a.as_str().len(), 64);
    /// ```
    pub fn of_secret(secret: &str) -> Self {
        Self(hex::encode(Sha256::digest(secret.as_bytes())))
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The raw digest bytes, for constant-time comparison.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A stored API key: its hash, never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Its id, `key_…`.
    pub id: ApiKeyId,
    /// The workspace the key opens.
    pub workspace: WorkspaceId,
    /// SHA-256 of the secret.
    pub hash: KeyHash,
    /// The first characters of the secret (`nxwt_live_ab12`), to tell keys
    /// apart in listings without revealing them.
    pub display_prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked key opens nothing.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Compare-and-set revision.
    pub revision: Revision,
}
