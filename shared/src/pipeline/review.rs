//! Hold-for-review: delivering selected entries of a run ("Deliver (N selected)", the first
//! delivery of held entries or a re-send), approving and rejecting held entries one by one or in
//! bulk, and expiring approvals that waited longer than `APPROVAL_MAX_AGE_HOURS`.
//!
//! Approving delivers through the same machinery as an unheld run: the entry goes back to
//! `InProgress` and its deliveries are queued. Rejecting (or expiring) cancels the entry with
//! the decision recorded on it; its artifacts stay for audit and it is never delivered. Every
//! move is a guarded store transition, so two reviewers acting at once cannot both win.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::PipelineError;
use super::recovery::PICKUP_DEADLINE;
use crate::context::Context;
use crate::domain::{
    DeliveryStatus, Entry, EntryId, EntryStatus, FieldError, Review, ReviewDecision, Run, RunId, ValidationErrors,
    WorkspaceId,
};
use crate::queue::Job;
use crate::store::{PageRequest, StoreError};

/// Entries read per page when a run's entries are gathered.
const ENTRY_PAGE: usize = 200;

/// Held entries read per index shard in one expiry pass.
const EXPIRY_BATCH: usize = 100;

/// The note recorded on entries whose approval expired.
pub const EXPIRED_NOTE: &str = "expired";

/// What to do with the selected entries of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Deliver rendered entries: held ones (approving them), delivered ones again, failed ones.
    Deliver,
    /// Deliver held entries only.
    Approve,
    /// Cancel held entries; they keep their artifacts and are never delivered.
    Reject { reason: Option<String> },
}

impl Action {
    /// Whether an entry in `status` (with or without artifacts) can take this action.
    pub fn applies_to(&self, entry: &Entry) -> bool {
        match self {
            Action::Deliver => {
                !entry.artifacts.is_empty()
                    && matches!(
                        entry.status,
                        EntryStatus::PendingReview
                            | EntryStatus::Completed
                            | EntryStatus::CompletedWithErrors
                            | EntryStatus::DeliveryFailed
                    )
            }
            Action::Approve => entry.status == EntryStatus::PendingReview && !entry.artifacts.is_empty(),
            Action::Reject { .. } => entry.status == EntryStatus::PendingReview,
        }
    }
}

/// An entry left as it was, and why (its status, or `changed meanwhile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub id: EntryId,
    pub status: String,
}

/// What an action did to the selected entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Entries the action moved (queued for delivery, or cancelled).
    pub done: Vec<EntryId>,
    pub skipped: Vec<Skipped>,
}

/// Every entry of a run, in sequence order.
pub async fn all_entries(ctx: &Context, run: RunId) -> Result<Vec<Entry>, StoreError> {
    let mut entries = Vec::new();
    let mut page = PageRequest::first(ENTRY_PAGE);
    loop {
        let listing = ctx.store.list_entries(run, &page).await?;
        entries.extend(listing.items);
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(entries),
        }
    }
}

/// The entries of `run` named in `wanted`, or all of them when `wanted` is `None`. Naming an
/// entry of another run is a validation error (and nothing is done).
pub async fn select(ctx: &Context, run: &Run, wanted: Option<&[EntryId]>) -> Result<Vec<Entry>, PipelineError> {
    let mut entries = all_entries(ctx, run.id).await?;
    if let Some(wanted) = wanted {
        let unknown: Vec<String> =
            wanted.iter().filter(|w| !entries.iter().any(|e| e.id == **w)).map(ToString::to_string).collect();
        if !unknown.is_empty() {
            let error = FieldError::new("entry_ids", format!("not entries of this run: {}", unknown.join(", ")));
            return Err(ValidationErrors(vec![error]).into());
        }
        entries.retain(|e| wanted.contains(&e.id));
    }
    Ok(entries)
}

