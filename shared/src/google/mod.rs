//! Google APIs with a service account: the uploaded key ([`key`]), access tokens from Google's
//! token endpoint, cached per key and user until shortly before they expire ([`Tokens`]), and
//! the Drive v3 calls a Drive delivery makes ([`drive`]). The endpoints are Google's; only the
//! test-only `HERALD_TEST_DRIVE_URL` points both at a local peer.

pub mod drive;
pub mod key;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

pub use key::{KeyError, ServiceAccountKey};

/// The scope a Drive delivery asks for: files it creates, in folders shared with it.
pub const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive";

/// A token is renewed this long before Google says it expires.
const TOKEN_MARGIN_SECONDS: i64 = 120;

/// Where the token endpoint and the APIs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub token_url: String,
    /// `https://www.googleapis.com`: Drive's `/drive/v3/…` and `/upload/drive/v3/…` hang off it.
    pub api_base: String,
}

impl Endpoints {
    pub fn google() -> Self {
        Self { token_url: "https://oauth2.googleapis.com/token".into(), api_base: "https://www.googleapis.com".into() }
    }

    /// A local peer serving both (tests only): its token endpoint at `/token`.
    pub fn local(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self { token_url: format!("{base}/token"), api_base: base.to_string() }
    }
}

/// Why a call to Google failed: worth retrying later or not, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoogleError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
    /// The API did not take the access token (revoked or expired early): fetch a new one.
    #[error("{0}")]
    TokenRejected(String),
}

impl GoogleError {
    pub fn is_transient(&self) -> bool {
        matches!(self, GoogleError::Transient(_))
    }

    /// A request that got no answer (refused, reset, timed out): worth retrying.
    fn unreachable(what: &str, error: &reqwest::Error) -> Self {
        let reason = if error.is_timeout() { "timed out".to_string() } else { "could not be reached".to_string() };
        GoogleError::Transient(format!("{what} {reason}"))
    }
}

/// Who a token is for: the key (a new key is a new entry) and the user it acts as.
type TokenKey = (String, String, Option<String>);

/// Access tokens by key and user, fetched when missing or about to expire.
pub struct Tokens {
    http: reqwest::Client,
    endpoints: Endpoints,
    cache: Mutex<HashMap<TokenKey, (String, DateTime<Utc>)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default = "an_hour")]
    expires_in: i64,
}

fn an_hour() -> i64 {
    3600
}

