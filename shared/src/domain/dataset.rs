//! Datasets: rows a workspace uploaded (CSV or JSON) for the `dataset` source. The store keeps
//! this metadata; the rows themselves live in the blob store, one document per upload.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Code, WorkspaceId};
use crate::source::ColumnMeta;

/// How a dataset was uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatasetFormat {
    Csv,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub workspace_id: WorkspaceId,
    pub code: Code,
    pub columns: Vec<ColumnMeta>,
    pub row_count: u64,
    pub format: DatasetFormat,
    /// Size of the uploaded body.
    pub size_bytes: u64,
    /// Hex SHA-256 of the uploaded body (to tell whether a file is already uploaded).
    pub sha256: String,
    /// Where the rows of this upload are (a JSON row set in the blob store).
    pub blob_key: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, bumped by every replacement.
    #[serde(default)]
    pub version: u64,
}
