//! Runs of a workspace: start one now, list them newest first (optionally of one report),
//! and read one in detail with its entries and signed links to their artifacts.

use std::sync::Arc;

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::context::Context;
use chrono::{DateTime, Utc};

use crate::domain::{
    Access, Area, DeliveryId, DeliveryStatus, Entry, EntryId, EntryStatus, Report, Run, RunId, RunStatus, RunTrigger,
};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, JsonBody, PageParams, list, object};
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors, views};
use crate::pipeline::cancel::{Cancellation, cancel_run};
use crate::pipeline::review;
use crate::pipeline::start_run::{RunRequest, start_run};
use crate::queue::Job;
use crate::store::{PageRequest, RunCreation, RunQuery, StoreError};

/// How long the artifact links in a run's detail stay valid.
const LINK_TTL: Duration = Duration::from_secs(3600);

/// Entries shown in a run's detail (the rest through the entries listing).
const DETAIL_ENTRIES: usize = 100;

/// Deliveries read for a run's detail (those of the entries shown).
const DETAIL_DELIVERIES: usize = 1000;

/// The API shape of a run: its record plus `finished` and the seed `003` bucket counts, all
/// read from one record (whose status, end and counts the store writes together).
pub fn view(run: &Run) -> Value {
    let mut v = object("report_run", run);
    v["finished"] = json!(run.is_finished());
    v["finished_at"] = json!(run.ended_at());
    v["duration_ms"] = json!(run.duration_ms());
    v["entries"] = json!(run.counts.total);
    v
}

/// Which runs to list: all filters optional and combined.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFilter {
    #[serde(flatten)]
    pub page: PageParams,
    /// Runs of this report (id or code).
    pub report_id: Option<String>,
    pub status: Option<RunStatus>,
    pub trigger: Option<RunTrigger>,
    /// Runs created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Runs created before this instant.
    pub created_before: Option<DateTime<Utc>>,
}

/// Lists the runs of the workspace, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/runs",
    operation_id = "list_runs",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        PageParams,
        ("report_id" = Option<String>, Query, description = "Only the runs of this report (id or code)"),
        ("status" = Option<RunStatus>, Query, description = "Only runs in this status"),
        ("trigger" = Option<RunTrigger>, Query, description = "Only runs started this way"),
        ("created_from" = Option<DateTime<Utc>>, Query, description = "Only runs created at or after this instant"),
        ("created_before" = Option<DateTime<Utc>>, Query, description = "Only runs created before this instant"),
    ),
    responses(
        (status = 200, description = "A page of runs, newest first", body = views::List<views::RunView>),
        ReadErrors,
    )
)]
pub async fn list_runs(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<RunFilter>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Runs, Access::Read)?;
    let report = match &filter.report_id {
        None => None,
        Some(r) => match ctx.store.resolve_report(caller.workspace.id, r).await {
            Ok(report) => Some(report.id),
            Err(StoreError::NotFound { .. }) => return Err(ApiError::not_found("report")),
            Err(e) => return Err(e.into()),
        },
    };
    if let (Some(from), Some(before)) = (filter.created_from, filter.created_before)
        && from >= before
    {
        return Err(ApiError::invalid("created_before", "must be later than created_from"));
    }
    let query = RunQuery {
        report,
        status: filter.status,
        trigger: filter.trigger,
        created_from: filter.created_from,
        created_before: filter.created_before,
    };
    let listing = ctx.store.find_runs(caller.workspace.id, &query, &filter.page.page()?).await?;
    Ok(Json(list(listing, view)))
}

/// An entry of `run`; ids that do not parse are simply not found.
async fn entry_of(ctx: &Context, run: &Run, id: &str) -> ApiResult<Entry> {
    let missing = || ApiError::not_found("entry");
    let entry_id: EntryId = id.parse().map_err(|_| missing())?;
    match ctx.store.get_entry(run.id, entry_id).await {
        Ok(entry) => Ok(entry),
        Err(StoreError::NotFound { .. }) => Err(missing()),
        Err(e) => Err(e.into()),
    }
}

/// Reads a run in detail: its entries, their deliveries and signed links to their files.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/runs/{id}",
    operation_id = "get_run",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200,
            description = "The run with its first entries, deliveries and artifact links",
            body = views::RunDetailView
        ),
        ReadErrors,
    )
)]
pub async fn get_run(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    run_detail(&ctx, &caller, &id).await
}

