//! State kept by the maintenance tasks: where each workspace's interaction export stands, and
//! the addresses email must not go to (suppressed after a hard bounce or a complaint, usually
//! for a while).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WorkspaceId;

/// How far a workspace's interactions have been exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCheckpoint {
    pub workspace_id: WorkspaceId,
    /// Receipt position (`{created_at}#{id}`) of the last exported interaction; nothing yet
    /// when absent.
    pub position: Option<String>,
    pub status: CheckpointStatus,
    /// Interactions exported so far, over every call.
    pub rows_exported: u64,
    /// Blob key of the last file written.
    pub last_file: Option<String>,
    /// Why the last export failed (kept until one succeeds).
    pub error: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

impl ExportCheckpoint {
    /// Where a workspace starts: nothing exported.
    pub fn start(workspace_id: WorkspaceId) -> Self {
        Self {
            workspace_id,
            position: None,
            status: CheckpointStatus::Ok,
            rows_exported: 0,
            last_file: None,
            error: None,
            updated_at: None,
            version: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointStatus {
    Ok,
    /// The last export failed; the next call retries from the same position.
    Failed,
}

/// An email address deliveries skip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suppression {
    pub workspace_id: WorkspaceId,
    /// Lowercased.
    pub address: String,
    pub reason: SuppressionReason,
    pub created_at: DateTime<Utc>,
    /// When the address may receive mail again; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

impl Suppression {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    HardBounce,
    Complaint,
    Manual,
}
