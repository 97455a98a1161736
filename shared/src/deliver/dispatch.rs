//! Which sender a destination uses: built once with the context, given the workspace (its
//! network allow-list and SMTP settings) and the destination with each send. A Drive
//! destination's service account is read from the store at each send, so a replaced key is
//! used from the next attempt on. SES email and the S3 archive exist in builds with the `aws`
//! feature; without it, a delivery to them fails permanently with the reason.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::drive::{DriveSender, DriveTarget, service_account};
use super::email::{EmailRoute, EmailSender, OutboxSender};
use super::slack::SlackSender;
use super::teams::TeamsSender;
use super::webhook::WebhookSender;
use super::{Outgoing, Receipt, SendError};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{Destination, DestinationConfig, Workspace};
use crate::net::{NetworkPolicy, OutboundHttp};
use crate::store::Store;

/// The sender address when neither the destination, the workspace nor the deployment names one.
pub const FALLBACK_SENDER: &str = "herald@localhost";

pub struct Senders {
    http: Arc<OutboundHttp>,
    email: EmailSender,
    slack: SlackSender,
    teams: TeamsSender,
    webhook: WebhookSender,
    drive: DriveSender,
    #[cfg(feature = "aws")]
    archive: Option<super::archive::S3Archive>,
    /// Where Drive destinations find their service accounts.
    store: Store,
    /// The SES configuration set of email destinations that name none.
    default_configuration_set: Option<String>,
}

impl Senders {
    /// Every sender that needs no AWS client.
    pub fn new(config: &Config, http: Arc<OutboundHttp>, clock: Arc<dyn Clock>, store: Store) -> Self {
        let email = EmailSender::new(config.email_sender.clone().unwrap_or_else(|| FALLBACK_SENDER.into()))
            .with_outbox(OutboxSender::new(config.outbox_dir.clone(), clock))
            .with_attachment_limit(config.attachment_limit_bytes);
        Self {
            http,
            email,
            slack: SlackSender::new(),
            teams: TeamsSender::new(),
            webhook: WebhookSender::new(),
            drive: DriveSender::new(config.google.clone()),
            #[cfg(feature = "aws")]
            archive: None,
            store,
            default_configuration_set: config.ses_configuration_set.clone(),
        }
    }

    /// Adds SES email and the S3 archive.
    #[cfg(feature = "aws")]
    pub fn with_aws(mut self, sdk: &aws_config::SdkConfig) -> Self {
        self.email = self.email.with_ses(super::email::SesSender::new(aws_sdk_sesv2::Client::new(sdk)));
        self.archive = Some(super::archive::S3Archive::new(crate::aws::s3_client(sdk)));
        self
    }

    /// The Drive sender (what tests a service account's key).
    pub fn drive(&self) -> &DriveSender {
        &self.drive
    }

    /// Sends `outgoing` to `destination` on behalf of `workspace`.
    pub async fn send(
        &self,
        workspace: &Workspace,
        destination: &Destination,
        mut outgoing: Outgoing,
        now: DateTime<Utc>,
    ) -> Result<Receipt, SendError> {
        let policy = NetworkPolicy::of(&workspace.settings.network);
        match &destination.config {
            DestinationConfig::Email { transport, from, reply_to, configuration_set } => {
                let smtp = workspace.settings.smtp.as_ref();
                outgoing.from = from.clone().or_else(|| outgoing.from.take());
                outgoing.reply_to =
                    reply_to.clone().or_else(|| smtp.and_then(|s| s.reply_to.clone())).or(outgoing.reply_to);
                let configuration_set = configuration_set.as_deref().or(self.default_configuration_set.as_deref());
                let route = EmailRoute { transport: *transport, configuration_set, smtp };
                self.email.send(route, &outgoing).await
            }
            DestinationConfig::Slack { webhook_url } => {
                self.slack.send(&self.http, &policy, webhook_url.expose(), &outgoing).await
            }
            DestinationConfig::Teams { webhook_url } => {
                self.teams.send(&self.http, &policy, webhook_url.expose(), &outgoing).await
            }
            DestinationConfig::Webhook { url, signing_secret } => {
                self.webhook.send(&self.http, &policy, url, signing_secret.expose(), &outgoing, now).await
            }
            #[cfg(feature = "aws")]
            DestinationConfig::S3 { bucket, prefix } => match &self.archive {
                Some(archive) => archive.send(bucket, prefix, &outgoing).await,
                None => Err(SendError::Permanent("S3 is not configured".into())),
            },
            #[cfg(not(feature = "aws"))]
            DestinationConfig::S3 { .. } => Err(SendError::Permanent(crate::config::WITHOUT_AWS.into())),
            DestinationConfig::GoogleDrive { service_account: name, folder, impersonate } => {
                let account = service_account(&self.store, workspace.id, name)
                    .await
                    .map_err(|e| SendError::Transient(format!("could not read the service account: {e}")))?
                    .map_err(SendError::Permanent)?;
                let target = DriveTarget { account: &account, folder, impersonate: impersonate.as_deref() };
                self.drive.send(&target, &outgoing, now).await
            }
        }
    }
}
