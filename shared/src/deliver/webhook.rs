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
use super::{About, Outgoing, Receipt, SendError};
use crate::domain::{NarrativeOutput, NotificationKind};
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
    /// `run` and `entry` for a report delivery, `alert` for an alert notification.
    #[serde(flatten)]
    pub about: &'a About,
    pub narrative: Option<&'a NarrativeOutput>,
    pub subject: &'a str,
    pub message: &'a str,
    pub run_url: &'a str,
    /// The run in the console, for a person following the link (absent for messages to
    /// people outside the workspace).
    pub view_url: Option<&'a str>,
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
            kind: match &outgoing.about {
                About::Run { .. } => EVENT_TYPE,
                About::Alert { alert } => match alert.kind {
                    NotificationKind::Firing => "alert.firing",
                    NotificationKind::Repeat => "alert.repeat",
                    NotificationKind::Resolved => "alert.resolved",
                },
            },
            idempotency_key: &outgoing.idempotency_key,
            about: &outgoing.about,
            narrative: outgoing.narrative.as_ref(),
            subject: &outgoing.subject,
            message: &outgoing.message,
            run_url: &outgoing.run_url,
            view_url: outgoing.view_url.as_deref(),
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::TimeZone;
    use sha2::Digest;

    use super::*;
    use crate::testing::outgoing::outgoing;
    use crate::testing::recorder::{Recorded, Recorder, Reply, loopback_policy};

    /// 32 random-looking bytes, base64, as Standard Webhooks libraries generate.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn fast() -> WebhookSender {
        WebhookSender::with_retry(RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        })
    }

    /// The request as the `standardwebhooks` crate sees it.
    fn verify(secret: &standardwebhooks::Webhook, request: &Recorded) -> Result<(), standardwebhooks::WebhookError> {
        let mut headers = http::HeaderMap::new();
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            if let Some(value) = request.headers.get(name) {
                headers.insert(name, value.clone());
            }
        }
        secret.verify(&request.body, &headers)
    }

    #[tokio::test]
    async fn the_body_is_signed_as_standard_webhooks_verify_it() {
        let server = Recorder::start(vec![Reply::new(204, "")]).await;
        let out = outgoing(Utc::now());
        let now = Utc::now();
        let receipt =
            fast().send(&OutboundHttp::new(), &loopback_policy(), &server.url("/in"), SECRET, &out, now).await.unwrap();
        assert_eq!(receipt.provider_message_id.as_deref(), Some(out.idempotency_key.as_str()));
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.header("webhook-id"), Some(out.idempotency_key.as_str()));
        assert_eq!(request.header("webhook-timestamp"), Some(now.timestamp().to_string().as_str()));
        assert!(request.header("webhook-signature").unwrap().starts_with("v1,"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        verify(&standardwebhooks::Webhook::new(SECRET).unwrap(), request).unwrap();
        // Another secret, or a changed body, does not verify.
        let other = standardwebhooks::Webhook::new("whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCE=").unwrap();
        assert!(verify(&other, request).is_err());
        let mut tampered = request.clone();
        tampered.body = axum::body::Bytes::from(String::from_utf8_lossy(&request.body).replace("Weekly", "Monthly"));
        assert!(verify(&standardwebhooks::Webhook::new(SECRET).unwrap(), &tampered).is_err());
    }

    #[tokio::test]
    async fn a_secret_without_the_whsec_prefix_is_used_as_raw_bytes() {
        let server = Recorder::start(vec![Reply::new(200, "")]).await;
        let secret = "plain-text-secret-of-some-length";
        let now = Utc::now();
        fast()
            .send(&OutboundHttp::new(), &loopback_policy(), &server.url("/"), secret, &outgoing(now), now)
            .await
            .unwrap();
        let raw = standardwebhooks::Webhook::from_bytes(secret.as_bytes().to_vec()).unwrap();
        verify(&raw, &server.requests()[0]).unwrap();
    }

    #[test]
    fn the_signature_is_the_hmac_of_id_timestamp_and_body() {
        // printf 'msg_1.1700000000.{"a":1}' | openssl dgst -sha256 -hmac key -binary | base64
        let signature = sign(b"key", "msg_1", 1_700_000_000, br#"{"a":1}"#).unwrap();
        assert_eq!(signature, "v1,KSgv0SSgWzG5LPnm9tfWJRfBlWqAqHz+OlObgspQi/g=");
        let library = standardwebhooks::Webhook::from_bytes(b"key".to_vec()).unwrap();
        assert_eq!(library.sign("msg_1", 1_700_000_000, br#"{"a":1}"#).unwrap(), signature);
        assert_eq!(signing_key("whsec_a2V5"), Ok(b"key".to_vec()));
        assert_eq!(signing_key("whsec_!!"), Err(SigningError::InvalidBase64));
        assert_eq!(signing_key(""), Err(SigningError::Empty));
    }

    #[tokio::test]
    async fn the_body_carries_run_entry_narrative_and_base64_artifacts_matching_their_sha256() {
        let server = Recorder::start(vec![Reply::new(200, "")]).await;
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
        let out = outgoing(now);
        fast().send(&OutboundHttp::new(), &loopback_policy(), &server.url("/"), SECRET, &out, now).await.unwrap();
        let body = server.requests()[0].json();
        assert_eq!(body["type"], "report.delivered");
        assert_eq!(body["idempotency_key"], out.idempotency_key.as_str());
        let crate::deliver::About::Run { run, entry } = &out.about else { panic!("a run delivery") };
        assert_eq!(body["run"]["id"], run.id.to_string());
        assert_eq!(body["run"]["report_code"], "weekly-digest");
        assert_eq!(body["run"]["trigger"], "schedule");
        assert_eq!(body["entry"]["id"], entry.id.to_string());
        assert_eq!(body["narrative"]["takeaways"][1], "Offer B > Offer A");
        assert_eq!(body["subject"], out.subject.as_str());
        assert_eq!(body["message"], out.message.as_str());
        assert_eq!(body["run_url"], out.run_url.as_str());
        let artifacts = body["artifacts"].as_array().unwrap();
        assert_eq!(artifacts.len(), out.files.len());
        for (artifact, file) in artifacts.iter().zip(&out.files) {
            let bytes = BASE64.decode(artifact["content_base64"].as_str().unwrap()).unwrap();
            assert_eq!(bytes, file.bytes);
            assert_eq!(artifact["sha256"], hex::encode(Sha256::digest(&bytes)));
            assert_eq!(artifact["file_name"], file.file_name.as_str());
            assert_eq!(artifact["content_type"], file.content_type.as_str());
            assert_eq!(artifact["size"], bytes.len());
            assert_eq!(artifact["download_url"], file.download_url.as_str());
        }
    }

    #[tokio::test]
    async fn a_503_then_200_succeeds_after_one_retry_with_the_same_signature() {
        let server = Recorder::start(vec![Reply::new(503, "busy"), Reply::new(200, "")]).await;
        let now = Utc::now();
        fast()
            .send(&OutboundHttp::new(), &loopback_policy(), &server.url("/"), SECRET, &outgoing(now), now)
            .await
            .unwrap();
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].header("webhook-signature"), requests[1].header("webhook-signature"));
        assert_eq!(requests[0].body, requests[1].body);
    }

    #[tokio::test]
    async fn a_server_that_always_fails_gives_a_transient_error_after_the_attempts() {
        let server = Recorder::start(vec![Reply::new(500, "boom")]).await;
        let now = Utc::now();
        let err = fast()
            .send(&OutboundHttp::new(), &loopback_policy(), &server.url("/"), SECRET, &outgoing(now), now)
            .await
            .unwrap_err();
        assert!(matches!(&err, SendError::Transient(m) if m.contains("500") && m.contains("3 attempts")), "{err:?}");
        assert_eq!(server.requests().len(), 3);
    }

    #[tokio::test]
    async fn a_400_is_permanent_at_once() {
        let server = Recorder::start(vec![Reply::new(400, "bad event")]).await;
        let now = Utc::now();
        let err = fast()
            .send(&OutboundHttp::new(), &loopback_policy(), &server.url("/"), SECRET, &outgoing(now), now)
            .await
            .unwrap_err();
        assert!(matches!(&err, SendError::Permanent(m) if m.contains("400") && m.contains("bad event")), "{err:?}");
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn a_redirect_is_permanent_and_its_target_is_never_called() {
        let target = Recorder::start(vec![Reply::new(200, "")]).await;
        let server = Recorder::start(vec![Reply::new(302, "").header("location", &target.url("/elsewhere"))]).await;
        let now = Utc::now();
        let err = fast()
            .send(&OutboundHttp::new(), &loopback_policy(), &server.url("/"), SECRET, &outgoing(now), now)
            .await
            .unwrap_err();
        assert!(matches!(&err, SendError::Permanent(m) if m.contains("redirects are not followed")), "{err:?}");
        assert_eq!(server.requests().len(), 1);
        assert!(target.requests().is_empty());
    }

    #[tokio::test]
    async fn a_loopback_url_is_refused_without_the_allow_list_and_says_why() {
        let server = Recorder::start(vec![Reply::new(200, "")]).await;
        let now = Utc::now();
        let err = fast()
            .send(&OutboundHttp::new(), &NetworkPolicy::public_only(), &server.url("/"), SECRET, &outgoing(now), now)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent(m) if m.contains("not a public address") && m.contains("allowed_addresses")),
            "{err:?}"
        );
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn retry_after_is_honoured_up_to_the_cap() {
        let server =
            Recorder::start(vec![Reply::new(429, "").header("retry-after", "3600"), Reply::new(200, "")]).await;
        let now = Utc::now();
        let started = Instant::now();
        fast()
            .send(&OutboundHttp::new(), &loopback_policy(), &server.url("/"), SECRET, &outgoing(now), now)
            .await
            .unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(50) && waited < Duration::from_secs(2), "{waited:?}");
        assert_eq!(server.requests().len(), 2);
    }

    #[test]
    fn backoff_doubles_and_stays_under_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, None), Duration::from_millis(500));
        assert_eq!(policy.delay(2, None), Duration::from_secs(1));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(600))), Duration::from_secs(5));
        assert_eq!(policy.delay(30, None), Duration::from_secs(5));
    }
}
