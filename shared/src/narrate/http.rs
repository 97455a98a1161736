//! Calling a model server over HTTP (the OpenAI-compatible and Anthropic narrators): through
//! the one outbound client, so the workspace's network policy applies (a model server on a
//! private address or loopback needs the allow-list); with a time limit; retrying 429, 5xx
//! and 529 answers with back-off, honouring `retry-after` up to a bound. The API key travels in
//! a header marked sensitive and never appears in an error.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::NarrateError;
use super::prompt::excerpt;
use crate::net::{NetworkPolicy, OutboundHttp, RequestOptions};

/// Largest answer read from a model server.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// How often a request is tried, and the waits between tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Retry {
    /// 3 tries, 1 s then 2 s apart; a `retry-after` is honoured up to 10 s.
    fn default() -> Self {
        Self { attempts: 3, base_delay: Duration::from_secs(1), max_delay: Duration::from_secs(10) }
    }
}

/// One model server: where requests go and what they carry.
pub struct ModelServer {
    pub http: Arc<OutboundHttp>,
    pub policy: NetworkPolicy,
    /// The full URL of the endpoint (`{base}/v1/chat/completions`).
    pub url: String,
    /// Extra headers (the API key among them).
    pub headers: Vec<(&'static str, String)>,
    pub timeout: Duration,
    pub retry: Retry,
    /// The provider's name in messages (`OpenAI-compatible server`, `Anthropic`).
    pub provider: &'static str,
}

impl ModelServer {
    /// Posts `body` and answers the JSON of a 2xx reply.
    pub async fn post(&self, body: &Value) -> Result<Value, NarrateError> {
        let mut options = RequestOptions::new(self.timeout, MAX_ANSWER_BYTES);
        for (name, value) in &self.headers {
            options = options.with_header(name, value).map_err(|_| {
                NarrateError::Unavailable(format!("the {name} header has characters HTTP cannot carry"))
            })?;
        }
        let provider = self.provider;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = self
                .http
                .post_json(&self.policy, &self.url, body, &options)
                .await
                .map_err(|e| NarrateError::Unavailable(format!("{provider}: {e}")))?;
            let status = answer.status;
            if answer.is_success() {
                return serde_json::from_slice(&answer.body).map_err(|_| {
                    let text = String::from_utf8_lossy(&answer.body);
                    NarrateError::Malformed(format!(
                        "{provider} answered something that is not JSON: \"{}\"",
                        excerpt(&text)
                    ))
                });
            }
            let retryable = status == 429 || status == 529 || (500..600).contains(&status);
            if retryable && attempt < self.retry.attempts {
                let retry_after = answer
                    .headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64);
                let backoff = self.retry.base_delay.saturating_mul(2u32.saturating_pow(attempt - 1));
                tokio::time::sleep(backoff.max(retry_after.unwrap_or_default()).min(self.retry.max_delay)).await;
                continue;
            }
            let said = serde_json::from_slice::<Value>(&answer.body)
                .ok()
                .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned());
            let tries = if attempt > 1 { format!(" after {attempt} tries") } else { String::new() };
            return Err(NarrateError::Unavailable(format!(
                "{provider} answered HTTP {status}{tries}: {}",
                excerpt(&said)
            )));
        }
    }
}
