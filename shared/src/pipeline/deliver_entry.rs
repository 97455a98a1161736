//! Delivering one rendered entry: one record per delivery of the report (created once), then
//! for each open delivery — claimed first, so a repeated job or a second worker sends nothing
//! twice — evaluate its condition, template its fields from the entry's row, and send the
//! stored artifacts (never re-rendered, never re-queried). Transient failures wait and retry
//! with backoff; permanent ones stop. When every delivery has settled, the entry becomes
//! `Completed`, `CompletedWithErrors` or `DeliveryFailed`.

use std::time::Duration as StdDuration;

use bytes::Bytes;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use tracing::Instrument;

use super::PipelineError;
use super::render_entry::scope;
use crate::context::Context;
use crate::deliver::condition;
use crate::deliver::{About, EntryInfo, Outgoing, OutgoingFile, Receipt, Recipients, RunInfo, SendError};
use crate::domain::{
    Delivery, DeliveryId, DeliverySpec, DeliveryStatus, DestinationConfig, Entry, EntryId, EntryStatus, Run, RunId,
    Workspace, WorkspaceId,
};
use crate::store::{PageRequest, StoreError};
use crate::template;

/// How long a sender holds a claimed delivery.
pub const SEND_LEASE: Duration = Duration::minutes(5);

/// Sends tried before a transient failure becomes permanent.
pub const MAX_ATTEMPTS: u32 = 5;

/// How long the download links in a delivery stay valid.
const LINK_TTL: StdDuration = StdDuration::from_secs(7 * 24 * 3600);

/// What became of a deliver job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliverOutcome {
    /// Every delivery settled; the entry moved to this status.
    Settled(EntryStatus),
    /// Some deliveries wait for a retry at this time (the recovery sweep picks the entry up).
    Waiting(DateTime<Utc>),
    /// Nothing to do: the entry is not delivering, or is gone.
    Skipped,
}

/// Delivers entry `entry_id` of run `run_id` of workspace `workspace_id` (only delivery
/// `only`, when given).
pub async fn deliver_entry(
    ctx: &Context,
    workspace_id: WorkspaceId,
    (run_id, entry_id): (RunId, EntryId),
    only: Option<DeliveryId>,
) -> Result<DeliverOutcome, PipelineError> {
    let now = ctx.clock.now();
    let (entry, run, workspace) = match ctx.store.entry_with_context(workspace_id, run_id, entry_id).await {
        Ok(found) if found.0.status == EntryStatus::InProgress && !found.0.artifacts.is_empty() => found,
        Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(DeliverOutcome::Skipped),
        Err(e) => return Err(e.into()),
    };
    let span = tracing::info_span!("deliver", run = %run_id, entry = %entry_id, tenant = %workspace.code);
    deliver_rendered(ctx, &workspace, &run, &entry, (only, None), now).instrument(span).await
}

