//! Artifact storage port: rendered files, review documents and exports live here, addressed
//! by key. Adapters: the filesystem (local server) and S3.

//!
//! Keys are relative paths of `[A-Za-z0-9._=-]+` segments separated by `/` (see
//! [`validate_key`]); every adapter rejects other keys with [`BlobError::InvalidKey`] before it
//! touches storage, so a key can never escape the store's root or alias another key.

pub mod fs;
pub mod link;
#[cfg(feature = "aws")]
pub mod s3;

#[cfg(test)]
mod contract;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

pub use fs::FsBlobs;
pub use link::LinkSigner;
#[cfg(feature = "aws")]
pub use s3::S3Blobs;

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
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<BlobMeta, BlobError>;
    async fn get(&self, key: &str) -> Result<Bytes, BlobError>;
    /// Removes the object; removing a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Keys under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;
    /// A URL that downloads the object until `now + ttl` without other credentials.
    async fn signed_url(&self, key: &str, ttl: Duration, now: DateTime<Utc>) -> Result<String, BlobError>;
    /// A short-lived URL of the storage itself to send a download to, when it has one (S3's
    /// presigned GetObject); `None` means Herald serves the bytes.
    async fn direct_url(&self, key: &str, ttl: Duration, now: DateTime<Utc>) -> Result<Option<String>, BlobError> {
        let _ = (key, ttl, now);
        Ok(None)
    }
}

/// Checks that `key` is a valid blob key: one or more `/`-separated segments of
/// `[A-Za-z0-9._=-]+`, no empty segment (so no leading, trailing or doubled `/`), and no `.` or
/// `..` segment.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    if key.is_empty() || !key.split('/').all(is_valid_segment) {
        return Err(BlobError::InvalidKey(key.to_owned()));
    }
    Ok(())
}

/// Whether `segment` may appear between two `/` of a key.
fn is_valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'=' | b'-'))
}

/// Hex SHA-256 of `data`.
fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_safe_segments_are_valid() {
        for key in [
            "a",
            "report.pdf",
            "ws/01HXYZ/runs/2024-05-01/entry_1/report.pdf",
            "exports/date=2024-05-01/part-0.csv",
            "...dots",
            "a/.hidden",
        ] {
            assert!(validate_key(key).is_ok(), "{key} should be valid");
        }
    }

    #[test]
    fn keys_that_could_escape_or_alias_are_invalid() {
        for key in [
            "", "/", "/abs", "a/", "a//b", "..", "../x", "a/../b", ".", "./a", "a/./b", "a b", "a\\b", "a?b", "a#b",
            "ä", "a/~b", "a\0b",
        ] {
            assert!(
                matches!(validate_key(key), Err(BlobError::InvalidKey(k)) if k == key),
                "{key:?} should be invalid"
            );
        }
    }

    /// Generates one test module per adapter, each running every contract test against a fresh,
    /// empty store made by `$setup` (which returns `None` when the adapter's tests are skipped).
    macro_rules! contract_tests {
        ($adapter:ident, $setup:path, [$($name:ident),* $(,)?]) => {
            mod $adapter {
                $(
                    #[tokio::test]
                    async fn $name() {
                        let Some(setup) = $setup().await else { return };
                        crate::blob::contract::$name(&*setup.blobs, &setup.env).await;
                    }
                )*
            }
        };
    }

    macro_rules! all_contract_tests {
        ($adapter:ident, $setup:path) => {
            contract_tests!(
                $adapter,
                $setup,
                [
                    round_trips_bytes_with_size_and_sha256,
                    round_trips_an_empty_object,
                    overwriting_a_key_replaces_its_content,
                    getting_a_missing_key_is_not_found,
                    deleting_a_key_removes_it,
                    deleting_a_missing_key_succeeds,
                    invalid_keys_are_rejected_and_nothing_is_written,
                    put_file_round_trips_a_small_file,
                    put_file_streams_a_large_file_with_the_right_sha256,
                    list_returns_sorted_keys_under_a_prefix_only,
                    signed_url_downloads_the_exact_bytes,
                ]
            );
        };
    }

    all_contract_tests!(fs, crate::blob::contract::fs_setup);
    all_contract_tests!(s3, crate::blob::contract::s3_setup);
}
