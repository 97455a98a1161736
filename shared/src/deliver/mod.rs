//! Delivery: one rendered entry sent to one destination. The pipeline builds an [`Outgoing`]
//! (the templated recipients, subject and message, the narrative, the stored artifacts and a
//! deep link to the run) and a sender for the destination's kind sends it: email (SES, SMTP or
//! the local outbox), Slack, Teams, a signed webhook, an S3 archive, or a Google Drive folder. A sender says whether a
//! failure is worth retrying ([`SendError::Transient`]) or not ([`SendError::Permanent`]).

#[cfg(feature = "aws")]
pub mod archive;
pub mod condition;
pub mod dispatch;
pub mod drive;
pub mod email;
pub mod slack;
pub mod teams;
pub mod webhook;

pub use dispatch::Senders;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::{
    AlertRuleId, AlertState, EntryId, NarrativeOutput, NotificationKind, ReportId, RunId, RunTrigger, Severity,
    WorkspaceId,
};

/// What one delivery sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Unique per (run, entry, delivery): the webhook id, the email's Message-ID seed, the S3
    /// object metadata; receivers can use it to drop a repeat.
    pub idempotency_key: String,
    /// What it is about: an entry of a run, or an alert.
    pub about: About,
    pub recipients: Recipients,
    /// Sender and reply-to for email (already defaulted from the destination and workspace).
    pub from: Option<String>,
    pub reply_to: Option<String>,
    /// Templated subject (email) or title (chat).
    pub subject: String,
    /// Templated message text written by the report's author (may be empty).
    pub message: String,
    pub narrative: Option<NarrativeOutput>,
    /// The run in the API (`{public_url}/api/v1/reports/runs/{id}`), for machines (webhooks).
    pub run_url: String,
    /// The run in the console (`{public_url}/console#/runs/{id}`, which asks a person to sign
    /// in when needed), for people of the workspace: Slack, Teams and internal email. `None`
    /// for messages to people outside it (recipients taken from the data, a customer's
    /// statement), which link nowhere inside Herald.
    pub view_url: Option<String>,
    pub files: Vec<OutgoingFile>,
}

/// What an outgoing message is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum About {
    /// An entry of a run (a report delivery).
    Run { run: RunInfo, entry: EntryInfo },
    /// A notification of an alert rule.
    Alert { alert: AlertInfo },
}

/// The alert a notification is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertInfo {
    pub rule_id: AlertRuleId,
    pub workspace_id: WorkspaceId,
    pub rule_name: String,
    /// The instance's group value (empty for a rule without `group_by`).
    pub instance: String,
    pub kind: NotificationKind,
    pub state: AlertState,
    pub severity: Severity,
    pub value: Option<f64>,
    /// The condition in words (`> 100`).
    pub condition: String,
    /// When the episode started firing.
    pub since: Option<DateTime<Utc>>,
    /// How long it fired (resolved notifications), in seconds.
    pub fired_for_seconds: Option<i64>,
    pub episode: u32,
    pub evaluated_at: DateTime<Utc>,
    /// The values of the last evaluations, oldest first (what a chart of them shows).
    pub recent: Vec<f64>,
}

impl Outgoing {
    /// The heading of a chat message: the report's or the rule's name.
    pub fn title(&self) -> &str {
        match &self.about {
            About::Run { run, .. } => &run.report_name,
            About::Alert { alert } => &alert.rule_name,
        }
    }

