//! Runs, entries and deliveries: the immutable record of one execution and the state machines
//! that every worker moves them through. Entry statuses are exactly those of seed `003`; the
//! four buckets (queued, completed, errors, review) are what the run counts and the API shows.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::relative_date::RunTime;
use super::{DeliveryId, DestinationId, EntryId, Format, Report, ReportId, RunId, ScheduleId, WorkspaceId};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    Manual,
    Schedule,
    Api,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Inputs recorded; entries being created.
    Preparing,
    /// Entries exist and some are queued or being worked on.
    Running,
    /// Nothing is queued or being worked on, and some entries wait for a reviewer's decision
    /// (hold for review). Not finished: approving them runs again, rejecting ends them.
    AwaitingReview,
    /// Every entry reached a final state.
    Finished,
    /// Failed before any entry could be made (a required parameter without a value, the
    /// repeating source failing).
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn can_transition_to(self, next: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, next),
            (Preparing, Running | AwaitingReview | Failed | Cancelled | Finished)
                | (Running, AwaitingReview | Finished | Cancelled)
                | (AwaitingReview, Running | Finished | Cancelled)
                // Re-delivering entries of a finished run reopens it until they are done.
                | (Finished, Running | AwaitingReview)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Preparing => "preparing",
            RunStatus::Running => "running",
            RunStatus::AwaitingReview => "awaiting_review",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// How a run that ended went, as its schedule records it (`last_run_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every entry completed.
    Succeeded,
    /// Some entries completed and some failed.
    CompletedWithErrors,
    /// The run failed before making entries, or every entry that ran failed.
    Failed,
    /// Someone cancelled it.
    Cancelled,
}

/// The inputs a run was started with, kept with the run so it can be replayed and audited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunInputs {
    /// The report as it was when the run started.
    pub report: Report,
    /// Resolved parameter values (overrides > defaults).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// Free-form payload of an API run (seed `003` `JobRunRequest.data`).
    #[serde(default)]
    pub data: Value,
    /// The included reports (`report.includes`) as they were when the run started, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<Report>,
    /// The day the run stands for: a scheduled run's slot in its schedule's timezone, else the
    /// UTC day it started. Derived dates and the analytics periods count from it (runs
    /// recorded before it existed count from the day they started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
    /// The IANA zone whose calendar gave the run's day and derived values, and whose days the
    /// analytics periods count (UTC for runs recorded before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// Entry counts by bucket, as seed `003` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct EntryCounts {
    pub total: u64,
    pub queued: u64,
    pub completed: u64,
    pub errors: u64,
    pub review: u64,
    pub cancelled: u64,
}

impl EntryCounts {
    pub fn get(&self, bucket: Bucket) -> u64 {
        match bucket {
            Bucket::Queued => self.queued,
            Bucket::Completed => self.completed,
            Bucket::Errors => self.errors,
            Bucket::Review => self.review,
            Bucket::Cancelled => self.cancelled,
        }
    }

