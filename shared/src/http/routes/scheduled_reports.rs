//! Seed `004`'s scheduled reports: a schedule of a report created in one call from a
//! `frequency` (or any rule), read, listed, changed and deleted in the seed's shape; its
//! configurations (up to 20 named parameter sets) attached, changed and detached; and
//! executions asked for outside its slots.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

use crate::context::Context;
use crate::domain::{Access, Area, ConfigurationId, FieldError, Schedule, ScheduleId, ValidationErrors};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, JsonBody, PageParams, list, object};
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors, views};
use crate::http::routes::runs::{self, RunNowBody};
use crate::pipeline::scheduled_reports::{self, ConfigurationInput, ScheduledReportInput, ScheduledReportView};
use crate::store::RunCreation;

fn view(s: &Schedule) -> Value {
    serde_json::to_value(ScheduledReportView::of(s.clone())).unwrap_or(Value::Null)
}

fn schedule_id(raw: &str) -> Result<ScheduleId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("scheduled report"))
}

fn configuration_id(raw: &str) -> Result<ConfigurationId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("configuration"))
}

async fn scheduled_report(ctx: &Context, caller: &Caller, id: &str) -> ApiResult<Schedule> {
    Ok(ctx.store.get_schedule(caller.workspace.id, schedule_id(id)?).await?)
}

/// Create a scheduled report.
///
/// Puts a report on a schedule in one call: a `frequency` (`daily`, `weekly`, `monthly`: at
/// 09:00 in the timezone, weekly on Mondays, monthly on the 1st) or any `rule`. It starts
/// active, with its next run computed.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/scheduled-reports",
    operation_id = "create_scheduled_report",
    tag = "scheduled reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    request_body = ScheduledReportInput,
    responses(
        (status = 201, description = "The scheduled report, with its next run", body = ScheduledReportView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn create(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    input: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Schedules, Access::Write)?;
    let input: ScheduledReportInput = input.parse()?;
    let Some(report) = input.report.as_deref() else {
        let missing = FieldError::new("report", "is required (the report's id or code)");
        return Err(ValidationErrors(vec![missing]).into());
    };
    let report = ctx.store.resolve_report(caller.workspace.id, report).await?;
    let schedule = scheduled_reports::create(&ctx, &report, input).await?;
    Ok((StatusCode::CREATED, Json(view(&schedule))))
}

/// Lists the scheduled reports of the workspace (every schedule, in the seed's shape).
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/scheduled-reports",
    operation_id = "list_scheduled_reports",
    tag = "scheduled reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, PageParams),
    responses(
        (status = 200, description = "A page of scheduled reports", body = views::List<ScheduledReportView>),
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

/// Reads a scheduled report.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/scheduled-reports/{id}",
    operation_id = "get_scheduled_report",
    tag = "scheduled reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The scheduled report's id")),
    responses(
        (status = 200, description = "The scheduled report", body = ScheduledReportView),
        ReadErrors,
    )
)]
pub async fn get(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Read)?;
    Ok(Json(view(&scheduled_report(&ctx, &caller, &id).await?)))
}

/// Changes the given fields of a scheduled report; the next run is recomputed from now.
#[utoipa::path(
    patch,
    path = "/api/v1/ws/{workspace}/scheduled-reports/{id}",
    operation_id = "update_scheduled_report",
    tag = "scheduled reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The scheduled report's id")),
    request_body = ScheduledReportInput,
    responses(
        (status = 200, description = "The changed scheduled report", body = ScheduledReportView),
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
    let input: ScheduledReportInput = input.parse()?;
    let current = scheduled_report(&ctx, &caller, &id).await?;
    Ok(Json(view(&scheduled_reports::update(&ctx, current, input).await?)))
}

/// Deletes a scheduled report (its report and past runs stay).
#[utoipa::path(
    delete,
    path = "/api/v1/ws/{workspace}/scheduled-reports/{id}",
    operation_id = "delete_scheduled_report",
    tag = "scheduled reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The scheduled report's id")),
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