/// Reads a run of the token's own workspace in detail (the path of seed `000`).
#[utoipa::path(
    get,
    path = "/api/v1/reports/runs/{id}",
    operation_id = "get_run_in_own_workspace",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200,
            description = "The run with its first entries, deliveries and artifact links",
            body = views::RunDetailView
        ),
        ReadErrors,
    )
)]
pub async fn get_run_in_own_workspace(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    run_detail(&ctx, &caller, &id).await
}

async fn run_detail(ctx: &Context, caller: &Caller, id: &str) -> ApiResult<Json<Value>> {
    caller.require(Area::Runs, Access::Read)?;
    let run = run_of(ctx, caller, id).await?;
    let entries = ctx.store.list_entries(run.id, &PageRequest::first(DETAIL_ENTRIES)).await?;
    let deliveries = ctx.store.list_deliveries(run.id, None, &PageRequest::first(DETAIL_DELIVERIES)).await?.items;
    let mut v = view(&run);
    let mut shown = Vec::with_capacity(entries.items.len());
    for entry in &entries.items {
        let mut entry_v = entry_view(ctx, entry).await?;
        let of_entry: Vec<Value> =
            deliveries.iter().filter(|d| d.entry_id == entry.id).map(|d| object("delivery", d)).collect();
        entry_v["deliveries"] = Value::Array(of_entry);
        shown.push(entry_v);
    }
    v["entry_list"] = json!({"object": "list", "data": shown, "next_cursor": entries.cursor});
    Ok(Json(v))
}

/// Which entries of a run to list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFilter {
    #[serde(flatten)]
    pub page: PageParams,
    pub status: Option<EntryStatus>,
}

/// Lists a run's entries in sequence order, each with signed links to its files.
///
/// Deliveries are in each entry's own detail. With `status`, a page holds the matching
/// entries of the next `limit` entries, so it may be short while `next_cursor` says more follow.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/runs/{id}/entries",
    operation_id = "list_run_entries",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("id" = String, Path, description = "The run's id"),
        PageParams,
        ("status" = Option<EntryStatus>, Query, description = "Only entries in this status"),
    ),
    responses(
        (status = 200, description = "A page of entries", body = views::List<views::EntryView>),
        ReadErrors,
    )
)]
pub async fn list_entries(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    ApiQuery(filter): ApiQuery<EntryFilter>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Runs, Access::Read)?;
    let run = run_of(&ctx, &caller, &id).await?;
    let listing = ctx.store.list_entries(run.id, &filter.page.page()?).await?;
    let mut data = Vec::with_capacity(listing.items.len());
    for entry in listing.items.iter().filter(|e| filter.status.is_none_or(|s| s == e.status)) {
        data.push(entry_view(&ctx, entry).await?);
    }
    let has_more = listing.cursor.is_some();
    Ok(Json(json!({"object": "list", "data": data, "has_more": has_more, "next_cursor": listing.cursor})))
}

/// Reads one entry of a run with signed links to its files and its deliveries.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/runs/{id}/entries/{entry}",
    operation_id = "get_run_entry",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("id" = String, Path, description = "The run's id"),
        ("entry" = String, Path, description = "The entry's id"),
    ),
    responses(
        (status = 200, description = "The entry", body = views::EntryView),
        ReadErrors,
    )
)]
pub async fn get_entry(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id, entry)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Runs, Access::Read)?;
    let run = run_of(&ctx, &caller, &id).await?;
    let entry = entry_of(&ctx, &run, &entry).await?;
    let deliveries = ctx.store.list_deliveries(run.id, Some(entry.id), &PageRequest::first(200)).await?.items;
    let mut v = entry_view(&ctx, &entry).await?;
    v["deliveries"] = deliveries.iter().map(|d| object("delivery", d)).collect();
    Ok(Json(v))
}

/// Cancels a run: entries not yet started or held for review are cancelled.
///
/// Entries being worked on finish their step. Cancelling a cancelled run changes nothing; a
/// run that already ended is a conflict.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/runs/{id}/cancel",
    operation_id = "cancel_run",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The cancelled run", body = views::CancelledRunView),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn cancel(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Runs, Access::Write)?;
    let run = run_of(&ctx, &caller, &id).await?;
    match cancel_run(&ctx, run, ctx.clock.now()).await? {
        Cancellation::Cancelled { run, entries } => {
            let mut v = view(&run);
            v["cancelled_entries"] = json!(entries);
            Ok(Json(v))
        }
        Cancellation::AlreadyEnded(status) => {
            Err(ApiError::conflict(format!("the run has already ended ({}); nothing to cancel", status.as_str())))
        }
        Cancellation::Preparing => {
            Err(ApiError::conflict("the run's entries are still being created; cancel again in a moment"))
        }
    }
}

