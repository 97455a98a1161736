//! S3 archive delivery (the seeds' cloud-drive destination): each artifact of an entry is
//! written to the destination's bucket at `{prefix}/{file_name}`, where the file name already
//! carries the delivery's naming pattern. Objects carry their content type and, as user
//! metadata, their hex SHA-256 (`x-amz-meta-sha256`) and the delivery's idempotency key
//! (`x-amz-meta-herald-idempotency-key`), so a repeated delivery overwrites the same objects.
//!
//! Keys are normalised (backslashes become slashes, empty and `.` segments are dropped) and a
//! `..` segment is refused. Refused access and a missing bucket are permanent failures;
//! throttling, 5xx answers and network failures are transient.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use super::{Outgoing, Receipt, SendError};

/// User-metadata name of the hex SHA-256 of an object.
pub const SHA256_METADATA: &str = "sha256";
/// User-metadata name of the delivery's idempotency key.
pub const IDEMPOTENCY_METADATA: &str = "herald-idempotency-key";

/// Error codes S3 answers that retrying will not fix.
const PERMANENT_CODES: &[&str] = &[
    "AccessDenied",
    "AllAccessDisabled",
    "NoSuchBucket",
    "InvalidBucketName",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccountProblem",
    "InvalidObjectState",
    "KeyTooLongError",
    "EntityTooLarge",
    "InvalidArgument",
    "PermanentRedirect",
];

/// Error codes S3 answers that may go away.
const TRANSIENT_CODES: &[&str] =
    &["SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable"];

/// Writes deliveries' artifacts to S3 buckets.
#[derive(Debug, Clone)]
pub struct S3Archive {
    client: Client,
}

impl S3Archive {
    /// An archive using `client` (built with [`crate::aws::s3_client`]).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Puts every file of `outgoing` into `bucket` under `prefix`. All keys are checked before
    /// anything is written. The receipt lists the keys written, one per line.
    pub async fn send(&self, bucket: &str, prefix: &str, outgoing: &Outgoing) -> Result<Receipt, SendError> {
        let keys =
            outgoing.files.iter().map(|file| object_key(prefix, &file.file_name)).collect::<Result<Vec<_>, _>>()?;
        for (file, key) in outgoing.files.iter().zip(&keys) {
            self.client
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type(&file.content_type)
                .content_length(file.bytes.len() as i64)
                .metadata(SHA256_METADATA, &file.sha256)
                .metadata(IDEMPOTENCY_METADATA, &outgoing.idempotency_key)
                .body(ByteStream::from(file.bytes.clone()))
                .send()
                .await
                .map_err(|err| classify(bucket, key, err))?;
        }
        Ok(Receipt { provider_message_id: Some(keys.join("\n")) })
    }
}

/// `{prefix}/{file_name}` with slashes normalised; a `..` segment or an empty name is refused.
pub fn object_key(prefix: &str, file_name: &str) -> Result<String, SendError> {
    let segments = |text: &str| -> Result<Vec<String>, SendError> {
        let mut kept = Vec::new();
        for segment in text.split(['/', '\\']) {
            match segment.trim() {
                "" | "." => {}
                ".." => {
                    return Err(SendError::Permanent(format!(
                        "S3 archive: `{text}` contains a `..` segment; object keys cannot climb out of the prefix"
                    )));
                }
                _ => kept.push(segment.to_string()),
            }
        }
        Ok(kept)
    };
    let name = segments(file_name)?;
    if name.is_empty() {
        return Err(SendError::Permanent(format!("S3 archive: `{file_name}` is not a usable file name")));
    }
    let mut key = segments(prefix)?;
    key.extend(name);
    let key = key.join("/");
    if key.len() > 1024 {
        return Err(SendError::Permanent(format!("S3 archive: the key `{key}` is longer than S3's 1024 bytes")));
    }
    Ok(key)
}