    pub fn set(&mut self, bucket: Bucket, value: u64) {
        match bucket {
            Bucket::Queued => self.queued = value,
            Bucket::Completed => self.completed = value,
            Bucket::Errors => self.errors = value,
            Bucket::Review => self.review = value,
            Bucket::Cancelled => self.cancelled = value,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    pub id: RunId,
    pub workspace_id: WorkspaceId,
    pub report_id: ReportId,
    pub schedule_id: Option<ScheduleId>,
    /// The slot a scheduled run was created for.
    pub scheduled_for: Option<DateTime<Utc>>,
    pub trigger: RunTrigger,
    pub status: RunStatus,
    pub inputs: RunInputs,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Executive summary and takeaways, when narration ran.
    pub narrative: Option<NarrativeOutput>,
    /// Maintained by the store on every entry transition.
    #[serde(default)]
    pub counts: EntryCounts,
    pub error: Option<String>,
    /// Something worth knowing about how the run went that is not an error (a repeating
    /// source that returned no rows, so the run has no entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub version: u64,
}

impl Run {
    /// The instant the run stands for (its slot, else when it started) in its zone.
    pub fn time(&self) -> RunTime {
        let zone = self.inputs.timezone.as_deref().and_then(|name| name.parse().ok()).unwrap_or(chrono_tz::Tz::UTC);
        RunTime::new(self.scheduled_for.unwrap_or(self.created_at), zone)
    }

    /// A run that starts now, triggered by `trigger`, with nothing counted yet.
    pub fn started(id: RunId, inputs: RunInputs, trigger: RunTrigger, now: DateTime<Utc>) -> Self {
        Run {
            id,
            workspace_id: inputs.report.workspace_id,
            report_id: inputs.report.id,
            schedule_id: None,
            scheduled_for: None,
            trigger,
            status: RunStatus::Running,
            inputs,
            created_at: now,
            started_at: Some(now),
            finished_at: None,
            narrative: None,
            counts: EntryCounts::default(),
            error: None,
            note: None,
            idempotency_key: None,
            version: 0,
        }
    }

    /// True when every entry reached a final state (seed `003` `finished`): the run finished or
    /// failed, or it was cancelled and the entries workers had already taken are done. A run
    /// whose entries wait for review is not finished.
    pub fn is_finished(&self) -> bool {
        match self.status {
            RunStatus::Finished | RunStatus::Failed => true,
            RunStatus::Cancelled => self.counts.queued == 0,
            RunStatus::Preparing | RunStatus::Running | RunStatus::AwaitingReview => false,
        }
    }

    /// True while entries are being created, queued or worked on: what a schedule's overlap
    /// policy waits for (a run whose entries wait for review holds no work).
    pub fn is_working(&self) -> bool {
        match self.status {
            RunStatus::Preparing | RunStatus::Running => true,
            RunStatus::Cancelled => self.counts.queued > 0,
            RunStatus::AwaitingReview | RunStatus::Finished | RunStatus::Failed => false,
        }
    }

    /// How it went, once it has ended (`None` while it works or waits for review).
    pub fn outcome(&self) -> Option<RunOutcome> {
        if !self.is_finished() {
            return None;
        }
        let c = &self.counts;
        Some(match self.status {
            RunStatus::Failed => RunOutcome::Failed,
            RunStatus::Cancelled => RunOutcome::Cancelled,
            _ if c.errors > 0 && c.completed == 0 => RunOutcome::Failed,
            _ if c.errors > 0 => RunOutcome::CompletedWithErrors,
            _ => RunOutcome::Succeeded,
        })
    }

    /// Why it failed, in words for its schedule: the run's own error (the first entry that
    /// failed, for a run that made entries), with how many entries failed.
    pub fn failure(&self) -> Option<String> {
        match self.outcome()? {
            RunOutcome::Failed | RunOutcome::CompletedWithErrors => {
                let reason = self.error.clone().unwrap_or_else(|| "an entry failed".into());
                Some(match self.counts.total {
                    0 => reason,
                    total => format!("{} of {total} entries failed; first: {reason}", self.counts.errors),
                })
            }
            RunOutcome::Succeeded | RunOutcome::Cancelled => None,
        }
    }

    /// When it finished, if it has.
    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.finished_at.filter(|_| self.is_finished())
    }

    pub fn duration_ms(&self) -> Option<i64> {
        Some((self.ended_at()? - self.started_at?).num_milliseconds())
    }

    /// The status and end time the run has once its entry counts are `counts` at `now`. The
    /// store applies it in the same write that moves the counts, so a run's status, `finished`,
    /// `finished_at` and counts always agree.
    pub fn settled(&self, counts: &EntryCounts, now: DateTime<Utc>) -> (RunStatus, Option<DateTime<Utc>>) {
        let ended = |at: Option<DateTime<Utc>>| at.or(Some(now));
        match self.status {
            RunStatus::Running | RunStatus::AwaitingReview | RunStatus::Finished => {
                if counts.queued > 0 {
                    (RunStatus::Running, None)
                } else if counts.review > 0 {
                    (RunStatus::AwaitingReview, None)
                } else {
                    let kept = (self.status == RunStatus::Finished).then_some(self.finished_at).flatten();
                    (RunStatus::Finished, ended(kept))
                }
            }
            RunStatus::Cancelled if counts.queued > 0 => (RunStatus::Cancelled, None),
            RunStatus::Cancelled => (RunStatus::Cancelled, ended(self.finished_at)),
            RunStatus::Preparing | RunStatus::Failed => (self.status, self.finished_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NarrativeOutput {
    /// Empty when the narrator failed (the run still renders its artifacts).
    pub summary: String,
    #[serde(default)]
    pub takeaways: Vec<String>,
    /// Which narrator wrote it (`builtin`, `bedrock`).
    #[serde(default)]
    pub narrator: String,
    /// Sentences dropped by the grounding check: they quoted a number the figures do not hold.
    #[serde(default)]
    pub dropped: Vec<DroppedSentence>,
    /// Why the narrative is empty, when the narrator failed.
    #[serde(default)]
    pub error: Option<String>,
    /// The narrator the workspace chose, when it failed and the built-in one wrote this
    /// instead (`openai_compatible`, `anthropic`, `bedrock`).
    #[serde(default)]
    pub provider: Option<String>,
    /// Why the chosen narrator's answer was not used.
    #[serde(default)]
    pub fallback_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DroppedSentence {
    pub sentence: String,
    /// The numbers in it that no figure accounts for, as written.
    pub ungrounded: Vec<String>,
}

/// The status of one entry, exactly as seed `003` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EntryStatus {
    ParametersPrepared,
    Queued,
    InProgress,
    PendingReview,
    Completed,
    CompletedWithErrors,
    GenerationFailed,
    DeliveryFailed,
    Cancelled,
}

/// The bucket an entry status counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Queued,
    Completed,
    Errors,
    Review,
    Cancelled,
}

impl Bucket {
    pub const ALL: [Bucket; 5] = [Bucket::Queued, Bucket::Completed, Bucket::Errors, Bucket::Review, Bucket::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Queued => "queued",
            Bucket::Completed => "completed",
            Bucket::Errors => "errors",
            Bucket::Review => "review",
            Bucket::Cancelled => "cancelled",
        }
    }
}

impl EntryStatus {
    pub const ALL: [EntryStatus; 9] = [
        EntryStatus::ParametersPrepared,
        EntryStatus::Queued,
        EntryStatus::InProgress,
        EntryStatus::PendingReview,
        EntryStatus::Completed,
        EntryStatus::CompletedWithErrors,
        EntryStatus::GenerationFailed,
        EntryStatus::DeliveryFailed,
        EntryStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::ParametersPrepared => "ParametersPrepared",
            EntryStatus::Queued => "Queued",
            EntryStatus::InProgress => "InProgress",
            EntryStatus::PendingReview => "PendingReview",
            EntryStatus::Completed => "Completed",
            EntryStatus::CompletedWithErrors => "CompletedWithErrors",
            EntryStatus::GenerationFailed => "GenerationFailed",
            EntryStatus::DeliveryFailed => "DeliveryFailed",
            EntryStatus::Cancelled => "Cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Queued: not yet done (prepared, queued, being generated or delivered). Completed:
    /// generated and delivered. Errors: generation or delivery failed. Review: held.
    pub fn bucket(self) -> Bucket {
        use EntryStatus::*;
        match self {
            ParametersPrepared | Queued | InProgress => Bucket::Queued,
            PendingReview => Bucket::Review,
            Completed => Bucket::Completed,
            CompletedWithErrors | GenerationFailed | DeliveryFailed => Bucket::Errors,
            Cancelled => Bucket::Cancelled,
        }
    }

    /// The moves a worker, a reviewer or the recovery sweep may make.
    pub fn can_transition_to(self, next: EntryStatus) -> bool {
        use EntryStatus::*;
        matches!(
            (self, next),
            (ParametersPrepared, Queued | GenerationFailed | Cancelled)
                | (Queued, InProgress | Cancelled)
                // A worker that lost its lease hands the entry back to the queue.
                | (InProgress, Queued)
                | (InProgress, PendingReview | Completed | CompletedWithErrors | GenerationFailed | DeliveryFailed | Cancelled)
                // Approve: deliveries start. Reject or expire: never delivered, kept for audit.
                | (PendingReview, InProgress | Cancelled)
                // Re-deliver (retry, or "Deliver (N selected)").
                | (Completed | CompletedWithErrors | DeliveryFailed, InProgress)
        )
    }

    pub fn is_terminal(self) -> bool {
        !EntryStatus::ALL.iter().any(|&next| self.can_transition_to(next))
    }
}

/// A hold-for-review decision on an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Approved,
    Rejected,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    pub decision: ReviewDecision,
    pub at: DateTime<Utc>,
    /// Token that decided (none for expiry).
    pub by: Option<String>,
    pub note: Option<String>,
}

/// A rendered file in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Artifact {
    pub report_id: ReportId,
    pub format: Format,
    /// Blob store key.
    pub key: String,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    pub id: EntryId,
    pub run_id: RunId,
    pub workspace_id: WorkspaceId,
    /// Position in the run (0-based, the row index of the repeating source).
    pub seq: u32,
    pub status: EntryStatus,
    /// The repeating row this entry was made for.
    pub row: Option<Map<String, Value>>,
    /// Parameter values after per-row bindings.
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// The schedule configuration this entry was made for (seed `004`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<super::EntryConfiguration>,
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    pub error: Option<String>,
    /// Reports of the entry that could not be generated while others were (each with why);
    /// the entry goes on with the files it has and ends `CompletedWithErrors`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generation_errors: Vec<String>,
    pub review: Option<Review>,
    /// How many times a worker picked the entry up.
    #[serde(default)]
    pub attempts: u32,
    /// A worker holds the entry until then; past it the recovery sweep re-enqueues it.
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

/// The status of one (entry × delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Sent,
    SkippedCondition,
    FailedTransient,
    FailedPermanent,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::SkippedCondition => "skipped_condition",
            DeliveryStatus::FailedTransient => "failed_transient",
            DeliveryStatus::FailedPermanent => "failed_permanent",
        }
    }

