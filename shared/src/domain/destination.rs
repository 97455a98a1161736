//! Destinations: the workspace's configured notification providers that report runs deliver
//! to. Secrets are stored here and never returned by the API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{DestinationId, FieldError, Name, Secret, ValidationErrors, WorkspaceId, looks_like_email};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Destination {
    pub id: DestinationId,
    pub workspace_id: WorkspaceId,
    pub name: Name,
    pub config: DestinationConfig,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailTransport {
    /// Amazon SES v2 (raw MIME).
    Ses,
    /// The workspace's SMTP server.
    Smtp,
    /// `.eml` files in the local outbox folder (local server default).
    #[default]
    Outbox,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DestinationConfig {
    Email {
        #[serde(default)]
        transport: EmailTransport,
        /// Sender; defaults to the workspace SMTP address or the deployment's sender.
        #[serde(default)]
        from: Option<String>,
        #[serde(default)]
        reply_to: Option<String>,
        /// SES configuration set for event publishing.
        #[serde(default)]
        configuration_set: Option<String>,
    },
    Slack {
        webhook_url: Secret,
    },
    Teams {
        webhook_url: Secret,
    },
    Webhook {
        url: String,
        /// Standard Webhooks signing secret (`whsec_…`).
        signing_secret: Secret,
    },
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: String,
    },
    /// Seed `003`'s Google Drive delivery: each file of the entry uploaded into a folder, as a
    /// service account of the workspace's connections.
    GoogleDrive {
        /// The `google_service_account` connection (its name or id) the files are uploaded as.
        service_account: String,
        /// The target folder: its id, or its link as Drive shows it (the id is kept).
        folder: String,
        /// A user of the Google Workspace domain the account acts as (domain-wide delegation),
        /// who then owns the files: how files go into a folder of someone's My Drive.
        #[serde(default)]
        impersonate: Option<String>,
    },
}

/// The id of a Drive folder given as its id or its link (`https://drive.google.com/drive/folders/<id>`,
/// also under `/u/0/` and with `?usp=…`), or `None` when it is neither.
pub fn drive_folder_id(given: &str) -> Option<String> {
    let given = given.trim();
    let id = match given.split_once("/folders/") {
        Some((origin, rest)) if origin.starts_with("https://drive.google.com/") => {
            rest.split(['?', '#', '/']).next().unwrap_or_default()
        }
        Some(_) => return None,
        None => given,
    };
    crate::google::drive::is_folder_id(id).then(|| id.to_string())
}

impl DestinationConfig {
    /// The configuration's secret and its field name (each kind has at most one).
    pub fn secret(&self) -> Option<(&'static str, &Secret)> {
        match self {
            DestinationConfig::Slack { webhook_url } | DestinationConfig::Teams { webhook_url } => {
                Some(("webhook_url", webhook_url))
            }
            DestinationConfig::Webhook { signing_secret, .. } => Some(("signing_secret", signing_secret)),
            DestinationConfig::Email { .. } | DestinationConfig::S3 { .. } | DestinationConfig::GoogleDrive { .. } => {
                None
            }
        }
    }

    fn secret_mut(&mut self) -> Option<(&'static str, &mut Secret)> {
        match self {
            DestinationConfig::Slack { webhook_url } | DestinationConfig::Teams { webhook_url } => {
                Some(("webhook_url", webhook_url))
            }
            DestinationConfig::Webhook { signing_secret, .. } => Some(("signing_secret", signing_secret)),
            DestinationConfig::Email { .. } | DestinationConfig::S3 { .. } | DestinationConfig::GoogleDrive { .. } => {
                None
            }
        }
    }

