//! Drive v3 as a Drive delivery uses it: find a file a delivery already uploaded (by the app
//! property carrying its idempotency key), upload one (multipart up to 5 MiB, resumable above),
//! read a folder, and delete a file (what Test connection cleans up with). Every call sends
//! `supportsAllDrives=true`, without which folders of shared drives answer 404. Google's errors
//! are sorted into worth-retrying (429, 5xx, rate limits) and not, with what to do about them.

use bytes::Bytes;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::GoogleError;

/// Files up to this size go in one multipart request; larger ones in a resumable upload.
pub const MULTIPART_LIMIT: usize = 5 << 20;

/// The app property that carries the idempotency key of the delivery that uploaded a file.
pub const DELIVERY_PROPERTY: &str = "herald_delivery";

/// The fields Herald asks Drive for on a file.
const FILE_FIELDS: &str = "id,name,webViewLink";

/// A file in Drive.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DriveFile {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "webViewLink")]
    pub web_view_link: Option<String>,
}

/// A folder, and whether the caller may add files to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub id: String,
    pub name: String,
    /// In a shared drive (where a service account's files can live).
    pub shared_drive: bool,
    pub can_add_children: bool,
}

/// Drive, called with one access token.
pub struct Drive<'a> {
    pub http: &'a reqwest::Client,
    pub api_base: &'a str,
    pub token: &'a str,
    /// The account's email, for messages.
    pub account: &'a str,
}

#[derive(Deserialize)]
struct FileList {
    #[serde(default)]
    files: Vec<DriveFile>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize, Default)]
struct ErrorItem {
    #[serde(default)]
    reason: String,
}