    pub fn can_transition_to(self, next: DeliveryStatus) -> bool {
        use DeliveryStatus::*;
        matches!(
            (self, next),
            (Pending, Sent | SkippedCondition | FailedTransient | FailedPermanent)
                | (FailedTransient, Pending | Sent | FailedTransient | FailedPermanent)
                // A manual retry of a finished delivery starts it again.
                | (Sent | SkippedCondition | FailedPermanent, Pending)
        )
    }

    /// Whether the delivery will not change again without someone asking.
    pub fn is_settled(self) -> bool {
        matches!(self, DeliveryStatus::Sent | DeliveryStatus::SkippedCondition | DeliveryStatus::FailedPermanent)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: DeliveryId,
    pub run_id: RunId,
    pub entry_id: EntryId,
    pub workspace_id: WorkspaceId,
    pub destination_id: DestinationId,
    /// Index of the delivery in the report's `deliveries`.
    pub index: u32,
    pub status: DeliveryStatus,
    #[serde(default)]
    pub attempts: u32,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Recorded before each send: (run, entry, delivery index). Webhook receivers see it as
    /// `webhook-id`, mail as its Message-ID.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// A worker is sending it until then; nobody else may.
    #[serde(default)]
    pub sending_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl Delivery {
    /// The pending delivery `index` of the report's deliveries for `entry`.
    pub fn new(entry: &Entry, destination_id: DestinationId, index: u32, now: DateTime<Utc>) -> Self {
        Delivery {
            id: DeliveryId::generate(now),
            run_id: entry.run_id,
            entry_id: entry.id,
            workspace_id: entry.workspace_id,
            destination_id,
            index,
            status: DeliveryStatus::Pending,
            attempts: 0,
            provider_message_id: None,
            error: None,
            next_attempt_at: None,
            sent_at: None,
            idempotency_key: None,
            sending_until: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// The idempotency key that identifies this (run, entry, delivery) to providers and
    /// receivers.
    pub fn send_key(&self) -> String {
        format!("{}-{}-{}", self.run_id, self.entry_id, self.index)
    }

    /// Claims the delivery for one send, held until `until`: counts the attempt and records
    /// the idempotency key before anything is sent.
    pub fn claim(&mut self, now: DateTime<Utc>, until: DateTime<Utc>) {
        self.attempts += 1;
        self.idempotency_key = Some(self.send_key());
        self.sending_until = Some(until);
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EntryStatus::*;

    #[test]
    fn entry_statuses_serialize_exactly_as_seed_003_names_them() {
        for status in EntryStatus::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
            assert_eq!(EntryStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn every_status_falls_in_exactly_one_bucket() {
        assert_eq!(Queued.bucket(), Bucket::Queued);
        assert_eq!(InProgress.bucket(), Bucket::Queued);
        assert_eq!(PendingReview.bucket(), Bucket::Review);
        assert_eq!(Completed.bucket(), Bucket::Completed);
        for failed in [CompletedWithErrors, GenerationFailed, DeliveryFailed] {
            assert_eq!(failed.bucket(), Bucket::Errors);
        }
    }

    #[test]
    fn the_happy_path_and_the_review_path_are_allowed() {
        let happy = [ParametersPrepared, Queued, InProgress, Completed];
        let held = [ParametersPrepared, Queued, InProgress, PendingReview, InProgress, Completed];
        for path in [&happy[..], &held[..]] {
            for pair in path.windows(2) {
                assert!(pair[0].can_transition_to(pair[1]), "{:?} -> {:?}", pair[0], pair[1]);
            }
        }
    }

    #[test]
    fn finished_entries_cannot_go_back_to_generation() {
        assert!(!Completed.can_transition_to(Queued));
        assert!(!GenerationFailed.can_transition_to(InProgress));
        assert!(!Cancelled.can_transition_to(InProgress));
        assert!(!Queued.can_transition_to(Completed));
        assert!(GenerationFailed.is_terminal());
        assert!(Cancelled.is_terminal());
        assert!(!PendingReview.is_terminal());
    }

    #[test]
    fn a_run_is_finished_only_when_nothing_is_queued() {
        let mut counts = EntryCounts { total: 2, queued: 1, completed: 1, ..Default::default() };
        assert_eq!(counts.get(Bucket::Queued), 1);
        counts.set(Bucket::Queued, 0);
        assert_eq!(counts.queued, 0);
        assert!(RunStatus::Preparing.can_transition_to(RunStatus::Running));
        assert!(RunStatus::Finished.can_transition_to(RunStatus::Running));
        assert!(!RunStatus::Failed.can_transition_to(RunStatus::Running));
    }

    #[test]
    fn delivery_retries_only_go_through_pending() {
        use DeliveryStatus::*;
        assert!(Pending.can_transition_to(Sent));
        assert!(FailedTransient.can_transition_to(Sent));
        assert!(FailedPermanent.can_transition_to(Pending));
        assert!(!FailedPermanent.can_transition_to(Sent));
        assert!(Sent.is_settled() && SkippedCondition.is_settled() && !FailedTransient.is_settled());
    }
}
