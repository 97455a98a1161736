//! Runs of a workspace: newest first, optionally of one report, and one run in detail.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::Context;
use crate::domain::{Access, Area, ReportId, Run, RunId};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, PageParams, list, object};

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

pub async fn get_run(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Runs, Access::Read)?;
    let id: RunId = id.parse().map_err(|_| ApiError::not_found(format_args!("run `{id}`")))?;
    let run = ctx.store.get_run_in(caller.workspace.id, id).await?;
    Ok(Json(view(&run)))
}