/// Attach a configuration.
///
/// Attaches a named parameter set to a scheduled report: each of its slots (and executions)
/// then makes one entry per active configuration, with the configuration's values and prompt
/// addendum. At most 20 per scheduled report.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/scheduled-reports/{id}/configurations",
    operation_id = "create_configuration",
    tag = "scheduled reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The scheduled report's id")),
    request_body = ConfigurationInput,
    responses(
        (status = 201, description = "The configuration", body = crate::domain::Configuration),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn create_configuration(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    input: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Schedules, Access::Write)?;
    let input: ConfigurationInput = input.parse()?;
    let schedule = scheduled_report(&ctx, &caller, &id).await?;
    let report = ctx.store.get_report(caller.workspace.id, schedule.report_id).await?;
    let (_, configuration) = scheduled_reports::add_configuration(&ctx, schedule, &report, input).await?;
    Ok((StatusCode::CREATED, Json(object("configuration", &configuration))))
}

/// Lists the configurations of a scheduled report.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/scheduled-reports/{id}/configurations",
    operation_id = "list_configurations",
    tag = "scheduled reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The scheduled report's id")),
    responses(
        (status = 200, description = "Every configuration", body = views::List<crate::domain::Configuration>),
        ReadErrors,
    )
)]
pub async fn list_configurations(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Read)?;
    let schedule = scheduled_report(&ctx, &caller, &id).await?;
    let listing = crate::store::Listing { items: schedule.configurations, cursor: None };
    Ok(Json(list(listing, |c| object("configuration", c))))
}

/// Changes the given fields of a configuration.
#[utoipa::path(
    patch,
    path = "/api/v1/ws/{workspace}/scheduled-reports/{id}/configurations/{configuration}",
    operation_id = "update_configuration",
    tag = "scheduled reports",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("id" = String, Path, description = "The scheduled report's id"),
        ("configuration" = String, Path, description = "The configuration's id"),
    ),
    request_body = ConfigurationInput,
    responses(
        (status = 200, description = "The changed configuration", body = crate::domain::Configuration),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn update_configuration(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id, configuration)): Path<(String, String, String)>,
    input: JsonBody,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Write)?;
    let input: ConfigurationInput = input.parse()?;
    let schedule = scheduled_report(&ctx, &caller, &id).await?;
    let configuration = configuration_id(&configuration)?;
    let report = ctx.store.get_report(caller.workspace.id, schedule.report_id).await?;
    let (_, changed) = scheduled_reports::change_configuration(&ctx, schedule, &report, configuration, input).await?;
    Ok(Json(object("configuration", &changed)))
}

/// Detaches a configuration.
#[utoipa::path(
    delete,
    path = "/api/v1/ws/{workspace}/scheduled-reports/{id}/configurations/{configuration}",
    operation_id = "delete_configuration",
    tag = "scheduled reports",
    security(("personal_access_token" = [])),
    params(
        WorkspacePath,
        ("id" = String, Path, description = "The scheduled report's id"),
        ("configuration" = String, Path, description = "The configuration's id"),
    ),
    responses(
        (status = 204, description = "Detached"),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn delete_configuration(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id, configuration)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Area::Schedules, Access::Write)?;
    let schedule = scheduled_report(&ctx, &caller, &id).await?;
    scheduled_reports::remove_configuration(&ctx, schedule, configuration_id(&configuration)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Execute a scheduled report now.
///
/// Runs the scheduled report now, as a slot would: one entry per active configuration (one
/// entry when none is). The scheduled report records it as its last run.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/scheduled-reports/{id}/executions",
    operation_id = "execute_scheduled_report",
    tag = "scheduled reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The scheduled report's id")),
    request_body = Option<RunNowBody>,
    responses(
        (status = 202, description = "The run started", body = views::RunView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn execute(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Runs, Access::Write)?;
    let body: RunNowBody = body.parse_or_default()?;
    let schedule = scheduled_report(&ctx, &caller, &id).await?;
    let report = ctx.store.get_report(caller.workspace.id, schedule.report_id).await?;
    let run = match scheduled_reports::execute(&ctx, &schedule, report, body.params, body.data).await? {
        RunCreation::Created(run) => *run,
        RunCreation::Existing(id) => ctx.store.get_run_in(caller.workspace.id, id).await?,
    };
    Ok((StatusCode::ACCEPTED, Json(runs::view(&run))))
}
