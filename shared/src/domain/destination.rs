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
}

impl DestinationConfig {
    /// The configuration's secret and its field name (each kind has at most one).
    pub fn secret(&self) -> Option<(&'static str, &Secret)> {
        match self {
            DestinationConfig::Slack { webhook_url } | DestinationConfig::Teams { webhook_url } => {
                Some(("webhook_url", webhook_url))
            }
            DestinationConfig::Webhook { signing_secret, .. } => Some(("signing_secret", signing_secret)),
            DestinationConfig::Email { .. } | DestinationConfig::S3 { .. } => None,
        }
    }

    fn secret_mut(&mut self) -> Option<(&'static str, &mut Secret)> {
        match self {
            DestinationConfig::Slack { webhook_url } | DestinationConfig::Teams { webhook_url } => {
                Some(("webhook_url", webhook_url))
            }
            DestinationConfig::Webhook { signing_secret, .. } => Some(("signing_secret", signing_secret)),
            DestinationConfig::Email { .. } | DestinationConfig::S3 { .. } => None,
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
            DestinationConfig::Email { from, reply_to, .. } => {
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
                let valid = (3..=63).contains(&bucket.len())
                    && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
                if !valid {
                    errors.push(FieldError::new("config.bucket", "must be a valid S3 bucket name"));
                }
                if prefix.starts_with('/') {
                    errors.push(FieldError::new("config.prefix", "must not start with '/'"));
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
    }
}