/// Whether an S3 failure is worth retrying, with the SDK's error context.
fn classify<E>(bucket: &str, key: &str, err: SdkError<E, HttpResponse>) -> SendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.as_service_error().and_then(|e| e.code()).map(str::to_string);
    let status = err.raw_response().map(|r| r.status().as_u16());
    let message = format!("S3 PutObject s3://{bucket}/{key} failed: {}", DisplayErrorContext(&err));
    let transient = match (&err, code.as_deref()) {
        (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_), _) => true,
        (SdkError::ConstructionFailure(_), _) => false,
        (_, Some(code)) if PERMANENT_CODES.contains(&code) => false,
        (_, Some(code)) if TRANSIENT_CODES.contains(&code) => true,
        _ => status.is_some_and(|s| s == 429 || s >= 500),
    };
    if transient { SendError::Transient(message) } else { SendError::Permanent(message) }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::testing::outgoing::{file, outgoing};

    /// An archive and a new bucket of the local emulator (`None` if AWS tests are skipped).
    async fn archive() -> Option<(S3Archive, Client, String)> {
        let config = crate::testing::emulator().await?;
        let client = crate::aws::s3_client(&config);
        let bucket = crate::testing::unique_name("herald-archive").to_lowercase();
        client.create_bucket().bucket(&bucket).send().await.unwrap();
        Some((S3Archive::new(client.clone()), client, bucket))
    }

    #[test]
    fn keys_join_prefix_and_name_with_normalised_slashes() {
        assert_eq!(object_key("reports/", "a.pdf").unwrap(), "reports/a.pdf");
        assert_eq!(object_key("/reports//2026/", "./acme\\a.pdf").unwrap(), "reports/2026/acme/a.pdf");
        assert_eq!(object_key("", "a.pdf").unwrap(), "a.pdf");
        for (prefix, name) in [("reports", "../a.pdf"), ("reports/../other", "a.pdf"), ("x", "a/..\\..\\b")] {
            let err = object_key(prefix, name).unwrap_err();
            assert!(matches!(&err, SendError::Permanent(m) if m.contains("..")), "{err:?}");
        }
        assert!(matches!(object_key("reports", "/"), Err(SendError::Permanent(_))));
    }

    #[tokio::test]
    async fn each_file_is_written_under_the_prefix_with_its_bytes_type_and_metadata() {
        let Some((archive, client, bucket)) = archive().await else { return };
        let mut out = outgoing(Utc::now());
        out.files.push(file("acme/2026-11/statement.md", "text/markdown", b"# Statement"));
        let receipt = archive.send(&bucket, "herald/weekly/", &out).await.unwrap();
        let keys = [
            "herald/weekly/weekly-digest.pdf",
            "herald/weekly/weekly-digest.csv",
            "herald/weekly/acme/2026-11/statement.md",
        ];
        assert_eq!(receipt.provider_message_id, Some(keys.join("\n")));
        for (key, f) in keys.iter().zip(&out.files) {
            let object = client.get_object().bucket(&bucket).key(*key).send().await.unwrap();
            assert_eq!(object.content_type(), Some(f.content_type.as_str()));
            let metadata = object.metadata().cloned().unwrap_or_default();
            assert_eq!(metadata.get(SHA256_METADATA), Some(&f.sha256));
            assert_eq!(metadata.get(IDEMPOTENCY_METADATA), Some(&out.idempotency_key));
            let bytes = object.body.collect().await.unwrap().into_bytes();
            assert_eq!(bytes, f.bytes);
        }
    }

    #[tokio::test]
    async fn a_missing_bucket_is_a_permanent_failure() {
        let Some((archive, _, bucket)) = archive().await else { return };
        let err = archive.send(&format!("{bucket}-missing"), "", &outgoing(Utc::now())).await.unwrap_err();
        assert!(matches!(&err, SendError::Permanent(m) if m.contains("NoSuchBucket")), "{err:?}");
    }

    #[tokio::test]
    async fn a_key_climbing_out_of_the_prefix_writes_nothing() {
        let Some((archive, client, bucket)) = archive().await else { return };
        let mut out = outgoing(Utc::now());
        out.files.push(file("../escape.pdf", "application/pdf", b"x"));
        let err = archive.send(&bucket, "herald", &out).await.unwrap_err();
        assert!(matches!(err, SendError::Permanent(_)));
        let listed = client.list_objects_v2().bucket(&bucket).send().await.unwrap();
        assert_eq!(listed.key_count(), Some(0));
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_transient_failure() {
        let Some(config) = crate::testing::emulator().await else { return };
        let unreachable = aws_sdk_s3::config::Builder::from(&config)
            .endpoint_url("http://127.0.0.1:9")
            .force_path_style(true)
            .build();
        let archive = S3Archive::new(Client::from_conf(unreachable));
        let err = archive.send("herald-nowhere", "", &outgoing(Utc::now())).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }
}
