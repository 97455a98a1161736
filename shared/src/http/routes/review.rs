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
use crate::http::extract::{OptionalJson, object};
use crate::pipeline::review::{self, Action};

/// Longest reason a rejection may carry.
const MAX_REASON_CHARS: usize = 2000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why the entry is not to be delivered (kept on the entry).
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// The entries to decide on; every held entry of the run when absent.
    pub entry_ids: Option<Vec<EntryId>>,
    /// Why the entries are not to be delivered (reject only).
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
    let entry_id: EntryId = entry.parse().map_err(|_| ApiError::not_found(format_args!("entry `{entry}`")))?;
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

/// `POST …/runs/{id}/entries/{entry}/approve`: queues the held entry's deliveries.
pub async fn approve_entry(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, run, entry)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let answer = decide_one(&ctx, &caller, &run, &entry, Action::Approve).await?;
    Ok((StatusCode::ACCEPTED, answer))
}

/// `POST …/runs/{id}/entries/{entry}/reject`: the held entry is cancelled, never delivered.
pub async fn reject_entry(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, run, entry)): Path<(String, String, String)>,
    OptionalJson(body): OptionalJson<RejectBody>,
) -> ApiResult<Json<Value>> {
    let action = Action::Reject { reason: reason(body.reason)? };
    decide_one(&ctx, &caller, &run, &entry, action).await
}

/// Applies `action` to the named entries (every held one when none are named); the others
/// are reported as skipped.
async fn decide_many(ctx: &Context, caller: &Caller, run: &str, body: BulkBody, action: Action) -> ApiResult<Value> {
    caller.require(Area::Runs, Access::Write)?;
    let run = run_of(ctx, caller, run).await?;
    let mut entries = review::select(ctx, &run, body.entry_ids.as_deref()).await?;
    if body.entry_ids.is_none() {
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

/// `POST …/runs/{id}/approve` with `{"entry_ids": […]}` (absent: every held entry).
pub async fn approve_entries(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, run)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<BulkBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if body.reason.is_some() {
        return Err(ApiError::invalid("reason", "is only accepted when rejecting"));
    }
    let answer = decide_many(&ctx, &caller, &run, body, Action::Approve).await?;
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// `POST …/runs/{id}/reject` with `{"entry_ids": […], "reason"}` (absent: every held entry).
pub async fn reject_entries(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, run)): Path<(String, String)>,
    OptionalJson(mut body): OptionalJson<BulkBody>,
) -> ApiResult<Json<Value>> {
    let action = Action::Reject { reason: reason(body.reason.take())? };
    Ok(Json(decide_many(&ctx, &caller, &run, body, action).await?))
}

/// `GET /api/v1/cron/approvals-expire`: rejects (note `expired`) every entry of every
/// workspace held longer than `APPROVAL_MAX_AGE_HOURS`; counts and errors per workspace.
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
