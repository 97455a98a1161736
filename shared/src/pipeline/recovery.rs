//! The recovery sweep: finds entries whose lease ran out (a worker crashed, a message was
//! lost, or the local server restarted with jobs in its in-process queue) and hands them to
//! the queue again. The store decides what is unfinished; the queue only carries ids. A
//! delivering entry's send claims that lapsed by the cutoff are released with it, so a
//! delivery cut short by a crash is sent again at once (under its same idempotency key)
//! instead of waiting out the claim.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::PipelineError;
use crate::context::Context;
use crate::domain::{Entry, EntryStatus};
use crate::queue::Job;
use crate::store::{PageRequest, StoreError};

/// How long a queued entry may wait for a worker before the sweep enqueues it again.
pub const PICKUP_DEADLINE: Duration = Duration::minutes(15);

/// Most stale entries handled per work-index shard in one sweep.
const SWEEP_BATCH: usize = 500;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecoveryReport {
    /// Entries sent to the render queue again.
    pub rendering: usize,
    /// Entries whose deliveries were sent to the deliver queue again.
    pub delivering: usize,
    /// Entries another worker moved on while the sweep looked at them.
    pub skipped: usize,
    pub errors: Vec<String>,
}

/// Re-enqueues every entry whose lease ended at or before `cutoff`. The local server passes
/// a cutoff far in the future at start-up: its in-process queue is empty then, so all
/// unfinished work must be handed out again.
pub async fn recover_stale_work(ctx: &Context, cutoff: DateTime<Utc>) -> Result<RecoveryReport, PipelineError> {
    sweep(ctx, cutoff, SWEEP_BATCH).await
}

/// One sweep of at most `batch` stale entries per shard.
async fn sweep(ctx: &Context, cutoff: DateTime<Utc>, batch: usize) -> Result<RecoveryReport, PipelineError> {
    let now = ctx.clock.now();
    let mut report = RecoveryReport::default();
    for entry in ctx.store.stale_entries(cutoff, batch).await? {
        match requeue(ctx, &entry, now, cutoff).await {
            Ok(Some(job @ (Job::Render { .. } | Job::ReviewDocument { .. } | Job::EvaluateAlert { .. }))) => {
                ctx.render_queue.send(&[job]).await?;
                report.rendering += 1;
            }
            Ok(Some(job @ Job::Deliver { .. })) => {
                ctx.deliver_queue.send(&[job]).await?;
                report.delivering += 1;
            }
            Ok(None) => report.skipped += 1,
            Err(e) => report.errors.push(format!("entry {} of run {}: {e}", entry.id, entry.run_id)),
        }
    }
    if report != RecoveryReport::default() {
        tracing::info!(?report, "recovered stale work");
    }
    Ok(report)
}

/// Hands out all unfinished work again when the local server starts (its in-process queue
/// is empty then): every entry whose lease ends before any lease this sweep sets, however
/// many (a sweep takes [`SWEEP_BATCH`] per shard, so it sweeps until one finds nothing).
/// Entries waiting for a retry later than that are left to the periodic sweep, which hands
/// them out when it is due. Call it before the workers start: an entry a worker claimed
/// meanwhile would look stale to it.
pub async fn recover_at_start(ctx: &Context) -> Result<RecoveryReport, PipelineError> {
    sweep_until_done(ctx, SWEEP_BATCH).await
}

async fn sweep_until_done(ctx: &Context, batch: usize) -> Result<RecoveryReport, PipelineError> {
    let before_new_leases = ctx.clock.now() + PICKUP_DEADLINE - Duration::milliseconds(1);
    let mut total = RecoveryReport::default();
    loop {
        let report = sweep(ctx, before_new_leases, batch).await?;
        let handed_out = report.rendering + report.delivering;
        total.rendering += report.rendering;
        total.delivering += report.delivering;
        total.skipped += report.skipped;
        total.errors.extend(report.errors);
        if handed_out == 0 {
            return Ok(total);
        }
    }
}

