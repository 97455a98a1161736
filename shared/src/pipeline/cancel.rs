//! Cancelling a run: the run stops taking work, and every entry not yet started or held for
//! review is cancelled. Entries a worker is already rendering or delivering finish that step;
//! a render worker that picks up an entry of a cancelled run cancels it instead. Cancelling is
//! idempotent: a second call finds nothing left to cancel.

use chrono::{DateTime, Utc};

use super::PipelineError;
use crate::context::Context;
use crate::domain::{EntryStatus, Run, RunStatus};
use crate::store::{PageRequest, StoreError};

/// Entries read per page while cancelling.
const PAGE: usize = 200;

/// What cancelling did.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancellation {
    /// The run is cancelled; `entries` were cancelled by this call.
    Cancelled { run: Box<Run>, entries: usize },
    /// The run had already ended in this status; nothing changed.
    AlreadyEnded(RunStatus),
    /// The run's entries are still being created; try again in a moment.
    Preparing,
}

/// Cancels `run` (already read and checked to belong to the caller's workspace).
pub async fn cancel_run(ctx: &Context, run: Run, now: DateTime<Utc>) -> Result<Cancellation, PipelineError> {
    let run = match run.status {
        RunStatus::Preparing => return Ok(Cancellation::Preparing),
        RunStatus::Finished | RunStatus::Failed => return Ok(Cancellation::AlreadyEnded(run.status)),
        RunStatus::Cancelled => run,
        RunStatus::Running | RunStatus::AwaitingReview => {
            // Ended now unless workers still hold entries (the last of them ends it).
            let ended = |r: &mut Run| r.finished_at = (r.counts.queued == 0).then_some(now);
            match ctx.store.transition_run(run.id, run.status, RunStatus::Cancelled, ended).await {
                Ok(run) => run,
                // It finished (or was cancelled) meanwhile.
                Err(StoreError::Conflict(_)) => {
                    let now_run = ctx.store.get_run(run.id).await?;
                    if now_run.status != RunStatus::Cancelled {
                        return Ok(Cancellation::AlreadyEnded(now_run.status));
                    }
                    now_run
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let mut cancelled = 0;
    let mut page = PageRequest::first(PAGE);
    loop {
        let listing = ctx.store.list_entries(run.id, &page).await?;
        for entry in &listing.items {
            let waiting = matches!(
                entry.status,
                EntryStatus::ParametersPrepared | EntryStatus::Queued | EntryStatus::PendingReview
            );
            if !waiting {
                continue;
            }
            match ctx
                .store
                .transition_entry(run.id, entry.id, entry.status, EntryStatus::Cancelled, now, |e| e.lease_until = None)
                .await
            {
                Ok(_) => cancelled += 1,
                // A worker took it meanwhile; it finishes that step (or cancels it itself).
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    let run = ctx.store.get_run(run.id).await?;
    ctx.store.record_run_outcome(&run).await?;
    Ok(Cancellation::Cancelled { run: Box::new(run), entries: cancelled })
}