/// Sends an entry's open deliveries (only `only`, when given) and settles the entry. The
/// entry's first delivery job creates every delivery record already claimed, in one write,
/// and settles the entry from what it sent; a repeated job finds the records and claims the
/// open ones one by one.
pub(crate) async fn deliver_rendered(
    ctx: &Context,
    workspace: &Workspace,
    run: &Run,
    entry: &Entry,
    (only, stored): (Option<DeliveryId>, Option<Vec<Bytes>>),
    now: DateTime<Utc>,
) -> Result<DeliverOutcome, PipelineError> {
    let report = &run.inputs.report;
    let records = || -> Vec<Delivery> {
        let specs = report.deliveries.iter().enumerate();
        specs.map(|(i, spec)| Delivery::new(entry, spec.destination_id, i as u32, now)).collect()
    };
    let mut claimed_here = records();
    claimed_here.iter_mut().for_each(|d| d.claim(now, now + SEND_LEASE));
    let first = only.is_none() && ctx.store.create_all_deliveries(&mut claimed_here).await?;
    let deliveries = if first {
        claimed_here
    } else {
        ctx.store.create_deliveries(&records()).await?;
        ctx.store.list_deliveries(run.id, Some(entry.id), &PageRequest::first(200)).await?.items
    };

    let scope =
        scope(report, &entry.parameters, (entry.row.as_ref(), entry.configuration.as_ref()), &run.inputs.data, run);
    // The artifacts' bytes, read once (when the render did not hand them over) for every delivery.
    let mut stored = stored.filter(|bytes| bytes.len() == entry.artifacts.len());
    // What this job settled, while it settles every delivery of the entry.
    let mut settled = first.then(|| Vec::with_capacity(report.deliveries.len()));
    for delivery in deliveries {
        let claimed = if first {
            delivery
        } else {
            let open = !delivery.status.is_settled() && delivery.next_attempt_at.is_none_or(|at| at <= now);
            if only.is_some_and(|id| id != delivery.id) || !open {
                continue;
            }
            match ctx.store.claim_delivery(&delivery, now, now + SEND_LEASE).await {
                Ok(claimed) => claimed,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let Some(spec) = report.deliveries.get(claimed.index as usize) else {
            settled = None;
            continue;
        };
        // A panic while preparing or sending one message fails that delivery alone.
        let sent = super::isolated(attempt(ctx, workspace, run, entry, spec, &claimed, &scope, &mut stored, now));
        let result = match sent.await {
            Ok(result) => result?,
            Err(panicked) => Attempt::Failed(SendError::Permanent(format!("the delivery {panicked}"))),
        };
        match (settle(ctx, &claimed, result, now).await?, &mut settled) {
            (Some(done), Some(settled)) => settled.push(done),
            (None, _) => settled = None,
            (Some(_), None) => {}
        }
    }
    finish(ctx, entry, settled, now).await
}

enum Attempt {
    Sent(Receipt),
    /// Not sent on purpose (the condition said no, or nobody may receive it), with a note.
    Skipped(Option<String>),
    Failed(SendError),
}

#[allow(clippy::too_many_arguments)]
async fn attempt(
    ctx: &Context,
    workspace: &Workspace,
    run: &Run,
    entry: &Entry,
    spec: &DeliverySpec,
    delivery: &Delivery,
    scope: &Value,
    stored: &mut Option<Vec<Bytes>>,
    now: DateTime<Utc>,
) -> Result<Attempt, PipelineError> {
    if let Some(text) = spec.condition.as_deref() {
        match condition::parse(text).and_then(|c| c.evaluate(scope)) {
            Ok(true) => {}
            Ok(false) => return Ok(Attempt::Skipped(None)),
            Err(e) => return Ok(Attempt::Failed(SendError::Permanent(e.to_string()))),
        }
    }
    let destination = match ctx.store.get_destination(workspace.id, spec.destination_id).await {
        Ok(destination) => destination,
        Err(StoreError::NotFound { .. }) => {
            return Ok(Attempt::Failed(SendError::Permanent("the destination no longer exists".into())));
        }
        Err(e) => return Err(e.into()),
    };
    let mut recipients = Recipients {
        to: condition::recipients(&spec.to, scope),
        cc: condition::recipients(&spec.cc, scope),
        bcc: condition::recipients(&spec.bcc, scope),
    };
    if matches!(destination.config, DestinationConfig::Email { .. }) {
        let suppressed = drop_suppressed(ctx, workspace.id, &mut recipients, now).await?;
        if !suppressed.is_empty() && recipients.to.is_empty() && recipients.cc.is_empty() && recipients.bcc.is_empty() {
            let note = format!("every recipient is suppressed: {}", suppressed.join(", "));
            return Ok(Attempt::Skipped(Some(note)));
        }
    }
    if stored.is_none() {
        *stored = Some(load_bytes(ctx, entry).await?);
    }
    let files = outgoing_files(ctx, entry, spec, scope, stored.as_deref().unwrap_or_default(), now).await?;
    let report = &run.inputs.report;
    let subject = spec.subject.as_deref().map(|s| template::expand(s, scope)).filter(|s| !s.trim().is_empty());
    let outgoing = Outgoing {
        idempotency_key: delivery.idempotency_key.clone().unwrap_or_else(|| delivery.send_key()),
        about: About::Run {
            run: RunInfo {
                id: run.id,
                workspace_id: run.workspace_id,
                report_id: report.id,
                report_code: report.code.to_string(),
                report_name: report.name.to_string(),
                trigger: run.trigger,
                scheduled_for: run.scheduled_for,
                started_at: run.started_at,
            },
            entry: EntryInfo { id: entry.id, seq: entry.seq, row: entry.row.clone() },
        },
        recipients,
        from: None,
        reply_to: None,
        subject: subject.unwrap_or_else(|| report.name.to_string()),
        message: spec.message.as_deref().map(|m| template::expand(m, scope)).unwrap_or_default(),
        narrative: run.narrative.clone(),
        run_url: format!("{}/api/v1/reports/runs/{}", ctx.config.public_base_url(), run.id),
        view_url: (!spec.addressed_from_data())
            .then(|| format!("{}/console#/runs/{}", ctx.config.public_base_url(), run.id)),
        files,
    };
    Ok(match ctx.senders.send(workspace, &destination, outgoing, now).await {
        Ok(receipt) => Attempt::Sent(receipt),
        Err(error) => Attempt::Failed(error),
    })
}

/// Removes the addresses suppressed (after a hard bounce or a complaint) from `recipients`;
/// the ones removed.
async fn drop_suppressed(
    ctx: &Context,
    ws: WorkspaceId,
    recipients: &mut Recipients,
    now: DateTime<Utc>,
) -> Result<Vec<String>, PipelineError> {
    let mut suppressed = Vec::new();
    for list in [&mut recipients.to, &mut recipients.cc, &mut recipients.bcc] {
        let mut kept = Vec::with_capacity(list.len());
        for address in list.drain(..) {
            if ctx.store.active_suppression(ws, &address, now).await?.is_some() {
                suppressed.push(address);
            } else {
                kept.push(address);
            }
        }
        *list = kept;
    }
    Ok(suppressed)
}

/// The bytes of the entry's stored artifacts, in order.
async fn load_bytes(ctx: &Context, entry: &Entry) -> Result<Vec<Bytes>, PipelineError> {
    let mut bytes = Vec::with_capacity(entry.artifacts.len());
    for artifact in &entry.artifacts {
        bytes.push(ctx.blobs.get(&artifact.key).await?);
    }
    Ok(bytes)
}

/// The entry's artifacts as one delivery sends them: named by its naming pattern when it has
/// one, with a download link each.
async fn outgoing_files(
    ctx: &Context,
    entry: &Entry,
    spec: &DeliverySpec,
    scope: &Value,
    bytes: &[Bytes],
    now: DateTime<Utc>,
) -> Result<Vec<OutgoingFile>, PipelineError> {
    let mut files = Vec::with_capacity(entry.artifacts.len());
    for (artifact, bytes) in entry.artifacts.iter().zip(bytes) {
        files.push(OutgoingFile {
            file_name: file_name(spec.naming_pattern.as_deref(), &artifact.file_name, scope),
            content_type: artifact.content_type.clone(),
            size: bytes.len() as u64,
            sha256: artifact.sha256.clone(),
            bytes: bytes.clone(),
            download_url: ctx.blobs.signed_url(&artifact.key, LINK_TTL, now).await?,
        });
    }
    Ok(files)
}

/// `pattern` expanded from the row (plus `{file}`: the artifact's own name without its
/// extension), keeping the artifact's extension, as one safe file name (no folders, no
/// leading dots); the artifact's name when there is no pattern or it expands to nothing.
fn file_name(pattern: Option<&str>, original: &str, scope: &Value) -> String {
    let Some(pattern) = pattern.filter(|p| !p.trim().is_empty()) else { return original.to_owned() };
    let (stem, extension) = original.rsplit_once('.').unwrap_or((original, ""));
    let mut scope = scope.clone();
    if let Value::Object(names) = &mut scope {
        names.insert("file".into(), Value::String(stem.to_owned()));
    }
    let expanded = template::expand(pattern, &scope);
    let safe: String = expanded
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ') { c } else { '-' })
        .collect();
    let safe = safe.replace("..", ".");
    let safe = safe.trim().trim_start_matches(['.', '-', ' ']).trim_end_matches(['.', ' ']);
    if safe.is_empty() {
        return original.to_owned();
    }
    match (extension.is_empty(), safe.ends_with(&format!(".{extension}"))) {
        (false, false) => format!("{safe}.{extension}"),
        _ => safe.to_owned(),
    }
}

/// Records what became of a claimed delivery: the delivery as written, or `None` when it
/// moved on meanwhile (its claim lapsed and another sender has it).
async fn settle(
    ctx: &Context,
    delivery: &Delivery,
    result: Attempt,
    now: DateTime<Utc>,
) -> Result<Option<Delivery>, PipelineError> {
    let from = delivery.status;
    let outcome = match result {
        Attempt::Sent(receipt) => {
            tracing::info!(delivery = %delivery.id, destination = %delivery.destination_id, "delivery sent");
            ctx.store
                .transition_delivery(delivery, from, DeliveryStatus::Sent, now, |d| {
                    d.provider_message_id = receipt.provider_message_id;
                    d.sent_at = Some(now);
                    d.error = None;
                    d.next_attempt_at = None;
                    d.sending_until = None;
                })
                .await
        }
        Attempt::Skipped(note) => {
            ctx.store
                .transition_delivery(delivery, from, DeliveryStatus::SkippedCondition, now, |d| {
                    d.error = note;
                    d.next_attempt_at = None;
                    d.sending_until = None;
                })
                .await
        }
        Attempt::Failed(SendError::Transient(message)) if delivery.attempts < MAX_ATTEMPTS => {
            let wait = Duration::minutes(1 << (delivery.attempts.saturating_sub(1)).min(5));
            tracing::warn!(delivery = %delivery.id, %message, attempt = delivery.attempts, "delivery will be retried");
            ctx.store
                .transition_delivery(delivery, from, DeliveryStatus::FailedTransient, now, |d| {
                    d.error = Some(message);
                    d.next_attempt_at = Some(now + wait);
                    d.sending_until = None;
                })
                .await
        }
        Attempt::Failed(error) => {
            let message = match error {
                SendError::Transient(m) => format!("gave up after {} attempts: {m}", delivery.attempts),
                SendError::Permanent(m) => m,
            };
            tracing::warn!(delivery = %delivery.id, %message, "delivery failed");
            ctx.store
                .transition_delivery(delivery, from, DeliveryStatus::FailedPermanent, now, |d| {
                    d.error = Some(message);
                    d.next_attempt_at = None;
                    d.sending_until = None;
                })
                .await
        }
    };
    match outcome {
        Ok(written) => Ok(Some(written)),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Settles the entry once every delivery has, or leases it until the next retry is due.
/// `known` holds every delivery of the entry when this job wrote each one last; otherwise
/// they are read.
async fn finish(
    ctx: &Context,
    entry: &Entry,
    known: Option<Vec<Delivery>>,
    now: DateTime<Utc>,
) -> Result<DeliverOutcome, PipelineError> {
    let deliveries = match known {
        Some(deliveries) => deliveries,
        None => ctx.store.list_deliveries(entry.run_id, Some(entry.id), &PageRequest::first(200)).await?.items,
    };
    if let Some(next) = deliveries.iter().filter(|d| !d.status.is_settled()).filter_map(|d| d.next_attempt_at).min() {
        ctx.store.update_held_entry(entry, |e| e.lease_until = Some(next)).await?;
        return Ok(DeliverOutcome::Waiting(next));
    }
    if deliveries.iter().any(|d| !d.status.is_settled()) {
        // Another worker is sending one of them; it settles the entry.
        return Ok(DeliverOutcome::Waiting(now + SEND_LEASE));
    }
    let failed: Vec<&Delivery> = deliveries.iter().filter(|d| d.status == DeliveryStatus::FailedPermanent).collect();
    let next = match (failed.len(), deliveries.len()) {
        (0, _) if entry.generation_errors.is_empty() => EntryStatus::Completed,
        (f, n) if f == n && f > 0 => EntryStatus::DeliveryFailed,
        _ => EntryStatus::CompletedWithErrors,
    };
    // Reports that could not be generated, then deliveries that failed for good.
    let reasons: Vec<String> = entry
        .generation_errors
        .iter()
        .cloned()
        .chain(failed.iter().map(|d| format!("delivery {}: {}", d.index, d.error.as_deref().unwrap_or("failed"))))
        .collect();
    let error = (!reasons.is_empty()).then(|| reasons.join("; "));
    match ctx
        .store
        .transition_held_entry(entry, next, now, |e| {
            e.lease_until = None;
            e.error = error.clone();
        })
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(DeliverOutcome::Settled(next)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::file_name;

    #[test]
    fn naming_patterns_fill_from_the_row_and_keep_the_extension() {
        let scope = json!({"customers": {"id": "c-42", "name": "Zoë / Ørsted"}, "run": {"date": "2026-11-01"}});
        assert_eq!(file_name(Some("{customers.id}-{run.date}"), "statement.pdf", &scope), "c-42-2026-11-01.pdf");
        assert_eq!(file_name(Some("{file}-{customers.id}.pdf"), "statement.pdf", &scope), "statement-c-42.pdf");
        assert_eq!(file_name(Some("../{customers.name}"), "s.pdf", &scope), "Zoë - Ørsted.pdf");
        assert_eq!(file_name(Some("{missing}"), "s.pdf", &scope), "s.pdf");
        assert_eq!(file_name(None, "s.pdf", &scope), "s.pdf");
    }
}
