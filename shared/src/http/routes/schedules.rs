//! Schedules: created under a report, listed per report or workspace-wide, changed (the next
//! run is recomputed from now), deleted, and previewed before saving.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::Context;
use crate::domain::{Access, Area, Schedule, ScheduleId};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, JsonBody, PageParams, list, object};
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors, views};
use crate::pipeline::schedules::{self, RuleInput, ScheduleInput};

pub fn view(s: &Schedule) -> Value {
    let mut v = object("schedule", s);
    if let Some(text) = crate::schedule::as_rfc5545(&s.rule, &s.timezone) {
        v["rrule"] = json!(text);
    }
    v
}

fn schedule_id(raw: &str) -> Result<ScheduleId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("schedule"))
}

/// Put a report on a schedule.
///
/// Puts a report on a schedule (a cron expression, a recurrence rule, RFC 5545 text or a preset).
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/reports/{report}/schedules",
    operation_id = "create_schedule",
    tag = "schedules",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("report" = String, Path, description = "The report's id or code")),
    request_body = ScheduleInput,
    responses(
        (status = 201, description = "The schedule, with its next run", body = views::ScheduleView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn create(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, report)): Path<(String, String)>,
    input: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Schedules, Access::Write)?;
    let input: ScheduleInput = input.parse()?;
    let report = ctx.store.resolve_report(caller.workspace.id, &report).await?;
    let schedule = schedules::create_schedule(&ctx, &report, input).await?;
    Ok((StatusCode::CREATED, Json(view(&schedule))))
}

/// Lists the schedules of one report.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/reports/{report}/schedules",
    operation_id = "list_report_schedules",
    tag = "schedules",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("report" = String, Path, description = "The report's id or code"), PageParams),
    responses(
        (status = 200, description = "A page of the report's schedules", body = views::List<views::ScheduleView>),
        ReadErrors,
    )
)]
pub async fn list_of_report(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, report)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Read)?;
    let report = ctx.store.resolve_report(caller.workspace.id, &report).await?;
    Ok(Json(list(ctx.store.schedules_of_report(report.id, &params.page()?).await?, view)))
}

/// Lists every schedule of the workspace.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/schedules",
    operation_id = "list_schedules",
    tag = "schedules",
    security(("personal_access_token" = [])),
    params(WorkspacePath, PageParams),
    responses(
        (status = 200, description = "A page of schedules", body = views::List<views::ScheduleView>),
        ReadErrors,
    )
)]
pub async fn list_all(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Read)?;
    Ok(Json(list(ctx.store.list_schedules(caller.workspace.id, &params.page()?).await?, view)))
}

/// Reads a schedule.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/schedules/{id}",
    operation_id = "get_schedule",
    tag = "schedules",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The schedule's id")),
    responses(
        (status = 200, description = "The schedule", body = views::ScheduleView),
        ReadErrors,
    )
)]
pub async fn get(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Read)?;
    Ok(Json(view(&ctx.store.get_schedule(caller.workspace.id, schedule_id(&id)?).await?)))
}

/// Changes the given fields of a schedule; the next run is recomputed from now.
#[utoipa::path(
    patch,
    path = "/api/v1/ws/{workspace}/schedules/{id}",
    operation_id = "update_schedule",
    tag = "schedules",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The schedule's id")),
    request_body = ScheduleInput,
    responses(
        (status = 200,
            description = "The changed schedule, its next run recomputed from now",
            body = views::ScheduleView
        ),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn update(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    input: JsonBody,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Write)?;
    let input: ScheduleInput = input.parse()?;
    let current = ctx.store.get_schedule(caller.workspace.id, schedule_id(&id)?).await?;
    Ok(Json(view(&schedules::update_schedule(&ctx, current, input).await?)))
}

/// Deletes a schedule.
#[utoipa::path(
    delete,
    path = "/api/v1/ws/{workspace}/schedules/{id}",
    operation_id = "delete_schedule",
    tag = "schedules",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The schedule's id")),
    responses(
        (status = 204, description = "Deleted"),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn delete(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Area::Schedules, Access::Write)?;
    ctx.store.delete_schedule(caller.workspace.id, schedule_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub rule: RuleInput,
    pub timezone: Option<String>,
    /// Fire times strictly after this instant; now when absent.
    pub after: Option<DateTime<Utc>>,
    /// How many (1–100, default 10).
    #[schema(minimum = 1, maximum = 100)]
    pub count: Option<usize>,
}

/// Preview the next fire times of a rule.
///
/// The next fire times of a rule before it is saved; a rule that never fires is refused with the reason.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/schedules/preview",
    operation_id = "preview_schedule",
    tag = "schedules",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The next fire times", body = schedules::Preview),
        WriteErrors,
    )
)]
pub async fn preview(State(ctx): State<Arc<Context>>, caller: Caller, request: JsonBody) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Read)?;
    let request: PreviewRequest = request.parse()?;
    let (rule, timezone) = request.rule.resolve(request.timezone.as_deref())?;
    let after = request.after.unwrap_or_else(|| ctx.clock.now());
    let preview = schedules::preview(&rule, &timezone, after, request.count.unwrap_or(10))?;
    Ok(Json(serde_json::to_value(preview).unwrap_or(Value::Null)))
}