/// An entry with a signed download link per artifact.
async fn entry_view(ctx: &Context, entry: &Entry) -> ApiResult<Value> {
    let mut v = object("run_entry", entry);
    let now = ctx.clock.now();
    if let Some(artifacts) = v.get_mut("artifacts").and_then(Value::as_array_mut) {
        for (artifact, stored) in artifacts.iter_mut().zip(&entry.artifacts) {
            let url = ctx.blobs.signed_url(&stored.key, LINK_TTL, now).await.map_err(|e| {
                tracing::error!(error = %e, "cannot sign an artifact link");
                ApiError::internal()
            })?;
            artifact["download_url"] = Value::String(url);
        }
    }
    Ok(v)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunNowBody {
    /// Parameter values for this run only (saved defaults stay as they are).
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Free-form payload available to sources and templates.
    #[serde(default)]
    pub data: Value,
}

/// Run a report now.
///
/// Starts a run of a report now. `Idempotency-Key` makes a retried call answer the run the
/// first call started.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/reports/{report}/runs",
    operation_id = "run_report",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("report" = String, Path, description = "The report's id or code"),
        (
            "Idempotency-Key" = Option<String>,
            Header,
            pattern = r"^[!-~](?:[ -~]{0,253}[!-~])?$",
            max_length = 255,
            description = "A retried call with the same key answers the run the first call started"
        ),
    ),
    request_body = Option<RunNowBody>,
    responses(
        (status = 202, description = "The run started", body = views::RunView),
        (status = 200,
            description = "The run an earlier call with this `Idempotency-Key` started",
            body = views::RunView
        ),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn run_now(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, report)): Path<(String, String)>,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Runs, Access::Write)?;
    let body: RunNowBody = body.parse_or_default()?;
    let report = ctx.store.resolve_report(caller.workspace.id, &report).await?;
    let (status, run) = start_api_run(&ctx, &caller, report, &headers, body).await?;
    Ok((status, Json(view(&run))))
}

/// Starts an API run of `report` with the body's values, honouring `Idempotency-Key`: `202`
/// with the new run, or `200` with the run a first call with the same key started.
pub async fn start_api_run(
    ctx: &Context,
    caller: &Caller,
    report: Report,
    headers: &HeaderMap,
    body: RunNowBody,
) -> ApiResult<(StatusCode, Run)> {
    let idempotency_key = match headers.get("idempotency-key").map(|value| value.as_bytes()) {
        None => None,
        // Printable ASCII, spaces only inside: the document's pattern, exactly.
        Some(key @ [first, .., last] | key @ [first @ last])
            if key.len() <= 255 && key.iter().all(|b| (0x20..=0x7e).contains(b)) && *first != b' ' && *last != b' ' =>
        {
            Some(String::from_utf8_lossy(key).into_owned())
        }
        Some(_) => return Err(ApiError::invalid("Idempotency-Key", "must be 1 to 255 visible characters")),
    };
    let request =
        RunRequest { data: body.data, idempotency_key, ..RunRequest::now(report, RunTrigger::Api, body.params) };
    let request = RunRequest { timezone: caller.workspace.settings.zone(), ..request };
    Ok(match start_run(ctx, request).await? {
        RunCreation::Created(run) => (StatusCode::ACCEPTED, *run),
        RunCreation::Existing(id) => (StatusCode::OK, ctx.store.get_run_in(caller.workspace.id, id).await?),
    })
}