    /// Makes a configuration a client sent ready to store, reporting every problem at once: the
    /// stored secret goes back where the client sent the mask (`********`), which it may only
    /// while everything the secret is sent to is unchanged (the same kind, and for a signed
    /// webhook the same origin; otherwise the secret must be given again), then every field is
    /// checked.
    pub fn resolve(&mut self, stored: Option<&DestinationConfig>) -> Result<(), ValidationErrors> {
        let same_target = stored.is_some_and(|stored| {
            self.kind() == stored.kind()
                && match (&*self, stored) {
                    (DestinationConfig::Webhook { url, .. }, DestinationConfig::Webhook { url: was, .. }) => {
                        crate::net::same_origin(url, was)
                    }
                    _ => true,
                }
        });
        let kept = stored.and_then(DestinationConfig::secret).map(|(_, secret)| secret);
        let mut errors = Vec::new();
        if let Some((name, secret)) = self.secret_mut() {
            let mut incoming = Some(secret.clone());
            match super::keep_masked(&format!("config.{name}"), &mut incoming, kept, same_target) {
                Ok(()) => *secret = incoming.unwrap_or_else(|| secret.clone()),
                Err(error) => errors.push(error),
            }
        }
        if let DestinationConfig::GoogleDrive { folder, .. } = self
            && let Some(id) = drive_folder_id(folder)
        {
            *folder = id;
        }
        super::add_unreported(&mut errors, self.validate().err().into_iter().flat_map(|e| e.0));
        ValidationErrors::into_result(errors)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            DestinationConfig::Email { .. } => "email",
            DestinationConfig::Slack { .. } => "slack",
            DestinationConfig::Teams { .. } => "teams",
            DestinationConfig::Webhook { .. } => "webhook",
            DestinationConfig::S3 { .. } => "s3",
            DestinationConfig::GoogleDrive { .. } => "google_drive",
        }
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        // The reason never repeats the URL: a chat webhook URL is a secret whole.
        let mut url = |field: &str, value: &str| {
            if let Err(reason) = crate::net::check_http_url(value) {
                errors.push(FieldError::new(format!("config.{field}"), reason));
            }
        };
        match self {
            DestinationConfig::Email { transport, from, reply_to, .. } => {
                if *transport == EmailTransport::Ses && !crate::config::AWS {
                    errors.push(FieldError::new("config.transport", crate::config::WITHOUT_AWS));
                }
                for (field, value) in [("from", from), ("reply_to", reply_to)] {
                    if value.as_deref().is_some_and(|v| !looks_like_email(v)) {
                        errors.push(FieldError::new(format!("config.{field}"), "must be an email address"));
                    }
                }
            }
            DestinationConfig::Slack { webhook_url } | DestinationConfig::Teams { webhook_url } => {
                url("webhook_url", webhook_url.expose())
            }
            DestinationConfig::Webhook { url: target, signing_secret } => {
                url("url", target);
                if signing_secret.expose().len() < 16 {
                    errors.push(FieldError::new("config.signing_secret", "must be at least 16 characters"));
                }
            }
            DestinationConfig::S3 { bucket, prefix } => {
                if !crate::config::AWS {
                    errors.push(FieldError::new("config.type", crate::config::WITHOUT_AWS));
                }
                let valid = (3..=63).contains(&bucket.len())
                    && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
                if !valid {
                    errors.push(FieldError::new("config.bucket", "must be a valid S3 bucket name"));
                }
                if prefix.starts_with('/') {
                    errors.push(FieldError::new("config.prefix", "must not start with '/'"));
                }
            }
            DestinationConfig::GoogleDrive { service_account, folder, impersonate } => {
                if service_account.trim().is_empty() || service_account.len() > 64 {
                    errors.push(FieldError::new(
                        "config.service_account",
                        "must name a `google_service_account` connection (its name or id)",
                    ));
                }
                if drive_folder_id(folder).is_none() {
                    errors.push(FieldError::new(
                        "config.folder",
                        "must be a Drive folder's id or its link (https://drive.google.com/drive/folders/…)",
                    ));
                }
                if impersonate.as_deref().is_some_and(|v| !looks_like_email(v)) {
                    errors.push(FieldError::new("config.impersonate", "must be the email address of a user"));
                }
            }
        }
        ValidationErrors::into_result(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_deserialize_from_their_tagged_api_shape() {
        let d: DestinationConfig =
            serde_json::from_str(r#"{"type":"slack","webhook_url":"https://hooks.slack.test/T0/B0/x"}"#).unwrap();
        assert_eq!(d.kind(), "slack");
        assert!(d.validate().is_ok());
        let e: DestinationConfig = serde_json::from_str(r#"{"type":"email"}"#).unwrap();
        assert_eq!(
            e,
            DestinationConfig::Email {
                transport: EmailTransport::Outbox,
                from: None,
                reply_to: None,
                configuration_set: None
            }
        );
    }

    #[test]
    fn invalid_destinations_report_each_bad_field() {
        let d = DestinationConfig::Webhook { url: "ftp://x".into(), signing_secret: Secret::new("short") };
        let fields: Vec<_> = d.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["config.url", "config.signing_secret"]);
        let s3 = DestinationConfig::S3 { bucket: "Bad_Bucket".into(), prefix: "/x".into() };
        assert_eq!(s3.validate().unwrap_err().0.len(), 2);
        let drive = DestinationConfig::GoogleDrive {
            service_account: "".into(),
            folder: "https://evil.example/drive/folders/1AbCdEfGhIjKlMn".into(),
            impersonate: Some("nobody".into()),
        };
        let fields: Vec<_> = drive.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["config.service_account", "config.folder", "config.impersonate"]);
    }

    #[test]
    fn a_drive_folder_is_kept_as_its_id_whether_given_as_an_id_or_a_link() {
        let id = "1AbCdEfGhIjKlMnOpQrStUv";
        for given in [
            id.to_string(),
            format!("https://drive.google.com/drive/folders/{id}"),
            format!("https://drive.google.com/drive/u/0/folders/{id}?usp=sharing"),
            format!(" https://drive.google.com/drive/folders/{id}/ "),
        ] {
            let mut config = DestinationConfig::GoogleDrive {
                service_account: "reports".into(),
                folder: given.clone(),
                impersonate: None,
            };
            config.resolve(None).unwrap();
            assert_eq!(
                config,
                DestinationConfig::GoogleDrive {
                    service_account: "reports".into(),
                    folder: id.into(),
                    impersonate: None
                },
                "{given}"
            );
        }
        assert_eq!(drive_folder_id("https://drive.google.com/file/d/1AbCdEfGhIjKlMnOp/view"), None);
        assert_eq!(drive_folder_id("1AbC' in parents or '"), None);
    }
}
