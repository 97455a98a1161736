//! The jobs API of seed `003` under `/api/v1/ws/{workspace}/jobs`: a job is a report, named by
//! id or code. List the jobs, start a run, poll its status, deliver its entries after review,
//! and ask for its consolidated review document. A run of another job or workspace is "not
//! found". Permission area: jobs.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::runs::{DeliverBody, RunNowBody, deliver_selected, run_of, start_api_run};
use crate::context::Context;
use crate::domain::{Access, Area, Report, ReportId, Run};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::JsonBody;
use crate::http::openapi::{ReadErrors, WorkspacePath, WriteErrors, views};
use crate::pipeline::review_document::request_review_document;
use crate::store::PageRequest;

/// Reports and schedules read per page while listing jobs.
const PAGE: usize = 200;

/// A job summary: identity and the two flags of the seed's toggle table.
fn summary(report: &Report, scheduled: bool) -> Value {
    json!({
        "object": "job",
        "id": report.id,
        "code": report.code,
        "name": report.name,
        "description": report.description,
        "enabled": report.enabled,
        "scheduled": scheduled,
        "hold_for_review": report.hold_for_review,
    })
}

/// Lists every job of the workspace (an array of summaries, as seed `003` shows).
///
/// `scheduled` is true when the job fires by itself: its scheduled generation is on and it has
/// an enabled schedule.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/jobs",
    operation_id = "list_jobs",
    tag = "jobs",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    responses(
        (status = 200, description = "Every job", body = Vec<views::JobView>),
        ReadErrors,
    )
)]
pub async fn list_jobs(State(ctx): State<Arc<Context>>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Area::Jobs, Access::Read)?;
    let ws = caller.workspace.id;
    let mut scheduled: HashSet<ReportId> = HashSet::new();
    let mut page = PageRequest::first(PAGE);
    loop {
        let listing = ctx.store.list_schedules(ws, &page).await?;
        scheduled.extend(listing.items.iter().filter(|s| s.enabled).map(|s| s.report_id));
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    let mut jobs = Vec::new();
    let mut page = PageRequest::first(PAGE);
    loop {
        let listing = ctx.store.list_reports(ws, &page).await?;
        jobs.extend(listing.items.iter().map(|r| summary(r, r.scheduled && scheduled.contains(&r.id))));
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    Ok(Json(Value::Array(jobs)))
}

/// Starts a run of a job with `{"params", "data"}` (all optional) and answers `{"jobRunId"}`.
///
/// `Idempotency-Key` makes a retried call answer the first call's run (`200`).
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/jobs/{job}/runs",
    operation_id = "start_job_run",
    tag = "jobs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("job" = String, Path, description = "The job's (report's) id or code"),
        (
            "Idempotency-Key" = Option<String>,
            Header,
            pattern = r"^[!-~](?:[ -~]{0,253}[!-~])?$",
            max_length = 255,
            description = "Makes a retried call answer the first call's run"
        ),
    ),
    request_body = Option<RunNowBody>,
    responses(
        (status = 202, description = "The run started", body = views::JobRunView),
        (status = 200, description = "The run the first call with this Idempotency-Key started", body = views::JobRunView),
        WriteErrors,
    )
)]
pub async fn start_job_run(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, job)): Path<(String, String)>,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Jobs, Access::Write)?;
    let body: RunNowBody = body.parse_or_default()?;
    let report = ctx.store.resolve_report(caller.workspace.id, &job).await?;
    let (status, run) = start_api_run(&ctx, &caller, report, &headers, body).await?;
    Ok((status, Json(json!({"object": "job_run", "jobRunId": run.id}))))
}

/// The run `run` of the job `job` in the caller's workspace; a run of another job is "not found".
pub async fn job_run(ctx: &Context, caller: &Caller, job: &str, run: &str) -> ApiResult<(Report, Run)> {
    let report = ctx.store.resolve_report(caller.workspace.id, job).await?;
    let found = run_of(ctx, caller, run).await?;
    if found.report_id != report.id {
        return Err(ApiError::not_found("run"));
    }
    Ok((report, found))
}

