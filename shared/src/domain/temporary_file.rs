//! Temporary files: documents made on request (a run's consolidated review document) that stay
//! downloadable for a limited time. The record says whether the file is ready yet; the bytes
//! live in the blob store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RunId, TemporaryFileId, WorkspaceId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemporaryFileStatus {
    /// Asked for; a worker is making it.
    Pending,
    Ready,
    Failed,
}

impl TemporaryFileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TemporaryFileStatus::Pending => "pending",
            TemporaryFileStatus::Ready => "ready",
            TemporaryFileStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryFile {
    pub id: TemporaryFileId,
    pub workspace_id: WorkspaceId,
    /// The run the file was made from.
    pub run_id: RunId,
    pub status: TemporaryFileStatus,
    /// Blob store key (set when ready).
    pub key: Option<String>,
    pub file_name: String,
    pub content_type: String,
    pub size: Option<u64>,
    /// Hex SHA-256 of the content.
    pub sha256: Option<String>,
    /// Why making the file failed.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// After this instant the file is gone ("not found").
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl TemporaryFile {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}