#[derive(Deserialize, Default)]
struct TokenRefusal {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl Tokens {
    pub fn new(endpoints: Endpoints) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        Self { http, endpoints, cache: Mutex::new(HashMap::new()) }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// An access token for `key` (acting as `subject` when given), from the cache while it is
    /// good for two more minutes.
    pub async fn token(
        &self,
        key: &ServiceAccountKey,
        subject: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, GoogleError> {
        let id = (key.client_email.clone(), key.private_key_id.clone(), subject.map(str::to_string));
        if let Some((token, until)) = self.lock().get(&id)
            && now < *until
        {
            return Ok(token.clone());
        }
        let assertion = key.assertion(DRIVE_SCOPE, &self.endpoints.token_url, subject, now);
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
        let answer = self
            .http
            .post(&self.endpoints.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| GoogleError::unreachable("Google's token endpoint", &e))?;
        let status = answer.status();
        let body = answer.bytes().await.map_err(|e| GoogleError::unreachable("Google's token endpoint", &e))?;
        if status.is_success() {
            let token: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
                GoogleError::Transient("Google's token endpoint answered something that is not a token".into())
            })?;
            let until = now + chrono::Duration::seconds(token.expires_in - TOKEN_MARGIN_SECONDS);
            self.lock().insert(id, (token.access_token.clone(), until));
            return Ok(token.access_token);
        }
        let refusal: TokenRefusal = serde_json::from_slice(&body).unwrap_or_default();
        let said = match (refusal.error.as_str(), refusal.error_description.as_str()) {
            ("", _) => format!("HTTP {}", status.as_u16()),
            (error, "") => error.to_string(),
            (error, description) => format!("{error}: {}", clip(description)),
        };
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(GoogleError::Transient(format!("Google's token endpoint is unavailable ({said})")));
        }
        let hint = match refusal.error.as_str() {
            "invalid_grant" => {
                " — the key may have been revoked or deleted, or the account disabled; upload a new key of the service account"
            }
            "unauthorized_client" => {
                " — to act as a user, the account needs domain-wide delegation for the Drive scope in the Google Workspace admin console"
            }
            _ => "",
        };
        Err(GoogleError::Permanent(format!("Google refused the service account {} ({said}){hint}", key.client_email)))
    }

    /// Forgets the token of `key` and `subject` (Google stopped accepting it).
    pub fn forget(&self, key: &ServiceAccountKey, subject: Option<&str>) {
        self.lock().remove(&(key.client_email.clone(), key.private_key_id.clone(), subject.map(str::to_string)));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenKey, (String, DateTime<Utc>)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// At most 300 characters of what a server said.
fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::{Value, json};
    use sha2::{Digest, Sha256};

    use super::drive::{Drive, MULTIPART_LIMIT};
    use super::*;
    use crate::testing::{drive_peer_url, service_account_key_file, unique_name};

    async fn peer(url: &str, path: &str, body: Value) -> Value {
        let answer = reqwest::Client::new().post(format!("{url}{path}")).json(&body).send().await.unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }

    async fn token_requests(url: &str, email: &str) -> usize {
        let log: Value =
            reqwest::get(format!("{url}/_peer/requests?client_email={email}")).await.unwrap().json().await.unwrap();
        log["requests"].as_array().unwrap().iter().filter(|r| r["path"] == "/token").count()
    }

    #[tokio::test]
    async fn a_token_is_cached_a_large_file_goes_up_resumably_and_refusals_say_what_to_do() {
        let Some(url) = drive_peer_url() else { return };
        let email = format!("{}@herald-test.iam.gserviceaccount.com", unique_name("client").replace('_', "-"));
        let file = service_account_key_file(&email, "kid-1");
        peer(&url, "/_peer/keys", serde_json::from_str(&file).unwrap()).await;
        let folder = unique_name("folder").replace('_', "-");
        peer(
            &url,
            "/_peer/folders",
            json!({"id": folder, "kind": "shared_drive", "members": {&email: "fileOrganizer"}}),
        )
        .await;
        let key = ServiceAccountKey::parse(&file).unwrap();
        let tokens = Tokens::new(Endpoints::local(&url));
        let now = Utc::now();

        let token = tokens.token(&key, None, now).await.unwrap();
        assert_eq!(tokens.token(&key, None, now + chrono::Duration::minutes(30)).await.unwrap(), token);
        assert_eq!(token_requests(&url, &email).await, 1, "the second call is served from the cache");

        let drive =
            Drive { http: tokens.http(), api_base: &tokens.endpoints().api_base, token: &token, account: &email };
        let large = Bytes::from(vec![7u8; MULTIPART_LIMIT + 1024]);
        let uploaded = drive.upload(&folder, "large.pdf", "application/pdf", &large, "tag-large").await.unwrap();
        assert_eq!(drive.find(&folder, "tag-large").await.unwrap().map(|f| f.id), Some(uploaded.id.clone()));
        assert_eq!(drive.find(&folder, "tag-other").await.unwrap(), None);
        let listed: Value =
            reqwest::get(format!("{url}/_peer/files?parent={folder}")).await.unwrap().json().await.unwrap();
        let stored = &listed["files"][0];
        assert_eq!(stored["size"], json!(large.len()));
        assert_eq!(stored["sha256"], json!(hex::encode(Sha256::digest(&large))));

        let missing = drive.folder("0NoSuchFolder000000").await.unwrap_err();
        assert!(matches!(&missing, GoogleError::Permanent(m) if m.contains("found no such folder")), "{missing}");
        drive.delete(&uploaded.id).await.unwrap();

        // A revoked key: the next token is refused for good, with what to do.
        reqwest::Client::new().delete(format!("{url}/_peer/keys/kid-1")).send().await.unwrap();
        tokens.forget(&key, None);
        let refused = tokens.token(&key, None, now).await.unwrap_err();
        assert!(
            matches!(&refused, GoogleError::Permanent(m) if m.contains("invalid_grant") && m.contains("upload a new key")),
            "{refused}"
        );
        // Without delegation, acting as a user is refused and says how to allow it.
        let refused = tokens.token(&key, Some("ops@example.com"), now).await.unwrap_err();
        assert!(!refused.is_transient(), "{refused}");
    }
}
