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
use crate::domain::{Access, Area, Schedule, ScheduleId, ScheduleRule};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiQuery, PageParams, list, object};
use crate::pipeline::schedules::{self, RuleInput, ScheduleInput};
use crate::schedule::recurrence;

pub fn view(s: &Schedule) -> Value {
    let mut v = object("schedule", s);
    if let ScheduleRule::Recurrence(rule) = &s.rule {
        v["rrule"] = json!(recurrence::to_rfc5545(rule, &s.timezone));
    }
    v
}

fn schedule_id(raw: &str) -> Result<ScheduleId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(format_args!("schedule `{raw}`")))
}

pub async fn create(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, report)): Path<(String, String)>,
    ApiJson(input): ApiJson<ScheduleInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Schedules, Access::Write)?;
    let report = ctx.store.resolve_report(caller.workspace.id, &report).await?;
    let schedule = schedules::create_schedule(&ctx, &report, input).await?;
    Ok((StatusCode::CREATED, Json(view(&schedule))))
}

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

pub async fn list_all(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Read)?;
    Ok(Json(list(ctx.store.list_schedules(caller.workspace.id, &params.page()?).await?, view)))
}

pub async fn get(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Read)?;
    Ok(Json(view(&ctx.store.get_schedule(caller.workspace.id, schedule_id(&id)?).await?)))
}

pub async fn update(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    ApiJson(input): ApiJson<ScheduleInput>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Write)?;
    let current = ctx.store.get_schedule(caller.workspace.id, schedule_id(&id)?).await?;
    Ok(Json(view(&schedules::update_schedule(&ctx, current, input).await?)))
}

pub async fn delete(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Area::Schedules, Access::Write)?;
    ctx.store.delete_schedule(caller.workspace.id, schedule_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub rule: RuleInput,
    pub timezone: Option<String>,
    /// Fire times strictly after this instant; now when absent.
    pub after: Option<DateTime<Utc>>,
    /// How many (1–100, default 10).
    pub count: Option<usize>,
}

pub async fn preview(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiJson(request): ApiJson<PreviewRequest>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Schedules, Access::Read)?;
    let (rule, timezone) = request.rule.resolve(request.timezone.as_deref())?;
    let after = request.after.unwrap_or_else(|| ctx.clock.now());
    let preview = schedules::preview(&rule, &timezone, after, request.count.unwrap_or(10))?;
    Ok(Json(serde_json::to_value(preview).unwrap_or(Value::Null)))
}