/// Retry one delivery from its stored files.
///
/// Retry one delivery: re-sends the stored artifacts (nothing is rendered or queried again),
/// whatever the delivery's last outcome. The entry reopens until it settles again.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/runs/{id}/deliveries/{delivery}/retry",
    operation_id = "retry_delivery",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("id" = String, Path, description = "The run's id"),
        ("delivery" = String, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, description = "The delivery, queued again", body = views::DeliveryView),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn retry_delivery(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, run, delivery)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Runs, Access::Write)?;
    let run = run_of(&ctx, &caller, &run).await?;
    let missing = || ApiError::not_found("delivery");
    let delivery_id: DeliveryId = delivery.parse().map_err(|_| missing())?;
    let found = ctx.store.list_deliveries(run.id, None, &PageRequest::first(DETAIL_DELIVERIES)).await?.items;
    let found = found.into_iter().find(|d| d.id == delivery_id).ok_or_else(missing)?;
    let entry = ctx.store.get_entry(run.id, found.entry_id).await?;
    let now = ctx.clock.now();
    let reopen =
        matches!(entry.status, EntryStatus::Completed | EntryStatus::CompletedWithErrors | EntryStatus::DeliveryFailed);
    if !(reopen || entry.status == EntryStatus::InProgress && !entry.artifacts.is_empty()) {
        return Err(ApiError::conflict(format!(
            "the entry is {}: only rendered entries that are not held for review can be delivered",
            entry.status.as_str()
        )));
    }
    let delivery = if found.status == DeliveryStatus::Pending {
        found
    } else {
        ctx.store
            .transition_delivery(&found, found.status, DeliveryStatus::Pending, now, |d| {
                d.error = None;
                d.next_attempt_at = None;
                d.sending_until = None;
            })
            .await?
    };
    if reopen {
        let lease = now + crate::pipeline::recovery::PICKUP_DEADLINE;
        ctx.store
            .transition_entry(run.id, entry.id, entry.status, EntryStatus::InProgress, now, |e| {
                e.lease_until = Some(lease);
            })
            .await?;
    }
    let job = Job::Deliver {
        workspace_id: run.workspace_id,
        run_id: run.id,
        entry_id: entry.id,
        delivery_id: Some(delivery.id),
    };
    if let Err(error) = ctx.deliver_queue.send(&[job]).await {
        tracing::warn!(%error, "could not enqueue the retry; recovery will");
    }
    Ok((StatusCode::ACCEPTED, Json(object("delivery", &delivery))))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverBody {
    /// The entries to deliver; every deliverable entry of the run when absent.
    pub entry_ids: Option<Vec<EntryId>>,
}

/// Deliver the selected entries of a run.
///
/// "Deliver (N selected)": queues delivery of rendered entries — held ones (this approves
/// them), delivered ones again (every delivery re-sent from the stored artifacts), or
/// failed ones. Entries still rendering, failed to render, or rejected are left as they are.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/runs/{id}/deliver",
    operation_id = "deliver_run",
    tag = "runs",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The run's id")),
    request_body = Option<DeliverBody>,
    responses(
        (status = 202, description = "What was queued and what was left as it is", body = views::RunDeliveryView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn deliver(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Runs, Access::Write)?;
    let body: DeliverBody = body.parse_or_default()?;
    let run = run_of(&ctx, &caller, &id).await?;
    deliver_selected(&ctx, &caller, &run, body.entry_ids.as_deref()).await
}

/// A run of the caller's workspace by its id; anything else is "not found".
pub async fn run_of(ctx: &Context, caller: &Caller, id: &str) -> ApiResult<Run> {
    let run_id: RunId = id.parse().map_err(|_| ApiError::not_found("run"))?;
    Ok(ctx.store.get_run_in(caller.workspace.id, run_id).await?)
}

/// Delivers the `wanted` entries of `run` (all when `None`) and answers what was queued and
/// what was left as it was.
pub async fn deliver_selected(
    ctx: &Context,
    caller: &Caller,
    run: &Run,
    wanted: Option<&[EntryId]>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let entries = review::select(ctx, run, wanted).await?;
    let by = caller.token.id.to_string();
    let outcome = review::act(ctx, run, entries, &review::Action::Deliver, Some(&by)).await?;
    let answer = json!({
        "object": "run_delivery",
        "run_id": run.id,
        "queued": outcome.done.len(),
        "skipped": outcome.skipped,
    });
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(query: &str) -> Result<RunFilter, String> {
        let uri: axum::http::Uri = format!("/?{query}").parse().map_err(|e| format!("{e}"))?;
        axum::extract::Query::<RunFilter>::try_from_uri(&uri).map(|q| q.0).map_err(|e| e.body_text())
    }

    #[test]
    fn run_filters_read_every_field_and_refuse_unknown_ones() {
        let f =
            filter("limit=5&cursor=abc&status=finished&trigger=schedule&created_from=2026-11-01T00:00:00Z").unwrap();
        assert_eq!(f.page.limit.as_deref(), Some("5"));
        assert_eq!(f.status, Some(RunStatus::Finished));
        assert_eq!(f.trigger, Some(RunTrigger::Schedule));
        assert!(f.created_from.is_some());
        assert!(filter("colour=red").is_err());
        assert!(filter("status=sleeping").is_err());
    }
}
