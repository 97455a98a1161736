//! Email delivery: an [`Outgoing`] built into one MIME message ([`mime`]) and sent through the
//! destination's transport: Amazon SES ([`ses`]), the workspace's SMTP server ([`smtp`]) or the
//! local outbox folder ([`outbox`]).
//!
//! [`EmailSender`] holds what is shared by every delivery (the SES client, the outbox folder,
//! the deployment's sender address and the attachment size limit); the workspace's SMTP settings
//! come with each send, because they belong to the workspace. SES exists in builds with the
//! `aws` feature only.

pub mod mime;
pub mod outbox;
#[cfg(feature = "aws")]
pub mod ses;
pub mod smtp;

use std::time::Duration;

pub use mime::{BuiltEmail, DEFAULT_ATTACHMENT_LIMIT, build};
pub use outbox::OutboxSender;
#[cfg(feature = "aws")]
pub use ses::SesSender;
pub use smtp::{DEFAULT_SMTP_TIMEOUT, SmtpSender};

use super::{Outgoing, Receipt, SendError};
use crate::domain::{EmailTransport, SmtpSettings};

/// Where one email goes: the destination's transport and options, and the workspace's SMTP
/// settings (needed only by [`EmailTransport::Smtp`]).
#[derive(Debug, Clone, Copy)]
pub struct EmailRoute<'a> {
    pub transport: EmailTransport,
    /// SES configuration set (ignored by the other transports).
    pub configuration_set: Option<&'a str>,
    pub smtp: Option<&'a SmtpSettings>,
}

/// Sends emails through whichever transport a destination names.
#[derive(Debug, Clone)]
pub struct EmailSender {
    default_from: String,
    #[cfg(feature = "aws")]
    ses: Option<SesSender>,
    outbox: Option<OutboxSender>,
    attachment_limit: usize,
    smtp_timeout: Duration,
}

impl EmailSender {
    /// A sender with no SES client and no outbox; `default_from` is the deployment's sender,
    /// used when neither the delivery nor (for SMTP) the workspace names one.
    pub fn new(default_from: impl Into<String>) -> Self {
        Self {
            default_from: default_from.into(),
            #[cfg(feature = "aws")]
            ses: None,
            outbox: None,
            attachment_limit: DEFAULT_ATTACHMENT_LIMIT,
            smtp_timeout: DEFAULT_SMTP_TIMEOUT,
        }
    }

    #[cfg(feature = "aws")]
    pub fn with_ses(mut self, ses: SesSender) -> Self {
        self.ses = Some(ses);
        self
    }

    pub fn with_outbox(mut self, outbox: OutboxSender) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// Most bytes of files attached to one email; the rest are linked.
    pub fn with_attachment_limit(mut self, bytes: usize) -> Self {
        self.attachment_limit = bytes;
        self
    }

    pub fn with_smtp_timeout(mut self, timeout: Duration) -> Self {
        self.smtp_timeout = timeout;
        self
    }

    /// Builds the email for `outgoing` and sends it along `route`.
    ///
    /// The sender is `outgoing.from`, else the workspace's SMTP address (SMTP), else the
    /// deployment's. Fails permanently when the route's transport is not available: SMTP without
    /// workspace settings, SES without a client, the outbox without a folder.
    pub async fn send(&self, route: EmailRoute<'_>, outgoing: &Outgoing) -> Result<Receipt, SendError> {
        match route.transport {
            #[cfg(not(feature = "aws"))]
            EmailTransport::Ses => Err(unavailable(crate::config::WITHOUT_AWS)),
            #[cfg(feature = "aws")]
            EmailTransport::Ses => {
                let ses = self.ses.as_ref().ok_or_else(|| unavailable("SES is not configured"))?;
                let email = build(outgoing, &self.default_from, self.attachment_limit)?;
                ses.send(&email, route.configuration_set).await
            }
            EmailTransport::Smtp => {
                let settings = route.smtp.ok_or_else(|| unavailable("the workspace has no SMTP settings"))?;
                let email = build(outgoing, &settings.from, self.attachment_limit)?;
                SmtpSender::new(settings, self.smtp_timeout)?.send(&email).await
            }
            EmailTransport::Outbox => {
                let outbox = self.outbox.as_ref().ok_or_else(|| unavailable("no outbox folder is configured"))?;
                let email = build(outgoing, &self.default_from, self.attachment_limit)?;
                outbox.send(&outgoing.idempotency_key, &email).await
            }
        }
    }
}

fn unavailable(why: &str) -> SendError {
    SendError::Permanent(why.to_owned())
}

/// Outgoing emails for the tests of every transport.
#[cfg(test)]
pub(crate) mod fixtures {
    use bytes::Bytes;
    use chrono::Utc;
    use sha2::{Digest, Sha256};

    use crate::deliver::{About, EntryInfo, Outgoing, OutgoingFile, Recipients, RunInfo};
    use crate::domain::{EntryId, NarrativeOutput, ReportId, RunId, RunTrigger, WorkspaceId};

    pub fn file(name: &str, content_type: &str, bytes: Vec<u8>) -> OutgoingFile {
        OutgoingFile {
            file_name: name.into(),
            content_type: content_type.into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            download_url: format!("https://files.example.com/{name}?X-Amz-Signature=abc&X-Amz-Expires=3600"),
            bytes: Bytes::from(bytes),
        }
    }

    /// An ops email: a PDF and a CSV, a narrative, To/Cc/Bcc, a non-ASCII subject.
    pub fn outgoing(key: &str) -> Outgoing {
        let now = Utc::now();
        let pdf: Vec<u8> = (0..40_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        Outgoing {
            idempotency_key: key.into(),
            about: About::Run {
                run: RunInfo {
                    id: RunId::generate(now),
                    workspace_id: WorkspaceId::generate(now),
                    report_id: ReportId::generate(now),
                    report_code: "ops-daily".into(),
                    report_name: "Ops daily".into(),
                    trigger: RunTrigger::Manual,
                    scheduled_for: None,
                    started_at: Some(now),
                },
                entry: EntryInfo { id: EntryId::generate(now), seq: 0, row: None },
            },
            recipients: Recipients {
                to: vec!["Ops Team <ops@example.com>".into()],
                cc: vec!["lead@example.com".into()],
                bcc: vec!["audit@example.com".into()],
            },
            from: None,
            reply_to: Some("support@example.com".into()),
            subject: "Rapport quotidien — Zürich ✓".into(),
            message: "Hello team,\n\nHere is <today's> report & numbers.".into(),
            narrative: Some(NarrativeOutput {
                summary: "Tickets fell 12% week over week while <b>backlog</b> held steady.".into(),
                takeaways: vec!["Backlog is flat".into(), "First response time improved to 2h".into()],
                narrator: "builtin".into(),
                dropped: vec![],
                error: None,
                provider: None,
                fallback_reason: None,
            }),
            run_url: "https://herald.example.com/api/v1/reports/runs/01JD".into(),
            view_url: Some("https://herald.example.com/api/v1/reports/runs/01JD?x=1&y=2".into()),
            files: vec![
                file("ops-daily.pdf", "application/pdf", pdf),
                file("tickets-é.csv", "text/csv", "id,name\n1,Zoë\n2,Łukasz\n".as_bytes().to_vec()),
            ],
        }
    }
}
