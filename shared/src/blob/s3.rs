//! S3 adapter of the artifact store, used on AWS: each object is an S3 object of one bucket,
//! named by its key.
//!
//! The SHA-256 of each object is computed locally and stored in the object's user metadata
//! (`x-amz-meta-sha256`). Local files are streamed: up to [`PART_SIZE`] with one PutObject,
//! larger ones with a multipart upload of [`PART_SIZE`] parts read one after another (so memory
//! stays at one part), aborted on any error. Signed URLs are presigned GetObject requests, or
//! Herald's own links when a [`LinkSigner`] is given (the API then redirects to a fresh presigned
//! URL).
//! SDK errors become [`BlobError::Backend`] with the SDK's full error context.

use std::error::Error as StdError;
use std::path::Path;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::{BlobError, BlobMeta, Blobs, LinkSigner, sha256_hex, validate_key};

/// Size of each multipart-upload part, and the largest file sent with a single PutObject.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;

/// Name of the user-metadata entry holding the hex SHA-256 of the content.
pub const SHA256_METADATA: &str = "sha256";

/// Artifact store in one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
    list_page_size: Option<i32>,
    links: Option<LinkSigner>,
}

impl S3Blobs {
    /// A store over `bucket`, using a client built with [`crate::aws::s3_client`].
    pub fn new(client: Client, bucket: String) -> Self {
        Self { client, bucket, list_page_size: None, links: None }
    }

    /// Hands out Herald's own links (see [`LinkSigner`]) instead of presigned URLs, which stop
    /// working when the credentials that signed them expire. Ignored for a signer that cannot
    /// sign (no public URL).
    pub fn with_links(mut self, links: LinkSigner) -> Self {
        self.links = links.can_sign().then_some(links);
        self
    }

    /// Lists at most `size` keys per ListObjectsV2 request (S3's default and maximum is 1000).
    pub fn with_list_page_size(mut self, size: i32) -> Self {
        self.list_page_size = Some(size);
        self
    }

