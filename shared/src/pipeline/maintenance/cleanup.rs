//! `GET /api/v1/cron/cleanup`: deletes expired suppressions (by their own expiry, for every
//! workspace at once), then applies each workspace's retention settings: raw interactions
//! received more than `history_days` ago, daily summaries of days more than `summary_days`
//! ago, finished runs created more than `run_days` ago with their entries, deliveries and
//! artifacts, and alert state changes and notifications older than `run_days`. A workspace under legal hold is skipped table by table and listed in
//! `legalHoldSkips`; one table's failure lands in `perTenantErrors` and the rest goes on.
//! Every purge is bounded per call (`hasMore` says when a table needs another call), and a
//! second call with nothing past its cutoff changes nothing.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tracing::Instrument;

use super::all_workspaces;
use crate::context::Context;
use crate::domain::Workspace;
use crate::pipeline::PipelineError;
use crate::store::{PageRequest, Purged, StoreError};

/// Most items one table of one workspace loses per call.
pub const PURGE_LIMIT: usize = 5_000;

/// Most runs one workspace loses per call (each with its entries, deliveries and files).
pub const RUN_PURGE_LIMIT: usize = 200;

/// The tables retention applies to, as named in the report.
pub const TABLES: [&str; 4] = ["interactions", "summaries", "runs", "alerts"];

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    /// True when nothing failed.
    pub ok: bool,
    pub expired_suppressions: usize,
    pub tenants: Vec<TenantCleanup>,
    pub legal_hold_skips: Vec<TableRef>,
    pub per_tenant_errors: Vec<TenantError>,
    /// Partition maintenance does not apply: neither store uses time partitions.
    pub partitions: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantCleanup {
    pub workspace: String,
    pub workspace_id: String,
    pub interactions: usize,
    pub summaries: usize,
    pub runs: usize,
    pub artifacts: usize,
    /// Alert state changes and notifications.
    pub alert_history: usize,
    /// Some table has more past its cutoff than one call removes.
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableRef {
    pub workspace: String,
    pub workspace_id: String,
    pub table: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantError {
    pub workspace: String,
    pub workspace_id: String,
    pub table: &'static str,
    pub error: String,
}

/// Runs the whole cleanup. Fails only when the workspaces cannot be listed at all.
pub async fn cleanup(ctx: &Context) -> Result<CleanupReport, PipelineError> {
    let now = ctx.clock.now();
    let mut report = CleanupReport { partitions: "not_applicable", ..Default::default() };
    let mut suppressions_ok = true;
    loop {
        match ctx.store.purge_expired_suppressions(now, PURGE_LIMIT).await {
            Ok(purged) => {
                report.expired_suppressions += purged.items;
                if !purged.more {
                    break;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot delete expired suppressions");
                suppressions_ok = false;
                break;
            }
        }
    }
    for ws in all_workspaces(ctx).await? {
        let name = |table| TableRef { workspace: ws.code.to_string(), workspace_id: ws.id.to_string(), table };
        if ws.settings.legal_hold {
            report.legal_hold_skips.extend(TABLES.map(name));
            continue;
        }
        let span = tracing::info_span!("cleanup", tenant = %ws.code);
        let (tenant, errors) = clean_workspace(ctx, &ws, now).instrument(span).await;
        report.per_tenant_errors.extend(errors);
        report.tenants.push(tenant);
    }
    report.ok = suppressions_ok && report.per_tenant_errors.is_empty();
    Ok(report)
}

/// Applies one workspace's retention.
pub async fn clean_workspace(ctx: &Context, ws: &Workspace, now: DateTime<Utc>) -> (TenantCleanup, Vec<TenantError>) {
    let retention = ws.settings.retention;
    let mut tenant =
        TenantCleanup { workspace: ws.code.to_string(), workspace_id: ws.id.to_string(), ..Default::default() };
    let mut errors = Vec::new();
    let mut failed = |table, error: String| {
        errors.push(TenantError { workspace: ws.code.to_string(), workspace_id: ws.id.to_string(), table, error });
    };
    let days = |n: u32| now - Duration::days(i64::from(n));

    match ctx.store.purge_interactions(ws.id, days(retention.history_days), PURGE_LIMIT).await {
        Ok(Purged { items, more }) => {
            tenant.interactions = items;
            tenant.has_more |= more;
        }
        Err(e) => failed("interactions", e.to_string()),
    }
    match ctx.store.purge_daily_summaries(ws.id, days(retention.summary_days).date_naive(), PURGE_LIMIT).await {
        Ok(Purged { items, more }) => {
            tenant.summaries = items;
            tenant.has_more |= more;
        }
        Err(e) => failed("summaries", e.to_string()),
    }
    match purge_runs(ctx, ws, days(retention.run_days)).await {
        Ok((runs, artifacts, more)) => {
            tenant.runs = runs;
            tenant.artifacts = artifacts;
            tenant.has_more |= more;
        }
        Err(e) => failed("runs", e.to_string()),
    }
    match ctx.store.purge_alert_history(ws.id, days(retention.run_days), PURGE_LIMIT).await {
        Ok(Purged { items, more }) => {
            tenant.alert_history = items;
            tenant.has_more |= more;
        }
        Err(e) => failed("alerts", e.to_string()),
    }
    (tenant, errors)
}

#[derive(Debug, thiserror::Error)]
enum RunPurgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot delete artifact {key}: {source}")]
    Blob { key: String, source: crate::blob::BlobError },
}

/// Deletes finished runs created before `cutoff`: their files, then their records. Returns
/// (runs, artifacts, more left).
async fn purge_runs(
    ctx: &Context,
    ws: &Workspace,
    cutoff: DateTime<Utc>,
) -> Result<(usize, usize, bool), RunPurgeError> {
    let (mut runs, mut artifacts) = (0, 0);
    let mut page = PageRequest::first(50);
    loop {
        let listing = ctx.store.runs_created_before(ws.id, cutoff, &page).await?;
        for run in listing.items.iter().filter(|r| r.is_finished()) {
            if runs == RUN_PURGE_LIMIT {
                return Ok((runs, artifacts, true));
            }
            let mut entries = PageRequest::first(200);
            loop {
                let listed = ctx.store.list_entries(run.id, &entries).await?;
                let keys: Vec<String> =
                    listed.items.iter().flat_map(|e| e.artifacts.iter().map(|a| a.key.clone())).collect();
                for key in keys {
                    match ctx.blobs.delete(&key).await {
                        Ok(()) | Err(crate::blob::BlobError::NotFound(_)) => artifacts += 1,
                        Err(source) => return Err(RunPurgeError::Blob { key, source }),
                    }
                }
                match listed.cursor {
                    Some(cursor) => entries.cursor = Some(cursor),
                    None => break,
                }
            }
            ctx.store.purge_run(run).await?;
            runs += 1;
        }
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok((runs, artifacts, false)),
        }
    }
}
