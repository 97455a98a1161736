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
use crate::domain::{
    Access, Area, DeliveryId, DeliveryStatus, Entry, EntryId, EntryStatus, FieldError, ReportId, Run, RunId,
    RunTrigger, ValidationErrors,
};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, OptionalJson, PageParams, list, object};
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors, views};
use crate::pipeline::start_run::{RunRequest, start_run};
use crate::queue::Job;
use crate::store::{PageRequest, RunCreation, StoreError};

/// How long the artifact links in a run's detail stay valid.
const LINK_TTL: Duration = Duration::from_secs(3600);

/// Entries shown in a run's detail (the rest through the entries listing).
const DETAIL_ENTRIES: usize = 100;

/// Deliveries read for a run's detail (those of the entries shown).
const DETAIL_DELIVERIES: usize = 1000;

/// The API shape of a run: its record plus `finished` and the seed `003` bucket counts.
pub fn view(run: &Run) -> Value {
    let mut v = object("report_run", run);
    v["finished"] = json!(run.is_finished());
    v["duration_ms"] = json!(run.duration_ms());
    v["entries"] = json!(run.counts.total);
    v
}

#[derive(Debug, Deserialize)]
pub struct RunFilter {
    #[serde(flatten)]
    pub page: PageParams,
    pub report_id: Option<String>,
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
        ("report_id" = Option<String>, Query, description = "Only the runs of this report"),
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
    let report = filter
        .report_id
        .map(|r| r.parse::<ReportId>().map_err(|_| ApiError::invalid("report_id", "is not a report id")))
        .transpose()?;
    let listing = ctx.store.list_runs(caller.workspace.id, report, &filter.page.page()?).await?;
    Ok(Json(list(listing, view)))
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
    caller.require(Area::Runs, Access::Read)?;
    let id: RunId = id.parse().map_err(|_| ApiError::not_found(format_args!("run `{id}`")))?;
    let run = ctx.store.get_run_in(caller.workspace.id, id).await?;
    let entries = ctx.store.list_entries(run.id, &PageRequest::first(DETAIL_ENTRIES)).await?;
    let deliveries = ctx.store.list_deliveries(run.id, None, &PageRequest::first(DETAIL_DELIVERIES)).await?.items;
    let mut v = view(&run);
    let mut shown = Vec::with_capacity(entries.items.len());
    for entry in &entries.items {
        let mut entry_v = entry_view(&ctx, entry).await?;
        let of_entry: Vec<Value> =
            deliveries.iter().filter(|d| d.entry_id == entry.id).map(|d| object("delivery", d)).collect();
        entry_v["deliveries"] = Value::Array(of_entry);
        shown.push(entry_v);
    }
    v["entry_list"] = json!({"object": "list", "data": shown, "next_cursor": entries.cursor});
    Ok(Json(v))
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
    OptionalJson(body): OptionalJson<RunNowBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Runs, Access::Write)?;
    let report = ctx.store.resolve_report(caller.workspace.id, &report).await?;
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => match value.to_str().map(str::trim) {
            Ok(key) if !key.is_empty() && key.len() <= 255 => Some(key.to_owned()),
            _ => return Err(ApiError::invalid("Idempotency-Key", "must be 1 to 255 visible characters")),
        },
    };
    let request = RunRequest {
        report,
        trigger: RunTrigger::Api,
        slot: None,
        overrides: body.params,
        data: body.data,
        idempotency_key,
    };
    let (status, run) = match start_run(&ctx, request).await? {
        RunCreation::Created(run) => (StatusCode::ACCEPTED, *run),
        RunCreation::Existing(id) => (StatusCode::OK, ctx.store.get_run_in(caller.workspace.id, id).await?),
    };
    Ok((status, Json(view(&run))))
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
    let run_id: RunId = run.parse().map_err(|_| ApiError::not_found(format_args!("run `{run}`")))?;
    let run = ctx.store.get_run_in(caller.workspace.id, run_id).await?;
    let missing = || ApiError::not_found(format_args!("delivery `{delivery}`"));
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
    OptionalJson(body): OptionalJson<DeliverBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Runs, Access::Write)?;
    let run_id: RunId = id.parse().map_err(|_| ApiError::not_found(format_args!("run `{id}`")))?;
    let run = ctx.store.get_run_in(caller.workspace.id, run_id).await?;
    let mut entries = Vec::new();
    let mut page = PageRequest::first(200);
    loop {
        let listing = ctx.store.list_entries(run.id, &page).await?;
        entries.extend(listing.items);
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    if let Some(wanted) = &body.entry_ids {
        let unknown: Vec<String> =
            wanted.iter().filter(|w| !entries.iter().any(|e| e.id == **w)).map(ToString::to_string).collect();
        if !unknown.is_empty() {
            let error = FieldError::new("entry_ids", format!("not entries of this run: {}", unknown.join(", ")));
            return Err(ValidationErrors(vec![error]).into());
        }
        entries.retain(|e| wanted.contains(&e.id));
    }
    let now = ctx.clock.now();
    let lease = now + crate::pipeline::recovery::PICKUP_DEADLINE;
    let (mut queued, mut skipped) = (Vec::new(), Vec::new());
    for entry in entries {
        let deliverable = !entry.artifacts.is_empty()
            && matches!(
                entry.status,
                EntryStatus::PendingReview
                    | EntryStatus::Completed
                    | EntryStatus::CompletedWithErrors
                    | EntryStatus::DeliveryFailed
            );
        if !deliverable {
            skipped.push(json!({"id": entry.id, "status": entry.status}));
            continue;
        }
        let deliveries = ctx.store.list_deliveries(run.id, Some(entry.id), &PageRequest::first(200)).await?.items;
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
        match ctx
            .store
            .transition_entry(run.id, entry.id, entry.status, EntryStatus::InProgress, now, |e| {
                e.lease_until = Some(lease)
            })
            .await
        {
            Ok(_) => queued.push(Job::Deliver {
                workspace_id: run.workspace_id,
                run_id: run.id,
                entry_id: entry.id,
                delivery_id: None,
            }),
            Err(StoreError::Conflict(_)) => skipped.push(json!({"id": entry.id, "status": "changed meanwhile"})),
            Err(e) => return Err(e.into()),
        }
    }
    if let Err(error) = ctx.deliver_queue.send(&queued).await {
        tracing::warn!(%error, "could not enqueue the deliveries; recovery will");
    }
    let answer = json!({"object": "run_delivery", "run_id": run.id, "queued": queued.len(), "skipped": skipped});
    Ok((StatusCode::ACCEPTED, Json(answer)))
}