/// Records the new lease first (the store is the source of truth), then says which job to
/// send. `None` when the entry moved on in the meantime.
async fn requeue(
    ctx: &Context,
    entry: &Entry,
    now: DateTime<Utc>,
    cutoff: DateTime<Utc>,
) -> Result<Option<Job>, StoreError> {
    let lease = now + PICKUP_DEADLINE;
    let (run, id, workspace_id) = (entry.run_id, entry.id, entry.workspace_id);
    let render = Job::Render { workspace_id, run_id: run, entry_id: id };
    let (outcome, job) = match entry.status {
        EntryStatus::Queued => (ctx.store.extend_entry_lease(run, id, EntryStatus::Queued, lease).await, render),
        // Delivering: the artifacts exist, so only the deliveries are picked up again.
        EntryStatus::InProgress if !entry.artifacts.is_empty() => {
            let extended = ctx.store.extend_entry_lease(run, id, EntryStatus::InProgress, lease).await;
            if extended.is_ok() {
                release_lapsed_claims(ctx, entry, cutoff).await?;
            }
            (extended, Job::Deliver { workspace_id, run_id: run, entry_id: id, delivery_id: None })
        }
        EntryStatus::InProgress => (
            ctx.store
                .transition_entry(run, id, EntryStatus::InProgress, EntryStatus::Queued, now, |e| {
                    e.lease_until = Some(lease)
                })
                .await,
            render,
        ),
        _ => return Ok(None),
    };
    match outcome {
        Ok(_) => Ok(Some(job)),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Releases the entry's send claims that lapsed at or before `cutoff`.
async fn release_lapsed_claims(ctx: &Context, entry: &Entry, cutoff: DateTime<Utc>) -> Result<(), StoreError> {
    let deliveries = ctx.store.list_deliveries(entry.run_id, Some(entry.id), &PageRequest::first(200)).await?.items;
    for delivery in deliveries.iter().filter(|d| !d.status.is_settled() && d.sending_until.is_some_and(|t| t <= cutoff))
    {
        match ctx.store.release_delivery(delivery, cutoff).await {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use super::*;
    use crate::domain::Artifact;
    use crate::testing::fixtures;

    #[tokio::test]
    async fn a_restart_hands_every_unfinished_entry_to_the_queue_again_and_releases_lapsed_send_claims() {
        let now = crate::store::store_contract::now();
        let ctx = crate::testing::local_context(now).await;
        let ws = ctx.store.create_workspace(&fixtures::workspace("recovery", now)).await.unwrap();
        let report = ctx.store.create_report(&fixtures::report(&ws, "r", now)).await.unwrap();
        let run = fixtures::run(&report, now);
        let entries = fixtures::entries(&run, 4, now);
        ctx.store.create_run(&run, &entries, now).await.unwrap();
        let store = &ctx.store;
        // 0: still queued. 1: a worker was rendering. 2: a worker was delivering. 3: done.
        store
            .transition_entry(run.id, entries[1].id, EntryStatus::Queued, EntryStatus::InProgress, now, |_| {})
            .await
            .unwrap();
        store
            .transition_entry(run.id, entries[2].id, EntryStatus::Queued, EntryStatus::InProgress, now, |e| {
                e.artifacts.push(Artifact {
                    report_id: report.id,
                    format: crate::domain::Format::Pdf,
                    key: "k.pdf".into(),
                    file_name: "k.pdf".into(),
                    content_type: "application/pdf".into(),
                    size: 1,
                    sha256: "00".into(),
                })
            })
            .await
            .unwrap();
        store
            .transition_entry(run.id, entries[3].id, EntryStatus::Queued, EntryStatus::Cancelled, now, |_| {})
            .await
            .unwrap();
        // Entry 2's delivery was being sent when the worker stopped: its claim still holds.
        let delivery = fixtures::delivery(&entries[2], 0, now);
        store.create_deliveries(std::slice::from_ref(&delivery)).await.unwrap();
        store.claim_delivery(&delivery, now, now + Duration::minutes(5)).await.unwrap();

        let far_future = now + Duration::days(36_500);
        let outcome = recover_stale_work(&ctx, far_future).await.unwrap();
        assert_eq!((outcome.rendering, outcome.delivering, outcome.skipped), (2, 1, 0), "{outcome:?}");
        assert!(outcome.errors.is_empty());

        let ids = rendered_entries(&ctx).await;
        assert_eq!(ids, [entries[0].id, entries[1].id]);
        let delivering = ctx.deliver_queue.receive(10, StdDuration::ZERO).await.unwrap();
        assert_eq!(delivering.len(), 1);
        assert_eq!(store.get_entry(run.id, entries[1].id).await.unwrap().status, EntryStatus::Queued);
        // The lapsed claim is released, so the delivery is sent again at once, under its key.
        let released = store.get_delivery(run.id, entries[2].id, 0).await.unwrap();
        assert_eq!((released.sending_until, released.idempotency_key), (None, Some(delivery.send_key())));
        // Leases moved forward: an immediate second sweep at the real time finds nothing.
        let again = recover_stale_work(&ctx, now).await.unwrap();
        assert_eq!(again, RecoveryReport::default());
    }

    /// The entries of the render jobs waiting in the queue, sorted.
    async fn rendered_entries(ctx: &Context) -> Vec<crate::domain::EntryId> {
        let jobs = ctx.render_queue.receive(100, StdDuration::ZERO).await.unwrap();
        let mut ids: Vec<_> = jobs
            .iter()
            .map(|r| match r.job {
                Job::Render { entry_id, .. } => entry_id,
                _ => panic!("render job expected"),
            })
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn a_start_hands_out_every_unfinished_entry_however_many_sweeps_it_takes() {
        let created = crate::store::store_contract::now();
        // The server starts again a minute after the run was created.
        let ctx = crate::testing::local_context(created + Duration::minutes(1)).await;
        let ws = ctx.store.create_workspace(&fixtures::workspace("restart", created)).await.unwrap();
        let report = ctx.store.create_report(&fixtures::report(&ws, "r", created)).await.unwrap();
        let run = fixtures::run(&report, created);
        let entries = fixtures::entries(&run, 60, created);
        ctx.store.create_run(&run, &entries, created).await.unwrap();

        // One entry per shard and sweep, so sixty entries over sixteen shards take several.
        let outcome = sweep_until_done(&ctx, 1).await.unwrap();
        assert_eq!((outcome.rendering, outcome.delivering, outcome.skipped), (60, 0, 0), "{outcome:?}");
        let mut ids = rendered_entries(&ctx).await;
        let jobs = ids.len();
        ids.dedup();
        assert_eq!((jobs, ids.len()), (60, 60), "each entry handed out once");
        assert_eq!(sweep_until_done(&ctx, 1).await.unwrap(), RecoveryReport::default());
    }
}
