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