/// Whether a Drive folder id is made of the characters Drive uses (so it is safe in a query).
pub fn is_folder_id(id: &str) -> bool {
    (10..=100).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A string literal of Drive's query language.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl Drive<'_> {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = format!("{}{path}", self.api_base);
        self.http.request(method, url).bearer_auth(self.token).query(&[("supportsAllDrives", "true")])
    }

    /// Sends `request` and reads its JSON answer, or says why Drive refused it.
    async fn call<T: for<'de> Deserialize<'de>>(&self, request: RequestBuilder, what: &str) -> Result<T, GoogleError> {
        let answer = request.send().await.map_err(|e| GoogleError::unreachable("Google Drive", &e))?;
        let status = answer.status();
        let body = answer.bytes().await.map_err(|e| GoogleError::unreachable("Google Drive", &e))?;
        if !status.is_success() {
            return Err(self.refusal(status, &body, what));
        }
        serde_json::from_slice(&body).map_err(|_| {
            GoogleError::Transient(format!("Google Drive answered {what} with something that is not JSON"))
        })
    }

    /// Google's error, sorted and explained.
    fn refusal(&self, status: StatusCode, body: &[u8], what: &str) -> GoogleError {
        let detail = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default().error;
        let reason = detail.errors.first().map(|e| e.reason.as_str()).unwrap_or_default();
        let said = if detail.message.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {}: {}", status.as_u16(), super::clip(&detail.message))
        };
        let transient_reasons = ["rateLimitExceeded", "userRateLimitExceeded", "backendError", "internalError"];
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() || transient_reasons.contains(&reason) {
            return GoogleError::Transient(format!("Google Drive is busy {what} ({said}); it will be tried again"));
        }
        let account = self.account;
        if status == StatusCode::UNAUTHORIZED {
            return GoogleError::TokenRejected(format!(
                "Google Drive did not accept the service account's token {what} ({said})"
            ));
        }
        GoogleError::Permanent(match (status.as_u16(), reason) {
            (_, "storageQuotaExceeded") => format!(
                "Google Drive refused {what}: the service account {account} has no Drive storage of its own, so it \
                 cannot own files in a folder of someone's My Drive. Use a folder in a shared drive where the account \
                 is a member (Content manager), or have it act as a user through domain-wide delegation ({said})"
            ),
            (404, _) => format!(
                "Google Drive found no such folder {what}: check the folder id, and that the folder is shared with \
                 {account} (for a shared drive, add the account as a member) ({said})"
            ),
            (403, _) => format!(
                "Google Drive did not let {account} write {what}: give it Content manager (shared drive) or Editor \
                 access to the folder ({said})"
            ),
            _ => format!("Google Drive refused {what} ({said})"),
        })
    }

    /// The file in `folder` a delivery with `key` already uploaded as file `name`, if any.
    pub async fn find(&self, folder: &str, key: &str) -> Result<Option<DriveFile>, GoogleError> {
        let q = format!(
            "appProperties has {{ key={} and value={} }} and {} in parents and trashed=false",
            quoted(DELIVERY_PROPERTY),
            quoted(key),
            quoted(folder)
        );
        let request = self.request(Method::GET, "/drive/v3/files").query(&[
            ("q", q.as_str()),
            ("includeItemsFromAllDrives", "true"),
            ("corpora", "allDrives"),
            ("fields", "files(id,name,webViewLink)"),
            ("pageSize", "10"),
        ]);
        let list: FileList = self.call(request, "while looking for a file it already uploaded").await?;
        Ok(list.files.into_iter().next())
    }

    /// Uploads `bytes` as `name` into `folder`, tagged with the delivery's `key`.
    pub async fn upload(
        &self,
        folder: &str,
        name: &str,
        content_type: &str,
        bytes: &Bytes,
        key: &str,
    ) -> Result<DriveFile, GoogleError> {
        let metadata = json!({"name": name, "parents": [folder], "appProperties": {DELIVERY_PROPERTY: key}});
        let what = format!("the upload of {name}");
        if bytes.len() <= MULTIPART_LIMIT {
            let boundary = format!("herald-{}", key.replace(|c: char| !c.is_ascii_alphanumeric(), ""));
            let mut body = Vec::with_capacity(bytes.len() + 512);
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(format!("--{boundary}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
            body.extend_from_slice(bytes);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let request = self
                .request(Method::POST, "/upload/drive/v3/files")
                .query(&[("uploadType", "multipart"), ("fields", FILE_FIELDS)])
                .header("Content-Type", format!("multipart/related; boundary={boundary}"))
                .body(body);
            return self.call(request, &what).await;
        }
        let start = self
            .request(Method::POST, "/upload/drive/v3/files")
            .query(&[("uploadType", "resumable"), ("fields", FILE_FIELDS)])
            .header("X-Upload-Content-Type", content_type)
            .header("X-Upload-Content-Length", bytes.len().to_string())
            .json(&metadata);
        let answer = start.send().await.map_err(|e| GoogleError::unreachable("Google Drive", &e))?;
        let status = answer.status();
        let location = answer.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = answer.bytes().await.map_err(|e| GoogleError::unreachable("Google Drive", &e))?;
        if !status.is_success() {
            return Err(self.refusal(status, &body, &what));
        }
        let Some(session) = location else {
            return Err(GoogleError::Transient(format!("Google Drive started {what} without a session to send it to")));
        };
        let put = self.http.put(session).header("Content-Type", content_type).body(bytes.clone());
        self.call(put, &what).await
    }

    /// The folder `id`, or why it cannot be used.
    pub async fn folder(&self, id: &str) -> Result<Folder, GoogleError> {
        let request = self
            .request(Method::GET, &format!("/drive/v3/files/{id}"))
            .query(&[("fields", "id,name,mimeType,driveId,capabilities(canAddChildren)")]);
        let found: Value = self.call(request, "while reading the folder").await?;
        if found["mimeType"] != "application/vnd.google-apps.folder" {
            return Err(GoogleError::Permanent(format!("`{id}` is a file in Google Drive, not a folder")));
        }
        Ok(Folder {
            id: id.to_string(),
            name: found["name"].as_str().unwrap_or_default().to_string(),
            shared_drive: found["driveId"].as_str().is_some_and(|d| !d.is_empty()),
            can_add_children: found["capabilities"]["canAddChildren"].as_bool().unwrap_or(true),
        })
    }

    /// Deletes the file `id` (skipping the trash).
    pub async fn delete(&self, id: &str) -> Result<(), GoogleError> {
        let answer = self
            .request(Method::DELETE, &format!("/drive/v3/files/{id}"))
            .send()
            .await
            .map_err(|e| GoogleError::unreachable("Google Drive", &e))?;
        let status = answer.status();
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        let body = answer.bytes().await.unwrap_or_default();
        Err(self.refusal(status, &body, "while removing the test file"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_literals_escape_quotes_and_backslashes() {
        assert_eq!(quoted(r"it's a\b"), r"'it\'s a\\b'");
    }

    #[test]
    fn folder_ids_are_drive_characters_only() {
        assert!(is_folder_id("1AbC-d_EfGhIjKlMnOp"));
        assert!(!is_folder_id("short"));
        assert!(!is_folder_id("1AbCdEfGhIj' or 'x'='x"));
    }
}
