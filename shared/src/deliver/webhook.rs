//! Webhook delivery: the whole run (run, entry, narrative, message and every artifact inline as
//! base64) POSTed as JSON to the destination's URL, signed as the Standard Webhooks
//! specification (<https://www.standardwebhooks.com/>) describes so the receiver can check
//! that Herald sent it and drop replays:
//!
//! - `webhook-id`: the delivery's idempotency key (the same on every retry of one delivery);
//! - `webhook-timestamp`: when it was sent, in Unix seconds;
//! - `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
//!
//! The HMAC key is the destination's signing secret: a `whsec_…` secret is the base64 of the
//! key (the form Standard Webhooks libraries generate and accept); any other secret is used as
//! its raw UTF-8 bytes.
//!
//! One send tries a few times when the receiver answers 429 or 5xx or does not answer in
//! time, waiting longer each time (or as long as a `Retry-After` asks, up to a cap). If it still
//! fails, the error is [`SendError::Transient`] and the pipeline retries later. Redirects are
//! never followed.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::slack::{check_status, net_error};
use super::{EntryInfo, Outgoing, Receipt, RunInfo, SendError};
use crate::domain::NarrativeOutput;
use crate::net::{HttpResponse, NetworkPolicy, OutboundHttp, RequestOptions};

/// The `type` of the event Herald sends.
pub const EVENT_TYPE: &str = "report.delivered";
/// Prefix of a base64-encoded Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

const TIMEOUT: Duration = Duration::from_secs(20);
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The JSON body of a webhook delivery.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub idempotency_key: &'a str,
    pub run: &'a RunInfo,
    pub entry: &'a EntryInfo,
    pub narrative: Option<&'a NarrativeOutput>,
    pub subject: &'a str,
    pub message: &'a str,
    pub run_url: &'a str,
    pub artifacts: Vec<WebhookArtifact<'a>>,
}

/// One artifact of a webhook delivery, with its bytes inline.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookArtifact<'a> {
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    pub download_url: &'a str,
    pub content_base64: String,
}

impl<'a> WebhookBody<'a> {
    pub fn of(outgoing: &'a Outgoing) -> Self {
        Self {
            kind: EVENT_TYPE,
            idempotency_key: &outgoing.idempotency_key,
            run: &outgoing.run,
            entry: &outgoing.entry,
            narrative: outgoing.narrative.as_ref(),
            subject: &outgoing.subject,
            message: &outgoing.message,
            run_url: &outgoing.run_url,
            artifacts: outgoing
                .files
                .iter()
                .map(|f| WebhookArtifact {
                    file_name: &f.file_name,
                    content_type: &f.content_type,
                    size: f.size,
                    sha256: &f.sha256,
                    download_url: &f.download_url,
                    content_base64: BASE64.encode(&f.bytes),
                })
                .collect(),
        }
    }
}

/// How one send retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests made at most (the first one included).
    pub attempts: u32,
    /// Wait before the second request; doubled before each further one.
    pub base_delay: Duration,
    /// Longest wait between two requests, whatever `Retry-After` asks.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 3 requests, 0.5 s then 1 s apart; a `Retry-After` is honoured up to 5 s.
    fn default() -> Self {
        Self { attempts: 3, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// The wait before request number `attempt + 1` (after `attempt` failed ones).
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.base_delay.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        backoff.max(retry_after.unwrap_or_default()).min(self.max_delay)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the signing secret is empty")]
    Empty,
    #[error("the signing secret starts with `whsec_` but the rest is not valid base64")]
    InvalidBase64,
    #[error("the signing key cannot be used for HMAC-SHA256")]
    InvalidKey,
}

/// The HMAC key of a signing secret: the base64-decoded rest of a `whsec_` secret, else the
/// secret's bytes.
pub fn signing_key(secret: &str) -> Result<Vec<u8>, SigningError> {
    let key = match secret.strip_prefix(SECRET_PREFIX) {
        Some(encoded) => BASE64.decode(encoded.trim()).map_err(|_| SigningError::InvalidBase64)?,
        None => secret.as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err(SigningError::Empty);
    }
    Ok(key)
}

/// The `webhook-signature` value for `body`: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Result<String, SigningError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| SigningError::InvalidKey)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// Sends signed webhooks.
#[derive(Debug, Clone, Default)]
pub struct WebhookSender {
    retry: RetryPolicy,
}

impl WebhookSender {
    pub fn new() -> Self {
        Self::default()
    }

    /// With another retry policy (tests use short delays).
    pub fn with_retry(retry: RetryPolicy) -> Self {
        Self { retry }
    }

    /// POSTs [`WebhookBody`] of `outgoing` to `url`, signed with `signing_secret` at `now`.
    /// Any 2xx is success; the receipt holds the `webhook-id`.
    pub async fn send(
        &self,
        http: &OutboundHttp,
        policy: &NetworkPolicy,
        url: &str,
        signing_secret: &str,
        outgoing: &Outgoing,
        now: DateTime<Utc>,
    ) -> Result<Receipt, SendError> {
        let signing = |e: SigningError| SendError::Permanent(format!("webhook: {e}"));
        let key = signing_key(signing_secret).map_err(signing)?;
        let body = serde_json::to_value(WebhookBody::of(outgoing))
            .map_err(|e| SendError::Permanent(format!("webhook: cannot encode the body: {e}")))?;
        // `post_json` writes the same bytes for the same value.
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| SendError::Permanent(format!("webhook: cannot encode the body: {e}")))?;
        let id = outgoing.idempotency_key.as_str();
        let timestamp = now.timestamp();
        let signature = sign(&key, id, timestamp, &bytes).map_err(signing)?;
        let options = RequestOptions::new(TIMEOUT, MAX_RESPONSE_BYTES)
            .with_header("webhook-id", id)
            .and_then(|o| o.with_header("webhook-timestamp", &timestamp.to_string()))
            .and_then(|o| o.with_header("webhook-signature", &signature))
            .map_err(|e| net_error("webhook", e))?;

        let attempts = self.retry.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (error, retry_after) = match http.post_json(policy, url, &body, &options).await {
                Ok(response) => match check_status("webhook", &response) {
                    Ok(()) => return Ok(Receipt { provider_message_id: Some(id.to_string()) }),
                    Err(error) => (error, retry_after(&response)),
                },
                Err(error) => (net_error("webhook", error), None),
            };
            if !error.is_transient() || attempt >= attempts {
                return Err(match error {
                    SendError::Transient(message) if attempts > 1 => {
                        SendError::Transient(format!("{message} (after {attempt} attempts)"))
                    }
                    other => other,
                });
            }
            tracing::debug!(attempt, error = %error, "webhook delivery failed; retrying");
            tokio::time::sleep(self.retry.delay(attempt, retry_after)).await;
        }
    }
}

/// The `Retry-After` of an answer, when given in seconds.
fn retry_after(response: &HttpResponse) -> Option<Duration> {
    let value = response.headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