/// Applies `action` to `entries` of `run`, decided by the token `by`. Entries the action does
/// not apply to, or that moved on meanwhile, are reported as skipped. Deliveries are queued
/// once every entry has moved; a failed enqueue is left to the recovery sweep.
pub async fn act(
    ctx: &Context,
    run: &Run,
    entries: Vec<Entry>,
    action: &Action,
    by: Option<&str>,
) -> Result<Outcome, PipelineError> {
    let now = ctx.clock.now();
    let mut outcome = Outcome::default();
    let mut jobs = Vec::new();
    for entry in entries {
        if !action.applies_to(&entry) {
            outcome.skipped.push(Skipped { id: entry.id, status: entry.status.as_str().to_string() });
            continue;
        }
        let moved = match action {
            Action::Deliver | Action::Approve => start_delivery(ctx, run, &entry, by, now).await?,
            Action::Reject { reason } => {
                let decision = Review {
                    decision: ReviewDecision::Rejected,
                    at: now,
                    by: by.map(str::to_owned),
                    note: reason.clone(),
                };
                cancel_held(ctx, &entry, decision, now).await?
            }
        };
        if !moved {
            outcome.skipped.push(Skipped { id: entry.id, status: "changed meanwhile".to_string() });
            continue;
        }
        outcome.done.push(entry.id);
        if !matches!(action, Action::Reject { .. }) {
            jobs.push(Job::Deliver {
                workspace_id: run.workspace_id,
                run_id: run.id,
                entry_id: entry.id,
                delivery_id: None,
            });
        }
    }
    if let Err(error) = ctx.deliver_queue.send(&jobs).await {
        tracing::warn!(%error, run_id = %run.id, "could not enqueue the deliveries; recovery will");
    }
    Ok(outcome)
}

