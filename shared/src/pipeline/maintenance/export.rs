//! `GET /api/v1/cron/export-interactions`: each active workspace's interactions received
//! since its checkpoint, at most [`EXPORT_LIMIT`] per call, written to the blob store as
//! Hive-partitioned NDJSON (`exports/interactions/workspace={code}/year=…/month=…/day=…/
//! part-{first id}.ndjson`, one file per receipt day). The checkpoint moves only after every
//! file of the batch is written; a failure marks it failed, and the next call retries from the
//! same place. Files are named after their first row, so a retry rewrites the same files rather
//! than adding copies: no row is exported twice or skipped. Only rows received at least
//! [`SETTLE`] ago are read, so rows still being written while an export runs (their receipt
//! time already taken, their write not yet visible) are picked up by a later call.

use bytes::Bytes;
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;
use tracing::Instrument;

use super::all_workspaces;
use crate::context::Context;
use crate::domain::{CheckpointStatus, Interaction, Workspace};
use crate::pipeline::PipelineError;

/// Most interactions exported per workspace per call (seed `002`).
pub const EXPORT_LIMIT: usize = 10_000;

/// How old an interaction's receipt must be before it is exported.
pub const SETTLE: Duration = Duration::minutes(2);

/// Where the export files go in the blob store.
pub const EXPORT_PREFIX: &str = "exports/interactions";

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    /// True when no workspace failed.
    pub ok: bool,
    /// Interactions exported by this call, over every workspace.
    pub exported: usize,
    pub tenants: Vec<TenantExport>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantExport {
    pub workspace: String,
    pub workspace_id: String,
    pub rows: usize,
    pub files: Vec<String>,
    /// Receipt position of the last exported interaction.
    pub checkpoint: Option<String>,
    /// The workspace has more rows ready than one call exports.
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Exports every active workspace's new interactions.
pub async fn export_interactions(ctx: &Context) -> Result<ExportReport, PipelineError> {
    let now = ctx.clock.now();
    let mut report = ExportReport { ok: true, ..Default::default() };
    for ws in all_workspaces(ctx).await?.into_iter().filter(|w| w.active) {
        let span = tracing::info_span!("export", tenant = %ws.code);
        let tenant = export_workspace(ctx, &ws, now, EXPORT_LIMIT).instrument(span).await;
        report.ok &= tenant.error.is_none();
        report.exported += tenant.rows;
        report.tenants.push(tenant);
    }
    Ok(report)
}

/// Exports up to `limit` of one workspace's interactions; failures end up in `error`.
pub async fn export_workspace(ctx: &Context, ws: &Workspace, now: DateTime<Utc>, limit: usize) -> TenantExport {
    let mut tenant =
        TenantExport { workspace: ws.code.to_string(), workspace_id: ws.id.to_string(), ..Default::default() };
    let checkpoint = match ctx.store.export_checkpoint(ws.id).await {
        Ok(checkpoint) => checkpoint,
        Err(e) => {
            tenant.error = Some(format!("cannot read the checkpoint: {e}"));
            return tenant;
        }
    };
    tenant.checkpoint = checkpoint.position.clone();
    let rows = match ctx.store.interactions_after(ws.id, checkpoint.position.as_deref(), now - SETTLE, limit).await {
        Ok(rows) => rows,
        Err(e) => {
            tenant.error = Some(format!("cannot read interactions: {e}"));
            return tenant;
        }
    };
    let Some((last_position, _)) = rows.last() else {
        if checkpoint.status == CheckpointStatus::Failed {
            let mut cleared = checkpoint;
            cleared.status = CheckpointStatus::Ok;
            cleared.error = None;
            cleared.updated_at = Some(now);
            if let Err(e) = ctx.store.save_export_checkpoint(&cleared).await {
                tenant.error = Some(format!("cannot save the checkpoint: {e}"));
            }
        }
        return tenant;
    };
    let last_position = last_position.clone();
    let files = match write_files(ctx, ws, &rows).await {
        Ok(files) => files,
        Err(message) => {
            let mut failed = checkpoint;
            failed.status = CheckpointStatus::Failed;
            failed.error = Some(message.clone());
            failed.updated_at = Some(now);
            if let Err(e) = ctx.store.save_export_checkpoint(&failed).await {
                tracing::warn!(error = %e, "cannot mark the export checkpoint failed");
            }
            tenant.error = Some(message);
            return tenant;
        }
    };
    let mut next = checkpoint;
    next.position = Some(last_position.clone());
    next.status = CheckpointStatus::Ok;
    next.rows_exported += rows.len() as u64;
    next.last_file = files.last().cloned();
    next.error = None;
    next.updated_at = Some(now);
    match ctx.store.save_export_checkpoint(&next).await {
        Ok(_) => {
            tenant.rows = rows.len();
            tenant.files = files;
            tenant.checkpoint = Some(last_position);
            tenant.has_more = rows.len() == limit;
        }
        // Another export of the same rows won the race; its files are these files.
        Err(e) => tenant.error = Some(format!("cannot save the checkpoint: {e}")),
    }
    tenant
}

/// Writes `rows` (in receipt order) as one NDJSON file per receipt day; the blob keys written.
async fn write_files(ctx: &Context, ws: &Workspace, rows: &[(String, Interaction)]) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    for day in rows.chunk_by(|(_, a), (_, b)| a.created_at.date_naive() == b.created_at.date_naive()) {
        let first = &day[0].1;
        let date = first.created_at.date_naive();
        let key = format!(
            "{EXPORT_PREFIX}/workspace={}/year={:04}/month={:02}/day={:02}/part-{}.ndjson",
            ws.code,
            date.year(),
            date.month(),
            date.day(),
            first.id
        );
        let mut body = Vec::with_capacity(day.len() * 200);
        for (_, interaction) in day {
            serde_json::to_writer(&mut body, interaction).map_err(|e| format!("cannot encode an interaction: {e}"))?;
            body.push(b'\n');
        }
        ctx.blobs
            .put(&key, Bytes::from(body), "application/x-ndjson")
            .await
            .map_err(|e| format!("cannot write {key}: {e}"))?;
        files.push(key);
    }
    Ok(files)
}
