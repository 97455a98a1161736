//! Hold-for-review decisions: approve or reject one held entry of a run, or many at once, and
//! the `GET /api/v1/cron/approvals-expire` sweep (seed `002`) that rejects approvals left
//! waiting longer than `APPROVAL_MAX_AGE_HOURS`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::runs::run_of;
use crate::context::Context;
use crate::domain::{Access, Area, EntryId, EntryStatus};
use crate::http::auth::Caller;
use crate::http::cron_auth::MaintenanceCaller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, object};
use crate::http::openapi::{ConflictErrors, CronErrors, ReadErrors, WorkspacePath, WriteErrors, views};
use crate::pipeline::review::{self, Action};

/// Longest reason a rejection may carry.
const MAX_REASON_CHARS: usize = 2000;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why the entry is not to be delivered (kept on the entry).
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The entries to approve; every held entry of the run when absent.
    pub entry_ids: Option<Vec<EntryId>>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// The entries to reject; every held entry of the run when absent.
    pub entry_ids: Option<Vec<EntryId>>,
    /// Why the entries are not to be delivered (kept on each).
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

fn reason(text: Option<String>) -> ApiResult<Option<String>> {
    let text = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_REASON_CHARS) {
        return Err(ApiError::invalid("reason", format!("must be at most {MAX_REASON_CHARS} characters")));
    }
    Ok(text)
}

/// Applies `action` to one entry, which must be held for review (`409` otherwise).
async fn decide_one(ctx: &Context, caller: &Caller, run: &str, entry: &str, action: Action) -> ApiResult<Json<Value>> {
    caller.require(Area::Runs, Access::Write)?;
    let run = run_of(ctx, caller, run).await?;
    let entry_id: EntryId = entry.parse().map_err(|_| ApiError::not_found("entry"))?;
    let found = ctx.store.get_entry(run.id, entry_id).await?;
    let refused = || {
        ApiError::conflict(format!(
            "the entry is {}: only entries held for review (PendingReview) can be approved or rejected",
            found.status.as_str()
        ))
    };
    if found.status != EntryStatus::PendingReview {
        return Err(refused());
    }
    let by = caller.token.id.to_string();
    let outcome = review::act(ctx, &run, vec![found.clone()], &action, Some(&by)).await?;
    if outcome.done.is_empty() {
        let now = ctx.store.get_entry(run.id, entry_id).await?;
        return Err(ApiError::conflict(format!("the entry moved on meanwhile and is {}", now.status.as_str())));
    }
    let entry = ctx.store.get_entry(run.id, entry_id).await?;
    Ok(Json(object("run_entry", &entry)))
}

/// Approves an entry held for review: its deliveries are queued.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/runs/{id}/entries/{entry}/approve",
    operation_id = "approve_entry",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("id" = String, Path, description = "The run's id"),
        ("entry" = String, Path, description = "The entry's id"),
    ),
    responses(
        (status = 202, description = "The approved entry; its deliveries are queued", body = views::EntryRecordView),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn approve_entry(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, run, entry)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let answer = decide_one(&ctx, &caller, &run, &entry, Action::Approve).await?;
    Ok((StatusCode::ACCEPTED, answer))
}

/// Rejects an entry held for review: it is cancelled, keeps its files and is never delivered.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/runs/{id}/entries/{entry}/reject",
    operation_id = "reject_entry",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("id" = String, Path, description = "The run's id"),
        ("entry" = String, Path, description = "The entry's id"),
    ),
    request_body = Option<RejectBody>,
    responses(
        (status = 200, description = "The rejected entry", body = views::EntryRecordView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn reject_entry(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, run, entry)): Path<(String, String, String)>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Runs, Access::Write)?;
    let body: RejectBody = body.parse_or_default()?;
    let action = Action::Reject { reason: reason(body.reason)? };
    decide_one(&ctx, &caller, &run, &entry, action).await
}

/// Applies `action` to the named entries (every held one when none are named); the others
/// are reported as skipped.
async fn decide_many(
    ctx: &Context,
    caller: &Caller,
    run: &str,
    entry_ids: Option<Vec<EntryId>>,
    action: Action,
) -> ApiResult<Value> {
    caller.require(Area::Runs, Access::Write)?;
    let run = run_of(ctx, caller, run).await?;
    let mut entries = review::select(ctx, &run, entry_ids.as_deref()).await?;
    if entry_ids.is_none() {
        entries.retain(|e| e.status == EntryStatus::PendingReview);
    }
    let by = caller.token.id.to_string();
    let (kind, count) = match action {
        Action::Reject { .. } => ("run_rejection", "rejected"),
        _ => ("run_approval", "approved"),
    };
    let outcome = review::act(ctx, &run, entries, &action, Some(&by)).await?;
    Ok(json!({"object": kind, "run_id": run.id, count: outcome.done.len(), "skipped": outcome.skipped}))
}

/// Approves held entries of a run: the named ones, or every held one when none are named.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/runs/{id}/approve",
    operation_id = "approve_entries",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The run's id")),
    request_body = Option<ApproveBody>,
    responses(
        (status = 202, description = "What was approved and what was left as it is", body = views::RunApprovalView),
        WriteErrors,
    )
)]
pub async fn approve_entries(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, run)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Runs, Access::Write)?;
    let body: ApproveBody = body.parse_or_default()?;
    let answer = decide_many(&ctx, &caller, &run, body.entry_ids, Action::Approve).await?;
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// Rejects held entries of a run: the named ones, or every held one when none are named.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/runs/{id}/reject",
    operation_id = "reject_entries",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The run's id")),
    request_body = Option<BulkBody>,
    responses(
        (status = 200, description = "What was rejected and what was left as it is", body = views::RunRejectionView),
        WriteErrors,
    )
)]
pub async fn reject_entries(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, run)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Runs, Access::Write)?;
    let body: BulkBody = body.parse_or_default()?;
    let action = Action::Reject { reason: reason(body.reason)? };
    Ok(Json(decide_many(&ctx, &caller, &run, body.entry_ids, action).await?))
}

/// Expires pending approvals older than `APPROVAL_MAX_AGE_HOURS` in every workspace.
///
/// Each such entry is rejected with the note `expired`; counts and errors per workspace. A
/// second call right after is a no-op.
#[utoipa::path(
    get,
    path = "/api/v1/cron/approvals-expire",
    operation_id = "cron_approvals_expire",
    tag = "cron",
    security(("cron_bearer" = []), ("cron_secret_header" = [])),
    responses(
        (status = 200, description = "What the expiry did", body = views::ApprovalsExpiryView),
        CronErrors,
    )
)]
pub async fn approvals_expire(State(ctx): State<Arc<Context>>, _: MaintenanceCaller) -> ApiResult<Json<Value>> {
    let report = review::expire_approvals(&ctx, ctx.clock.now()).await?;
    let workspaces: Vec<Value> = report
        .workspaces
        .iter()
        .map(|(id, tally)| json!({"workspace_id": id, "expired": tally.expired, "errors": tally.errors}))
        .collect();
    Ok(Json(json!({
        "object": "approvals_expiry",
        "ok": workspaces.iter().all(|w| w["errors"].as_array().is_none_or(Vec::is_empty)),
        "cutoff": report.cutoff,
        "max_age_hours": report.max_age_hours,
        "expired": report.expired,
        "workspaces": workspaces,
    })))
}