    /// The bucket objects are stored in.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Uploads the file at `path` (of `size` bytes, hashing to `sha256`) in [`PART_SIZE`]
    /// parts, aborting the upload if anything fails.
    async fn put_multipart(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
        meta: &BlobMeta,
    ) -> Result<(), BlobError> {
        if meta.size.div_ceil(PART_SIZE as u64) > MAX_PARTS {
            return Err(BlobError::Backend(format!("file for `{key}` is too large for S3 ({} bytes)", meta.size)));
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .metadata(SHA256_METADATA, &meta.sha256)
            .send()
            .await
            .map_err(|err| backend("CreateMultipartUpload", key, err))?;
        let Some(upload_id) = created.upload_id() else {
            return Err(BlobError::Backend(format!("S3 CreateMultipartUpload `{key}` returned no upload id")));
        };
        match self.upload_parts(key, path, upload_id, meta).await {
            Ok(()) => Ok(()),
            Err(err) => {
                let aborted = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await;
                if let Err(abort) = aborted {
                    tracing::warn!(
                        bucket = %self.bucket,
                        key,
                        upload_id,
                        error = %DisplayErrorContext(&abort),
                        "could not abort a failed multipart upload"
                    );
                }
                Err(err)
            }
        }
    }

    /// Sends the parts of a created multipart upload and completes it. Fails if the file no
    /// longer matches `meta` (it changed since it was hashed).
    async fn upload_parts(&self, key: &str, path: &Path, upload_id: &str, meta: &BlobMeta) -> Result<(), BlobError> {
        let mut file = tokio::fs::File::open(path).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut parts = Vec::new();
        for part_number in 1_i32.. {
            let chunk = read_chunk(&mut file, PART_SIZE).await?;
            if chunk.is_empty() {
                break;
            }
            hasher.update(&chunk);
            size += chunk.len() as u64;
            let uploaded = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(part_number)
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(|err| backend("UploadPart", key, err))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(part_number)
                    .set_e_tag(uploaded.e_tag().map(str::to_owned))
                    .build(),
            );
        }
        if size != meta.size || hex::encode(hasher.finalize()) != meta.sha256 {
            return Err(BlobError::Backend(format!("file for `{key}` changed while it was being uploaded")));
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|err| backend("CompleteMultipartUpload", key, err))?;
        Ok(())
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<BlobMeta, BlobError> {
        validate_key(key)?;
        let meta = BlobMeta { size: body.len() as u64, sha256: sha256_hex(&body) };
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .metadata(SHA256_METADATA, &meta.sha256)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|err| backend("PutObject", key, err))?;
        Ok(meta)
    }

    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<BlobMeta, BlobError> {
        validate_key(key)?;
        // The hash goes into the object's metadata, which S3 takes before the content: hash
        // the file in a first streaming pass.
        let meta = hash_file(path).await?;
        if meta.size > PART_SIZE as u64 {
            self.put_multipart(key, path, content_type, &meta).await?;
            return Ok(meta);
        }
        let body = ByteStream::from_path(path).await.map_err(|err| {
            BlobError::Backend(format!("cannot read `{}`: {}", path.display(), DisplayErrorContext(&err)))
        })?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .metadata(SHA256_METADATA, &meta.sha256)
            .body(body)
            .send()
            .await
            .map_err(|err| backend("PutObject", key, err))?;
        Ok(meta)
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        validate_key(key)?;
        let output = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => output,
            Err(err) if is_not_found(&err) => return Err(BlobError::NotFound(key.to_owned())),
            Err(err) => return Err(backend("GetObject", key, err)),
        };
        let body = output.body.collect().await.map_err(|err| {
            BlobError::Backend(format!("S3 GetObject `{key}` failed reading the body: {}", DisplayErrorContext(&err)))
        })?;
        Ok(body.into_bytes())
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        match self.client.delete_object().bucket(&self.bucket).key(key).send().await {
            Ok(_) => Ok(()),
            Err(err) if status_of(&err) == Some(404) => Ok(()),
            Err(err) => Err(backend("DeleteObject", key, err)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let mut request = self.client.list_objects_v2().bucket(&self.bucket);
        if !prefix.is_empty() {
            request = request.prefix(prefix);
        }
        let mut paginator = request.into_paginator();
        if let Some(size) = self.list_page_size {
            paginator = paginator.page_size(size);
        }
        let mut pages = paginator.send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| backend("ListObjectsV2", prefix, err))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key())
                    // Objects put there by other tools may not be valid keys; the store only
                    // reports what it could also read back.
                    .filter(|key| validate_key(key).is_ok())
                    .map(str::to_owned),
            );
        }
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    async fn signed_url(&self, key: &str, ttl: Duration, now: DateTime<Utc>) -> Result<String, BlobError> {
        match &self.links {
            Some(links) => links.sign(key, ttl, now),
            None => self.presign(key, ttl, now).await,
        }
    }

    async fn direct_url(&self, key: &str, ttl: Duration, now: DateTime<Utc>) -> Result<Option<String>, BlobError> {
        self.presign(key, ttl, now).await.map(Some)
    }
}

impl S3Blobs {
    /// A presigned GetObject URL (valid at most as long as the credentials that signed it).
    async fn presign(&self, key: &str, ttl: Duration, now: DateTime<Utc>) -> Result<String, BlobError> {
        validate_key(key)?;
        let config =
            PresigningConfig::builder().start_time(SystemTime::from(now)).expires_in(ttl).build().map_err(|err| {
                BlobError::Backend(format!("cannot presign `{key}` for {ttl:?}: {}", DisplayErrorContext(&err)))
            })?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|err| backend("presign GetObject", key, err))?;
        Ok(presigned.uri().to_owned())
    }
}

/// Hashes the file at `path` in one streaming pass.
async fn hash_file(path: &Path) -> Result<BlobMeta, BlobError> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok(BlobMeta { size, sha256: hex::encode(hasher.finalize()) })
}