    /// What the console link's button says.
    pub fn view_label(&self) -> &'static str {
        match self.about {
            About::Run { .. } => "View run",
            About::Alert { .. } => "View alert",
        }
    }

    /// `Run at 2026-11-23 08:00 UTC · trigger: schedule` (and the entry when there are
    /// several), or `Firing since 2026-11-23 08:00 UTC · severity: warning · offer: o1`.
    pub fn context_line(&self) -> String {
        let mut parts = Vec::new();
        match &self.about {
            About::Run { run, entry } => {
                if let Some(at) = run.started_at.or(run.scheduled_for) {
                    parts.push(format!("Run at {}", at.format("%Y-%m-%d %H:%M UTC")));
                }
                let trigger = serde_json::to_value(run.trigger).ok().and_then(|v| v.as_str().map(str::to_string));
                parts.push(format!("trigger: {}", trigger.unwrap_or_default()));
                if entry.seq > 0 || entry.row.is_some() {
                    parts.push(format!("entry #{}", entry.seq + 1));
                }
            }
            About::Alert { alert } => {
                match (alert.kind, alert.since) {
                    (NotificationKind::Resolved, _) => {
                        parts.push(format!("Resolved at {}", alert.evaluated_at.format("%Y-%m-%d %H:%M UTC")))
                    }
                    (_, Some(since)) => parts.push(format!("Firing since {}", since.format("%Y-%m-%d %H:%M UTC"))),
                    (_, None) => {}
                }
                let severity = serde_json::to_value(alert.severity).ok().and_then(|v| v.as_str().map(str::to_string));
                parts.push(format!("severity: {}", severity.unwrap_or_default()));
                if !alert.instance.is_empty() {
                    parts.push(alert.instance.clone());
                }
            }
        }
        parts.join(" · ")
    }
}

/// The run an outgoing delivery belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    pub id: RunId,
    pub workspace_id: WorkspaceId,
    pub report_id: ReportId,
    pub report_code: String,
    pub report_name: String,
    pub trigger: RunTrigger,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
}

/// The entry an outgoing delivery belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryInfo {
    pub id: EntryId,
    pub seq: u32,
    /// The repeating row the entry was made for.
    pub row: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipients {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
}

/// An artifact to send: its bytes, and a signed link for senders that link rather than attach
/// (chat messages, emails past the attachment size limit).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingFile {
    /// The name it is sent under (the delivery's naming pattern applied).
    pub file_name: String,
    pub content_type: String,
    pub bytes: Bytes,
    pub size: u64,
    /// Hex SHA-256 of `bytes`.
    pub sha256: String,
    pub download_url: String,
}

/// What the provider answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id for the message (SES MessageId, SMTP queue id, S3 ETag/key…).
    pub provider_message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later: timeouts, throttling, 429 and 5xx answers, connection failures.
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help: refused credentials, a rejected recipient, 4xx answers,
    /// misconfiguration. The message says what the provider answered.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// The message a destination's "test connection" sends: no files, a subject and text that say
/// what it is, and a one-off idempotency key.
pub fn test_message(
    workspace: &crate::domain::Workspace,
    destination: &crate::domain::Destination,
    to: Vec<String>,
    public_url: &str,
    now: DateTime<Utc>,
) -> Outgoing {
    let run_id = RunId::generate(now);
    Outgoing {
        idempotency_key: format!("test-{}-{}", destination.id, now.timestamp_millis()),
        about: About::Run {
            run: RunInfo {
                id: run_id,
                workspace_id: workspace.id,
                report_id: ReportId::generate(now),
                report_code: "connection-test".into(),
                report_name: "Herald connection test".into(),
                trigger: RunTrigger::Manual,
                scheduled_for: None,
                started_at: Some(now),
            },
            entry: EntryInfo { id: EntryId::generate(now), seq: 0, row: None },
        },
        recipients: Recipients { to, cc: vec![], bcc: vec![] },
        from: None,
        reply_to: None,
        subject: format!("Herald test message for {}", destination.name),
        message: format!(
            "This is a test message from Herald to check the destination \"{}\" of workspace {}. Reports will arrive like this.",
            destination.name, workspace.code
        ),
        narrative: None,
        run_url: format!("{public_url}/api/v1/ws/{}/destinations/{}", workspace.code, destination.id),
        view_url: Some(format!("{public_url}/console#/destinations")),
        files: vec![],
    }
}