/// The seed `JobRunStatus` of a run. Its `finished` is the seed's: "no entries in queued or
/// running states", so a run whose entries wait for review reads finished here (the seed's
/// client then delivers them), while the run itself says `awaiting_review`.
pub fn status_view(run: &Run) -> Value {
    json!({
        "object": "job_run_status",
        "finished": !run.is_working(),
        "entries": run.counts.total,
        "status": {
            "queued": run.counts.queued,
            "completed": run.counts.completed,
            "errors": run.counts.errors,
            "review": run.counts.review,
        },
    })
}

/// Reads a job run's status; poll until `finished` is true.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/jobs/{job}/runs/{run}/status",
    operation_id = "job_run_status",
    tag = "jobs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("job" = String, Path, description = "The job's (report's) id or code"),
        ("run" = String, Path, description = "The run's id"),
    ),
    responses(
        (status = 200, description = "The run's status", body = views::JobRunStatusView),
        ReadErrors,
    )
)]
pub async fn run_status(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, job, run)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Jobs, Access::Read)?;
    let (_, run) = job_run(&ctx, &caller, &job, &run).await?;
    Ok(Json(status_view(&run)))
}

/// Delivers a job run's entries: held ones (approving them), delivered or failed ones again.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/jobs/{job}/runs/{run}/deliver",
    operation_id = "deliver_job_run",
    tag = "jobs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("job" = String, Path, description = "The job's (report's) id or code"),
        ("run" = String, Path, description = "The run's id"),
    ),
    request_body = Option<DeliverBody>,
    responses(
        (status = 202, description = "What was queued and what was left as it is", body = views::RunDeliveryView),
        WriteErrors,
    )
)]
pub async fn deliver(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, job, run)): Path<(String, String, String)>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Jobs, Access::Write)?;
    let body: DeliverBody = body.parse_or_default()?;
    let (_, run) = job_run(&ctx, &caller, &job, &run).await?;
    deliver_selected(&ctx, &caller, &run, body.entry_ids.as_deref()).await
}

/// Asks for a consolidated review document of a job run (every entry's PDFs behind a cover).
///
/// Answers `202` with `{"temporaryFileId"}`; poll `GET …/temporary-files/{id}` until it is ready.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/jobs/{job}/runs/{run}/generate-review-document",
    operation_id = "generate_review_document",
    tag = "jobs",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("job" = String, Path, description = "The job's (report's) id or code"),
        ("run" = String, Path, description = "The run's id"),
    ),
    responses(
        (status = 202, description = "The document is being made", body = views::TemporaryFileRequestView),
        ReadErrors,
    )
)]
pub async fn generate_review_document(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, job, run)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Jobs, Access::Write)?;
    let (_, run) = job_run(&ctx, &caller, &job, &run).await?;
    let file = request_review_document(&ctx, &run).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"object": "temporary_file_request", "temporaryFileId": file.id}))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EntryCounts;
    use crate::testing::fixtures;

    #[test]
    fn the_status_of_a_run_has_the_seed_shape_and_buckets() {
        let now = chrono::Utc::now();
        let ws = fixtures::workspace("acme", now);
        let report = fixtures::report(&ws, "r", now);
        let mut run = fixtures::run(&report, now);
        run.counts = EntryCounts { total: 5, queued: 1, completed: 1, errors: 1, review: 1, cancelled: 1 };
        let v = status_view(&run);
        assert_eq!(v["finished"], false);
        assert_eq!(v["entries"], 5);
        assert_eq!(v["status"], json!({"queued": 1, "completed": 1, "errors": 1, "review": 1}));
        run.counts.queued = 0;
        run.counts.review = 0;
        run.status = crate::domain::RunStatus::Finished;
        assert_eq!(status_view(&run)["finished"], true);
    }
}