/// Reads up to `limit` bytes, fewer only at the end of the file.
async fn read_chunk(file: &mut tokio::fs::File, limit: usize) -> Result<Vec<u8>, BlobError> {
    let mut chunk = Vec::with_capacity(limit);
    let mut reader = file.take(limit as u64);
    reader.read_to_end(&mut chunk).await?;
    Ok(chunk)
}

/// Whether a GetObject failed because there is no object at the key.
fn is_not_found(err: &SdkError<GetObjectError, HttpResponse>) -> bool {
    matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_))) || status_of(err) == Some(404)
}

/// The HTTP status of a failed request, when a response came back.
fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|response| response.status().as_u16())
}

/// A backend error naming the operation and key, with the SDK's error chain.
fn backend<E, R>(operation: &str, key: &str, err: SdkError<E, R>) -> BlobError
where
    E: StdError + 'static,
    R: std::fmt::Debug,
{
    BlobError::Backend(format!("S3 {operation} `{key}` failed: {}", DisplayErrorContext(&err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store over a new bucket of the local emulator (`None` if AWS tests are skipped).
    async fn store() -> Option<S3Blobs> {
        let config = crate::testing::emulator().await?;
        let client = crate::aws::s3_client(&config);
        let bucket = crate::testing::unique_name("herald-blobs-s3").to_lowercase();
        client.create_bucket().bucket(&bucket).send().await.unwrap();
        Some(S3Blobs::new(client, bucket))
    }

    fn large_file(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
        let body: Vec<u8> = (0..PART_SIZE + 1000).map(|i| (i % 251) as u8).collect();
        let path = dir.join("large.bin");
        std::fs::write(&path, &body).unwrap();
        (path, body)
    }

    async fn stored_sha256(blobs: &S3Blobs, key: &str) -> Option<String> {
        let head = blobs.client.head_object().bucket(&blobs.bucket).key(key).send().await.unwrap();
        head.metadata().and_then(|m| m.get(SHA256_METADATA)).cloned()
    }

    #[tokio::test]
    async fn objects_carry_their_sha256_in_metadata() {
        let Some(blobs) = store().await else { return };
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = large_file(dir.path());
        let small = blobs.put("small.txt", Bytes::from_static(b"hi"), "text/plain").await.unwrap();
        let large = blobs.put_file("large.bin", &path, "application/octet-stream").await.unwrap();

        assert_eq!(stored_sha256(&blobs, "small.txt").await, Some(small.sha256));
        assert_eq!(stored_sha256(&blobs, "large.bin").await, Some(large.sha256));
    }

    #[tokio::test]
    async fn a_multipart_upload_that_fails_is_aborted_and_stores_nothing() {
        let Some(blobs) = store().await else { return };
        let dir = tempfile::tempdir().unwrap();
        let (path, body) = large_file(dir.path());
        // A hash that no longer matches the file, as if it changed after it was hashed.
        let stale = BlobMeta { size: body.len() as u64, sha256: sha256_hex(b"something else") };

        let result = blobs.put_multipart("large.bin", &path, "application/octet-stream", &stale).await;

        assert!(matches!(&result, Err(BlobError::Backend(message)) if message.contains("changed")), "{result:?}");
        let uploads = blobs.client.list_multipart_uploads().bucket(&blobs.bucket).send().await.unwrap();
        assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
        assert!(matches!(blobs.get("large.bin").await, Err(BlobError::NotFound(_))));
    }

    #[tokio::test]
    async fn errors_name_the_operation_and_key() {
        let Some(blobs) = store().await else { return };
        let missing = S3Blobs::new(blobs.client.clone(), format!("{}-absent", blobs.bucket));
        let result = missing.put("a.txt", Bytes::from_static(b"a"), "text/plain").await;
        assert!(
            matches!(&result, Err(BlobError::Backend(message))
                if message.contains("PutObject") && message.contains("`a.txt`")
                    && message.contains("NoSuchBucket")),
            "{result:?}"
        );
    }
}