/// Reopens every delivery of `entry` and moves it to `InProgress` (recording the approval of a
/// held one). False when the entry moved on meanwhile.
async fn start_delivery(
    ctx: &Context,
    run: &Run,
    entry: &Entry,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, PipelineError> {
    let deliveries = ctx.store.list_deliveries(run.id, Some(entry.id), &PageRequest::first(ENTRY_PAGE)).await?.items;
    for d in deliveries.iter().filter(|d| d.status != DeliveryStatus::Pending) {
        match ctx
            .store
            .transition_delivery(d, d.status, DeliveryStatus::Pending, now, |d| {
                d.error = None;
                d.next_attempt_at = None;
                d.sending_until = None;
            })
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let lease = now + PICKUP_DEADLINE;
    let approval = (entry.status == EntryStatus::PendingReview).then(|| Review {
        decision: ReviewDecision::Approved,
        at: now,
        by: by.map(str::to_owned),
        note: None,
    });
    let result = ctx
        .store
        .transition_entry(run.id, entry.id, entry.status, EntryStatus::InProgress, now, |e| {
            e.lease_until = Some(lease);
            if approval.is_some() {
                e.review = approval;
            }
        })
        .await;
    moved(result)
}

/// Cancels a held entry with `decision` recorded on it. False when it moved on meanwhile.
async fn cancel_held(
    ctx: &Context,
    entry: &Entry,
    decision: Review,
    now: DateTime<Utc>,
) -> Result<bool, PipelineError> {
    let result = ctx
        .store
        .transition_entry(entry.run_id, entry.id, EntryStatus::PendingReview, EntryStatus::Cancelled, now, |e| {
            e.review = Some(decision);
            e.lease_until = None;
        })
        .await;
    moved(result)
}

fn moved(result: Result<Entry, StoreError>) -> Result<bool, PipelineError> {
    match result {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// What an approvals expiry did in one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkspaceExpiry {
    pub expired: u64,
    /// Entries that could not be expired, and why (they are tried again next time).
    pub errors: Vec<String>,
}

/// What an approvals expiry did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpiryReport {
    /// Entries held since this instant or earlier were expired.
    pub cutoff: DateTime<Utc>,
    pub max_age_hours: u32,
    pub expired: u64,
    pub workspaces: BTreeMap<WorkspaceId, WorkspaceExpiry>,
}

/// Rejects, with the note `expired`, every entry of every workspace held for review longer
/// than `APPROVAL_MAX_AGE_HOURS` at `now`. Reads only the held-entries index past the cutoff,
/// so once nothing is left to expire a call costs one empty query per shard; a second call
/// right after does nothing. One entry failing is recorded under its workspace and the
/// sweep goes on.
pub async fn expire_approvals(ctx: &Context, now: DateTime<Utc>) -> Result<ExpiryReport, PipelineError> {
    let max_age_hours = ctx.config.approval_max_age_hours;
    let cutoff = now - Duration::hours(i64::from(max_age_hours));
    let mut report = ExpiryReport { cutoff, max_age_hours, expired: 0, workspaces: BTreeMap::new() };
    loop {
        let held = ctx.store.held_entries(cutoff, EXPIRY_BATCH).await?;
        let mut progressed = false;
        for entry in held {
            let decision =
                Review { decision: ReviewDecision::Expired, at: now, by: None, note: Some(EXPIRED_NOTE.to_string()) };
            let tally = report.workspaces.entry(entry.workspace_id).or_default();
            match cancel_held(ctx, &entry, decision, now).await {
                Ok(true) => {
                    tally.expired += 1;
                    report.expired += 1;
                    progressed = true;
                }
                // Approved or rejected meanwhile: no longer held.
                Ok(false) => progressed = true,
                Err(error) => {
                    tracing::warn!(%error, run_id = %entry.run_id, entry = %entry.id, "could not expire an approval");
                    tally.errors.push(format!("entry {} of run {}: {error}", entry.id, entry.run_id));
                }
            }
        }
        if !progressed {
            return Ok(report);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Artifact, Format};
    use crate::testing::fixtures;

    fn entry(status: EntryStatus, rendered: bool) -> Entry {
        let now = chrono::Utc::now();
        let ws = fixtures::workspace("acme", now);
        let report = fixtures::report(&ws, "r", now);
        let run = fixtures::run(&report, now);
        let mut entry = fixtures::entries(&run, 1, now).remove(0);
        entry.status = status;
        if rendered {
            entry.artifacts.push(Artifact {
                report_id: report.id,
                format: Format::Pdf,
                key: "k".into(),
                file_name: "r.pdf".into(),
                content_type: "application/pdf".into(),
                size: 1,
                sha256: String::new(),
            });
        }
        entry
    }

    #[test]
    fn only_held_entries_can_be_approved_or_rejected() {
        let reject = Action::Reject { reason: None };
        for status in EntryStatus::ALL {
            let e = entry(status, true);
            let held = status == EntryStatus::PendingReview;
            assert_eq!(Action::Approve.applies_to(&e), held, "{status:?}");
            assert_eq!(reject.applies_to(&e), held, "{status:?}");
        }
    }

    /// A run of `count` entries of a new workspace, every one rendered and held since `at`.
    async fn held_run(ctx: &Context, code: &str, count: usize, at: DateTime<Utc>) -> (Run, Vec<Entry>) {
        let ws = ctx.store.create_workspace(&fixtures::workspace(code, at)).await.unwrap();
        let report = ctx.store.create_report(&fixtures::report(&ws, "r", at)).await.unwrap();
        let run = fixtures::run(&report, at);
        let entries = fixtures::entries(&run, count, at);
        ctx.store.create_run(&run, &entries, at).await.unwrap();
        let rendered = entry(EntryStatus::InProgress, true).artifacts;
        let mut held = Vec::new();
        for e in &entries {
            let s = &ctx.store;
            s.transition_entry(run.id, e.id, EntryStatus::Queued, EntryStatus::InProgress, at, |_| {}).await.unwrap();
            let e = s
                .transition_entry(run.id, e.id, EntryStatus::InProgress, EntryStatus::PendingReview, at, |e| {
                    e.artifacts = rendered.clone()
                })
                .await
                .unwrap();
            held.push(e);
        }
        (run, held)
    }

    #[tokio::test]
    async fn approving_queues_delivery_and_rejecting_records_who_and_why() {
        let now = crate::store::store_contract::now();
        let ctx = crate::testing::local_context(now).await;
        let (run, held) = held_run(&ctx, "review", 3, now).await;
        let approved = act(&ctx, &run, held[..1].to_vec(), &Action::Approve, Some("tok_1")).await.unwrap();
        assert_eq!(approved.done, [held[0].id]);
        let reject = Action::Reject { reason: Some("wrong totals".into()) };
        // `held` is a stale view: the approved entry has moved on and is skipped, not rejected.
        let rejected = act(&ctx, &run, held.clone(), &reject, Some("tok_2")).await.unwrap();
        assert_eq!(rejected.done, [held[1].id, held[2].id]);
        assert_eq!(rejected.skipped, [Skipped { id: held[0].id, status: "changed meanwhile".into() }]);
        let fresh = select(&ctx, &run, Some(&[held[0].id])).await.unwrap();
        let again = act(&ctx, &run, fresh, &reject, Some("tok_2")).await.unwrap();
        assert_eq!(again.skipped, [Skipped { id: held[0].id, status: "InProgress".into() }]);

        let first = ctx.store.get_entry(run.id, held[0].id).await.unwrap();
        let review = first.review.unwrap();
        assert_eq!((review.decision, review.by.as_deref()), (ReviewDecision::Approved, Some("tok_1")));
        let second = ctx.store.get_entry(run.id, held[1].id).await.unwrap();
        assert_eq!(second.status, EntryStatus::Cancelled);
        assert_eq!(second.artifacts, held[1].artifacts, "kept for audit");
        let review = second.review.unwrap();
        assert_eq!(
            (review.decision, review.by.as_deref(), review.note.as_deref()),
            (ReviewDecision::Rejected, Some("tok_2"), Some("wrong totals"))
        );
        let counts = ctx.store.get_run(run.id).await.unwrap().counts;
        assert_eq!((counts.queued, counts.review, counts.cancelled), (1, 0, 2));
        let jobs = ctx.deliver_queue.receive(10, std::time::Duration::ZERO).await.unwrap();
        assert_eq!(jobs.len(), 1, "only the approved entry is delivered");
    }

    #[tokio::test]
    async fn an_expiry_rejects_only_entries_held_past_the_max_age_in_every_workspace_once() {
        let now = crate::store::store_contract::now();
        let ctx = crate::testing::local_context(now).await;
        let max_age = Duration::hours(i64::from(ctx.config.approval_max_age_hours));
        let (old_a, _) = held_run(&ctx, "old-a", 2, now - max_age - Duration::minutes(1)).await;
        let (old_b, _) = held_run(&ctx, "old-b", 1, now - max_age).await;
        let (recent, _) = held_run(&ctx, "recent", 2, now - max_age + Duration::minutes(1)).await;

        let report = expire_approvals(&ctx, now).await.unwrap();
        assert_eq!(report.expired, 3);
        assert_eq!(report.workspaces[&old_a.workspace_id].expired, 2);
        assert_eq!(report.workspaces[&old_b.workspace_id].expired, 1);
        assert!(!report.workspaces.contains_key(&recent.workspace_id));
        for e in all_entries(&ctx, old_a.id).await.unwrap() {
            let review = e.review.unwrap();
            assert_eq!((e.status, review.decision, review.by), (EntryStatus::Cancelled, ReviewDecision::Expired, None));
        }
        assert_eq!(ctx.store.get_run(recent.id).await.unwrap().counts.review, 2);

        let again = expire_approvals(&ctx, now).await.unwrap();
        assert_eq!((again.expired, again.workspaces.len()), (0, 0));
    }

    #[test]
    fn deliver_takes_rendered_entries_that_are_held_delivered_or_failed_to_deliver() {
        use EntryStatus::*;
        for status in [PendingReview, Completed, CompletedWithErrors, DeliveryFailed] {
            assert!(Action::Deliver.applies_to(&entry(status, true)), "{status:?}");
            assert!(!Action::Deliver.applies_to(&entry(status, false)), "{status:?} without artifacts");
        }
        for status in [ParametersPrepared, Queued, InProgress, GenerationFailed, Cancelled] {
            assert!(!Action::Deliver.applies_to(&entry(status, true)), "{status:?}");
        }
    }
}
