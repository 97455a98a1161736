//! Artifact storage port: rendered files, review documents and exports live here, addressed
//! by key. Adapters: the filesystem (local server) and S3.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

/// What the store knows about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no object at `{0}`")]
    NotFound(String),
    #[error("invalid blob key `{0}`: keys are relative paths of [A-Za-z0-9._=-] segments")]
    InvalidKey(String),
    #[error("blob storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("blob storage backend failed: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Blobs: Send + Sync {
    /// Stores `body` under `key`, replacing any object there.
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<BlobMeta, BlobError>;
    /// Stores the contents of a local file, streaming it (multipart on S3 for large files).
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<BlobMeta, BlobError>;
    async fn get(&self, key: &str) -> Result<Bytes, BlobError>;
    /// Removes the object; removing a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Keys under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;
    /// A URL that downloads the object until `now + ttl` without other credentials.
    async fn signed_url(
        &self,
        key: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, BlobError>;
}
